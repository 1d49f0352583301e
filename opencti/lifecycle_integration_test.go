package opencti_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/riskiq-opencti/connectors/opencti"
	"github.com/riskiq-opencti/connectors/opencti/api"
	"github.com/riskiq-opencti/connectors/opencti/internal/testenv"
	"github.com/riskiq-opencti/connectors/opencti/metrics"
	"github.com/riskiq-opencti/connectors/opencti/openctitest"
)

// logRecord is one record seen by a logSink, with its attributes (those of
// the child logger included) flattened.
type logRecord struct {
	Level   slog.Level
	Message string
	Attrs   map[string]any
}

// logSink records every log record and passes it on to the test log.
type logSink struct {
	mu      sync.Mutex
	records []logRecord
	changed chan struct{}
}

func newLogSink() *logSink { return &logSink{changed: make(chan struct{})} }

// logger returns a logger writing to the sink and to t's log.
func (s *logSink) logger(t *testing.T) *slog.Logger {
	return slog.New(&sinkHandler{next: testLogger(t).Handler(), sink: s})
}

func (s *logSink) add(r logRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records = append(s.records, r)
	close(s.changed)
	s.changed = make(chan struct{})
}

// find returns the records with this message.
func (s *logSink) find(message string) []logRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []logRecord
	for _, r := range s.records {
		if r.Message == message {
			out = append(out, r)
		}
	}
	return out
}

// waitFor waits until a record with this message was logged.
func (s *logSink) waitFor(t *testing.T, ctx context.Context, message string) {
	t.Helper()
	s.waitUntil(t, ctx, fmt.Sprintf("a %q log record", message), func() bool { return len(s.find(message)) > 0 })
}

