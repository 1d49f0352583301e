package metrics

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
)

// scrape returns the exposition served by h as "name{labels}" -> value, and
// the raw text.
func scrape(t *testing.T, h http.Handler) (map[string]string, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics = %d", rec.Code)
	}
	return parseExposition(t, rec.Body.String()), rec.Body.String()
}

func parseExposition(t *testing.T, text string) map[string]string {
	t.Helper()
	samples := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			t.Fatalf("malformed sample %q", line)
		}
		samples[line[:i]] = line[i+1:]
	}
	return samples
}

func TestNamesAndInitialValues(t *testing.T) {
	tests := []struct {
		namespace, subsystem, prefix, stateLabel string
	}{
		{"", "", "", "state"},
		{"opencti", "", "opencti_", "opencti_state"},
		{"", "riskiq", "riskiq_", "riskiq_state"},
		{"opencti", "riskiq", "opencti_riskiq_", "opencti_riskiq_state"},
	}
	for _, tt := range tests {
		t.Run(tt.prefix, func(t *testing.T) {
			samples, text := scrape(t, New(tt.namespace, tt.subsystem).Handler())
			p := tt.prefix
			want := map[string]string{
				p + "bundles_sent_total":                     "0",
				p + "records_sent_total":                     "0",
				p + "runs_total":                             "0",
				p + "ping_api_total":                         "0",
				p + "ping_api_errors_total":                  "0",
				p + "errors_total":                           "0",
				p + "client_errors_total":                    "0",
				p + "requests_dropped_total":                 "0",
				p + `state{` + tt.stateLabel + `="idle"}`:    "1",
				p + `state{` + tt.stateLabel + `="running"}`: "0",
				p + `state{` + tt.stateLabel + `="stopped"}`: "0",
			}
			for k, v := range want {
				if samples[k] != v {
					t.Errorf("sample %s = %q, want %q", k, samples[k], v)
				}
			}
			for _, line := range []string{
				"# TYPE " + p + "bundles_sent_total counter",
				"# HELP " + p + "bundles_sent_total Number of bundles sent",
				"# TYPE " + p + "state gauge",
			} {
				if !strings.Contains(text, line+"\n") {
					t.Errorf("exposition lacks %q", line)
				}
			}
			if _, ok := samples["go_goroutines"]; !ok {
				t.Error("no Go runtime metrics")
			}
			if _, ok := samples["process_open_fds"]; !ok {
				t.Error("no process metrics")
			}
		})
	}
}

func TestRecording(t *testing.T) {
	m := New("", "")
	m.BundleSent(3)
	m.BundleSent(0)
	m.BundleSent(-2) // ignored: counters only go up
	m.RecordsSent(42)
	m.Run()
	m.Run()
	m.Ping(true)
	m.Ping(true)
	m.Ping(false)
	m.Error()
	m.ClientError()
	m.ClientError()
	m.ClientError()
	m.RequestDropped()
	samples, _ := scrape(t, m.Handler())
	got := map[string]string{}
	for _, k := range []string{"bundles_sent_total", "records_sent_total", "runs_total", "ping_api_total", "ping_api_errors_total", "errors_total", "client_errors_total", "requests_dropped_total"} {
		got[k] = samples[k]
	}
	want := map[string]string{
		"bundles_sent_total": "3", "records_sent_total": "42", "runs_total": "2", "ping_api_total": "2",
		"ping_api_errors_total": "1", "errors_total": "1", "client_errors_total": "3", "requests_dropped_total": "1",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}
}

func TestSetState(t *testing.T) {
	m := New("ns", "")
	steps := []struct {
		set  string
		want [3]string // idle, running, stopped
	}{
		{StateRunning, [3]string{"0", "1", "0"}},
		{StateIdle, [3]string{"1", "0", "0"}},
		{"exploding", [3]string{"1", "0", "0"}}, // unknown: unchanged
		{StateStopped, [3]string{"0", "0", "1"}},
		{"Running", [3]string{"0", "0", "1"}}, // case-sensitive, like prometheus_client
	}
	for _, step := range steps {
		m.SetState(step.set)
		samples, _ := scrape(t, m.Handler())
		got := [3]string{samples[`ns_state{ns_state="idle"}`], samples[`ns_state{ns_state="running"}`], samples[`ns_state{ns_state="stopped"}`]}
		if got != step.want {
			t.Errorf("after SetState(%q): idle/running/stopped = %v, want %v", step.set, got, step.want)
		}
	}
}

