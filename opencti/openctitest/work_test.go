package openctitest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
)

// step is one work API call: "add N", "report", "report-error", "processed",
// "processed-error", "received", "delete".
type step string

func (b *workBook) apply(t *testing.T, id string, s step, now time.Time) {
	t.Helper()
	verb, arg, _ := strings.Cut(string(s), " ")
	switch verb {
	case "add":
		var n int
		if _, err := fmt.Sscan(arg, &n); err != nil {
			t.Fatalf("bad step %q", s)
		}
		b.addExpectations(id, n, now)
	case "report":
		b.reportExpectation(id, nil, nil, now)
	case "report-error":
		msg, src := "boom", `{"id":"x"}`
		b.reportExpectation(id, &msg, &src, now)
	case "processed":
		b.toProcessed(id, "done", false, now)
	case "processed-error":
		b.toProcessed(id, "failed", true, now)
	case "received":
		b.toReceived(id, "ready", now)
	case "delete":
		b.remove(id)
	default:
		t.Fatalf("bad step %q", s)
	}
}

// TestWorkCompletionRules checks the platform's completion rules (spec §5.2)
// on sequences of calls.
func TestWorkCompletionRules(t *testing.T) {
	type result struct {
		Status            string
		Expected          int
		Processed         int
		Completed         int
		Messages, Errors  []string
		Alive             bool
		TrackingExpected  any
		TrackingProcessed any
		Exists            bool
	}
	tests := []struct {
		name     string
		received bool // workAdd (progress) rather than a platform enrichment work (wait)
		steps    []step
		want     result
	}{
		{
			name: "nothing expected, processed completes with 1", received: true,
			steps: []step{"processed"},
			want:  result{Status: "complete", Expected: 1, Completed: 1, Messages: []string{"done"}, Alive: true, TrackingExpected: 1, TrackingProcessed: 1, Exists: true},
		},
		{
			name: "expectations reported before processed", received: true,
			steps: []step{"add 2", "report", "report", "processed"},
			want:  result{Status: "complete", Expected: 2, Processed: 2, Completed: 2, Messages: []string{"done"}, Alive: true, TrackingExpected: 2, TrackingProcessed: 2, Exists: true},
		},
		{
			name: "last report completes after processed", received: true,
			steps: []step{"add 2", "processed", "report", "report"},
			want:  result{Status: "complete", Expected: 2, Processed: 2, Completed: 2, Messages: []string{"done"}, Alive: true, TrackingExpected: 2, TrackingProcessed: 2, Exists: true},
		},
		{
			name: "reports alone complete without processed", received: true,
			steps: []step{"add 1", "report"},
			want:  result{Status: "complete", Expected: 1, Processed: 1, Completed: 1, Alive: true, TrackingExpected: 1, TrackingProcessed: 1, Exists: true},
		},
		{
			name: "missing report keeps progress", received: true,
			steps: []step{"add 3", "report", "report", "processed"},
			want:  result{Status: "progress", Expected: 3, Processed: 2, Messages: []string{"done"}, Alive: true, TrackingExpected: 3, TrackingProcessed: 2, Exists: true},
		},
		{
			name: "expectations accumulate over sends", received: true,
			steps: []step{"add 1", "report", "add 2", "report", "report", "processed"},
			want:  result{Status: "complete", Expected: 3, Processed: 3, Completed: 3, Messages: []string{"done"}, Alive: true, TrackingExpected: 3, TrackingProcessed: 3, Exists: true},
		},
		{
			// A worker reporting before the expectation exists: the counters
			// never match at report time; toProcessed then completes.
			name: "report before expectations", received: true,
			steps: []step{"report", "add 1"},
			want:  result{Status: "progress", Expected: 1, Processed: 1, Alive: true, TrackingExpected: 1, TrackingProcessed: 1, Exists: true},
		},
		{
			name: "report before expectations then processed", received: true,
			steps: []step{"report", "add 1", "processed"},
			want:  result{Status: "complete", Expected: 1, Processed: 1, Completed: 1, Messages: []string{"done"}, Alive: true, TrackingExpected: 1, TrackingProcessed: 1, Exists: true},
		},
		{
			name: "report errors go to errors and still count", received: true,
			steps: []step{"add 2", "report-error", "report"},
			want:  result{Status: "complete", Expected: 2, Processed: 2, Completed: 2, Errors: []string{"boom"}, Alive: true, TrackingExpected: 2, TrackingProcessed: 2, Exists: true},
		},
		{
			name: "processed in error completes with an error", received: true,
			steps: []step{"processed-error"},
			want:  result{Status: "complete", Expected: 1, Completed: 1, Errors: []string{"failed"}, Alive: true, TrackingExpected: 1, TrackingProcessed: 1, Exists: true},
		},
		{
			name:  "enrichment work waits until received",
			steps: []step{},
			want:  result{Status: "wait", Alive: true, Exists: true},
		},
		{
			name:  "enrichment received, sent, processed",
			steps: []step{"received", "add 1", "processed"},
			want:  result{Status: "progress", Expected: 1, Messages: []string{"ready", "done"}, Alive: true, TrackingExpected: 1, Exists: true},
		},
		{
			name:  "enrichment completes with the worker's report",
			steps: []step{"received", "add 1", "processed", "report"},
			want:  result{Status: "complete", Expected: 1, Processed: 1, Completed: 1, Messages: []string{"ready", "done"}, Alive: true, TrackingExpected: 1, TrackingProcessed: 1, Exists: true},
		},
		{
			name: "extra report does not reopen", received: true,
			steps: []step{"add 1", "report", "report"},
			want:  result{Status: "complete", Expected: 1, Processed: 2, Completed: 1, Alive: true, TrackingExpected: 1, TrackingProcessed: 1, Exists: true},
		},
		{
			name: "deleted work drops counters", received: true,
			steps: []step{"add 1", "delete", "report"},
			want:  result{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newWorkBook()
			id := "work_c_2024-01-15T10:30:00.000Z"
			b.create(id, "w", "c", "c", "", fixedTime, tt.received)
			for i, s := range tt.steps {
				b.apply(t, id, s, fixedTime.Add(time.Duration(i+1)*time.Second))
			}
			w, ok := b.snapshot(id)
			exp, proc, _ := b.tracking(id)
			got := result{
				Status: w.Status, Expected: w.Expected, Processed: w.Processed, Completed: w.CompletedNumber,
				Messages: w.Messages, Errors: w.Errors, Alive: b.alive(id),
				TrackingExpected: exp, TrackingProcessed: proc, Exists: ok,
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("after %v (-want +got):\n%s", tt.steps, diff)
			}
			if _, leaked := b.redis[id]; !ok && leaked {
				t.Errorf("Redis counters of a deleted work were kept")
			}
		})
	}
}

