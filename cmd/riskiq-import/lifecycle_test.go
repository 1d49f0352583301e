package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/riskiq-opencti/connectors/internal/passivetotal/passivetotaltest"
	"github.com/riskiq-opencti/connectors/opencti/openctitest"
)

// gatedRiskIQ serves count generated articles (benchData, two values each)
// and holds the detail request of article hold (0-based) until the client
// gives up or the test ends: the connector is frozen there, with every older
// article published. reached is closed when that request arrives; release
// lets it through.
type gatedRiskIQ struct {
	url     string
	reached chan struct{}
	release func()
}

func newGatedRiskIQ(t *testing.T, count, hold int) *gatedRiskIQ {
	t.Helper()
	h := passivetotaltest.NewHandler(passivetotaltest.Options{Prefix: "/pt", Data: benchData(t, count, 2)})
	g := &gatedRiskIQ{reached: make(chan struct{})}
	held := fmt.Sprintf("/articles/%08x", 0xbe000000+hold)
	released := make(chan struct{})
	var reachOnce, releaseOnce sync.Once
	g.release = func() { releaseOnce.Do(func() { close(released) }) }
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, held) {
			reachOnce.Do(func() { close(g.reached) })
			select {
			case <-r.Context().Done():
				return
			case <-released:
			}
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(g.release) // before srv.Close, which waits for the held request
	g.url = srv.URL + "/pt/v2/"
	return g
}

// genCreated is the creation date of benchData's article i.
func genCreated(i int) int64 {
	return time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Hour).Unix()
}

// child is the connector running in its own process: this test binary
// re-executed (see TestMain).
type child struct {
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
	err  error
}

func startChild(t *testing.T, env map[string]string) *child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: exec.Command(exe), logs: &syncBuffer{}, done: make(chan struct{})}
	c.cmd.Env = []string{childEnv + "=1"}
	for k, v := range env {
		c.cmd.Env = append(c.cmd.Env, k+"="+v)
	}
	c.cmd.Stdout, c.cmd.Stderr = c.logs, c.logs
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.err = c.cmd.Wait(); close(c.done) }()
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	})
	return c
}

// wait waits for the process to exit and returns its exit code (-1 when
// killed by a signal).
func (c *child) wait(t *testing.T, ctx context.Context) int {
	t.Helper()
	select {
	case <-c.done:
	case <-ctx.Done():
		t.Fatalf("the connector did not exit:\n%s", c.logs.String())
	}
	var exit *exec.ExitError
	if c.err != nil && !errors.As(c.err, &exit) {
		t.Fatalf("connector: %v", c.err)
	}
	return c.cmd.ProcessState.ExitCode()
}

// platformState returns the connector state the platform keeps.
func platformState(octi *openctitest.Server, id string) map[string]any {
	c, ok := octi.Connector(id)
	if !ok || c.State == nil {
		return nil
	}
	var m map[string]any
	if json.Unmarshal([]byte(*c.State), &m) != nil {
		return nil
	}
	return m
}

// stateNumber reads a state key as an integer, -1 when absent.
func stateNumber(st map[string]any, key string) int64 {
	if f, ok := st[key].(float64); ok {
		return int64(f)
	}
	return -1
}

