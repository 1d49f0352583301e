package articles_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskiq-opencti/connectors/internal/articles"
	"github.com/riskiq-opencti/connectors/opencti/config"
	"github.com/riskiq-opencti/connectors/opencti/redisstate"
)

func source(t *testing.T, env map[string]string, yml string) *config.Source {
	t.Helper()
	src, err := config.NewSource(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, []byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	return src
}

var required = map[string]string{
	"OPENCTI_URL": "http://opencti:8080", "OPENCTI_TOKEN": "tok", "CONNECTOR_ID": "5a8f3f1e-2b8e-4d0c-9f67-2f8f0f0b1c11",
	"RISKIQ_USER": "analyst@example.com", "RISKIQ_PASSWORD": "k3y",
}

func with(extra map[string]string) map[string]string {
	m := map[string]string{}
	for k, v := range required {
		m[k] = v
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	src := source(t, required, "")
	cfg, s := articles.Load(src)
	if err := src.Validate(); err != nil {
		t.Fatalf("Validate() = %v", err)
	}
	want := articles.Settings{
		BaseURL: articles.DefaultBaseURL, User: "analyst@example.com", Password: "k3y",
		CreateObservables: true, Interval: 24 * time.Hour,
		Shared: redisstate.Settings{CacheTTL: redisstate.DefaultCacheTTL, ConnectorID: cfg.Connector.ID},
	}
	if d := cmp.Diff(want, s); d != "" {
		t.Errorf("settings (-want +got):\n%s", d)
	}
	if cfg.Connector.Name != "RISKIQ" || cfg.Connector.Type != config.TypeExternalImport || cfg.Connector.LogLevel != "error" ||
		strings.Join(cfg.Connector.Scope, ",") != "riskiq" || cfg.Connector.ExposeMetrics {
		t.Errorf("connector = %+v", cfg.Connector)
	}
	if s.SchedulePeriod() != time.Minute {
		t.Errorf("SchedulePeriod() = %s, want 1m", s.SchedulePeriod())
	}
}

func TestLoadPythonConfigFile(t *testing.T) {
	t.Parallel()
	// The Python connector's config.yml.sample, with a trailing slash on the base URL.
	yml := `
opencti:
  url: 'http://localhost'
  token: 'tok'
connector:
  type: 'EXTERNAL_IMPORT'
  id: '5a8f3f1e-2b8e-4d0c-9f67-2f8f0f0b1c11'
  name: 'RiskIQ'
  scope: 'riskiq'
  log_level: 'info'
  expose_metrics: False
riskiq:
  base_url: "https://api.riskiq.net/pt/v2/"
  user: 'analyst@example.com'
  password: 'k3y'
  create_observables: false
  interval_sec: 3600
  import_from_timestamp: 1712929994
`
	src := source(t, nil, yml)
	cfg, s := articles.Load(src)
	if err := src.Validate(); err != nil {
		t.Fatalf("Validate() = %v", err)
	}
	from := time.Date(2024, 4, 12, 13, 53, 14, 0, time.UTC)
	want := articles.Settings{
		BaseURL: "https://api.riskiq.net/pt/v2", User: "analyst@example.com", Password: "k3y",
		Interval: time.Hour, ImportFrom: &from,
		Shared: redisstate.Settings{CacheTTL: redisstate.DefaultCacheTTL, ConnectorID: cfg.Connector.ID},
	}
	if d := cmp.Diff(want, s); d != "" {
		t.Errorf("settings (-want +got):\n%s", d)
	}
	if cfg.Connector.Name != "RiskIQ" || cfg.Connector.LogLevel != "info" {
		t.Errorf("connector = %+v", cfg.Connector)
	}
	if len(src.Warnings()) != 0 {
		t.Errorf("warnings = %v, want none for the Python sample", src.Warnings())
	}
}

func TestLoadDurationPeriod(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		env      map[string]string
		interval time.Duration
		period   time.Duration
		warning  bool
	}{
		{"duration period alone", map[string]string{"CONNECTOR_DURATION_PERIOD": "PT6H"}, 6 * time.Hour, time.Minute, false},
		{"short duration period", map[string]string{"CONNECTOR_DURATION_PERIOD": "PT10S"}, 10 * time.Second, 10 * time.Second, false},
		{"both: RISKIQ_INTERVAL_SEC wins", map[string]string{"CONNECTOR_DURATION_PERIOD": "PT6H", "RISKIQ_INTERVAL_SEC": "7200"}, 2 * time.Hour, time.Minute, true},
		{"zero: run once", map[string]string{"CONNECTOR_DURATION_PERIOD": "0"}, 24 * time.Hour, 0, false},
	}
	for _, tt := range tests {
		src := source(t, with(tt.env), "")
		_, s := articles.Load(src)
		if err := src.Validate(); err != nil {
			t.Fatalf("%s: Validate() = %v", tt.name, err)
		}
		if s.Interval != tt.interval || s.SchedulePeriod() != tt.period || (len(src.Warnings()) > 0) != tt.warning {
			t.Errorf("%s: interval %s, period %s, warnings %v", tt.name, s.Interval, s.SchedulePeriod(), src.Warnings())
		}
	}
}

// TestLoadProblems reports every problem at once, naming each variable,
// without the secret values.
func TestLoadProblems(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"OPENCTI_URL": "http://opencti:8080", "OPENCTI_TOKEN": "tok", "CONNECTOR_ID": "5a8f3f1e-2b8e-4d0c-9f67-2f8f0f0b1c11",
		"CONNECTOR_TYPE": "INTERNAL_ENRICHMENT", "RISKIQ_PASSWORD": "ChangeMe",
		"RISKIQ_BASE_URL": "https://user:hunter2@api.riskiq.net/pt/v2", "RISKIQ_INTERVAL_SEC": "0",
		"RISKIQ_IMPORT_FROM_TIMESTAMP": "yesterday", "RISKIQ_CREATE_OBSERVABLES": "maybe",
	}
	src := source(t, env, "")
	articles.Load(src)
	err := src.Validate()
	if err == nil {
		t.Fatal("Validate() = nil")
	}
	msg := err.Error()
	for _, want := range []string{"CONNECTOR_TYPE", "RISKIQ_USER", "RISKIQ_PASSWORD", "RISKIQ_BASE_URL", "RISKIQ_INTERVAL_SEC",
		"RISKIQ_IMPORT_FROM_TIMESTAMP", "RISKIQ_CREATE_OBSERVABLES"} {
		if !strings.Contains(msg, want) {
			t.Errorf("no problem reported for %s:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "hunter2") {
		t.Errorf("credentials of the base URL leaked:\n%s", msg)
	}
	src = source(t, with(map[string]string{"RISKIQ_IMPORT_FROM_TIMESTAMP": "-5"}), "")
	articles.Load(src)
	if err := src.Validate(); err == nil || !strings.Contains(err.Error(), "RISKIQ_IMPORT_FROM_TIMESTAMP") {
		t.Errorf("negative import timestamp: Validate() = %v", err)
	}
}

func TestLoadMinimalInterval(t *testing.T) {
	t.Parallel()
	src := source(t, with(map[string]string{"RISKIQ_INTERVAL_SEC": "30", "RISKIQ_BASE_URL": "http://127.0.0.1:9/pt/v2//"}), "")
	_, s := articles.Load(src)
	if err := src.Validate(); err != nil {
		t.Fatal(err)
	}
	if s.SchedulePeriod() != 30*time.Second || s.BaseURL != "http://127.0.0.1:9/pt/v2" {
		t.Errorf("period %s, base %s", s.SchedulePeriod(), s.BaseURL)
	}
}

// defenderEnv is a valid configuration of RISKIQ_SOURCE=defender, without
// RISKIQ_USER and RISKIQ_PASSWORD.
var defenderEnv = map[string]string{
	"OPENCTI_URL": "http://opencti:8080", "OPENCTI_TOKEN": "tok", "CONNECTOR_ID": "5a8f3f1e-2b8e-4d0c-9f67-2f8f0f0b1c11",
	"RISKIQ_SOURCE": "Defender", "DEFENDER_TI_TENANT_ID": "72f988bf-86f1-41af-91ab-2d7cd011db47",
	"DEFENDER_TI_CLIENT_ID": "00001111-aaaa-2222-bbbb-3333cccc4444", "DEFENDER_TI_CLIENT_SECRET": "s3cr3t-value",
}

// TestLoadDefender: RISKIQ_USER and RISKIQ_PASSWORD are not required with
// the defender source, the DEFENDER_TI_* ones are; the import settings have
// their documented defaults and the cursor is the Defender one.
func TestLoadDefender(t *testing.T) {
	t.Parallel()
	src := source(t, defenderEnv, "")
	_, s := articles.Load(src)
	if err := src.Validate(); err != nil {
		t.Fatalf("Validate() = %v", err)
	}
	if s.Source() != "defender" || s.Defender == nil {
		t.Fatalf("source %q, defender %v", s.Source(), s.Defender)
	}
	d := s.Defender
	if d.Window != 30*24*time.Hour || d.Overlap != time.Hour || d.TLP != articles.DefaultDefenderTLP ||
		d.Client.TenantID != defenderEnv["DEFENDER_TI_TENANT_ID"] || d.Client.BaseURL != "https://graph.microsoft.com/v1.0" {
		t.Errorf("defender settings = %+v", d)
	}
	if c, ok := s.Cursor().(articles.UpdatedCursor); !ok || c.Overlap != time.Hour || c.Window != 30*24*time.Hour || c.From != nil {
		t.Errorf("Cursor() = %#v", s.Cursor())
	}
	if _, ok := (articles.Settings{}).Cursor().(articles.CreatedCursor); !ok {
		t.Error("the PassiveTotal cursor is not the created one")
	}

	env := map[string]string{}
	for k, v := range defenderEnv {
		env[k] = v
	}
	env["DEFENDER_TI_IMPORT_WINDOW_DAYS"] = "7"
	env["DEFENDER_TI_IMPORT_OVERLAP_SEC"] = "0"
	env["DEFENDER_TI_TLP_OSINT"] = "TLP:AMBER"
	env["DEFENDER_TI_TLP_MICROSOFT"] = "white"
	env["RISKIQ_IMPORT_FROM_TIMESTAMP"] = "1712929994"
	src = source(t, env, "")
	_, s = articles.Load(src)
	if err := src.Validate(); err != nil {
		t.Fatalf("Validate() = %v", err)
	}
	if d := s.Defender; d.Window != 7*24*time.Hour || d.Overlap != 0 || !d.TLP.OSINTAmber || d.TLP.MicrosoftAmber {
		t.Errorf("defender settings = %+v", d)
	}
	if c := s.Cursor().(articles.UpdatedCursor); c.Overlap >= 0 || c.From == nil || c.From.Unix() != 1712929994 {
		t.Errorf("Cursor() = %#v, want no overlap and From set", c)
	}
}

// TestLoadDefenderProblems names each missing or invalid Defender setting,
// and no RiskIQ credential.
func TestLoadDefenderProblems(t *testing.T) {
	t.Parallel()
	src := source(t, map[string]string{
		"OPENCTI_URL": "http://opencti:8080", "OPENCTI_TOKEN": "tok", "CONNECTOR_ID": "5a8f3f1e-2b8e-4d0c-9f67-2f8f0f0b1c11",
		"RISKIQ_SOURCE": "defender", "DEFENDER_TI_IMPORT_WINDOW_DAYS": "0", "DEFENDER_TI_IMPORT_OVERLAP_SEC": "-1",
		"DEFENDER_TI_TLP_OSINT": "green", "DEFENDER_TI_TLP_MICROSOFT": "red",
	}, "")
	articles.Load(src)
	err := src.Validate()
	if err == nil {
		t.Fatal("Validate() = nil")
	}
	msg := err.Error()
	for _, want := range []string{"DEFENDER_TI_TENANT_ID", "DEFENDER_TI_CLIENT_ID", "DEFENDER_TI_CLIENT_SECRET",
		"DEFENDER_TI_IMPORT_WINDOW_DAYS", "DEFENDER_TI_IMPORT_OVERLAP_SEC", "DEFENDER_TI_TLP_OSINT", "DEFENDER_TI_TLP_MICROSOFT"} {
		if !strings.Contains(msg, want) {
			t.Errorf("no problem reported for %s:\n%s", want, msg)
		}
	}
	for _, not := range []string{"RISKIQ_USER", "RISKIQ_PASSWORD"} {
		if strings.Contains(msg, not) {
			t.Errorf("%s required with the defender source:\n%s", not, msg)
		}
	}
	src = source(t, map[string]string{"RISKIQ_SOURCE": "graph"}, "")
	articles.LoadSettings(src)
	if err := src.Validate(); err == nil || !strings.Contains(err.Error(), "RISKIQ_SOURCE") {
		t.Errorf("RISKIQ_SOURCE=graph: Validate() = %v", err)
	}
}

// TestLoadBaseURLSpellings: RISKIQ_BASE_URL with or without its /v2 segment
// (the import and the enrichment connectors' defaults), so one environment
// file serves both connectors.
func TestLoadBaseURLSpellings(t *testing.T) {
	t.Parallel()
	for _, base := range []string{
		"https://api.riskiq.net/pt", "https://api.riskiq.net/pt/", "https://api.riskiq.net/pt/v2", "https://api.riskiq.net/pt/v2//",
	} {
		src := source(t, with(map[string]string{"RISKIQ_BASE_URL": base}), "")
		_, s := articles.Load(src)
		if err := src.Validate(); err != nil {
			t.Fatalf("RISKIQ_BASE_URL=%s: Validate() = %v", base, err)
		}
		if s.BaseURL != "https://api.riskiq.net/pt/v2" {
			t.Errorf("RISKIQ_BASE_URL=%s: BaseURL = %s, want https://api.riskiq.net/pt/v2", base, s.BaseURL)
		}
	}
}
