package main

import (
	"bytes"
	"context"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/riskiq-opencti/connectors/internal/defenderti/defendertitest"
	"github.com/riskiq-opencti/connectors/internal/enrichment"
	"github.com/riskiq-opencti/connectors/internal/launch/launchtest"
	"github.com/riskiq-opencti/connectors/internal/passivetotal/passivetotaltest"
	"github.com/riskiq-opencti/connectors/opencti/config"
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
	launchtest.CheckDocs(t, enrichment.Variables(), "README.md", sampleConfig)
}

var update = flag.Bool("update", false, "rewrite __metadata__/connector_config_schema.json")

// TestConfigSchema checks __metadata__/connector_config_schema.json against
// the Variables table and the README's descriptions; refresh it with
// go test -run TestConfigSchema -update.
func TestConfigSchema(t *testing.T) {
	t.Parallel()
	launchtest.CheckConfigSchema(t, enrichment.Slug, enrichment.Variables(), "README.md", filepath.Join("__metadata__", "connector_config_schema.json"), *update)
}

// TestManifest checks __metadata__/connector_manifest.json against OpenCTI's
// manifest template and the values its catalog accepts.
func TestManifest(t *testing.T) {
	t.Parallel()
	launchtest.CheckManifest(t, filepath.Join("__metadata__", "connector_manifest.json"), enrichment.Slug, "INTERNAL_ENRICHMENT")
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

// TestIntegrationConnectorDefender runs the connector with
// RISKIQ_SOURCE=defender against the fake OpenCTI (real RabbitMQ) and the
// fake Graph + token endpoint: no PassiveTotal account, the Defender default
// scope, forward and reverse lookups ending in processed works with the
// objects imported, a TLP:RED entity refused before any Graph call, a 403
// ending its work in error with Microsoft's message, a playbook answered,
// and no secret or token in the logs.
func TestIntegrationConnectorDefender(t *testing.T) {
	t.Parallel()
	octi := openctitest.NewServer(t)
	graph := defendertitest.NewServer(t)
	connectorID := uuid.NewString()
	env := map[string]string{
		"OPENCTI_URL": octi.URL, "OPENCTI_TOKEN": octi.Token(), "CONNECTOR_ID": connectorID, "CONNECTOR_LOG_LEVEL": "debug",
		"RISKIQ_SOURCE": "defender", "RISKIQ_MAX_TLP": "TLP:AMBER", "RISKIQ_IMPORT_LAST_SEEN_TIME_WINDOW": "P5000D",
		"DEFENDER_TI_TENANT_ID": graph.TenantID(), "DEFENDER_TI_CLIENT_ID": graph.ClientID(),
		"DEFENDER_TI_CLIENT_SECRET": graph.ClientSecret(), "DEFENDER_TI_BASE_URL": graph.URL(),
		"DEFENDER_TI_AUTHORITY_URL": graph.AuthorityURL(), "DEFENDER_TI_PAGE_SIZE": "4",
	}
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	var logs syncBuffer
	done := make(chan int, 1)
	go func() { done <- runWith(runCtx, nil, envOf(env), &logs, &logs, deps{graphHTTP: graph.Client()}) }()
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
	add := func(entityType, value, tlp string) openctitest.Entity {
		t.Helper()
		e, err := octi.AddEntity(openctitest.Entity{EntityType: entityType, Value: value, Markings: []openctitest.Marking{openctitest.MustTLP(tlp)}})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	enrich := func(e openctitest.Entity, mode openctitest.EnrichmentMode) string {
		t.Helper()
		w, err := octi.Enrich(ctx, connectorID, openctitest.EnrichmentRequest{EntityID: e.StandardID, Mode: mode})
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	domain := add("Domain-Name", "malicious.example", "TLP:GREEN")
	ipv6 := add("IPv6-Addr", "2001:db8::10", "TLP:CLEAR")
	hostname := add("Hostname", "malicious.example", "TLP:GREEN")
	red := add("Domain-Name", "quiet.example", "TLP:RED")
	works := map[string]string{"domain": enrich(domain, openctitest.ModeManual), "ipv6": enrich(ipv6, openctitest.ModeManual),
		"hostname": enrich(hostname, openctitest.ModeManual)}
	for name, id := range works {
		w, err := octi.WaitWork(ctx, id, openctitest.StatusComplete)
		if err != nil {
			t.Fatalf("%s work %s: %v\n%s", name, id, err, logs.String())
		}
		if len(w.Errors) != 0 || w.Expected < 3 || w.Processed != w.Expected {
			t.Errorf("%s work = %+v, want processed with every object imported", name, w)
		}
	}
	r, err := octi.WaitWork(ctx, enrich(red, openctitest.ModeManual), openctitest.StatusComplete)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Errors) != 1 || !strings.Contains(r.Errors[0], "RISKIQ_MAX_TLP") {
		t.Errorf("TLP:RED work errors = %v, want the TLP refusal", r.Errors)
	}
	// Forward for the domain and the hostname, reverse for the IPv6: the
	// TLP:RED entity never reached Graph; one token for every call.
	if n := graph.Calls("hosts/quiet.example/passiveDns"); n != 0 {
		t.Errorf("the TLP:RED entity was looked up %d times", n)
	}
	if n := graph.Calls(defendertitest.EndpointPassiveDNSReverse); n != 1 {
		t.Errorf("reverse calls = %d, want 1", n)
	}
	if n := graph.TokensIssued(); n != 1 {
		t.Errorf("tokens issued = %d, want 1 (cached)", n)
	}
	author := stix.IdentityID(enrichment.DefenderAuthorName, "organization")
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
	if _, err := octi.Enrich(ctx, connectorID, openctitest.EnrichmentRequest{EntityID: ipv6.StandardID, Mode: openctitest.ModePlaybook}); err != nil {
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
	// A 403 ends the work in error with Microsoft's message (its link).
	graph.Inject(defendertitest.EndpointPassiveDNS, defendertitest.Fault{Status: 403, Message: defendertitest.TenantVerificationMessage})
	denied, err := octi.WaitWork(ctx, enrich(add("Domain-Name", "denied.example", "TLP:GREEN"), openctitest.ModeManual), openctitest.StatusComplete)
	if err != nil {
		t.Fatal(err)
	}
	if len(denied.Errors) != 1 || !strings.Contains(denied.Errors[0], "https://security.microsoft.com/tenant-verification") {
		t.Errorf("403 work errors = %v, want Microsoft's message", denied.Errors)
	}
	// Held for 15 minutes: the next request fails at once, without a call.
	calls := graph.Calls(defendertitest.AnyGraphEndpoint)
	held, err := octi.WaitWork(ctx, enrich(ipv6, openctitest.ModeManual), openctitest.StatusComplete)
	if err != nil {
		t.Fatal(err)
	}
	if len(held.Errors) != 1 || !strings.Contains(held.Errors[0], "not asked again until") || graph.Calls(defendertitest.AnyGraphEndpoint) != calls {
		t.Errorf("request after a 403: errors %v, Graph calls %d -> %d; want the held error and no call", held.Errors, calls, graph.Calls(defendertitest.AnyGraphEndpoint))
	}
	stop()
	if code := <-done; code != 0 {
		t.Errorf("connector exit code after SIGTERM = %d, want 0", code)
	}
	out := logs.String()
	for _, secret := range []string{graph.ClientSecret(), octi.Token(), "Bearer "} {
		if strings.Contains(out, secret) {
			t.Errorf("%q appears in the logs", secret)
		}
	}
	if !strings.Contains(out, `"source":"defender"`) {
		t.Errorf("the source is not logged at start")
	}
}

// pythonConfig is a config.yml in the Python connector's layout (its sample,
// with values filled in).
const pythonConfig = `opencti:
  url: 'http://opencti:8080'
  token: 'python-era-token'

connector:
  type: 'INTERNAL_ENRICHMENT'
  id: '5a8f3f1e-2b8e-4d0c-9f67-2f8f0f0b1c11'
  name: 'RiskIQ PassiveTotal'
  scope: 'IPv4-Addr,Domain-Name'
  log_level: 'info'
  auto: 'false' # Enable/disable auto-enrichment of observables

riskiq:
  username: 'analyst@example.com'
  api_key: 'python-era-key'
  max_tlp: 'TLP:AMBER' # Available values: TLP:CLEAR, TLP:WHITE, TLP:GREEN, TLP:AMBER, TLP:AMBER+STRICT, TLP:RED
  import_last_seen_time_window : 'P30D' # Default P30D
`

// TestConfigFromPythonImagePath: the image works in the Python image's
// directory, /opt/opencti-connector-riskiq-passive-total, where the Python connector read config.yml
// (beside its main.py); a config.yml mounted there is read unchanged, without
// -config, from the working directory. The image also sets CONNECTOR_TYPE and
// builds for TARGETARCH.
func TestConfigFromPythonImagePath(t *testing.T) {
	img := launchtest.ReadDockerfile(t, "Dockerfile")
	if img.Workdir != "/opt/opencti-connector-riskiq-passive-total" {
		t.Errorf("Dockerfile WORKDIR = %q, want the Python image's %q", img.Workdir, "/opt/opencti-connector-riskiq-passive-total")
	}
	if img.Env["CONNECTOR_TYPE"] != "INTERNAL_ENRICHMENT" || !img.MultiArch {
		t.Errorf("Dockerfile: CONNECTOR_TYPE = %q, multi-arch %v; want INTERNAL_ENRICHMENT, true", img.Env["CONNECTOR_TYPE"], img.MultiArch)
	}
	dir := filepath.Join(t.TempDir(), filepath.FromSlash(img.Workdir))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	var out, errOut bytes.Buffer
	if code := run(t.Context(), []string{"-check"}, envOf(nil), &out, &errOut); code == 0 {
		t.Fatalf("-check without config.yml = 0, want the mandatory settings missing")
	}
	if err := os.WriteFile("config.yml", []byte(pythonConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errOut.Reset()
	if code := run(t.Context(), []string{"-check"}, envOf(nil), &out, &errOut); code != 0 || !strings.Contains(out.String(), "configuration is valid") {
		t.Errorf("-check in %s with the Python config.yml = %d\n%s%s", img.Workdir, code, out.String(), errOut.String())
	}
}

// TestBaseURLSpellings: RISKIQ_BASE_URL with or without /v2 (the import
// connector's spelling) reaches the same passive DNS endpoint, so one
// environment file serves both connectors.
func TestBaseURLSpellings(t *testing.T) {
	t.Parallel()
	pt := passivetotaltest.NewServer(t)
	for i, base := range []string{pt.RootURL(), pt.RootURL() + "/", pt.BaseURL(), pt.BaseURL() + "/"} {
		src, err := config.NewSource(envOf(map[string]string{
			"RISKIQ_USERNAME": "analyst@example.com", "RISKIQ_API_KEY": "k3y", "RISKIQ_BASE_URL": base,
		}), nil)
		if err != nil {
			t.Fatal(err)
		}
		settings := enrichment.LoadSettings(src)
		if err := src.Validate(); err != nil {
			t.Fatalf("RISKIQ_BASE_URL=%s: %v", base, err)
		}
		client, err := apiClient(settings, slog.New(slog.DiscardHandler), "test")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := (enrichment.PassiveTotal{Client: client}).Resolutions(t.Context(), "passivetotal.org", time.Now().AddDate(-20, 0, 0)); err != nil {
			t.Errorf("RISKIQ_BASE_URL=%s: passive DNS lookup = %v", base, err)
		}
		if n := pt.Calls(passivetotaltest.EndpointPassiveDNS); n != i+1 {
			t.Errorf("RISKIQ_BASE_URL=%s: %d passive DNS calls, want %d", base, n, i+1)
		}
	}
}
