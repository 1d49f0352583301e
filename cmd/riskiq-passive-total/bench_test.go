package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/riskiq-opencti/connectors/internal/passivetotal/passivetotaltest"
	"github.com/riskiq-opencti/connectors/opencti/openctitest"
)

// The end-to-end benchmark runs, in one run and against the same fake
// platform (real RabbitMQ), two child processes (this test binary
// re-executed): the connector (run()) and a no-logic baseline connector
// making the same protocol calls with pre-encoded bodies. Every figure is
// reported as a ratio to the baseline (issue 13).

// childEnv selects the child: "connector" or "baseline".
const childEnv = "RISKIQ_PT_BENCH_CHILD"

// hwmEnv names the file where a child writes its peak RSS (VmHWM, kB) when it
// exits. The parent cannot use the child's ru_maxrss: Go starts children with
// CLONE_VM, so it counts the parent's pages until exec.
const hwmEnv = "RISKIQ_PT_BENCH_HWM"

// baselineEnv names the baseline's script (a JSON baselineScript file).
const baselineEnv = "RISKIQ_PT_BENCH_SCRIPT"

// workPlaceholder stands for the work id in the baseline's pre-encoded bodies.
const workPlaceholder = "00000000-0000-4000-8000-00000000work"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "connector":
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		if path := os.Getenv("RISKIQ_PT_BENCH_CPUPROFILE"); path != "" {
			if f, err := os.Create(path); err == nil {
				_ = pprof.StartCPUProfile(f)
				defer f.Close()
			}
		}
		code := run(ctx, nil, os.LookupEnv, io.Discard, os.Stderr)
		pprof.StopCPUProfile()
		stop()
		writeHWM()
		os.Exit(code)
	case "baseline":
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		err := runBaseline(ctx, os.Getenv(baselineEnv))
		stop()
		writeHWM()
		if err != nil {
			fmt.Fprintln(os.Stderr, "baseline:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func writeHWM() {
	path := os.Getenv(hwmEnv)
	if path == "" {
		return
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			_ = os.WriteFile(path, []byte(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB"))), 0o600)
		}
	}
}

// baselineScript is what the baseline replays for each request: the
// connector's own GraphQL bodies and push messages for one request, with the
// work id replaced by workPlaceholder.
type baselineScript struct {
	GraphQLURL  string   `json:"graphql_url"`
	Token       string   `json:"token"`
	AMQPURL     string   `json:"amqp_url"`
	Concurrency int      `json:"concurrency"`
	Latency     string   `json:"latency"`
	Register    string   `json:"register"`
	Before      []string `json:"before"` // GraphQL bodies before the lookup (toReceived, entity read)
	After       []string `json:"after"`  // GraphQL bodies after it (addExpectations)
	Messages    []string `json:"messages"`
	Final       []string `json:"final"` // toProcessed
}

// runBaseline is the no-logic connector: register, then for each request of
// the listen queue (CONNECTOR_CONCURRENCY at once) post the pre-encoded
// bodies, wait the lookup latency, publish the pre-encoded messages with
// confirms, report the work and acknowledge.
func runBaseline(ctx context.Context, scriptFile string) error {
	raw, err := os.ReadFile(scriptFile)
	if err != nil {
		return err
	}
	var s baselineScript
	if err := json.Unmarshal(raw, &s); err != nil {
		return err
	}
	latency, err := time.ParseDuration(s.Latency)
	if err != nil {
		return err
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: s.Concurrency + 2}}
	post := func(ctx context.Context, body string) ([]byte, error) {
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
	regBody, err := post(ctx, s.Register)
	if err != nil {
		return fmt.Errorf("register: %w", err)
	}
	var reg struct {
		Data struct {
			RegisterConnector struct {
				Config struct {
					Listen       string `json:"listen"`
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
	conn, err := amqp.Dial(s.AMQPURL)
	if err != nil {
		return err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	if err := ch.Qos(s.Concurrency, 0, false); err != nil {
		return err
	}
	deliveries, err := ch.ConsumeWithContext(ctx, cfg.Listen, "", false, false, false, false, nil)
	if err != nil {
		return err
	}
	split := func(list []string) [][2]string {
		out := make([][2]string, len(list))
		for i, b := range list {
			before, after, _ := strings.Cut(b, workPlaceholder)
			out[i] = [2]string{before, after}
		}
		return out
	}
	before, after, final, messages := split(s.Before), split(s.After), split(s.Final), split(s.Messages)
	fill := func(t [2]string, work string) string { return t[0] + work + t[1] }
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
			confirms := make([]*amqp.DeferredConfirmation, len(messages))
			for d := range deliveries {
				var msg struct {
					Internal struct {
						WorkID string `json:"work_id"`
					} `json:"internal"`
				}
				if err := json.Unmarshal(d.Body, &msg); err != nil {
					errs <- err
					return
				}
				work := msg.Internal.WorkID
				for _, t := range before {
					if _, err := post(ctx, fill(t, work)); err != nil {
						errs <- err
						return
					}
				}
				time.Sleep(latency)
				for _, t := range after {
					if _, err := post(ctx, fill(t, work)); err != nil {
						errs <- err
						return
					}
				}
				for i, t := range messages {
					c, err := pub.PublishWithDeferredConfirmWithContext(ctx, cfg.PushExchange, cfg.PushRouting, false, false,
						amqp.Publishing{DeliveryMode: amqp.Persistent, ContentEncoding: "utf-8", Body: []byte(fill(t, work))})
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
				for _, t := range final {
					if _, err := post(ctx, fill(t, work)); err != nil {
						errs <- err
						return
					}
				}
				if err := d.Ack(false); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	select {
	case <-ctx.Done():
	case err := <-errs:
		return err
	}
	_ = ch.Cancel("", false)
	return nil
}

// sideResult is what one child measured.
type sideResult struct {
	reqPerSec float64
	cpuPerReq float64 // seconds
	peakRSSMB float64
}

// BenchmarkIntegrationE2EEnrichment runs the connector and the no-logic
// baseline one after the other in the same benchmark run, each for the same
// number of enrichment requests of passivetotal.org (2,000; 100 under
// -short) with a PassiveTotal latency of 50 ms (BENCH_LATENCY), against the
// same fake platform and RabbitMQ. Reported: req/s, CPU per request and peak
// RSS of each, and each as a ratio to the baseline (the -x-baseline metrics).
// BENCH_REQUESTS overrides the request count, BENCH_PROFILE=<dir> writes the
// connector's CPU profile there. Run it with -benchtime=1x.
func BenchmarkIntegrationE2EEnrichment(b *testing.B) {
	requests := 2000
	if testing.Short() {
		requests = 100
	}
	if n, err := strconv.Atoi(os.Getenv("BENCH_REQUESTS")); err == nil && n > 0 {
		requests = n
	}
	latency := 50 * time.Millisecond
	if d, err := time.ParseDuration(os.Getenv("BENCH_LATENCY")); err == nil {
		latency = d
	}
	for b.Loop() {
		octi := openctitest.NewServer(b)
		pt := passivetotaltest.NewServer(b, passivetotaltest.WithLatency(latency))
		pt.SetQuota(0, 1<<30)
		domain, err := octi.AddEntity(openctitest.Entity{EntityType: "Domain-Name", Value: "passivetotal.org", Markings: []openctitest.Marking{openctitest.MustTLP("TLP:GREEN")}})
		if err != nil {
			b.Fatal(err)
		}
		connectorID := uuid.NewString()
		env := []string{
			"OPENCTI_URL=" + octi.URL, "OPENCTI_TOKEN=" + octi.Token(), "CONNECTOR_ID=" + connectorID,
			"CONNECTOR_LOG_LEVEL=info", "RISKIQ_USERNAME=analyst@example.com", "RISKIQ_API_KEY=bench-key",
			"RISKIQ_MAX_TLP=TLP:AMBER", "RISKIQ_IMPORT_LAST_SEEN_TIME_WINDOW=P5000D", "RISKIQ_BASE_URL=" + pt.RootURL(),
			"CONNECTOR_CONCURRENCY=" + strconv.Itoa(config8()),
		}
		if dir := os.Getenv("BENCH_PROFILE"); dir != "" {
			env = append(env, "RISKIQ_PT_BENCH_CPUPROFILE="+filepath.Join(dir, "enrichment.cpu.pprof"))
		}
		// A short unmeasured run of the connector gives the baseline its
		// script; the baseline then runs first, so that the connector runs
		// against the fuller platform (the comparison's bias is against it).
		runSide(b, octi, domain.StandardID, connectorID, 5, "connector", env)
		script := captureScript(b, octi, connectorID, latency)
		scriptFile := filepath.Join(b.TempDir(), "script.json")
		raw, err := json.Marshal(script)
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(scriptFile, raw, 0o600); err != nil {
			b.Fatal(err)
		}
		base := runSide(b, octi, domain.StandardID, connectorID, requests, "baseline", []string{baselineEnv + "=" + scriptFile})
		ours := runSide(b, octi, domain.StandardID, connectorID, requests, "connector", env)
		b.ReportMetric(base.reqPerSec, "baseline-req/s")
		b.ReportMetric(ours.reqPerSec, "connector-req/s")
		b.ReportMetric(base.cpuPerReq*1e6, "baseline-CPU-µs/req")
		b.ReportMetric(ours.cpuPerReq*1e6, "connector-CPU-µs/req")
		b.ReportMetric(base.peakRSSMB, "baseline-peak-RSS-MB")
		b.ReportMetric(ours.peakRSSMB, "connector-peak-RSS-MB")
		b.ReportMetric(ours.reqPerSec/base.reqPerSec, "req/s-x-baseline")
		b.ReportMetric(ours.cpuPerReq/base.cpuPerReq, "CPU/req-x-baseline")
		b.ReportMetric(ours.peakRSSMB/base.peakRSSMB, "peak-RSS-x-baseline")
	}
}

// config8 is the connector's default concurrency, given to both sides.
func config8() int { return 8 }

// runSide starts one child, waits for its registration, sends the requests
// and waits for every work to complete, then stops the child and measures it.
func runSide(b *testing.B, octi *openctitest.Server, entityID, connectorID string, requests int, side string, env []string) sideResult {
	b.Helper()
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	hwmFile := filepath.Join(b.TempDir(), "vmhwm")
	ctx, cancel := context.WithTimeout(b.Context(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append([]string{childEnv + "=" + side, hwmEnv + "=" + hwmFile, "PATH=" + os.Getenv("PATH")}, env...)
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	registrations := 0
	if c, ok := octi.Connector(connectorID); ok {
		registrations = c.Registrations
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	waitUntil(b, ctx, exited, &stderr, func() bool {
		c, ok := octi.Connector(connectorID)
		return ok && c.Registrations > registrations
	})
	if side == "connector" {
		waitUntil(b, ctx, exited, &stderr, func() bool { c, _ := octi.Connector(connectorID); return c.Pings > 0 })
	}
	start := time.Now()
	works := make(map[string]bool, requests)
	for range requests {
		id, err := octi.Enrich(ctx, connectorID, openctitest.EnrichmentRequest{EntityID: entityID, Mode: openctitest.ModeManual})
		if err != nil {
			b.Fatal(err)
		}
		works[id] = true
	}
	pending := maps.Clone(works)
	waitUntil(b, ctx, exited, &stderr, func() bool {
		for id := range pending {
			w, _ := octi.Work(id)
			if w.Status != openctitest.StatusComplete || w.Processed < w.Expected {
				return false // in order enough: most works complete in turn
			}
			delete(pending, id)
		}
		return true
	})
	wall := time.Since(start)
	for id := range works {
		if w, _ := octi.Work(id); len(w.Errors) != 0 || w.Expected < 10 {
			b.Fatalf("%s: work %+v", side, w)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		b.Fatal(err)
	}
	if err := <-exited; err != nil {
		b.Fatalf("%s: %v\n%s", side, err, tail(stderr.String()))
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	hwm, err := os.ReadFile(hwmFile)
	if err != nil {
		b.Fatal(err)
	}
	kb, err := strconv.Atoi(string(hwm))
	if err != nil {
		b.Fatalf("VmHWM %q: %v", hwm, err)
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	return sideResult{
		reqPerSec: float64(requests) / wall.Seconds(),
		cpuPerReq: cpu / float64(requests),
		peakRSSMB: float64(kb) / 1024,
	}
}

// waitUntil polls cond until it holds, failing when the child exits or ctx ends.
func waitUntil(b *testing.B, ctx context.Context, exited <-chan error, stderr *strings.Builder, cond func() bool) {
	b.Helper()
	for !cond() {
		select {
		case err := <-exited:
			b.Fatalf("child exited: %v\n%s", err, tail(stderr.String()))
		case <-ctx.Done():
			b.Fatalf("timed out\n%s", tail(stderr.String()))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// captureScript builds the baseline's script from what the connector sent
// for one of its works: its GraphQL bodies (as the server decoded them, encoded
// again) and its push messages.
func captureScript(b *testing.B, octi *openctitest.Server, connectorID string, latency time.Duration) baselineScript {
	b.Helper()
	var workID string
	for _, w := range octi.Works() {
		if w.ConnectorID == connectorID && w.Status == openctitest.StatusComplete {
			workID = w.ID
			break
		}
	}
	if workID == "" {
		b.Fatal("no completed work to copy")
	}
	encode := func(r openctitest.Request) string {
		raw, err := json.Marshal(map[string]any{"query": r.Query, "variables": r.Variables})
		if err != nil {
			b.Fatal(err)
		}
		return strings.ReplaceAll(string(raw), workID, workPlaceholder)
	}
	s := baselineScript{
		GraphQLURL: octi.URL + "/graphql", Token: octi.Token(), AMQPURL: octi.AMQPURL(),
		Concurrency: config8(), Latency: latency.String(),
	}
	first := map[string]string{}
	for _, r := range octi.Requests() {
		body := encode(r)
		for _, f := range r.RootFields {
			if _, seen := first[f]; seen {
				continue
			}
			switch {
			case f == "registerConnector", f == "stixCoreObject",
				strings.HasPrefix(f, "workEdit.") && strings.Contains(body, workPlaceholder):
				first[f] = body
			}
		}
	}
	s.Register = first["registerConnector"]
	s.Before = []string{first["workEdit.toReceived"], first["stixCoreObject"]}
	s.After = []string{first["workEdit.addExpectations"]}
	s.Final = []string{first["workEdit.toProcessed"]}
	for _, body := range append(append([]string{s.Register}, s.Before...), append(s.After, s.Final...)...) {
		if body == "" {
			b.Fatalf("a GraphQL call of work %s was not found: %v", workID, slices.Collect(maps.Keys(first)))
		}
	}
	for _, d := range octi.Deliveries() {
		if !d.Republished && d.Envelope != nil && d.Envelope.WorkID != nil && *d.Envelope.WorkID == workID {
			s.Messages = append(s.Messages, strings.ReplaceAll(string(d.Body), workID, workPlaceholder))
		}
	}
	return s
}
