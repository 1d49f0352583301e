package api

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestWorkAdd(t *testing.T) {
	f := newFake(t, func(int, call) reply { return ok(`{"workAdd":{"id":"work-1"}}`) })
	id, err := f.client().WorkAdd(t.Context(), "c1", "RiskIQ run @ 2024-01-15 10:30:00")
	if err != nil || id != "work-1" {
		t.Fatalf("WorkAdd() = %q, %v; want work-1", id, err)
	}
	checkVars(t, f.last(), `{"connectorId":"c1","friendlyName":"RiskIQ run @ 2024-01-15 10:30:00"}`)
	if f.last().Query != docWorkAdd {
		t.Error("query is not the embedded workAdd")
	}
}

func TestWorkAddWithoutID(t *testing.T) {
	f := newFake(t, func(int, call) reply { return ok(`{"workAdd":{"id":""}}`) })
	if _, err := f.client().WorkAdd(t.Context(), "c1", "x"); err == nil {
		t.Error("WorkAdd with an empty id: want an error")
	}
}

func TestWorkMutations(t *testing.T) {
	tests := []struct {
		name     string
		run      func(context.Context, *Client) error
		doc      string
		answer   string
		wantVars string
	}{
		{
			name: "to received",
			run: func(ctx context.Context, c *Client) error {
				return c.WorkToReceived(ctx, "w1", "Connector ready to process the operation")
			},
			doc:      docWorkToReceived,
			answer:   `{"workEdit":{"toReceived":"w1"}}`,
			wantVars: `{"id":"w1","message":"Connector ready to process the operation"}`,
		},
		{
			name:     "to processed",
			run:      func(ctx context.Context, c *Client) error { return c.WorkToProcessed(ctx, "w1", "3 objects", false) },
			doc:      docWorkToProcessed,
			answer:   `{"workEdit":{"toProcessed":"w1"}}`,
			wantVars: `{"id":"w1","message":"3 objects","inError":false}`,
		},
		{
			name: "to processed in error",
			run: func(ctx context.Context, c *Client) error {
				return c.WorkToProcessed(ctx, "w1", "quota exceeded", true)
			},
			doc:      docWorkToProcessed,
			answer:   `{"workEdit":{"toProcessed":"w1"}}`,
			wantVars: `{"id":"w1","message":"quota exceeded","inError":true}`,
		},
		{
			name:     "add expectations",
			run:      func(ctx context.Context, c *Client) error { return c.AddExpectations(ctx, "w1", 7) },
			doc:      docAddExpectations,
			answer:   `{"workEdit":{"addExpectations":"w1"}}`,
			wantVars: `{"id":"w1","expectations":7}`,
		},
		{
			name:     "ping",
			run:      func(ctx context.Context, c *Client) error { return c.PingWork(ctx, "w1") },
			doc:      docPingWork,
			answer:   `{"workEdit":{"ping":"w1"}}`,
			wantVars: `{"id":"w1"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(int, call) reply { return ok(tt.answer) })
			if err := tt.run(t.Context(), f.client()); err != nil {
				t.Fatal(err)
			}
			checkVars(t, f.last(), tt.wantVars)
			if f.last().Query != tt.doc {
				t.Errorf("query = %q, want the embedded document", f.last().Query)
			}
		})
		t.Run(tt.name+" unknown work", func(t *testing.T) {
			f := newFake(t, func(int, call) reply { return ok(`{"workEdit":null}`) })
			err := tt.run(t.Context(), f.client())
			if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `"w1"`) {
				t.Errorf("error = %v, want ErrNotFound naming the work", err)
			}
		})
	}
}

func TestAddExpectationsNegative(t *testing.T) {
	f := newFake(t, func(int, call) reply { return ok(`{}`) })
	if err := f.client().AddExpectations(t.Context(), "w1", -1); err == nil {
		t.Error("AddExpectations(-1): want an error")
	}
	if f.count() != 0 {
		t.Errorf("sent %d requests", f.count())
	}
}

func TestWork(t *testing.T) {
	f := newFake(t, func(int, call) reply {
		return ok(`{"work":{"id":"w1","name":"RiskIQ run","user":{"name":"connector-riskiq"},
			"timestamp":"2024-01-15T10:30:00.000Z","status":"complete","event_source_id":"c1",
			"received_time":"2024-01-15T10:30:01.000Z","processed_time":"2024-01-15T10:30:05.000Z","completed_time":null,
			"tracking":{"import_expected_number":3,"import_processed_number":null},
			"messages":[{"timestamp":"2024-01-15T10:30:05.000Z","message":"3 objects","sequence":1,"source":null}],
			"errors":[]}}`)
	})
	got, err := f.client().Work(t.Context(), "w1")
	if err != nil {
		t.Fatal(err)
	}
	at := func(sec int) *time.Time { return ptr(time.Date(2024, 1, 15, 10, 30, sec, 0, time.UTC)) }
	want := &Work{
		ID: "w1", Name: "RiskIQ run", User: &WorkUser{Name: "connector-riskiq"},
		Timestamp: at(0), Status: "complete", EventSourceID: "c1",
		ReceivedTime: at(1), ProcessedTime: at(5),
		Tracking: WorkTracking{ImportExpectedNumber: 3},
		Messages: []WorkMessage{{Timestamp: at(5), Message: "3 objects", Sequence: 1}},
		Errors:   []WorkMessage{},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Work() (-want +got):\n%s", diff)
	}
	checkVars(t, f.last(), `{"id":"w1"}`)
	f2 := newFake(t, func(int, call) reply { return ok(`{"work":null}`) })
	if _, err := f2.client().Work(t.Context(), "w1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("null work: error = %v, want ErrNotFound", err)
	}
}