func TestIntegrationWorkAPI(t *testing.T) {
	s := NewServer(t, WithClock(fixedClock))
	connectorID := uuid.NewString()
	register(t, s, connectorID, "EXTERNAL_IMPORT", nil, false)
	add := `mutation workAdd($connectorId: String!, $friendlyName: String) { workAdd(connectorId: $connectorId, friendlyName: $friendlyName) { id } }`
	d := mustData(t, post(t, s, add, map[string]any{"connectorId": connectorID, "friendlyName": "RiskIQ run @ 2024-01-15 10:30:00"}))
	workID := path(d, "workAdd", "id").(string)
	if want := "work_" + connectorID + "_2024-01-15T10:30:00.000Z"; workID != want {
		t.Errorf("work id = %s, want %s", workID, want)
	}
	// A second work in the same millisecond gets a distinct id.
	d = mustData(t, post(t, s, add, map[string]any{"connectorId": connectorID}))
	if other := path(d, "workAdd", "id").(string); other == workID {
		t.Errorf("two works share id %s", other)
	}

	exps := `mutation addExpectations($id: ID!, $expectations: Int) { workEdit(id: $id) { addExpectations(expectations: $expectations) } }`
	report := `mutation reportExpectation($id: ID!, $error: WorkErrorInput) { workEdit(id: $id) { reportExpectation(error: $error) } }`
	processed := `mutation workToProcessed($id: ID!, $message: String, $inError: Boolean) { workEdit(id: $id) { toProcessed(message: $message, inError: $inError) } }`
	get := `query WorkQuery($id: ID!) { work(id: $id) { id name user { name } timestamp status event_source_id received_time processed_time completed_time tracking { import_expected_number import_processed_number } messages { timestamp message sequence source } errors { timestamp message sequence source } } }`
	alive := `query WorkAliveQuery($id: ID!) { isWorkAlive(id: $id) }`

	d = mustData(t, post(t, s, exps, map[string]any{"id": workID, "expectations": 2}))
	if got := path(d, "workEdit", "addExpectations"); got != workID {
		t.Errorf("addExpectations returned %v", got)
	}
	mustData(t, post(t, s, processed, map[string]any{"id": workID, "message": "1 article", "inError": false}))
	mustData(t, post(t, s, report, map[string]any{"id": workID, "error": nil}))
	if w, _ := s.Work(workID); w.Status != "progress" {
		t.Errorf("status after 1/2 reports = %s, want progress", w.Status)
	}
	mustData(t, post(t, s, report, map[string]any{"id": workID, "error": map[string]any{"error": "bad", "source": "{}"}}))
	d = mustData(t, post(t, s, get, map[string]any{"id": workID}))
	want := map[string]any{
		"id": workID, "name": "RiskIQ run @ 2024-01-15 10:30:00", "user": map[string]any{"name": "admin"},
		"timestamp": "2024-01-15T10:30:00.000Z", "status": "complete", "event_source_id": connectorID,
		"received_time": "2024-01-15T10:30:00.000Z", "processed_time": "2024-01-15T10:30:00.000Z",
		"completed_time": "2024-01-15T10:30:00.000Z",
		"tracking":       map[string]any{"import_expected_number": 2.0, "import_processed_number": 2.0},
		"messages":       []any{map[string]any{"timestamp": "2024-01-15T10:30:00.000Z", "message": "1 article", "sequence": nil, "source": nil}},
		"errors":         []any{map[string]any{"timestamp": "2024-01-15T10:30:00.000Z", "message": "bad", "sequence": nil, "source": "{}"}},
	}
	if diff := cmp.Diff(want, d["work"]); diff != "" {
		t.Errorf("work (-want +got):\n%s", diff)
	}
	if d := mustData(t, post(t, s, alive, map[string]any{"id": workID})); d["isWorkAlive"] != true {
		t.Errorf("isWorkAlive = %v, want true", d["isWorkAlive"])
	}
	mustData(t, post(t, s, `mutation ConnectorWorksMutation($workId: ID!) { workEdit(id: $workId) { delete } }`, map[string]any{"workId": workID}))
	if d := mustData(t, post(t, s, alive, map[string]any{"id": workID})); d["isWorkAlive"] != false {
		t.Errorf("isWorkAlive after delete = %v, want false", d["isWorkAlive"])
	}
	if d := mustData(t, post(t, s, get, map[string]any{"id": workID})); d["work"] != nil {
		t.Errorf("deleted work is still readable: %v", d["work"])
	}

	r := post(t, s, add, map[string]any{"connectorId": uuid.NewString()})
	if r.errorCode(0) != "FUNCTIONAL_ERROR" || r.Data != nil {
		t.Errorf("workAdd for an unknown connector: %s", r.Raw)
	}
}
