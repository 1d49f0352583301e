package openctitest_test

import (
	"context"
	"testing"
	"time"

	"github.com/riskiq-opencti/connectors/opencti"
	"github.com/riskiq-opencti/connectors/opencti/config"
	"github.com/riskiq-opencti/connectors/opencti/openctitest"
	"github.com/riskiq-opencti/connectors/opencti/stix"
)

// enrich is the enrichment under test: it adds a domain resolving to the
// entity.
func enrich(_ context.Context, r *opencti.Request) (opencti.Result, error) {
	objects := make([]any, 0, len(r.StixObjects)+2)
	for _, o := range r.StixObjects {
		objects = append(objects, o)
	}
	d := stix.NewDomainName("example.com")
	rel, err := stix.NewRelationship("resolves-to", d.ID(), r.EntityID, nil, nil)
	if err != nil {
		return opencti.Result{}, err
	}
	rel.Created = time.Now().UTC() // required on SDOs and SROs
	return opencti.Result{Objects: append(objects, d, rel), Message: "1 domain found"}, nil
}

// ExampleNewServer tests an enrichment connector end to end against the fake
// platform and the real RabbitMQ (TEST_AMQP_URL, default
// amqp://guest:guest@127.0.0.1:5672/): the connector registers, the platform
// sends a request for an entity it stores, the worker imports what the
// connector published and the work completes. NewServer needs a testing.TB,
// so this example is compiled, not run; in a _test.go file the function below
// is a Test function.
func ExampleNewServer() {
	testEnrichment := func(t *testing.T) {
		if testing.Short() {
			t.Skip("needs RabbitMQ")
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		srv := openctitest.NewServer(t) // closed, queues deleted, when the test ends
		ip, err := srv.AddEntity(openctitest.Entity{EntityType: "IPv4-Addr", Value: "198.51.100.7"})
		if err != nil {
			t.Fatal(err)
		}

		var cfg config.Config
		cfg.OpenCTI.URL, cfg.OpenCTI.Token = srv.URL, config.Secret(srv.Token())
		cfg.Connector.ID = "3f0e6d8a-2b1c-4e5f-9a7b-8c6d5e4f3a2b"
		cfg.Connector.Type, cfg.Connector.Name = config.TypeInternalEnrichment, "Example"
		cfg.Connector.Scope, cfg.Connector.Auto = []string{"IPv4-Addr"}, true
		cfg.Connector.SendToQueue, cfg.Connector.QueueThreshold, cfg.Connector.Concurrency = true, 500, 1
		cfg.Connector.ShutdownTimeout = 5 * time.Second
		h, err := opencti.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Start(ctx); err != nil {
			t.Fatal(err)
		}
		listenCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- h.ListenEnrichment(listenCtx, enrich) }()
		t.Cleanup(func() { stop(); <-done; _ = h.Close() })

		workID, err := srv.Enrich(ctx, cfg.Connector.ID, openctitest.EnrichmentRequest{EntityID: ip.ID})
		if err != nil {
			t.Fatal(err)
		}
		w, err := srv.WaitWork(ctx, workID, openctitest.StatusComplete)
		if err != nil {
			t.Fatal(err)
		}
		if len(w.Errors) > 0 || len(srv.Objects()) == 0 {
			t.Errorf("work = %+v, %d objects imported; want a successful import", w, len(srv.Objects()))
		}
	}
	_ = testEnrichment
}
