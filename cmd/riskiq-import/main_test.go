package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/uuid"

	"github.com/riskiq-opencti/connectors/internal/articles"
	"github.com/riskiq-opencti/connectors/internal/launch/launchtest"
	"github.com/riskiq-opencti/connectors/internal/passivetotal/passivetotaltest"
	"github.com/riskiq-opencti/connectors/opencti/openctitest"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// TestDocsCoverEveryVariable checks every configuration variable is in the
// README table and in config.yml.sample with the same default; a variable
// without default is in the sample as a comment.
func TestDocsCoverEveryVariable(t *testing.T) {
	t.Parallel()
	launchtest.CheckDocs(t, articles.Variables(), "README.md", sampleConfig)
}

var update = flag.Bool("update", false, "rewrite __metadata__/connector_config_schema.json")

// TestConfigSchema checks __metadata__/connector_config_schema.json against
// the Variables table and the README's descriptions; refresh it with
// go test -run TestConfigSchema -update.
func TestConfigSchema(t *testing.T) {
	t.Parallel()
	launchtest.CheckConfigSchema(t, articles.Slug, articles.Variables(), "README.md", filepath.Join("__metadata__", "connector_config_schema.json"), *update)
}

// TestManifest checks __metadata__/connector_manifest.json against OpenCTI's
// manifest template and the values its catalog accepts.
func TestManifest(t *testing.T) {
	t.Parallel()
	launchtest.CheckManifest(t, filepath.Join("__metadata__", "connector_manifest.json"), articles.Slug, "EXTERNAL_IMPORT")
}

// TestSampleIsValid loads config.yml.sample with the mandatory values filled
// in by the environment.
func TestSampleIsValid(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "config.yml")
	if err := os.WriteFile(path, []byte(sampleConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"OPENCTI_TOKEN": "t0k", "CONNECTOR_ID": uuid.NewString(), "RISKIQ_USER": "a@example.com", "RISKIQ_PASSWORD": "k3y"}
	var out, errOut bytes.Buffer
	if code := runContext(t.Context(), []string{"-check", "-config", path}, envOf(env), &out, &errOut); code != 0 {
		t.Fatalf("-check on the sample = %d\n%s", code, errOut.String())
	}
	if errOut.Len() != 0 {
		t.Errorf("warnings on the sample: %s", errOut.String())
	}
}

