package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/riskiq-opencti/connectors/internal/enrichment"
	"github.com/riskiq-opencti/connectors/internal/launch/launchtest"
	"github.com/riskiq-opencti/connectors/internal/passivetotal/passivetotaltest"
	"github.com/riskiq-opencti/connectors/opencti/openctitest"
	"github.com/riskiq-opencti/connectors/opencti/stix"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// TestDocsCoverEveryVariable checks every configuration variable is in the
// README table and in config.yml.sample with the same default.
func TestDocsCoverEveryVariable(t *testing.T) {
	t.Parallel()
	launchtest.CheckDocs(t, enrichment.Variables, "README.md", sampleConfig)
}

// TestSampleDefaultsAreTheLoadersDefaults loads config.yml.sample (with the
// mandatory values filled in) and compares with loading nothing.
func TestSampleDefaultsAreTheLoadersDefaults(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(path, []byte(sampleConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"OPENCTI_TOKEN": "t0k", "CONNECTOR_ID": uuid.NewString(), "RISKIQ_USERNAME": "a@example.com", "RISKIQ_API_KEY": "k3y"}
	var out, errOut bytes.Buffer
	if code := run(t.Context(), []string{"-check", "-config", path}, envOf(env), &out, &errOut); code != 0 {
		t.Fatalf("run -check on the sample = %d\n%s", code, errOut.String())
	}
}

func TestCheckReportsEveryProblemWithoutSecrets(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"OPENCTI_URL": "ftp://opencti", "OPENCTI_TOKEN": "ChangeMe", "CONNECTOR_ID": "",
		"RISKIQ_API_KEY": "super-secret-key-123", "RISKIQ_MAX_TLP": "TLP:PURPLE",
		"RISKIQ_IMPORT_LAST_SEEN_TIME_WINDOW": "P", "CONNECTOR_CONCURRENCY": "0",
		"CONNECTOR_REDIS_URL": "http://:redis-pass-991@redis:6379/2", "CONNECTOR_CACHE_TTL": "-PT1M",
	}
	var out, errOut bytes.Buffer
	code := run(t.Context(), []string{"-check", "-config", filepath.Join(t.TempDir(), "none.yml")}, envOf(env), &out, &errOut)
	if code != 1 {
		t.Fatalf("run -check = %d, want 1", code)
	}
	// The given -config file does not exist: that alone is reported.
	if !strings.Contains(errOut.String(), "none.yml") {
		t.Errorf("missing config file not reported: %s", errOut.String())
	}
	errOut.Reset()
	code = run(t.Context(), []string{"-check"}, envOf(env), &out, &errOut)
	if code != 1 {
		t.Fatalf("run -check = %d, want 1", code)
	}
	msg := errOut.String()
	for _, want := range []string{"OPENCTI_URL", "OPENCTI_TOKEN", "CONNECTOR_ID", "RISKIQ_USERNAME", "RISKIQ_MAX_TLP", "RISKIQ_IMPORT_LAST_SEEN_TIME_WINDOW", "CONNECTOR_CONCURRENCY", "CONNECTOR_REDIS_URL", "CONNECTOR_CACHE_TTL"} {
		if !strings.Contains(msg, want) {
			t.Errorf("problem with %s not reported:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "super-secret-key-123") || strings.Contains(msg, "redis-pass-991") {
		t.Errorf("the API key leaked:\n%s", msg)
	}
}

func TestUsage(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	if code := run(t.Context(), []string{"-nope"}, envOf(nil), &out, &errOut); code != 2 {
		t.Errorf("run -nope = %d, want 2", code)
	}
	if code := run(t.Context(), []string{"-version"}, envOf(nil), &out, &errOut); code != 0 || !strings.Contains(out.String(), "riskiq-passive-total") {
		t.Errorf("run -version = %d, %q", code, out.String())
	}
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestIntegrationConnector runs the connector binary's run() against the fake
// OpenCTI (real RabbitMQ) and the fake PassiveTotal: an enrichment request
// ends in a processed work with the objects imported, then SIGTERM stops it.
func TestIntegrationConnector(t *testing.T) {
	t.Parallel()
	octi := openctitest.NewServer(t)
	pt := passivetotaltest.NewServer(t)
	connectorID := uuid.NewString()
	const key = "pt-key-never-logged-77"
	env := map[string]string{
		"OPENCTI_URL": octi.URL, "OPENCTI_TOKEN": octi.Token(), "CONNECTOR_ID": connectorID,
		"CONNECTOR_LOG_LEVEL": "debug", "RISKIQ_USERNAME": "analyst@example.com", "RISKIQ_API_KEY": key,
		"RISKIQ_MAX_TLP": "TLP:AMBER", "RISKIQ_IMPORT_LAST_SEEN_TIME_WINDOW": "P5000D", "RISKIQ_BASE_URL": pt.RootURL(),
	}
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	var logs syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(runCtx, []string{"-config", filepath.Join(t.TempDir(), "absent-is-fine.yml")}, envOf(env), &logs, &logs)
	}()
	// -config with a missing file fails fast: start again without it.
	if code := <-done; code != 1 {
		t.Fatalf("run with a missing -config = %d, want 1", code)
	}
	go func() { done <- run(runCtx, nil, envOf(env), &logs, &logs) }()
	for {
		if c, ok := octi.Connector(connectorID); ok && c.Registered && c.Pings > 0 {
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
	red, err := octi.AddEntity(openctitest.Entity{EntityType: "Domain-Name", Value: "www.riskiq.com", Markings: []openctitest.Marking{openctitest.MustTLP("TLP:RED")}})
	if err != nil {
		t.Fatal(err)
	}
	okWork, err := octi.Enrich(ctx, connectorID, openctitest.EnrichmentRequest{EntityID: domain.StandardID, Mode: openctitest.ModeManual})
	if err != nil {
		t.Fatal(err)
	}
	redWork, err := octi.Enrich(ctx, connectorID, openctitest.EnrichmentRequest{EntityID: red.StandardID, Mode: openctitest.ModeManual})
	if err != nil {
		t.Fatal(err)
	}
	w, err := octi.WaitWork(ctx, okWork, openctitest.StatusComplete)
	if err != nil {
		t.Fatalf("work %s: %v\n%s", okWork, err, logs.String())
	}
	if len(w.Errors) != 0 || w.Expected < 10 || w.Processed != w.Expected {
		t.Errorf("work = %+v, want processed with every object imported", w)
	}
	r, err := octi.WaitWork(ctx, redWork, openctitest.StatusComplete)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Errors) != 1 || !strings.Contains(r.Errors[0], "RISKIQ_MAX_TLP") {
		t.Errorf("TLP:RED work errors = %v, want the TLP refusal", r.Errors)
	}
	// One passive DNS lookup: the TLP:RED entity never reached PassiveTotal.
	if n := pt.Calls(passivetotaltest.EndpointPassiveDNS); n != 1 {
		t.Errorf("passive DNS calls = %d, want 1", n)
	}
	author := stix.IdentityID(enrichment.AuthorName, "organization")
	found := false
	for _, o := range octi.Objects() {
		if o["id"] == author {
			found = true
		}
	}
	if !found {
		t.Errorf("the author %s never reached the worker", author)
	}
	// A playbook step: the enriched bundle goes back through playbookStepExecution.
	if _, err := octi.Enrich(ctx, connectorID, openctitest.EnrichmentRequest{EntityID: domain.StandardID, Mode: openctitest.ModePlaybook}); err != nil {
		t.Fatal(err)
	}
	for len(octi.PlaybookExecutions()) == 0 {
		select {
		case <-ctx.Done():
			t.Fatalf("no playbookStepExecution:\n%s", logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	pe := octi.PlaybookExecutions()[0]
	if !strings.Contains(pe.Bundle, author) || len(pe.Bundle) <= len(pe.PreviousBundle) {
		t.Errorf("playbook bundle was not enriched: %d bytes, previous %d", len(pe.Bundle), len(pe.PreviousBundle))
	}
	stop()
	if code := <-done; code != 0 {
		t.Errorf("connector exit code after SIGTERM = %d, want 0", code)
	}
	if strings.Contains(logs.String(), key) || strings.Contains(logs.String(), octi.Token()) {
		t.Error("a secret appears in the logs")
	}
}