// poll waits until cond holds, failing after ctx's bound.
func poll(t *testing.T, ctx context.Context, what string, c *child, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s:\n%s", what, c.logs.String())
		case <-c.done:
			t.Fatalf("the connector exited (%v) before %s:\n%s", c.err, what, c.logs.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// importedReports counts the reports the platform's worker imported, by
// article guid.
func importedReports(octi *openctitest.Server) map[string]int {
	out := map[string]int{}
	for _, o := range octi.Objects() {
		if o["type"] != "report" {
			continue
		}
		refs, _ := o["external_references"].([]any)
		for _, r := range refs {
			if m, ok := r.(map[string]any); ok && m["source_name"] == "riskiq" {
				id, _ := m["external_id"].(string)
				out[id]++
			}
		}
	}
	return out
}

// waitWorksComplete waits until every work of the connector is complete and
// count reports were imported.
func waitWorksComplete(t *testing.T, ctx context.Context, octi *openctitest.Server, id string, reports int) []openctitest.Work {
	t.Helper()
	for {
		works := connectorWorks(octi, id)
		done := len(importedReports(octi)) >= reports
		for _, w := range works {
			done = done && w.Status == openctitest.StatusComplete && w.Processed >= w.Expected
		}
		if done {
			return works
		}
		select {
		case <-ctx.Done():
			t.Fatalf("works not complete: %+v", works)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func lifecycleEnv(octi *openctitest.Server, pt *gatedRiskIQ, extra map[string]string) map[string]string {
	env := map[string]string{
		"OPENCTI_URL": octi.URL, "OPENCTI_TOKEN": octi.Token(), "CONNECTOR_ID": uuid.NewString(),
		"CONNECTOR_LOG_LEVEL": "info", "RISKIQ_USER": "analyst@example.com", "RISKIQ_PASSWORD": ptKey,
		"RISKIQ_BASE_URL": pt.url,
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// TestIntegrationSIGTERMDuringRun stops a run-and-terminate connector with
// SIGTERM in the middle of its run (20 of 50 articles published): it exits 0,
// its work is closed as interrupted, and its final state reached the
// platform: the 20 articles, the run in progress, no finished run. Started
// again at once, it resumes the run and imports the 30 others.
func TestIntegrationSIGTERMDuringRun(t *testing.T) {
	t.Parallel()
	const total, stopped = 50, 20
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	octi := openctitest.NewServer(t, openctitest.WithStrict())
	pt := newGatedRiskIQ(t, total, stopped)
	env := lifecycleEnv(octi, pt, map[string]string{"CONNECTOR_RUN_AND_TERMINATE": "true"})
	id := env["CONNECTOR_ID"]

	c := startChild(t, env)
	poll(t, ctx, "article 21", c, func() bool {
		select {
		case <-pt.reached:
			return true
		default:
			return false
		}
	})
	poll(t, ctx, "the state of article 20 on the platform", c, func() bool {
		return stateNumber(platformState(octi, id), "latest_article_timestamp") == genCreated(stopped-1)
	})
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := c.wait(t, ctx); code != 0 {
		t.Fatalf("exit code after SIGTERM = %d, want 0\n%s", code, c.logs.String())
	}
	st := platformState(octi, id)
	if stateNumber(st, "latest_article_timestamp") != genCreated(stopped-1) || stateNumber(st, "current_run_timestamp") <= 0 ||
		st["latest_run_timestamp"] != nil || st["current_run_work_id"] != nil {
		t.Errorf("platform state after SIGTERM = %v, want 20 articles and the run in progress", st)
	}
	works := connectorWorks(octi, id)
	if len(works) != 1 || len(works[0].Errors) != 1 || !strings.Contains(works[0].Errors[0], "interrupted") {
		t.Errorf("works after SIGTERM = %+v, want one closed as interrupted", works)
	}

	pt.release()
	c2 := startChild(t, env)
	if code := c2.wait(t, ctx); code != 0 {
		t.Fatalf("restart exit code = %d\n%s", code, c2.logs.String())
	}
	works = waitWorksComplete(t, ctx, octi, id, total)
	if len(works) != 2 || len(works[1].Errors) != 0 || !strings.Contains(strings.Join(works[1].Messages, ""), fmt.Sprintf("%d reports sent", total-stopped)) {
		t.Errorf("works after the restart = %+v, want the run resumed at once", works)
	}
	checkLogs(t, c.logs.String()+c2.logs.String(), octi.Token())
}

// TestIntegrationSIGKILLResumes kills the connector (scheduled mode) with
// SIGKILL at article 85 of 200, once the state of the 85th reached the
// platform, and starts it again at once: the restarted connector resumes
// the run without waiting for the interval, and every article is imported,
// none lost, none sent twice.
func TestIntegrationSIGKILLResumes(t *testing.T) {
	t.Parallel()
	const total, killed = 200, 85
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	octi := openctitest.NewServer(t, openctitest.WithStrict())
	pt := newGatedRiskIQ(t, total, killed)
	env := lifecycleEnv(octi, pt, nil)
	id := env["CONNECTOR_ID"]

	c := startChild(t, env)
	poll(t, ctx, "article 86", c, func() bool {
		select {
		case <-pt.reached:
			return true
		default:
			return false
		}
	})
	poll(t, ctx, "the state of article 85 on the platform", c, func() bool {
		return stateNumber(platformState(octi, id), "latest_article_timestamp") == genCreated(killed-1)
	})
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	c.wait(t, ctx)
	pt.release()

	restarted := map[string]string{"CONNECTOR_RUN_AND_TERMINATE": "true"}
	for k, v := range env {
		restarted[k] = v
	}
	c2 := startChild(t, restarted)
	if code := c2.wait(t, ctx); code != 0 {
		t.Fatalf("restart exit code = %d\n%s", code, c2.logs.String())
	}
	if n := len(connectorWorks(octi, id)); n != 2 {
		t.Fatalf("%d works after the restart, want the killed run's and a resumed one at once\n%s", n, c2.logs.String())
	}
	works := waitWorksComplete(t, ctx, octi, id, total)
	if len(works) != 2 || !strings.Contains(strings.Join(works[1].Messages, ""), fmt.Sprintf("%d reports sent", total-killed)) {
		t.Fatalf("works = %+v, want the killed run's and the resumed one\n%s", works, c2.logs.String())
	}
	if len(works[0].Errors) == 0 || !strings.Contains(works[0].Errors[0], "interrupted") {
		t.Errorf("killed run's work = %+v, want closed as interrupted by the restarted connector", works[0])
	}
	reports := importedReports(octi)
	lost, again := 0, 0
	for i := range total {
		switch n := reports[fmt.Sprintf("%08x", 0xbe000000+i)]; {
		case n == 0:
			lost++
		case n > 1:
			again += n - 1
		}
	}
	if lost != 0 || again != 0 {
		t.Errorf("articles %d: lost %d, imported again %d", total, lost, again)
	}
	st := platformState(octi, id)
	if stateNumber(st, "latest_article_timestamp") != genCreated(total-1) || st["current_run_timestamp"] != nil {
		t.Errorf("platform state = %v", st)
	}
	t.Logf("import SIGKILL at %d/%d then restart: articles %d, imported %d, lost %d, sent again %d",
		killed, total, total, len(reports), lost, again)
	checkLogs(t, c2.logs.String(), octi.Token())
}