func TestCheckReportsEveryProblemWithoutSecrets(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"OPENCTI_URL": "ftp://opencti", "OPENCTI_TOKEN": "ChangeMe", "CONNECTOR_ID": "",
		"RISKIQ_PASSWORD": "super-secret-key-123", "RISKIQ_INTERVAL_SEC": "-1", "RISKIQ_BASE_URL": "file:///etc/passwd",
		"RISKIQ_IMPORT_FROM_TIMESTAMP": "soon", "CONNECTOR_TYPE": "STREAM",
	}
	var out, errOut bytes.Buffer
	if code := runContext(t.Context(), []string{"-check"}, envOf(env), &out, &errOut); code != 1 {
		t.Fatalf("-check = %d, want 1", code)
	}
	msg := errOut.String()
	for _, want := range []string{"OPENCTI_URL", "CONNECTOR_ID", "CONNECTOR_TYPE", "RISKIQ_USER", "RISKIQ_INTERVAL_SEC", "RISKIQ_BASE_URL", "RISKIQ_IMPORT_FROM_TIMESTAMP"} {
		if !strings.Contains(msg, want) {
			t.Errorf("problem with %s not reported:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "super-secret-key-123") {
		t.Errorf("the API key leaked:\n%s", msg)
	}
	errOut.Reset()
	if code := runContext(t.Context(), []string{"-config", filepath.Join(t.TempDir(), "none.yml")}, envOf(env), &out, &errOut); code != 1 ||
		!strings.Contains(errOut.String(), "none.yml") {
		t.Errorf("missing -config file = %d: %s", code, errOut.String())
	}
}

func TestUsage(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	if code := runContext(t.Context(), []string{"-nope"}, envOf(nil), &out, &errOut); code != 2 {
		t.Errorf("-nope = %d, want 2", code)
	}
	if code := runContext(t.Context(), []string{"extra"}, envOf(nil), &out, &errOut); code != 2 {
		t.Errorf("an argument = %d, want 2", code)
	}
	if code := runContext(t.Context(), []string{"-version"}, envOf(nil), &out, &errOut); code != 0 || !strings.Contains(out.String(), "riskiq-import") {
		t.Errorf("-version = %d, %q", code, out.String())
	}
	out.Reset()
	if code := runContext(t.Context(), []string{"-sample-config"}, envOf(nil), &out, &errOut); code != 0 || out.String() != sampleConfig {
		t.Errorf("-sample-config = %d", code)
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

// fakeRiskIQ serves testdata/articles.
func fakeRiskIQ(t *testing.T) *passivetotaltest.Server {
	t.Helper()
	quota, err := fs.ReadFile(passivetotaltest.DataFS(), "quota.json")
	if err != nil {
		t.Fatal(err)
	}
	m := fstest.MapFS{"quota.json": {Data: quota}}
	files, _ := filepath.Glob("testdata/articles/*.json")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m["articles/"+filepath.Base(f)] = &fstest.MapFile{Data: b}
	}
	d, err := passivetotaltest.LoadData(m)
	if err != nil {
		t.Fatal(err)
	}
	return passivetotaltest.NewServer(t, passivetotaltest.WithData(d))
}

const ptKey = "pt-key-never-logged-77"

func connectorEnv(octi *openctitest.Server, pt *passivetotaltest.Server, extra map[string]string) map[string]string {
	env := map[string]string{
		"OPENCTI_URL": octi.URL, "OPENCTI_TOKEN": octi.Token(), "CONNECTOR_ID": uuid.NewString(),
		"CONNECTOR_LOG_LEVEL": "debug", "RISKIQ_USER": "analyst@example.com", "RISKIQ_PASSWORD": ptKey,
		"RISKIQ_BASE_URL": pt.BaseURL() + "/",
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

func connectorWorks(octi *openctitest.Server, id string) []openctitest.Work {
	var out []openctitest.Work
	for _, w := range octi.Works() {
		if w.ConnectorID == id {
			out = append(out, w)
		}
	}
	return out
}

// TestIntegrationRunAndTerminate runs the binary's run() with
// CONNECTOR_RUN_AND_TERMINATE: it imports, closes its work, leaves the state
// on the platform and exits 0; started again at once it finds the interval
// not elapsed and exits without a work. Logs are JSON and hold no secret.
func TestIntegrationRunAndTerminate(t *testing.T) {
	t.Parallel()
	octi := openctitest.NewServer(t, openctitest.WithStrict())
	pt := fakeRiskIQ(t)
	env := connectorEnv(octi, pt, map[string]string{"CONNECTOR_RUN_AND_TERMINATE": "true"})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var logs syncBuffer
	if code := runContext(ctx, nil, envOf(env), &logs, &logs); code != 0 {
		t.Fatalf("run = %d\n%s", code, logs.String())
	}
	works := connectorWorks(octi, env["CONNECTOR_ID"])
	if len(works) != 1 || !strings.HasPrefix(works[0].Name, "RiskIQ run @ ") || len(works[0].Errors) != 0 ||
		strings.Join(works[0].Messages, "") != "3 articles read, 3 reports sent (15 objects)" {
		t.Fatalf("works = %+v", works)
	}
	for {
		if w, _ := octi.Work(works[0].ID); w.Status == openctitest.StatusComplete {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the work never completed")
		case <-time.After(10 * time.Millisecond):
		}
	}
	c, _ := octi.Connector(env["CONNECTOR_ID"])
	var st map[string]int64
	if c.State == nil || json.Unmarshal([]byte(*c.State), &st) != nil || st["latest_article_timestamp"] != 1723705200 || st["latest_run_timestamp"] == 0 {
		t.Errorf("platform state = %v", c.State)
	}
	if c.Info["run_and_terminate"] != true {
		t.Errorf("connector_info = %v, want run_and_terminate", c.Info)
	}

	if code := runContext(ctx, nil, envOf(env), &logs, &logs); code != 0 {
		t.Fatalf("second run = %d", code)
	}
	if n := len(connectorWorks(octi, env["CONNECTOR_ID"])); n != 1 {
		t.Errorf("%d works after the second start, want no new run before the interval", n)
	}
	if n := pt.Calls(passivetotaltest.EndpointArticles); n != 1 {
		t.Errorf("article list calls = %d, want 1", n)
	}
	checkLogs(t, logs.String(), octi.Token())
}

// checkLogs checks every line is a pycti JSON log line and no secret shows.
func checkLogs(t *testing.T, logs, token string) {
	t.Helper()
	for line := range strings.SplitSeq(strings.TrimSpace(logs), "\n") {
		var l struct {
			Timestamp, Level, Name, Message string
		}
		if err := json.Unmarshal([]byte(line), &l); err != nil || l.Timestamp == "" || l.Level == "" || l.Message == "" {
			t.Errorf("not a JSON log line: %s", line)
			break
		}
	}
	if strings.Contains(logs, ptKey) || strings.Contains(logs, token) {
		t.Error("a secret appears in the logs")
	}
}

// TestIntegrationFailingRunExitCode: with run-and-terminate, a run refused by
// RiskIQ closes its work in error and the process exits 1.
func TestIntegrationFailingRunExitCode(t *testing.T) {
	t.Parallel()
	octi := openctitest.NewServer(t, openctitest.WithStrict())
	pt := fakeRiskIQ(t)
	pt.Fail(passivetotaltest.EndpointArticles, http.StatusUnauthorized, 0, "")
	env := connectorEnv(octi, pt, map[string]string{"CONNECTOR_RUN_AND_TERMINATE": "true"})
	var logs syncBuffer
	if code := runContext(t.Context(), nil, envOf(env), &logs, &logs); code != 1 {
		t.Fatalf("run = %d, want 1\n%s", code, logs.String())
	}
	works := connectorWorks(octi, env["CONNECTOR_ID"])
	if len(works) != 1 || len(works[0].Errors) != 1 || !strings.Contains(works[0].Errors[0], "authentication failed") {
		t.Errorf("works = %+v", works)
	}
	checkLogs(t, logs.String(), octi.Token())
}

// TestIntegrationScheduledUntilSIGTERM runs the connector in its long-running
// mode: it imports at once, then stops cleanly when the signal context ends.
func TestIntegrationScheduledUntilSIGTERM(t *testing.T) {
	t.Parallel()
	octi := openctitest.NewServer(t, openctitest.WithStrict())
	pt := fakeRiskIQ(t)
	// The metrics server of the SDK listens on every interface: not started
	// here (the metrics are checked in internal/articles).
	env := connectorEnv(octi, pt, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	var logs syncBuffer
	done := make(chan int, 1)
	go func() { done <- runContext(runCtx, nil, envOf(env), &logs, &logs) }()
	for len(connectorWorks(octi, env["CONNECTOR_ID"])) == 0 || len(connectorWorks(octi, env["CONNECTOR_ID"])[0].Messages) == 0 {
		select {
		case code := <-done:
			t.Fatalf("connector exited with %d:\n%s", code, logs.String())
		case <-ctx.Done():
			t.Fatalf("no run:\n%s", logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	stop()
	if code := <-done; code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", code)
	}
	checkLogs(t, logs.String(), octi.Token())
}

// pythonConfig is a config.yml in the Python connector's layout (its sample,
// with values filled in).
const pythonConfig = `opencti:
  url: 'http://opencti:8080'
  token: 'python-era-token'

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
  password: 'python-era-key'
  create_observables: true
  interval_sec: 86400
  import_from_timestamp: 1712929994
`

// TestConfigFromPythonImagePath: the image works in the Python image's
// directory, /opt/opencti-connector-riskiq, where the Python connector read config.yml
// (beside its main.py); a config.yml mounted there is read unchanged, without
// -config, from the working directory. The image also sets CONNECTOR_TYPE and
// builds for TARGETARCH.
func TestConfigFromPythonImagePath(t *testing.T) {
	img := launchtest.ReadDockerfile(t, "Dockerfile")
	if img.Workdir != "/opt/opencti-connector-riskiq" {
		t.Errorf("Dockerfile WORKDIR = %q, want the Python image's %q", img.Workdir, "/opt/opencti-connector-riskiq")
	}
	if img.Env["CONNECTOR_TYPE"] != "EXTERNAL_IMPORT" || !img.MultiArch {
		t.Errorf("Dockerfile: CONNECTOR_TYPE = %q, multi-arch %v; want EXTERNAL_IMPORT, true", img.Env["CONNECTOR_TYPE"], img.MultiArch)
	}
	dir := filepath.Join(t.TempDir(), filepath.FromSlash(img.Workdir))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	var out, errOut bytes.Buffer
	if code := runContext(t.Context(), []string{"-check"}, envOf(nil), &out, &errOut); code == 0 {
		t.Fatalf("-check without config.yml = 0, want the mandatory settings missing")
	}
	if err := os.WriteFile("config.yml", []byte(pythonConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errOut.Reset()
	if code := runContext(t.Context(), []string{"-check"}, envOf(nil), &out, &errOut); code != 0 || !strings.Contains(out.String(), "configuration is valid") {
		t.Errorf("-check in %s with the Python config.yml = %d\n%s%s", img.Workdir, code, out.String(), errOut.String())
	}
}

// TestIntegrationBaseURLWithoutVersion: RISKIQ_BASE_URL spelt as the
// enrichment connector's (no /v2) imports as the /v2 spelling does, so one
// environment file serves both connectors.
func TestIntegrationBaseURLWithoutVersion(t *testing.T) {
	t.Parallel()
	octi := openctitest.NewServer(t)
	pt := fakeRiskIQ(t)
	env := connectorEnv(octi, pt, map[string]string{"CONNECTOR_RUN_AND_TERMINATE": "true", "RISKIQ_BASE_URL": pt.RootURL()})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var logs syncBuffer
	if code := runContext(ctx, nil, envOf(env), &logs, &logs); code != 0 {
		t.Fatalf("run with RISKIQ_BASE_URL=%s = %d\n%s", pt.RootURL(), code, logs.String())
	}
	works := connectorWorks(octi, env["CONNECTOR_ID"])
	if len(works) != 1 || len(works[0].Errors) != 0 || !strings.HasPrefix(strings.Join(works[0].Messages, ""), "3 articles read, 3 reports sent") {
		t.Errorf("works = %+v, want the three articles imported", works)
	}
}
