package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/riskiq-opencti/connectors/internal/passivetotal/passivetotaltest"
	"github.com/riskiq-opencti/connectors/opencti/openctitest"
)

// TestIntegrationSIGTERMWithRequestsInFlight runs the connector's run() and
// stops it the way SIGTERM does (the signal context ends) while 20 requests
// wait for PassiveTotal; PassiveTotal then answers: every request must be
// published and its work completed without error, and the exit code is 0.
func TestIntegrationSIGTERMWithRequestsInFlight(t *testing.T) {
	t.Parallel()
	const n = 20
	octi := openctitest.NewServer(t)
	// PassiveTotal holds every passive DNS lookup until the gate opens.
	var waiting atomic.Int32
	gate := make(chan struct{})
	fake := passivetotaltest.NewHandler(passivetotaltest.Options{Prefix: passivetotaltest.DefaultPrefix})
	pt := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, passivetotaltest.EndpointPassiveDNS) {
			waiting.Add(1)
			select {
			case <-gate:
			case <-r.Context().Done():
				return
			}
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(pt.Close)

	connectorID := uuid.NewString()
	env := map[string]string{
		"OPENCTI_URL": octi.URL, "OPENCTI_TOKEN": octi.Token(), "CONNECTOR_ID": connectorID,
		"CONNECTOR_LOG_LEVEL": "debug", "CONNECTOR_CONCURRENCY": "20", "CONNECTOR_SHUTDOWN_TIMEOUT": "PT90S",
		"RISKIQ_USERNAME": "analyst@example.com", "RISKIQ_API_KEY": "pt-key", "RISKIQ_MAX_TLP": "TLP:AMBER",
		"RISKIQ_IMPORT_LAST_SEEN_TIME_WINDOW": "P5000D", "RISKIQ_BASE_URL": pt.URL + passivetotaltest.DefaultPrefix,
	}
	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()
	sigterm, stop := context.WithCancel(ctx)
	defer stop()
	var logs syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(sigterm, nil, envOf(env), &logs, &logs) }()
	for {
		if c, ok := octi.Connector(connectorID); ok && c.Registered {
			break
		}
		select {
		case code := <-done:
			t.Fatalf("connector exited with %d:\n%s", code, logs.String())
		case <-ctx.Done():
			t.Fatalf("connector never registered:\n%s", logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	domain, err := octi.AddEntity(openctitest.Entity{EntityType: "Domain-Name", Value: "passivetotal.org", Markings: []openctitest.Marking{openctitest.MustTLP("TLP:GREEN")}})
	if err != nil {
		t.Fatal(err)
	}
	works := make([]string, 0, n)
	for range n {
		w, err := octi.Enrich(ctx, connectorID, openctitest.EnrichmentRequest{EntityID: domain.StandardID, Mode: openctitest.ModeManual})
		if err != nil {
			t.Fatal(err)
		}
		works = append(works, w)
	}
	for waiting.Load() < n {
		select {
		case code := <-done:
			t.Fatalf("connector exited with %d:\n%s", code, logs.String())
		case <-ctx.Done():
			t.Fatalf("only %d requests reached PassiveTotal:\n%s", waiting.Load(), logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	stop() // SIGTERM
	// Open the gate once the connector is stopping: it no longer takes requests.
	for !strings.Contains(logs.String(), `"Consumer stopping, waiting for the messages in flight"`) {
		select {
		case <-ctx.Done():
			t.Fatalf("the connector did not start stopping:\n%s", logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	close(gate)
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit code after SIGTERM = %d, want 0", code)
		}
	case <-ctx.Done():
		t.Fatalf("the connector did not exit:\n%s", logs.String())
	}
	answered, inError := 0, 0
	for _, id := range works {
		w, _ := octi.Work(id)
		if len(w.Errors) != 0 {
			inError++
			t.Errorf("work %s errors = %v", id, w.Errors)
			continue
		}
		w, err := octi.WaitWork(ctx, id, openctitest.StatusComplete)
		if err != nil {
			t.Errorf("work %s: %v", id, err)
			continue
		}
		if w.Expected < 10 || w.Processed != w.Expected {
			t.Errorf("work %s = %d expected / %d processed, want every object imported", id, w.Expected, w.Processed)
			continue
		}
		answered++
	}
	if n := fake.Calls(passivetotaltest.EndpointPassiveDNS); n != len(works) {
		t.Errorf("passive DNS lookups = %d, want %d (one per request)", n, len(works))
	}
	t.Logf("process SIGTERM with %d in flight: sent %d / answered %d / in error %d / lost %d, exit 0", n, n, answered, inError, n-answered-inError)
}
