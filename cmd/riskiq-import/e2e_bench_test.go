package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/riskiq-opencti/connectors/internal/passivetotal/passivetotaltest"
	"github.com/riskiq-opencti/connectors/opencti/openctitest"
)

// baselineChildEnv names the script of the no-logic import baseline: when
// set, the test binary runs as that baseline.
const baselineChildEnv = "RISKIQ_IMPORT_BENCH_BASELINE"

// profileEnv names the file where the connector child writes its CPU profile.
const profileEnv = "RISKIQ_IMPORT_BENCH_CPUPROFILE"

// workMark stands for the work id in the baseline's pre-encoded bodies.
const workMark = "00000000-0000-4000-8000-00000000work"

// startProfile starts the CPU profile asked by profileEnv and returns its stop.
func startProfile() func() {
	path := os.Getenv(profileEnv)
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return func() {}
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}

// importScript is what the import baseline replays: the connector's own
// GraphQL bodies and, for each of its bundles, an addExpectations of the same
// count followed by as many of the connector's messages (read in turn from
// MessagesFile, one body a line, the work id replaced by workMark).
type importScript struct {
	GraphQLURL   string `json:"graphql_url"`
	Token        string `json:"token"`
	AMQPURL      string `json:"amqp_url"`
	Concurrency  int    `json:"concurrency"`
	Register     string `json:"register"`
	WorkAdd      string `json:"work_add"`
	Expect       string `json:"expect"` // with "expectations": -424242
	Processed    string `json:"processed"`
	Groups       []int  `json:"groups"`
	MessagesFile string `json:"messages_file"`
}

const expectMark = "-424242"

