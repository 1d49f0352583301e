package opencti_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riskiq-opencti/connectors/opencti"
	"github.com/riskiq-opencti/connectors/opencti/openctitest"
	"github.com/riskiq-opencti/connectors/opencti/stix"
)

// killParts is the number of single-object messages enrichFourteen sends:
// the entity, its TLP marking, 6 domains and 6 relationships (issue 9's
// "expected 28, processed 14" came from such a 14-part bundle).
const killParts = 14

// enrichFourteen returns the request's objects plus 6 domains resolving to
// the entity: killParts parts, the same ones on every attempt.
func enrichFourteen(_ context.Context, r *opencti.Request) (opencti.Result, error) {
	objects := make([]any, 0, killParts)
	for _, o := range r.StixObjects {
		objects = append(objects, o)
	}
	for i := range 6 {
		d := stix.NewDomainName(fmt.Sprintf("kill-%d.example", i))
		rel, err := stix.NewRelationship("resolves-to", d.ID(), r.EntityID, nil, nil)
		if err != nil {
			return opencti.Result{}, err
		}
		rel.Created = time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC)
		objects = append(objects, d, rel)
	}
	return opencti.Result{Objects: objects, Message: "enriched"}, nil
}

// killFigures are the outcome of one kill scenario, for docs/reliability.md.
type killFigures struct {
	status              string
	expected, processed int
	messages, distinct  int
	errors              []string
}

// runKill sends one enrichment request to a first instance that is killed
// at step (it blocks there, its broker connections are closed, then its
// goroutine ends without returning to the SDK, so it can never publish or
// report later), then lets a second instance, running second, take the
// redelivered message. It returns the work once the second instance is done.
func runKill(t *testing.T, step string, waitComplete bool, second opencti.EnrichmentFunc) killFigures {
	t.Helper()
	srv := openctitest.NewServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	cfg := testConfig(srv, "INTERNAL_ENRICHMENT")
	cfg.Connector.Concurrency = 1
	cfg.Connector.ShutdownTimeout = 100 * time.Millisecond
	marker := "opencti-connector-" + cfg.Connector.ID

	firstCtx, killFirst := context.WithCancel(ctx)
	defer killFirst()
	first := startHelper(t, firstCtx, cfg)
	reached, dead := make(chan struct{}), make(chan struct{})
	var once sync.Once
	opencti.SetTestHook(first, func(s string) {
		if s != step {
			return
		}
		once.Do(func() { close(reached) })
		<-dead
		// The process is dead: nothing after this step ever runs.
		runtime.Goexit()
	})
	firstDone := make(chan error, 1)
	go func() { firstDone <- first.ListenEnrichment(firstCtx, enrichFourteen) }()

	entityID := addIPv4(t, srv, "192.0.2.77")
	workID, err := srv.Enrich(ctx, cfg.Connector.ID, openctitest.EnrichmentRequest{EntityID: entityID, Mode: openctitest.ModeManual})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-reached:
	case <-ctx.Done():
		t.Fatalf("the first instance never reached step %s", step)
	}
	if waitComplete {
		// The worker imported every part before the kill.
		if _, err := srv.WaitWork(ctx, workID, openctitest.StatusComplete); err != nil {
			t.Fatal(err)
		}
	}
	// SIGKILL: the instance stops consuming (so it cannot take the request
	// again), RabbitMQ loses its connections and requeues the
	// unacknowledged request, then the blocked goroutine ends.
	killFirst()
	closed := closeConnections(t, marker)
	// The consumer may already have closed its channel after its grace
	// period (which requeues the request too).
	t.Logf("closed %d connections of the first instance", closed)
	close(dead)
	if err := <-firstDone; err != nil {
		t.Fatalf("first ListenEnrichment() = %v", err)
	}
	before, _ := srv.Work(workID)
	t.Logf("killed at %s: work %s expected %d processed %d", step, before.Status, before.Expected, before.Processed)

	secondHelper := startHelper(t, ctx, cfg)
	var (
		mu          sync.Mutex
		redelivered bool
	)
	handled := make(chan struct{}, 1)
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	secondDone := make(chan error, 1)
	go func() {
		secondDone <- secondHelper.ListenEnrichment(lctx, func(ctx context.Context, r *opencti.Request) (opencti.Result, error) {
			mu.Lock()
			redelivered = r.Redelivered
			mu.Unlock()
			select {
			case handled <- struct{}{}:
			default:
			}
			return second(ctx, r)
		})
	}()
	// The second instance is done with the request once it acknowledged it
	// (after reporting the work, or at once when the work was complete).
	listen := srv.QueuePrefix() + "_listen_" + cfg.Connector.ID
	waitFor(t, ctx, "the second instance to acknowledge the request", func() bool { return queueMessages(t, listen) == 0 })
	select {
	case <-handled:
		mu.Lock()
		if !redelivered {
			t.Error("the second instance got the request with Redelivered false")
		}
		mu.Unlock()
		w, _ := srv.Work(workID)
		if len(w.Messages)+len(w.Errors) < 2 { // toReceived's message + the report
			t.Errorf("the second instance ran the request but did not report it: %+v", w)
		}
	default:
	}
	// Every message published (confirmed, so in the push queue) was
	// imported and reported once the queue is empty.
	push := srv.QueuePrefix() + "_push_" + cfg.Connector.ID
	waitFor(t, ctx, "the worker to drain "+push, func() bool { return queueMessages(t, push) == 0 })
	stop()
	if err := <-secondDone; err != nil {
		t.Errorf("second ListenEnrichment() = %v", err)
	}
	if before.Status == openctitest.StatusComplete {
		select {
		case <-handled:
			t.Error("the second instance ran the handler for a request whose work was complete")
		default:
		}
	}
	w, _ := srv.Work(workID)
	f := killFigures{status: w.Status, expected: w.Expected, processed: w.Processed, errors: w.Errors}
	seen := map[string]bool{}
	for _, d := range srv.Deliveries() {
		if d.ConnectorID != cfg.Connector.ID {
			continue
		}
		f.messages++
		if objs, _ := d.Bundle["objects"].([]any); len(objs) == 1 {
			if o, ok := objs[0].(map[string]any); ok {
				id, _ := o["id"].(string)
				seen[id] = true
			}
		}
	}
	f.distinct = len(seen)
	t.Logf("reliability: kill at %s -> work %s, expected %d, processed %d, messages %d for %d objects (%d re-sent), errors %v",
		step, f.status, f.expected, f.processed, f.messages, f.distinct, f.messages-f.distinct, f.errors)
	return f
}

