package opencti_test

import (
	"context"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riskiq-opencti/connectors/opencti"
	"github.com/riskiq-opencti/connectors/opencti/openctitest"
)

// guardedFieldsWarning starts the warning logged when OpenCTI 7.x refuses
// the jwks and s3 registration fields.
const guardedFieldsWarning = "The platform refused the jwks and s3 registration fields"

// TestIntegrationOpenCTI7WithoutConnectorAPIPermission: against an OpenCTI
// 7.x platform whose connector user lacks the connector-API permission, the
// first registration (with jwks and s3, found by introspection) is nulled;
// the connector registers again without them, warns once, pings, and an
// enrichment round trip completes.
func TestIntegrationOpenCTI7WithoutConnectorAPIPermission(t *testing.T) {
	t.Parallel()
	srv := openctitest.NewServer(t, openctitest.WithOpenCTI7())
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cfg := testConfig(srv, "INTERNAL_ENRICHMENT")
	warnings := &countingHandler{Handler: testLogger(t).Handler(), message: guardedFieldsWarning, count: new(atomic.Int32)}
	h := startHelper(t, ctx, cfg, opencti.WithLogger(slog.New(warnings)), opencti.WithBuild("1.2.3", "riskiq-passive-total"))

	if n := warnings.count.Load(); n != 1 {
		t.Errorf("%d warnings about the refused fields, want 1", n)
	}
	reg := h.Registration()
	if reg == nil || reg.ID != cfg.Connector.ID || reg.Config.Push == "" || reg.JWKS != nil || reg.Config.S3 != nil {
		t.Fatalf("Registration() = %+v, want the 6.x registration", reg)
	}
	var registrations []openctitest.Request
	for _, r := range srv.Requests() {
		if slices.Contains(r.RootFields, "registerConnector") {
			registrations = append(registrations, r)
		}
	}
	if len(registrations) != 2 {
		t.Fatalf("%d registrations sent, want 2", len(registrations))
	}
	for i, r := range registrations {
		input, _ := r.Variables["input"].(map[string]any)
		if input["version"] != "1.2.3" || input["slug"] != "riskiq-passive-total" {
			t.Errorf("registration %d input = %v, want version and slug (found by introspection)", i+1, input)
		}
	}

	entityID := addIPv4(t, srv, "8.8.4.4")
	listenDone := make(chan error, 1)
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { listenDone <- h.ListenEnrichment(lctx, enrichWith("example.org")) }()
	workID, err := srv.Enrich(ctx, cfg.Connector.ID, openctitest.EnrichmentRequest{EntityID: entityID, Mode: openctitest.ModeManual})
	if err != nil {
		t.Fatal(err)
	}
	waitWork(t, ctx, srv, workID)
	waitFor(t, ctx, "the work's message", func() bool {
		w, _ := srv.Work(workID)
		return contains(w.Messages, "enriched")
	})
	waitFor(t, ctx, "a ping", func() bool {
		c, _ := srv.Connector(cfg.Connector.ID)
		return c.Pings > 0
	})
	w, _ := srv.Work(workID)
	if w.Expected != 4 || w.Processed != 4 || len(w.Errors) != 0 {
		t.Errorf("work = %d expected / %d processed, errors %v; want 4/4 and none", w.Expected, w.Processed, w.Errors)
	}
	stop()
	if err := <-listenDone; err != nil {
		t.Errorf("ListenEnrichment() = %v", err)
	}
	if n := warnings.count.Load(); n != 1 {
		t.Errorf("%d warnings about the refused fields at the end, want 1", n)
	}
}

// TestIntegrationOpenCTI7WithConnectorAPIPermission: when the connector user
// may read jwks and s3, one registration gets them and nothing is logged.
func TestIntegrationOpenCTI7WithConnectorAPIPermission(t *testing.T) {
	t.Parallel()
	srv := openctitest.NewServer(t, openctitest.WithOpenCTI7(), openctitest.WithConnectorAPIPermission())
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cfg := testConfig(srv, "INTERNAL_ENRICHMENT")
	warnings := &countingHandler{Handler: testLogger(t).Handler(), message: guardedFieldsWarning, count: new(atomic.Int32)}
	h := startHelper(t, ctx, cfg, opencti.WithLogger(slog.New(warnings)))
	if n := warnings.count.Load(); n != 0 {
		t.Errorf("%d warnings about the refused fields, want 0", n)
	}
	reg := h.Registration()
	if reg.JWKS == nil || reg.Config.S3 == nil || reg.Config.S3.BucketName == "" {
		t.Errorf("Registration() = %+v, want jwks and s3", reg)
	}
	if c, _ := srv.Connector(cfg.Connector.ID); c.Registrations != 1 {
		t.Errorf("%d registrations, want 1", c.Registrations)
	}
}