// waitUntil waits until cond, evaluated after each record, holds.
func (s *logSink) waitUntil(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

type sinkHandler struct {
	next  slog.Handler
	sink  *logSink
	attrs []slog.Attr
}

func (h *sinkHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *sinkHandler) Handle(ctx context.Context, r slog.Record) error {
	rec := logRecord{Level: r.Level, Message: r.Message, Attrs: map[string]any{}}
	for _, a := range h.attrs {
		rec.Attrs[a.Key] = a.Value.Resolve().Any()
	}
	r.Attrs(func(a slog.Attr) bool {
		rec.Attrs[a.Key] = a.Value.Resolve().Any()
		return true
	})
	h.sink.add(rec)
	return h.next.Handle(ctx, r)
}

func (h *sinkHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &sinkHandler{next: h.next.WithAttrs(as), sink: h.sink, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

func (h *sinkHandler) WithGroup(string) slog.Handler { return h }

// counter scrapes one sample of m.
func counter(t *testing.T, m *metrics.Metrics, name string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/metrics", nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	t.Fatalf("no sample %s", name)
	return ""
}

// listenQueueDepth returns the number of ready messages in the helper's listen queue.
func listenQueueDepth(t *testing.T, h *opencti.Helper) int {
	t.Helper()
	conn, err := amqp.Dial(testenv.AMQPURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	q, err := ch.QueueDeclarePassive(h.Registration().Config.Listen, true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	return q.Messages
}

// enrichN adds n IPv4 entities and asks for their enrichment; it returns the works.
func enrichN(t *testing.T, ctx context.Context, srv *openctitest.Server, connectorID string, n int, net string) []string {
	t.Helper()
	works := make([]string, 0, n)
	for i := range n {
		id := addIPv4(t, srv, fmt.Sprintf("%s.%d.%d", net, i/250, i%250+1))
		w, err := srv.Enrich(ctx, connectorID, openctitest.EnrichmentRequest{EntityID: id, Mode: openctitest.ModeManual})
		if err != nil {
			t.Fatal(err)
		}
		works = append(works, w)
	}
	return works
}

// TestIntegrationSIGTERMFinishesInFlightRequests stops the listener (what
// SIGTERM does) with 50 requests in flight, then lets their handlers finish
// inside the grace period: every result must be published and every work
// completed without error, as if nothing had happened.
func TestIntegrationSIGTERMFinishesInFlightRequests(t *testing.T) {
	t.Parallel()
	srv := openctitest.NewServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()
	const n = 50
	cfg := testConfig(srv, "INTERNAL_ENRICHMENT")
	cfg.Connector.Concurrency = n
	cfg.Connector.ShutdownTimeout = 90 * time.Second // the gate opens at once: the grace never ends
	logs := newLogSink()
	sigterm, stop := context.WithCancel(ctx)
	defer stop()
	h := startHelper(t, sigterm, cfg, opencti.WithLogger(logs.logger(t)))

	var started atomic.Int32
	gate := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- h.ListenEnrichment(sigterm, func(ctx context.Context, r *opencti.Request) (opencti.Result, error) {
			started.Add(1)
			<-gate
			return enrichWith("sigterm.example")(ctx, r)
		})
	}()
	works := enrichN(t, ctx, srv, cfg.Connector.ID, n, "10.50")
	waitFor(t, ctx, "50 requests in flight", func() bool { return started.Load() == n })

	stop() // SIGTERM
	logs.waitFor(t, ctx, "Consumer stopping, waiting for the messages in flight")
	close(gate)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ListenEnrichment() = %v, want nil", err)
		}
	case <-ctx.Done():
		t.Fatal("ListenEnrichment did not return")
	}

	// Every handler returned: each outcome is on its work already.
	answered, inError, duplicated := 0, 0, 0
	for _, id := range works {
		w, _ := srv.Work(id)
		switch {
		case len(w.Errors) != 0:
			inError++
			t.Errorf("work %s errors = %v", id, w.Errors)
			continue
		case !contains(w.Messages, "enriched"):
			t.Errorf("work %s messages = %v, want the handler's", id, w.Messages)
			continue
		}
		answered++
		w = waitWork(t, ctx, srv, id) // the worker's last report completes it
		// entity + marking + domain + relationship, published once.
		if w.Expected != 4 || w.Processed != 4 {
			duplicated++
			t.Errorf("work %s expectations = %d expected / %d processed, want 4/4", id, w.Expected, w.Processed)
		}
	}
	if got := listenQueueDepth(t, h); got != 0 {
		t.Errorf("listen queue holds %d requests after the shutdown, want 0", got)
	}
	t.Logf("SIGTERM with %d in flight: sent %d / answered %d / in error %d / lost %d / duplicated %d",
		n, n, answered, inError, n-answered-inError, duplicated)
}

// TestIntegrationSIGTERMHandsBackWhatCannotFinish stops the listener with 50
// requests in flight: half of them finish during the grace period, the
// others only when their context is cancelled at its end. Nothing may be
// reported in error; what the first instance did not finish is redelivered
// to a second instance, which completes it.
func TestIntegrationSIGTERMHandsBackWhatCannotFinish(t *testing.T) {
	t.Parallel()
	srv := openctitest.NewServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()
	const n, finishing = 50, 25
	cfg := testConfig(srv, "INTERNAL_ENRICHMENT")
	cfg.Connector.Concurrency = n
	cfg.Connector.ShutdownTimeout = 3 * time.Second
	logs := newLogSink()
	sigterm, stop := context.WithCancel(ctx)
	defer stop()
	first := startHelper(t, sigterm, cfg, opencti.WithLogger(logs.logger(t)))

	var started atomic.Int32
	gate := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- first.ListenEnrichment(sigterm, func(ctx context.Context, r *opencti.Request) (opencti.Result, error) {
			if started.Add(1) > finishing {
				<-ctx.Done() // cannot finish: waits for the end of the grace period
				return opencti.Result{}, fmt.Errorf("passive dns lookup: %w", ctx.Err())
			}
			<-gate
			return enrichWith("first.example")(ctx, r)
		})
	}()
	works := enrichN(t, ctx, srv, cfg.Connector.ID, n, "10.51")
	waitFor(t, ctx, "50 requests in flight", func() bool { return started.Load() == n })
	stop() // SIGTERM
	logs.waitFor(t, ctx, "Consumer stopping, waiting for the messages in flight")
	close(gate)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("first ListenEnrichment() = %v, want nil", err)
		}
	case <-ctx.Done():
		t.Fatal("ListenEnrichment did not return")
	}
	byFirst := map[string]bool{}
	for _, id := range works {
		w, _ := srv.Work(id)
		if len(w.Errors) != 0 {
			t.Errorf("work %s reported in error by the stopping instance: %v", id, w.Errors)
		}
		if contains(w.Messages, "enriched") {
			byFirst[id] = true
		}
	}
	if len(byFirst) > finishing {
		t.Errorf("%d requests answered by the first instance, at most %d could finish", len(byFirst), finishing)
	}
	if t.Failed() {
		t.FailNow()
	}

	// Second instance: answers everything handed back.
	second := startHelper(t, ctx, cfg)
	var mu sync.Mutex
	seen := map[string]bool{} // work id -> redelivered
	go func() {
		_ = second.ListenEnrichment(ctx, func(ctx context.Context, r *opencti.Request) (opencti.Result, error) {
			mu.Lock()
			seen[r.WorkID] = r.Redelivered
			mu.Unlock()
			return enrichWith("second.example")(ctx, r)
		})
	}()
	answered, inError, duplicated := 0, 0, 0
	for _, id := range works {
		w := waitWork(t, ctx, srv, id)
		waitFor(t, ctx, "the work's message", func() bool {
			w, _ = srv.Work(id)
			return contains(w.Messages, "enriched") || len(w.Errors) > 0
		})
		if len(w.Errors) != 0 {
			inError++
			t.Errorf("work %s errors = %v", id, w.Errors)
			continue
		}
		answered++
		mu.Lock()
		redelivered, bySecond := seen[id]
		mu.Unlock()
		switch {
		case !byFirst[id] && !bySecond:
			t.Errorf("work %s completed but never answered", id)
		case !byFirst[id] && !redelivered:
			t.Errorf("work %s: the second instance got it without Redelivered", id)
		case byFirst[id] && bySecond:
			duplicated++ // possible only when the grace ended between publishing and toProcessed
		}
	}
	t.Logf("SIGTERM, grace ends with %d of %d unfinished: sent %d / answered %d (%d by the first instance) / in error %d / lost %d / duplicated %d",
		n-len(byFirst), n, n, answered, len(byFirst), inError, n-answered-inError, duplicated)
}