// TestIntegrationKillAtEveryStep is issue 9 item 2: whatever step of a
// request an instance is killed at, the next instance completes its work
// (status complete, processed >= expected, no error). On the code before
// SendOptions.Retry, the kill after addExpectations left the work at
// expected 28 / processed 14, in progress for ever.
func TestIntegrationKillAtEveryStep(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	if _, err := exec.LookPath("rabbitmqctl"); err != nil {
		t.Skip("rabbitmqctl not available")
	}
	tests := []struct {
		step string
		// waitComplete waits, before the kill, for the worker to import
		// everything published (the work then completed on its own).
		waitComplete bool
		// wantResent is how many messages the second instance sends again.
		wantResent int
	}{
		{step: opencti.StepBeforeAddExpectations},
		{step: opencti.StepAfterAddExpectations},
		{step: opencti.StepPublished(1), wantResent: 1},
		{step: opencti.StepPublished(killParts / 2), wantResent: killParts / 2},
		{step: opencti.StepPublished(killParts - 1), wantResent: killParts - 1},
		{step: opencti.StepPublished(killParts)},
		{step: opencti.StepBeforeToProcessed, waitComplete: true},
	}
	for _, tt := range tests {
		t.Run(tt.step, func(t *testing.T) {
			t.Parallel()
			f := runKill(t, tt.step, tt.waitComplete, enrichFourteen)
			checkCompleted(t, f)
			if f.distinct != killParts {
				t.Errorf("distinct objects imported = %d, want %d", f.distinct, killParts)
			}
			// Killed after k of N published: the N parts are sent again (k
			// re-sent). Killed after all N published: with the work not
			// yet complete they are sent again (N), else nothing is.
			if tt.step == opencti.StepPublished(killParts) {
				if r := f.messages - f.distinct; r != 0 && r != killParts {
					t.Errorf("re-sent messages = %d, want 0 or %d", r, killParts)
				}
			} else if r := f.messages - f.distinct; r != tt.wantResent {
				t.Errorf("re-sent messages = %d, want %d", r, tt.wantResent)
			}
		})
	}
}

// TestIntegrationKillThenRetrySendsNothing covers the retry that sends no
// bundle after an earlier attempt left expectations (killed after
// addExpectations): the request's own objects are re-sent so the work still
// completes, with the handler's error when it failed.
func TestIntegrationKillThenRetrySendsNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	if _, err := exec.LookPath("rabbitmqctl"); err != nil {
		t.Skip("rabbitmqctl not available")
	}
	t.Run("nothing found", func(t *testing.T) {
		t.Parallel()
		f := runKill(t, opencti.StepAfterAddExpectations, false, func(context.Context, *opencti.Request) (opencti.Result, error) {
			return opencti.Result{Message: "nothing this time"}, nil
		})
		checkCompleted(t, f)
	})
	t.Run("handler error", func(t *testing.T) {
		t.Parallel()
		f := runKill(t, opencti.StepPublished(3), false, func(context.Context, *opencti.Request) (opencti.Result, error) {
			return opencti.Result{}, errors.New("passivetotal: quota exhausted")
		})
		if f.status != openctitest.StatusComplete || f.processed < f.expected {
			t.Errorf("work %s, expected %d, processed %d; want complete", f.status, f.expected, f.processed)
		}
		if !contains(f.errors, "passivetotal: quota exhausted") {
			t.Errorf("work errors = %v, want the handler's error", f.errors)
		}
	})
}

func checkCompleted(t *testing.T, f killFigures) {
	t.Helper()
	if f.status != openctitest.StatusComplete {
		t.Errorf("work status %s (expected %d, processed %d), want complete", f.status, f.expected, f.processed)
	}
	if f.processed < f.expected {
		t.Errorf("work processed %d < expected %d", f.processed, f.expected)
	}
	if len(f.errors) != 0 {
		t.Errorf("work errors = %v", f.errors)
	}
}

// queueMessages is the number of messages (ready and unacknowledged) in a
// queue, -1 when it does not exist.
func queueMessages(t *testing.T, queue string) int {
	t.Helper()
	for _, line := range strings.Split(rabbitmqctl(t, "-q", "list_queues", "name", "messages"), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == queue {
			n, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatalf("list_queues: %q: %v", line, err)
			}
			return n
		}
	}
	return -1
}