// runImportBaseline is the no-logic import connector: register, add a work,
// then for each bundle (CONNECTOR_CONCURRENCY at once) add its expectations
// and publish its pre-encoded messages with confirms, and report the work.
func runImportBaseline(scriptFile string) error {
	ctx := context.Background()
	raw, err := os.ReadFile(scriptFile)
	if err != nil {
		return err
	}
	var s importScript
	if err := json.Unmarshal(raw, &s); err != nil {
		return err
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: s.Concurrency + 2}}
	post := func(body string) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.GraphQLURL, strings.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+s.Token)
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK || bytes.Contains(b, []byte(`"errors"`)) {
			return nil, fmt.Errorf("graphql: %d %s", resp.StatusCode, b)
		}
		return b, nil
	}
	regBody, err := post(s.Register)
	if err != nil {
		return fmt.Errorf("register: %w", err)
	}
	var reg struct {
		Data struct {
			RegisterConnector struct {
				Config struct {
					PushExchange string `json:"push_exchange"`
					PushRouting  string `json:"push_routing"`
				} `json:"config"`
			} `json:"registerConnector"`
		} `json:"data"`
	}
	if err := json.Unmarshal(regBody, &reg); err != nil {
		return err
	}
	cfg := reg.Data.RegisterConnector.Config
	workBody, err := post(s.WorkAdd)
	if err != nil {
		return fmt.Errorf("work add: %w", err)
	}
	var work struct {
		Data struct {
			WorkAdd struct {
				ID string `json:"id"`
			} `json:"workAdd"`
		} `json:"data"`
	}
	if err := json.Unmarshal(workBody, &work); err != nil {
		return err
	}
	workID := work.Data.WorkAdd.ID
	conn, err := amqp.Dial(s.AMQPURL)
	if err != nil {
		return err
	}
	defer conn.Close()
	f, err := os.Open(s.MessagesFile)
	if err != nil {
		return err
	}
	defer f.Close()
	groups := make(chan [][]byte, s.Concurrency)
	readErr := make(chan error, 1)
	go func() {
		defer close(groups)
		r := bufio.NewReaderSize(f, 1<<20)
		for _, n := range s.Groups {
			msgs := make([][]byte, n)
			for i := range msgs {
				line, err := r.ReadBytes('\n')
				if err != nil {
					readErr <- fmt.Errorf("messages file: %w", err)
					return
				}
				msgs[i] = bytes.ReplaceAll(bytes.TrimSuffix(line, []byte{'\n'}), []byte(workMark), []byte(workID))
			}
			groups <- msgs
		}
		readErr <- nil
	}()
	var wg sync.WaitGroup
	errs := make(chan error, s.Concurrency)
	for range s.Concurrency {
		wg.Go(func() {
			pub, err := conn.Channel()
			if err != nil {
				errs <- err
				return
			}
			defer pub.Close()
			if err := pub.Confirm(false); err != nil {
				errs <- err
				return
			}
			for msgs := range groups {
				body := strings.ReplaceAll(strings.Replace(s.Expect, expectMark, strconv.Itoa(len(msgs)), 1), workMark, workID)
				if _, err := post(body); err != nil {
					errs <- err
					return
				}
				confirms := make([]*amqp.DeferredConfirmation, len(msgs))
				for i, m := range msgs {
					c, err := pub.PublishWithDeferredConfirmWithContext(ctx, cfg.PushExchange, cfg.PushRouting, false, false,
						amqp.Publishing{DeliveryMode: amqp.Persistent, ContentEncoding: "utf-8", Body: m})
					if err != nil {
						errs <- err
						return
					}
					confirms[i] = c
				}
				for _, c := range confirms {
					if ok, err := c.WaitContext(ctx); err != nil || !ok {
						errs <- fmt.Errorf("publish not confirmed: %v", err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	if err := <-readErr; err != nil {
		return err
	}
	_, err = post(strings.ReplaceAll(s.Processed, workMark, workID))
	return err
}

// importSide is what one import child measured.
type importSide struct {
	wall      time.Duration // start to the work drained
	messages  int
	cpu       float64 // seconds
	peakRSSMB float64
}

// BenchmarkIntegrationE2EImport runs the import connector (run and
// terminate) and then the no-logic import baseline in the same benchmark,
// against the same fake PassiveTotal data (200 articles of 50 indicator
// values; BENCH_ARTICLES overrides the count), the same fake platform and
// RabbitMQ. The baseline publishes the connector's own messages, in bundles
// of the connector's sizes, each after an addExpectations; it does not read
// PassiveTotal. Reported: wall time (start to every message consumed), CPU
// per published message and peak RSS of both, and each as a ratio to the
// baseline. BENCH_PROFILE=<dir> writes the connector's CPU profile there.
// Run it with -benchtime=1x.
func BenchmarkIntegrationE2EImport(b *testing.B) {
	articles := 200
	if n, err := strconv.Atoi(os.Getenv("BENCH_ARTICLES")); err == nil && n > 0 {
		articles = n
	}
	for b.Loop() {
		octi := openctitest.NewServer(b)
		pt := passivetotaltest.NewServer(b, passivetotaltest.WithData(benchData(b, articles, 50)))
		env := connectorEnv(octi, pt, map[string]string{"CONNECTOR_RUN_AND_TERMINATE": "true", "CONNECTOR_LOG_LEVEL": "info"})
		var extra []string
		if dir := os.Getenv("BENCH_PROFILE"); dir != "" {
			extra = append(extra, profileEnv+"="+filepath.Join(dir, "import.cpu.pprof"))
		}
		for k, v := range env {
			extra = append(extra, k+"="+v)
		}
		connectorID := env["CONNECTOR_ID"]
		ours := runImportSide(b, octi, connectorID, append([]string{childEnv + "=1"}, extra...))
		script := captureImportScript(b, octi, connectorID)
		scriptFile := filepath.Join(b.TempDir(), "script.json")
		raw, err := json.Marshal(script)
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(scriptFile, raw, 0o600); err != nil {
			b.Fatal(err)
		}
		base := runImportSide(b, octi, connectorID, []string{baselineChildEnv + "=" + scriptFile})
		if base.messages != ours.messages {
			b.Fatalf("baseline published %d messages, the connector %d", base.messages, ours.messages)
		}
		perMsg := func(s importSide) float64 { return s.cpu / float64(s.messages) }
		b.ReportMetric(float64(ours.messages), "messages")
		b.ReportMetric(base.wall.Seconds(), "baseline-wall-s")
		b.ReportMetric(ours.wall.Seconds(), "connector-wall-s")
		b.ReportMetric(perMsg(base)*1e6, "baseline-CPU-µs/msg")
		b.ReportMetric(perMsg(ours)*1e6, "connector-CPU-µs/msg")
		b.ReportMetric(base.peakRSSMB, "baseline-peak-RSS-MB")
		b.ReportMetric(ours.peakRSSMB, "connector-peak-RSS-MB")
		b.ReportMetric(ours.wall.Seconds()/base.wall.Seconds(), "wall-x-baseline")
		b.ReportMetric(perMsg(ours)/perMsg(base), "CPU/msg-x-baseline")
		b.ReportMetric(ours.peakRSSMB/base.peakRSSMB, "peak-RSS-x-baseline")
	}
}

// runImportSide runs one child to its exit and waits for its work to drain.
func runImportSide(b *testing.B, octi *openctitest.Server, connectorID string, env []string) importSide {
	b.Helper()
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	before := map[string]bool{}
	for _, w := range connectorWorks(octi, connectorID) {
		before[w.ID] = true
	}
	hwmFile := filepath.Join(b.TempDir(), "vmhwm")
	cmd := exec.CommandContext(b.Context(), exe)
	cmd.Env = append([]string{hwmEnv + "=" + hwmFile, "PATH=" + os.Getenv("PATH")}, env...)
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("child: %v\n%s", err, tailOf(stderr.String()))
	}
	var work openctitest.Work
	for _, w := range connectorWorks(octi, connectorID) {
		if !before[w.ID] {
			work = w
		}
	}
	if work.ID == "" {
		b.Fatalf("the child added no work\n%s", tailOf(stderr.String()))
	}
	waitDrained(b, octi, connectorID, work.ID)
	wall := time.Since(start)
	work, _ = octi.Work(work.ID)
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	hwm, err := os.ReadFile(hwmFile)
	if err != nil {
		b.Fatal(err)
	}
	kb, err := strconv.Atoi(string(hwm))
	if err != nil {
		b.Fatalf("VmHWM %q: %v", hwm, err)
	}
	return importSide{
		wall: wall, messages: work.Expected,
		cpu:       time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds(),
		peakRSSMB: float64(kb) / 1024,
	}
}

func tailOf(s string) string {
	if len(s) > 4000 {
		return s[len(s)-4000:]
	}
	return s
}

// captureImportScript builds the baseline's script from the connector's
// work: its GraphQL bodies, its bundle sizes (addExpectations counts) and
// its messages, written to a file.
func captureImportScript(b *testing.B, octi *openctitest.Server, connectorID string) importScript {
	b.Helper()
	works := connectorWorks(octi, connectorID)
	if len(works) != 1 {
		b.Fatalf("works = %+v", works)
	}
	workID := works[0].ID
	encode := func(r openctitest.Request) string {
		raw, err := json.Marshal(map[string]any{"query": r.Query, "variables": r.Variables})
		if err != nil {
			b.Fatal(err)
		}
		return strings.ReplaceAll(string(raw), workID, workMark)
	}
	s := importScript{GraphQLURL: octi.URL + "/graphql", Token: octi.Token(), AMQPURL: octi.AMQPURL(), Concurrency: 8}
	for _, r := range octi.Requests() {
		for _, f := range r.RootFields {
			switch {
			case f == "registerConnector" && s.Register == "":
				s.Register = encode(r)
			case f == "workAdd" && s.WorkAdd == "":
				s.WorkAdd = encode(r)
			case f == "workEdit.addExpectations" && r.Variables["id"] == workID:
				n, err := strconv.Atoi(fmt.Sprint(r.Variables["expectations"]))
				if err != nil {
					b.Fatalf("expectations %v: %v", r.Variables["expectations"], err)
				}
				s.Groups = append(s.Groups, n)
				if s.Expect == "" {
					vars := map[string]any{}
					for k, v := range r.Variables {
						vars[k] = v
					}
					vars["expectations"] = json.Number(expectMark)
					raw, err := json.Marshal(map[string]any{"query": r.Query, "variables": vars})
					if err != nil {
						b.Fatal(err)
					}
					s.Expect = strings.ReplaceAll(string(raw), workID, workMark)
				}
			case f == "workEdit.toProcessed" && r.Variables["id"] == workID:
				s.Processed = encode(r)
			}
		}
	}
	if s.Register == "" || s.WorkAdd == "" || s.Expect == "" || s.Processed == "" || len(s.Groups) == 0 {
		b.Fatalf("GraphQL calls of work %s not found: %+v", workID, s)
	}
	s.MessagesFile = filepath.Join(b.TempDir(), "messages")
	f, err := os.Create(s.MessagesFile)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	n := 0
	for _, d := range octi.Deliveries() {
		if d.Republished || d.Envelope == nil || d.Envelope.WorkID == nil || *d.Envelope.WorkID != workID {
			continue
		}
		if bytes.IndexByte(d.Body, '\n') >= 0 {
			b.Fatal("a message holds a newline")
		}
		w.Write(bytes.ReplaceAll(d.Body, []byte(workID), []byte(workMark)))
		w.WriteByte('\n')
		n++
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	total := 0
	for _, g := range s.Groups {
		total += g
	}
	if n != total {
		b.Fatalf("%d messages consumed, %d expected", n, total)
	}
	return s
}