// TestIntegrationRefusedRequestDoesNotStarveQueue has the platform refuse
// workToReceived for one work for ever and for another one twice, with one
// request processed at a time: the healthy requests behind them are served
// while they are retried at the tail of the queue, the twice-refused request
// succeeds at its third attempt (flagged as a retry), and the poison one is
// given up after MaxRequestAttempts with an ERROR and the dropped metric.
func TestIntegrationRefusedRequestDoesNotStarveQueue(t *testing.T) {
	t.Parallel()
	srv := openctitest.NewServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()
	cfg := testConfig(srv, "INTERNAL_ENRICHMENT")
	cfg.Connector.Concurrency = 1
	logs := newLogSink()
	m := metrics.New("", "")
	h := startHelper(t, ctx, cfg, opencti.WithLogger(logs.logger(t)), opencti.WithMetrics(m), opencti.WithRetryPause(20*time.Millisecond))

	works := enrichN(t, ctx, srv, cfg.Connector.ID, 6, "10.52")
	poison, flaky, healthy := works[0], works[1], works[2:]
	srv.RefuseWork(poison, "toReceived", -1)
	srv.RefuseWork(flaky, "toReceived", 2)

	type call struct {
		attempt        int
		redelivered    bool
		poisonRefusals int
	}
	var mu sync.Mutex
	calls := map[string][]call{}
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() {
		done <- h.ListenEnrichment(lctx, func(ctx context.Context, r *opencti.Request) (opencti.Result, error) {
			mu.Lock()
			calls[r.WorkID] = append(calls[r.WorkID], call{r.Attempt, r.Redelivered, srv.Refused(poison, "toReceived")})
			mu.Unlock()
			return enrichWith("healthy.example")(ctx, r)
		})
	}()
	for _, id := range append([]string{flaky}, healthy...) {
		w := waitWork(t, ctx, srv, id)
		if len(w.Errors) != 0 {
			t.Errorf("work %s errors = %v", id, w.Errors)
		}
	}
	w := waitWork(t, ctx, srv, poison)
	stop()
	if err := <-done; err != nil {
		t.Errorf("ListenEnrichment() = %v", err)
	}

	if len(w.Errors) != 1 || !strings.Contains(w.Errors[0], "given up") || !strings.Contains(w.Errors[0], "toReceived refused") {
		t.Errorf("poison work errors = %v, want one saying it was given up and why", w.Errors)
	}
	if got := srv.Refused(poison, "toReceived"); got != opencti.MaxRequestAttempts {
		t.Errorf("poison request attempts = %d, want %d", got, opencti.MaxRequestAttempts)
	}
	mu.Lock()
	defer mu.Unlock()
	if c := calls[poison]; len(c) != 0 {
		t.Errorf("handler called for the poison request: %+v", c)
	}
	for _, id := range healthy {
		c := calls[id]
		if len(c) != 1 || c[0].attempt != 1 || c[0].redelivered {
			t.Errorf("work %s handler calls = %+v, want one first attempt", id, c)
			continue
		}
		if c[0].poisonRefusals >= opencti.MaxRequestAttempts {
			t.Errorf("work %s was served only after the poison request was given up", id)
		}
	}
	if c := calls[flaky]; len(c) != 1 || c[0].attempt != 3 || !c[0].redelivered {
		t.Errorf("twice-refused work handler calls = %+v, want one at attempt 3 flagged Redelivered", c)
	}
	given := logs.find("Enrichment request given up: the platform refused to record its outcome")
	if len(given) != 1 || given[0].Level != slog.LevelError || given[0].Attrs["work_id"] != poison || !strings.Contains(fmt.Sprint(given[0].Attrs["error"]), "toReceived refused") {
		t.Errorf("give-up records = %+v, want one ERROR naming the work and the cause", given)
	}
	if got := counter(t, m, "requests_dropped_total"); got != "1" {
		t.Errorf("requests_dropped_total = %s, want 1", got)
	}
	if got := listenQueueDepth(t, h); got != 0 {
		t.Errorf("listen queue holds %d messages, want 0", got)
	}
}