func TestInvalidPrefixesAreSanitised(t *testing.T) {
	samples, _ := scrape(t, New("my-connector", "1st.sub").Handler())
	for _, k := range []string{"my_connector_1st_sub_runs_total", `my_connector_1st_sub_state{my_connector_1st_sub_state="idle"}`} {
		if _, ok := samples[k]; !ok {
			t.Errorf("no sample %s", k)
		}
	}
	samples, _ = scrape(t, New("9lives", "a:b").Handler())
	for _, k := range []string{"_9lives_a:b_runs_total", `_9lives_a:b_state{_9lives_a_b_state="idle"}`} {
		if _, ok := samples[k]; !ok {
			t.Errorf("no sample %s", k)
		}
	}
}

func TestNilMetricsIsANoOp(t *testing.T) {
	var m *Metrics
	m.BundleSent(1)
	m.RecordsSent(1)
	m.Run()
	m.Ping(true)
	m.Ping(false)
	m.Error()
	m.ClientError()
	m.RequestDropped()
	m.SetState(StateRunning)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("nil Handler status = %d, want 404", rec.Code)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.ServeListener(t.Context(), ln, nil); err == nil {
		t.Error("ServeListener on nil *Metrics succeeded")
	}
}

func TestConcurrentRecording(t *testing.T) {
	m := New("", "")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 500 {
				m.BundleSent(1)
				m.Ping(i%2 == 0)
				m.SetState(states()[i%3])
			}
		})
	}
	wg.Wait()
	samples, _ := scrape(t, m.Handler())
	if samples["bundles_sent_total"] != "4000" {
		t.Errorf("bundles_sent_total = %s, want 4000", samples["bundles_sent_total"])
	}
	ones := 0
	for _, s := range states() {
		if samples[`state{state="`+s+`"}`] == "1" {
			ones++
		}
	}
	if ones != 1 {
		t.Errorf("%d states at 1, want exactly one", ones)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func TestServeListener(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	m := New("opencti", "")
	m.Run()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	var logs bytes.Buffer // written by ServeListener, read once it returned
	go func() { done <- m.ServeListener(ctx, ln, slog.New(slog.NewJSONHandler(&logs, nil))) }()

	for _, path := range []string{"/metrics", "/", "/anything"} {
		code, body := get(t, "http://"+addr+path)
		if code != http.StatusOK || !strings.Contains(body, "\nopencti_runs_total 1\n") {
			t.Errorf("GET %s = %d, body lacks opencti_runs_total 1:\n%.300s", path, code, body)
		}
	}
	http.DefaultClient.CloseIdleConnections()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ServeListener returned %v after cancel, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ServeListener did not return after cancel")
	}
	// pycti's message, with the port.
	port := ln.Addr().(*net.TCPAddr).Port
	if want := fmt.Sprintf(`"msg":"Exposing metrics on port","port":%d`, port); !strings.Contains(logs.String(), want) {
		t.Errorf("logs = %s, want %s", logs.String(), want)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Error("listener still accepting after shutdown")
	}
}

func TestServe(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	// Find a free port, then serve on it by address.
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := probe.Addr().String()
	probe.Close()

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- New("", "").Serve(ctx, addr, nil) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics server never listened on %s: %v", addr, err)
		}
		select {
		case err := <-done:
			t.Fatalf("Serve returned early: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if code, body := get(t, "http://"+addr+"/metrics"); code != http.StatusOK || !strings.Contains(body, "state{state=\"idle\"} 1") {
		t.Errorf("GET /metrics = %d:\n%.300s", code, body)
	}
	http.DefaultClient.CloseIdleConnections()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve returned %v after cancel, want nil", err)
	}
}

func TestServeListenErrorIsImmediate(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, addr := range []string{busy.Addr().String(), "127.0.0.1:99999", "not an address"} {
		err := New("", "").Serve(t.Context(), addr, nil)
		var opErr *net.OpError
		if err == nil || !strings.HasPrefix(err.Error(), "listen for metrics on "+addr+": ") {
			t.Errorf("Serve(%q) = %v, want a listen error", addr, err)
		} else if addr == busy.Addr().String() && !errors.As(err, &opErr) {
			t.Errorf("Serve(%q) error %v does not wrap the *net.OpError", addr, err)
		}
	}
}

func TestServeListenerReportsServerFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close() // Serve fails at once on a closed listener
	done := make(chan error, 1)
	go func() { done <- New("", "").ServeListener(t.Context(), ln, nil) }()
	select {
	case err := <-done:
		if err == nil || !strings.HasPrefix(err.Error(), "serve metrics on ") {
			t.Errorf("ServeListener(closed) = %v, want a serve error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ServeListener on a closed listener did not return")
	}
}
