package config

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// loadCase is one directory under testdata/load: config.yml (optional),
// env.txt (optional, KEY=VALUE lines), defaults.json (optional) and the
// expected want.golden.
type loadCase struct {
	name     string
	dir      string
	yaml     []byte
	env      map[string]string
	defaults Defaults
}

func readLoadCases(tb testing.TB) []loadCase {
	tb.Helper()
	dirs, err := filepath.Glob("testdata/load/*")
	if err != nil {
		tb.Fatal(err)
	}
	if len(dirs) == 0 {
		tb.Fatal("no case under testdata/load")
	}
	var cases []loadCase
	for _, dir := range dirs {
		c := loadCase{name: filepath.Base(dir), dir: dir, env: map[string]string{}}
		if data, err := os.ReadFile(filepath.Join(dir, "config.yml")); err == nil {
			c.yaml = data
		} else if !errors.Is(err, os.ErrNotExist) {
			tb.Fatal(err)
		}
		if data, err := os.ReadFile(filepath.Join(dir, "env.txt")); err == nil {
			c.env = parseEnvText(string(data))
		} else if !errors.Is(err, os.ErrNotExist) {
			tb.Fatal(err)
		}
		if data, err := os.ReadFile(filepath.Join(dir, "defaults.json")); err == nil {
			if err := json.Unmarshal(data, &c.defaults); err != nil {
				tb.Fatalf("%s: %v", dir, err)
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			tb.Fatal(err)
		}
		cases = append(cases, c)
	}
	return cases
}

// parseEnvText reads KEY=VALUE lines; "#" starts a comment line; a value may
// be empty ("KEY=").
func parseEnvText(text string) map[string]string {
	env := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		env[k] = v
	}
	return env
}

// render runs Load on a case and prints what an operator would see.
func render(c loadCase) (string, *Source, Config) {
	var b strings.Builder
	src, err := NewSource(envOf(c.env), c.yaml)
	if err != nil {
		b.WriteString("# error\n" + err.Error() + "\n")
		return b.String(), nil, Config{}
	}
	cfg := Load(src, c.defaults)
	b.WriteString("# problems\n")
	if err := src.Validate(); err != nil {
		b.WriteString(err.Error() + "\n")
	}
	b.WriteString("# warnings\n")
	for _, w := range src.Warnings() {
		b.WriteString(w + "\n")
	}
	b.WriteString("# config\n")
	out, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		b.WriteString("marshal: " + err.Error() + "\n")
	}
	b.Write(out)
	b.WriteString("\n")
	return b.String(), src, cfg
}

func TestLoadGolden(t *testing.T) {
	for _, c := range readLoadCases(t) {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "ssl-verify-path" {
				// The case names a CA file relative to the package directory.
				if _, err := os.Stat("testdata/load/ssl-verify-path/ca.pem"); err != nil {
					t.Fatal(err)
				}
			}
			got, _, _ := render(c)
			golden := filepath.Join(c.dir, "want.golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("Load(%s) (-want +got):\n%s", c.dir, diff)
			}
		})
	}
}

// TestLoadGoldenIsStable guards against goldens that depend on map order.
func TestLoadGoldenIsStable(t *testing.T) {
	for _, c := range readLoadCases(t) {
		first, _, _ := render(c)
		for range 3 {
			if again, _, _ := render(c); again != first {
				t.Fatalf("%s: output differs between runs", c.name)
			}
		}
	}
}