// TestIntegrationUnreachablePlatformNeverGivesUp makes workToReceived fail
// with 503 (OpenCTI down) more times than MaxRequestAttempts: an outage is
// not the request's fault, so it is retried until it goes through.
func TestIntegrationUnreachablePlatformNeverGivesUp(t *testing.T) {
	t.Parallel()
	srv := openctitest.NewServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()
	cfg := testConfig(srv, "INTERNAL_ENRICHMENT")
	client, err := api.New(srv.URL, srv.Token(), api.WithRetry(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New("", "")
	h := startHelper(t, ctx, cfg, opencti.WithAPIClient(client), opencti.WithMetrics(m), opencti.WithRetryPause(time.Millisecond))
	failures := 2 * opencti.MaxRequestAttempts
	srv.FailNext("workEdit.toReceived", failures, http.StatusServiceUnavailable)
	var attempt atomic.Int32
	go func() {
		_ = h.ListenEnrichment(ctx, func(ctx context.Context, r *opencti.Request) (opencti.Result, error) {
			attempt.Store(int32(r.Attempt))
			return enrichWith("outage.example")(ctx, r)
		})
	}()
	work := enrichN(t, ctx, srv, cfg.Connector.ID, 1, "10.53")[0]
	if w := waitWork(t, ctx, srv, work); len(w.Errors) != 0 {
		t.Errorf("work errors = %v", w.Errors)
	}
	if got := attempt.Load(); int(got) != failures+1 {
		t.Errorf("handler ran at attempt %d, want %d", got, failures+1)
	}
	if got := counter(t, m, "requests_dropped_total"); got != "0" {
		t.Errorf("requests_dropped_total = %s, want 0", got)
	}
}

// TestIntegrationFailedRequestLoggedAsFailure checks the closing log line of a
// failed request: ERROR with the error, never INFO "Enrichment request done".
func TestIntegrationFailedRequestLoggedAsFailure(t *testing.T) {
	t.Parallel()
	srv := openctitest.NewServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cfg := testConfig(srv, "INTERNAL_ENRICHMENT")
	logs := newLogSink()
	h := startHelper(t, ctx, cfg, opencti.WithLogger(logs.logger(t)))
	go func() {
		_ = h.ListenEnrichment(ctx, func(_ context.Context, r *opencti.Request) (opencti.Result, error) {
			if r.Entity.ObservableValue == "10.54.0.1" {
				return opencti.Result{}, errors.New("passivetotal: quota exceeded")
			}
			return opencti.Result{Message: "No information found"}, nil
		})
	}()
	works := enrichN(t, ctx, srv, cfg.Connector.ID, 2, "10.54")
	failed, fine := waitWork(t, ctx, srv, works[0]), waitWork(t, ctx, srv, works[1])
	if len(failed.Errors) != 1 || !strings.Contains(failed.Errors[0], "quota exceeded") || len(fine.Errors) != 0 {
		t.Fatalf("work errors = %v and %v, want the failure on the first only", failed.Errors, fine.Errors)
	}
	logs.waitUntil(t, ctx, "one closing record per request", func() bool {
		return len(logs.find("Enrichment request failed"))+len(logs.find("Enrichment request done")) >= 2
	})
	for _, r := range logs.find("Enrichment request done") {
		if r.Attrs["work_id"] == works[0] {
			t.Errorf("the failed request was logged as done: %+v", r)
		}
		if r.Level != slog.LevelInfo || r.Attrs["message"] != "No information found" {
			t.Errorf("done record = %+v, want INFO with the work message", r)
		}
	}
	failures := logs.find("Enrichment request failed")
	if len(failures) != 1 || failures[0].Level != slog.LevelError || failures[0].Attrs["work_id"] != works[0] ||
		!strings.Contains(fmt.Sprint(failures[0].Attrs["error"]), "quota exceeded") {
		t.Errorf("failure records = %+v, want one ERROR with the error", failures)
	}
}

// TestIntegrationPingLogsAsPycti: a failed ping is logged as pycti's
// PingAlive logs it, "Error pinging the API" with the error under reason,
// and the next ping that works logs "API Ping back to normal" once.
func TestIntegrationPingLogsAsPycti(t *testing.T) {
	t.Parallel()
	srv := openctitest.NewServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	client, err := api.New(srv.URL, srv.Token(), api.WithRetry(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	srv.FailNext("pingConnector", 2, http.StatusServiceUnavailable)
	logs := newLogSink()
	startHelper(t, ctx, testConfig(srv, "EXTERNAL_IMPORT"), opencti.WithAPIClient(client),
		opencti.WithLogger(logs.logger(t)), opencti.WithPingInterval(5*time.Millisecond))
	logs.waitFor(t, ctx, "API Ping back to normal")
	failed := logs.find("Error pinging the API")
	if len(failed) != 2 {
		t.Fatalf("%d ping errors logged, want 2", len(failed))
	}
	for _, r := range failed {
		reason, _ := r.Attrs["reason"].(string)
		if r.Level != slog.LevelError || !strings.Contains(reason, "503") {
			t.Errorf("ping error record = %+v, want ERROR with the error under reason", r)
		}
	}
	if n := len(logs.find("API Ping back to normal")); n != 1 {
		t.Errorf(`"API Ping back to normal" logged %d times, want once`, n)
	}
}
