package opencti_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/riskiq-opencti/connectors/opencti"
	"github.com/riskiq-opencti/connectors/opencti/config"
	"github.com/riskiq-opencti/connectors/opencti/openctitest"
	"github.com/riskiq-opencti/connectors/opencti/stix"
)

// testConfig is a connector configuration pointing at the fake platform.
func testConfig(srv *openctitest.Server, typ string) config.Config {
	var c config.Config
	c.OpenCTI.URL = srv.URL
	c.OpenCTI.Token = config.Secret(srv.Token())
	c.OpenCTI.JSONLogging = true
	c.Connector.ID = uuid.NewString()
	c.Connector.Type = typ
	c.Connector.Name = "Integration " + typ
	c.Connector.Scope = []string{"IPv4-Addr", "Domain-Name"}
	c.Connector.SendToQueue = true
	c.Connector.QueueThreshold = 500
	c.Connector.Concurrency = 4
	c.Connector.ShutdownTimeout = 5 * time.Second
	return c
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewJSONHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// startHelper builds and starts a helper; its ping loop stops with the test.
func startHelper(t *testing.T, ctx context.Context, cfg config.Config, opts ...opencti.Option) *opencti.Helper {
	t.Helper()
	opts = append([]opencti.Option{opencti.WithLogger(testLogger(t)), opencti.WithPlaybookCompatible(), opencti.WithStartBackoff(50*time.Millisecond, 200*time.Millisecond)}, opts...)
	h, err := opencti.New(cfg, opts...)
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	if err := h.Start(ctx); err != nil {
		t.Fatalf("Start() = %v", err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// enrichWith returns a handler that adds a domain resolving to the entity.
func enrichWith(domain string) opencti.EnrichmentFunc {
	return func(_ context.Context, r *opencti.Request) (opencti.Result, error) {
		d := stix.NewDomainName(domain)
		rel, err := stix.NewRelationship("resolves-to", d.ID(), r.EntityID, nil, nil)
		if err != nil {
			return opencti.Result{}, err
		}
		rel.Created = time.Now()
		objects := make([]any, 0, len(r.StixObjects)+2)
		for _, o := range r.StixObjects {
			objects = append(objects, o)
		}
		objects = append(objects, d, rel)
		return opencti.Result{Objects: objects, Message: "enriched"}, nil
	}
}

func waitWork(t *testing.T, ctx context.Context, srv *openctitest.Server, workID string) openctitest.Work {
	t.Helper()
	for {
		w, ok := srv.Work(workID)
		if ok && w.Status == "complete" {
			return w
		}
		select {
		case <-ctx.Done():
			t.Fatalf("work %s not complete: %+v", workID, w)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func addIPv4(t *testing.T, srv *openctitest.Server, value string) string {
	t.Helper()
	e, err := srv.AddEntity(openctitest.Entity{
		EntityType: "IPv4-Addr", Value: value,
		Markings: []openctitest.Marking{openctitest.MustTLP("TLP:GREEN")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := stix.NewIPv4Addr(value).ID(); e.StandardID != want {
		t.Fatalf("platform standard id %s, SDK id %s", e.StandardID, want)
	}
	return e.StandardID
}

func TestIntegrationEnrichmentRoundTrip(t *testing.T) {
	t.Parallel()
	srv := openctitest.NewServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cfg := testConfig(srv, "INTERNAL_ENRICHMENT")
	h := startHelper(t, ctx, cfg)
	entityID := addIPv4(t, srv, "8.8.8.8")
	listenDone := make(chan error, 1)
	lctx, stop := context.WithCancel(ctx)
	go func() { listenDone <- h.ListenEnrichment(lctx, enrichWith("example.com")) }()

	workID, err := srv.Enrich(ctx, cfg.Connector.ID, openctitest.EnrichmentRequest{EntityID: entityID, Mode: openctitest.ModeManual})
	if err != nil {
		t.Fatal(err)
	}
	waitWork(t, ctx, srv, workID)
	// The worker's last report can complete the work before the connector's
	// toProcessed lands (as on the platform): wait for the message too.
	waitFor(t, ctx, "the work's message", func() bool {
		w, _ := srv.Work(workID)
		return contains(w.Messages, "enriched")
	})
	w, _ := srv.Work(workID)
	// entity + TLP:GREEN marking + domain + relationship = 4 single-object messages.
	if w.Expected != 4 || w.Processed != 4 {
		t.Errorf("work expectations = %d expected / %d processed, want 4/4", w.Expected, w.Processed)
	}
	if len(w.Errors) != 0 {
		t.Errorf("work errors = %v", w.Errors)
	}
	if !contains(w.Messages, "enriched") {
		t.Errorf("work messages = %v, want the handler's message", w.Messages)
	}
	c, _ := srv.Connector(cfg.Connector.ID)
	if c.Pings == 0 {
		t.Error("no ping reached the platform")
	}
	stop()
	if err := <-listenDone; err != nil {
		t.Errorf("ListenEnrichment() = %v", err)
	}
}

// TestIntegrationEnrichmentSendsAuthorIdentity: the fake platform sends no
// stix_objects (enrichment_resolution none); as pycti, the runtime rebuilds
// them with the entity's author identity, read by GraphQL, which reaches the
// platform in pycti's export form.
func TestIntegrationEnrichmentSendsAuthorIdentity(t *testing.T) {
	t.Parallel()
	srv := openctitest.NewServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cfg := testConfig(srv, "INTERNAL_ENRICHMENT")
	h := startHelper(t, ctx, cfg)
	e, err := srv.AddEntity(openctitest.Entity{
		EntityType: "IPv4-Addr", Value: "9.9.9.9",
		Markings:  []openctitest.Marking{openctitest.MustTLP("TLP:GREEN")},
		CreatedBy: &openctitest.Entity{EntityType: "Organization", Name: "ACME", Description: "A vendor"},
	})
	if err != nil {
		t.Fatal(err)
	}
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = h.ListenEnrichment(lctx, enrichWith("example.org")) }()
	workID, err := srv.Enrich(ctx, cfg.Connector.ID, openctitest.EnrichmentRequest{EntityID: e.StandardID, Mode: openctitest.ModeManual})
	if err != nil {
		t.Fatal(err)
	}
	waitWork(t, ctx, srv, workID)
	w, _ := srv.Work(workID)
	// entity + author + TLP:GREEN + domain + relationship.
	if w.Expected != 5 || w.Processed != 5 {
		t.Errorf("work expectations = %d expected / %d processed, want 5/5", w.Expected, w.Processed)
	}
	var author map[string]any
	for _, o := range srv.Objects() {
		if o["id"] == e.CreatedBy.StandardID {
			author = o
		}
	}
	want := map[string]any{
		"id": e.CreatedBy.StandardID, "type": "identity", "spec_version": "2.1", "name": "ACME",
		"identity_class": "organization", "description": "A vendor", "x_opencti_id": e.CreatedBy.ID, "x_opencti_type": "Organization",
	}
	for k, v := range want {
		if author[k] != v {
			t.Errorf("author identity %s = %v, want %v (object %v)", k, author[k], v, author)
		}
	}
}

func TestIntegrationMalformedMessageRejected(t *testing.T) {
	t.Parallel()
	srv := openctitest.NewServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cfg := testConfig(srv, "INTERNAL_ENRICHMENT")
	h := startHelper(t, ctx, cfg)
	var calls atomic.Int32
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		_ = h.ListenEnrichment(lctx, func(context.Context, *opencti.Request) (opencti.Result, error) {
			calls.Add(1)
			return opencti.Result{}, nil
		})
	}()
	workID, err := srv.AddWork(cfg.Connector.ID, "Enrichment (broken)")
	if err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf(`{"internal":{"work_id":%q,"applicant_id":null},"event":{"entity_type":"IPv4-Addr"}}`, workID)
	if err := srv.PublishRaw(ctx, cfg.Connector.ID, []byte(body)); err != nil {
		t.Fatal(err)
	}
	w := waitWork(t, ctx, srv, workID)
	if len(w.Errors) != 1 || !strings.Contains(w.Errors[0], "specific id") {
		t.Errorf("work errors = %v, want the parse error", w.Errors)
	}
	if calls.Load() != 0 {
		t.Errorf("handler called %d times for a malformed message", calls.Load())
	}
}

func TestIntegrationImportStatePersistedThroughPing(t *testing.T) {
	t.Parallel()
	srv := openctitest.NewServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cfg := testConfig(srv, "EXTERNAL_IMPORT")
	cfg.Connector.RunAndTerminate = true
	cfg.Connector.Scope = []string{"riskiq"}

	type state struct {
		Runs int `json:"runs"`
	}
	runOnce := func() (state, string) {
		h := startHelper(t, ctx, cfg)
		var before state
		var workID string
		err := h.Schedule(ctx, 0, func(ctx context.Context) error {
			if _, err := h.State(&before); err != nil {
				return err
			}
			var err error
			workID, err = h.InitiateWork(ctx, "run")
			if err != nil {
				return err
			}
			ip := stix.NewIPv4Addr(fmt.Sprintf("10.0.0.%d", before.Runs+1))
			b, err := opencti.MarshalBundle([]any{ip})
			if err != nil {
				return err
			}
			if _, err := h.SendBundle(ctx, b, opencti.SendOptions{WorkID: workID}); err != nil {
				return err
			}
			if err := h.SetState(state{Runs: before.Runs + 1}); err != nil {
				return err
			}
			return h.WorkToProcessed(ctx, workID, "1 object", false)
		})
		if err != nil {
			t.Fatalf("Schedule() = %v", err)
		}
		return before, workID
	}
	first, w1 := runOnce()
	second, w2 := runOnce()
	if first.Runs != 0 || second.Runs != 1 {
		t.Errorf("state seen by the runs = %d then %d, want 0 then 1", first.Runs, second.Runs)
	}
	for _, id := range []string{w1, w2} {
		if w := waitWork(t, ctx, srv, id); w.Expected != 1 {
			t.Errorf("work %s expected = %d, want 1", id, w.Expected)
		}
	}
	c, _ := srv.Connector(cfg.Connector.ID)
	if c.State == nil || *c.State != `{"runs":2}` {
		t.Errorf("platform state = %v, want {\"runs\":2}", c.State)
	}
}

func TestIntegrationRemoteStateReset(t *testing.T) {
	t.Parallel()
	srv := openctitest.NewServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cfg := testConfig(srv, "EXTERNAL_IMPORT")
	h := startHelper(t, ctx, cfg, opencti.WithPingInterval(time.Hour))
	if err := h.SetState(map[string]int{"latest_run_timestamp": 42}); err != nil {
		t.Fatal(err)
	}
	if err := h.PushState(ctx); err != nil {
		t.Fatal(err)
	}
	srv.ResetState(cfg.Connector.ID)
	if err := h.PushState(ctx); err != nil {
		t.Fatal(err)
	}
	var st map[string]int
	if ok, err := h.State(&st); ok || err != nil {
		t.Errorf("State() after a remote reset = %v, %v (%v), want no state", ok, err, st)
	}
}

func TestIntegrationWaitsForOpenCTIAtStart(t *testing.T) {
	t.Parallel()
	srv := openctitest.NewServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	srv.SetDown(true)
	cfg := testConfig(srv, "INTERNAL_ENRICHMENT")
	waits := &countingHandler{Handler: testLogger(t).Handler(), message: "OpenCTI API is not reachable", count: new(atomic.Int32)}
	h, err := opencti.New(cfg, opencti.WithLogger(slog.New(waits)), opencti.WithStartBackoff(20*time.Millisecond, 50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan error, 1)
	go func() { started <- h.Start(ctx) }()
	for waits.count.Load() < 3 {
		select {
		case err := <-started:
			t.Fatalf("Start() returned %v while OpenCTI was down", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	srv.SetDown(false)
	if err := <-started; err != nil {
		t.Fatalf("Start() = %v after OpenCTI came up", err)
	}
	if c, ok := srv.Connector(cfg.Connector.ID); !ok || !c.Registered {
		t.Errorf("connector not registered after OpenCTI came up: %+v", c)
	}
}

// countingHandler counts the log records whose message starts with message.
type countingHandler struct {
	slog.Handler
	message string
	count   *atomic.Int32
}

func (h *countingHandler) Handle(ctx context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, h.message) {
		h.count.Add(1)
	}
	return h.Handler.Handle(ctx, r)
}

func (h *countingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &countingHandler{Handler: h.Handler.WithAttrs(as), message: h.message, count: h.count}
}

func (h *countingHandler) WithGroup(name string) slog.Handler {
	return &countingHandler{Handler: h.Handler.WithGroup(name), message: h.message, count: h.count}
}

// rabbitmqctl runs rabbitmqctl, failing the test on error.
func rabbitmqctl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("rabbitmqctl", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("rabbitmqctl %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// closeConnections closes every broker connection whose name contains marker.
func closeConnections(t *testing.T, marker string) int {
	t.Helper()
	n := 0
	for _, line := range strings.Split(rabbitmqctl(t, "-q", "list_connections", "pid", "client_properties"), "\n") {
		if !strings.Contains(line, marker) {
			continue
		}
		pid := strings.Fields(line)[0]
		rabbitmqctl(t, "close_connection", pid, "integration test")
		n++
	}
	return n
}

func TestIntegrationBrokerClosesConnectionMidStream(t *testing.T) {
	if _, err := exec.LookPath("rabbitmqctl"); err != nil {
		t.Skip("rabbitmqctl not available")
	}
	srv := openctitest.NewServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()
	cfg := testConfig(srv, "INTERNAL_ENRICHMENT")
	cfg.Connector.Concurrency = 2
	h := startHelper(t, ctx, cfg)
	var handled atomic.Int32
	release := make(chan struct{})
	var once sync.Once
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		_ = h.ListenEnrichment(lctx, func(ctx context.Context, r *opencti.Request) (opencti.Result, error) {
			if handled.Add(1) == 5 {
				once.Do(func() { close(release) })
			}
			return enrichWith("mid-stream.example")(ctx, r)
		})
	}()
	const n = 20
	works := make([]string, 0, n)
	for i := range n {
		id := addIPv4(t, srv, fmt.Sprintf("192.0.2.%d", i+1))
		w, err := srv.Enrich(ctx, cfg.Connector.ID, openctitest.EnrichmentRequest{EntityID: id, Mode: openctitest.ModeManual})
		if err != nil {
			t.Fatal(err)
		}
		works = append(works, w)
	}
	select {
	case <-release:
	case <-ctx.Done():
		t.Fatal("the connector never processed 5 requests")
	}
	if closed := closeConnections(t, "opencti-connector-"+cfg.Connector.ID); closed == 0 {
		t.Fatal("found no connector connection to close")
	}
	for _, id := range works {
		w := waitWork(t, ctx, srv, id)
		if len(w.Errors) != 0 {
			t.Errorf("work %s errors = %v", id, w.Errors)
		}
	}
}

func TestIntegrationInFlightRequestsRedeliveredToNextInstance(t *testing.T) {
	t.Parallel()
	srv := openctitest.NewServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()
	cfg := testConfig(srv, "INTERNAL_ENRICHMENT")
	cfg.Connector.Concurrency = 2
	cfg.Connector.ShutdownTimeout = 200 * time.Millisecond

	// First instance: takes requests and hangs on them until it is stopped.
	first := startHelper(t, ctx, cfg)
	var started atomic.Int32
	lctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- first.ListenEnrichment(lctx, func(ctx context.Context, _ *opencti.Request) (opencti.Result, error) {
			started.Add(1)
			<-ctx.Done()
			return opencti.Result{}, ctx.Err()
		})
	}()
	works := make([]string, 0, 4)
	for i := range 4 {
		id := addIPv4(t, srv, fmt.Sprintf("198.51.100.%d", i+1))
		w, err := srv.Enrich(ctx, cfg.Connector.ID, openctitest.EnrichmentRequest{EntityID: id, Mode: openctitest.ModeManual})
		if err != nil {
			t.Fatal(err)
		}
		works = append(works, w)
	}
	for started.Load() < 2 {
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("first ListenEnrichment() = %v", err)
	}
	for _, id := range works {
		if w, _ := srv.Work(id); w.Status == "complete" {
			t.Fatalf("work %s completed by the stopped instance: %+v", id, w)
		}
	}

	// Second instance: answers everything, including the redelivered requests.
	second := startHelper(t, ctx, cfg)
	var redelivered atomic.Int32
	go func() {
		_ = second.ListenEnrichment(ctx, func(ctx context.Context, r *opencti.Request) (opencti.Result, error) {
			if r.Redelivered {
				redelivered.Add(1)
			}
			return enrichWith("next.example")(ctx, r)
		})
	}()
	for _, id := range works {
		if w := waitWork(t, ctx, srv, id); len(w.Errors) != 0 {
			t.Errorf("work %s errors = %v", id, w.Errors)
		}
	}
	if redelivered.Load() < 2 {
		t.Errorf("redelivered requests answered = %d, want the 2 in flight at shutdown", redelivered.Load())
	}
}

func TestIntegrationPlaybookPassThroughWhenNothingFound(t *testing.T) {
	t.Parallel()
	srv := openctitest.NewServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cfg := testConfig(srv, "INTERNAL_ENRICHMENT")
	h := startHelper(t, ctx, cfg)
	entityID := addIPv4(t, srv, "203.0.113.7")
	go func() {
		_ = h.ListenEnrichment(ctx, func(context.Context, *opencti.Request) (opencti.Result, error) {
			return opencti.Result{Message: "No information found"}, nil
		})
	}()
	if _, err := srv.Enrich(ctx, cfg.Connector.ID, openctitest.EnrichmentRequest{EntityID: entityID, Mode: openctitest.ModePlaybook}); err != nil {
		t.Fatal(err)
	}
	for len(srv.PlaybookExecutions()) == 0 {
		select {
		case <-ctx.Done():
			t.Fatal("no playbookStepExecution")
		case <-time.After(20 * time.Millisecond):
		}
	}
	pe := srv.PlaybookExecutions()[0]
	if pe.Bundle != pe.PreviousBundle {
		t.Errorf("playbook bundle was changed although nothing was found:\n%s\nvs\n%s", pe.Bundle, pe.PreviousBundle)
	}
	var b struct{ Objects []json.RawMessage }
	if err := json.Unmarshal([]byte(pe.Bundle), &b); err != nil || len(b.Objects) == 0 {
		t.Errorf("playbook bundle = %s (%v)", pe.Bundle, err)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if strings.Contains(v, s) {
			return true
		}
	}
	return false
}

// TestIntegrationScheduleQueueThresholdGate runs an import connector on a
// short period: the first run happens at once, later runs are skipped while
// the push queue is above CONNECTOR_QUEUE_THRESHOLD and resume below it, and
// connector_info carries the run timestamps and buffering flag to the platform.
func TestIntegrationScheduleQueueThresholdGate(t *testing.T) {
	t.Parallel()
	srv := openctitest.NewServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cfg := testConfig(srv, "EXTERNAL_IMPORT")
	cfg.Connector.QueueThreshold = 1 // MB
	h := startHelper(t, ctx, cfg, opencti.WithPingInterval(10*time.Millisecond))
	srv.SetQueueDetails(cfg.Connector.ID, &openctitest.QueueDetails{MessagesNumber: 10, MessagesSize: 5e6})

	var runs atomic.Int32
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- h.Schedule(sctx, 20*time.Millisecond, func(context.Context) error {
			runs.Add(1)
			return nil
		})
	}()
	// The first run does not wait for the queue check; the next ticks see 5 MB >= 1 MB.
	waitFor(t, ctx, "buffering reported to the platform", func() bool {
		c, _ := srv.Connector(cfg.Connector.ID)
		return c.Info["buffering"] == true && c.Info["last_run_datetime"] != nil && c.Info["next_run_datetime"] != nil
	})
	if n := runs.Load(); n != 1 {
		t.Errorf("runs while the queue is above the threshold = %d, want only the first one", n)
	}
	srv.SetQueueDetails(cfg.Connector.ID, &openctitest.QueueDetails{})
	waitFor(t, ctx, "runs resumed under the threshold", func() bool { return runs.Load() >= 3 })
	waitFor(t, ctx, "buffering cleared on the platform", func() bool {
		c, _ := srv.Connector(cfg.Connector.ID)
		return c.Info["buffering"] == false
	})
	stop()
	if err := <-done; err != nil {
		t.Errorf("Schedule() = %v", err)
	}
}

func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestIntegrationPushStateRightAfterStart pushes a state while the ping loop's
// first ping (carrying the registration's state) may still be in flight: the
// platform must end with the pushed state, never the older one.
func TestIntegrationPushStateRightAfterStart(t *testing.T) {
	t.Parallel()
	srv := openctitest.NewServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cfg := testConfig(srv, "EXTERNAL_IMPORT")
	for i := range 20 {
		hctx, stop := context.WithCancel(ctx)
		h := startHelper(t, hctx, cfg, opencti.WithPingInterval(time.Hour))
		if err := h.SetState(map[string]int{"n": i + 1}); err != nil {
			t.Fatal(err)
		}
		if err := h.PushState(hctx); err != nil {
			t.Fatal(err)
		}
		// Wait until both pings of this instance (the loop's first one and
		// PushState's) have landed, in whatever order they were sent.
		waitFor(t, ctx, "both pings", func() bool {
			c, _ := srv.Connector(cfg.Connector.ID)
			return c.Pings >= 2*(i+1)
		})
		stop()
		c, _ := srv.Connector(cfg.Connector.ID)
		if want := fmt.Sprintf(`{"n":%d}`, i+1); c.State == nil || *c.State != want {
			got := "<nil>"
			if c.State != nil {
				got = *c.State
			}
			t.Fatalf("iteration %d: platform state = %s, want %s", i, got, want)
		}
	}
}