func TestLoadDefaults(t *testing.T) {
	env := map[string]string{
		"OPENCTI_URL":   "http://opencti:8080",
		"OPENCTI_TOKEN": "0b5e1a8c-token",
		"CONNECTOR_ID":  "7c3e8f4e-6f0c-4a55-9f39-6a0fd1f3f5a1",
	}
	src, err := NewSource(envOf(env), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := Load(src, Defaults{Type: TypeExternalImport, Name: "RiskIQ", LogLevel: "INFO"})
	if err := src.Validate(); err != nil {
		t.Fatal(err)
	}
	want := Config{
		OpenCTI: OpenCTI{URL: "http://opencti:8080", Token: "0b5e1a8c-token", JSONLogging: true},
		Connector: Connector{
			ID: "7c3e8f4e-6f0c-4a55-9f39-6a0fd1f3f5a1", Type: TypeExternalImport, Name: "RiskIQ",
			Scope: []string{"not-applicable"}, EnrichmentResolution: "none", LogLevel: "info",
			QueueThreshold: 500, QueueProtocol: "amqp", ListenProtocol: "AMQP", SendToQueue: true,
			SendToDirectoryRetention: 7, MetricsPort: 9095, Concurrency: 8, ShutdownTimeout: DefaultShutdownTimeout,
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Load defaults (-want +got):\n%s", diff)
	}
	if w := src.Warnings(); len(w) != 0 {
		t.Errorf("Warnings() = %q, want none", w)
	}
}

// TestLoadGoldenCoversEveryProblem makes sure the invalid cases exercise the
// checks: a golden that silently lost its problems would still "pass".
func TestLoadGoldenCoversEveryProblem(t *testing.T) {
	var all bytes.Buffer
	for _, c := range readLoadCases(t) {
		got, _, _ := render(c)
		all.WriteString(got)
	}
	for _, want := range []string{
		"OPENCTI_URL (config.yml: opencti.url): is required",
		"OPENCTI_TOKEN (config.yml: opencti.token): is required",
		"OPENCTI_TOKEN (config.yml: opencti.token) = REDACTED: must be a real API token",
		"CONNECTOR_ID (config.yml: connector.id): is required",
		"CONNECTOR_TYPE (config.yml: connector.type) = \"FOO\": must be one of EXTERNAL_IMPORT, INTERNAL_IMPORT_FILE, INTERNAL_ENRICHMENT, INTERNAL_ANALYSIS, INTERNAL_EXPORT_FILE, STREAM",
		"CONNECTOR_NAME (config.yml: connector.name) = \" x \": must have at least 2 characters",
		"CONNECTOR_LOG_LEVEL (config.yml: connector.log_level) = \"verbose\": must be one of debug, info, warn, warning, error",
		"CONNECTOR_QUEUE_PROTOCOL (config.yml: connector.queue_protocol) = \"api\": must be amqp: the api queue protocol is not supported by this SDK",
		"CONNECTOR_LISTEN_PROTOCOL (config.yml: connector.listen_protocol) = \"api\": must be AMQP (API is not supported by this SDK)",
		"CONNECTOR_METRICS_PORT (config.yml: connector.metrics_port) = \"0\": must be a port number between 1 and 65535",
		"CONNECTOR_QUEUE_THRESHOLD (config.yml: connector.queue_threshold) = \"-1\": must be a number of megabytes >= 0",
		"CONNECTOR_SEND_TO_DIRECTORY_PATH (config.yml: connector.send_to_directory_path): is required when CONNECTOR_SEND_TO_DIRECTORY is true",
		"CONNECTOR_ENRICHMENT_RESOLUTION (config.yml: connector.enrichment_resolution) = \"full\": must be none or stix_bundle",
		"CONNECTOR_SEND_TO_S3 (config.yml: connector.send_to_s3) = \"true\": must be false: sending bundles to S3 is not supported by this SDK",
		"CONNECTOR_AUTO_CREATE_SERVICE_ACCOUNT (config.yml: connector.auto_create_service_account) = \"true\": must be false: creating a service account is not supported by this SDK",
		"CONNECTOR_CONCURRENCY (config.yml: connector.concurrency) = \"0\": must be between 1 and 256",
		"CONNECTOR_SHUTDOWN_TIMEOUT (config.yml: connector.shutdown_timeout) = \"-PT1S\": must not be negative",
		"OPENCTI_CUSTOM_HEADERS (config.yml: opencti.custom_headers): header pair 2 has no \":\" and is ignored",
	} {
		if !strings.Contains(all.String(), want) {
			t.Errorf("no golden under testdata/load contains %q", want)
		}
	}
}

// TestLoadLogLevel checks that CONNECTOR_LOG_LEVEL is read by
// logging.ParseLevel, normalised, and that a blank value is a problem.
func TestLoadLogLevel(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ value, want string }{
		{"debug", "debug"}, {" INFO ", "info"}, {"Warning", "warn"}, {"warn", "warn"}, {"ERROR", "error"},
		{"verbose", ""}, {"  ", ""}, {"critical", ""},
	} {
		env := map[string]string{
			"OPENCTI_URL": "http://opencti:8080", "OPENCTI_TOKEN": "0b5e1a8c-token",
			"CONNECTOR_ID": "7c3e8f4e-6f0c-4a55-9f39-6a0fd1f3f5a1", "CONNECTOR_LOG_LEVEL": tt.value,
		}
		src, err := NewSource(envOf(env), nil)
		if err != nil {
			t.Fatal(err)
		}
		got := Load(src, Defaults{Type: TypeExternalImport, Name: "RiskIQ"})
		err = src.Validate()
		if tt.want == "" {
			if err == nil || !strings.Contains(err.Error(), "CONNECTOR_LOG_LEVEL") {
				t.Errorf("CONNECTOR_LOG_LEVEL=%q: Validate() = %v, want a CONNECTOR_LOG_LEVEL problem", tt.value, err)
			}
			continue
		}
		if err != nil || got.Connector.LogLevel != tt.want {
			t.Errorf("CONNECTOR_LOG_LEVEL=%q: LogLevel = %q, %v; want %q", tt.value, got.Connector.LogLevel, err, tt.want)
		}
	}
}
