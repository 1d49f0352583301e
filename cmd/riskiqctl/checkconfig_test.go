package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
)

// secrets are the secret values the bad configurations hold; no output may
// show them.
var secrets = []string{"opencti-token-secret-271", "riskiq-key-secret-828", "url-password-secret-182", "url-query-secret-645"}

// checkConfigCase is a configuration given to check-config and what it must print.
type checkConfigCase struct {
	name, connector string
	env             map[string]string
	yml             string
}

// checkConfigCases are the configurations of TestCheckConfig; the expected
// output of each is testdata/check-config/<name>.golden (run go test -update).
func checkConfigCases() []checkConfigCase {
	return []checkConfigCase{
		{
			name: "enrichment-bad", connector: "enrichment",
			env: map[string]string{
				"OPENCTI_TOKEN": secrets[0], "RISKIQ_API_KEY": secrets[1],
				"RISKIQ_BASE_URL":                     "https://analyst:" + secrets[2] + "@api.riskiq.net/pt",
				"RISKIQ_MAX_TLP":                      "TLP:PURPLE",
				"RISKIQ_IMPORT_LAST_SEEN_TIME_WINDOW": "-P1D",
			},
			yml: "opencti:\n  url: 'ftp://opencti:8080'\nconnector:\n  id: ''\n  type: 'EXTERNAL_IMPORT'\n  log_level: 'loud'\n  concurrency: 0\n  auto: maybe\n",
		},
		{
			name: "import-bad", connector: "import",
			env: map[string]string{
				"OPENCTI_URL": "http://localhost:8080", "OPENCTI_TOKEN": secrets[0], "RISKIQ_PASSWORD": secrets[1],
				"RISKIQ_BASE_URL":              "http://user:" + secrets[2] + "@api.riskiq.net/pt/v2",
				"RISKIQ_INTERVAL_SEC":          "0",
				"RISKIQ_IMPORT_FROM_TIMESTAMP": "yesterday",
				"CONNECTOR_DURATION_PERIOD":    "P1",
			},
			yml: "connector:\n  id: 'not-a-uuid'\n  type: 'INTERNAL_ENRICHMENT'\nriskiq:\n  create_observables: 'perhaps'\n",
		},
		{
			// Issue 9: URLs that do not parse, with a password, and keys in
			// query strings, printed without them.
			name: "enrichment-bad-urls", connector: "enrichment",
			env: map[string]string{
				"OPENCTI_URL": "http://opencti:8080/?api_key=" + secrets[3], "OPENCTI_TOKEN": secrets[0], "RISKIQ_API_KEY": secrets[1],
				"RISKIQ_BASE_URL": "https://user:" + secrets[2] + "@host:badport/pt",
				"CONNECTOR_ID":    uuid.NewSHA1(uuid.NameSpaceURL, []byte("riskiqctl")).String(), "RISKIQ_USERNAME": "analyst@example.com",
			},
		},
		{
			name: "import-bad-urls", connector: "import",
			env: map[string]string{
				"OPENCTI_URL": "https://svc:" + secrets[2] + "@opencti:port/", "OPENCTI_TOKEN": secrets[0], "RISKIQ_PASSWORD": secrets[1],
				"RISKIQ_BASE_URL": "https://api.riskiq.net/pt/v2?api_key=" + secrets[3],
				"CONNECTOR_ID":    uuid.NewSHA1(uuid.NameSpaceURL, []byte("riskiqctl-import")).String(), "RISKIQ_USER": "analyst@example.com",
			},
		},
		{
			name: "import-good", connector: "import",
			env: map[string]string{
				"OPENCTI_URL": "http://localhost:8080", "OPENCTI_TOKEN": secrets[0], "RISKIQ_PASSWORD": secrets[1],
				"CONNECTOR_ID": uuid.NewSHA1(uuid.NameSpaceURL, []byte("riskiqctl-import")).String(), "RISKIQ_USER": "analyst@example.com",
			},
			yml: "riskiq:\n  import_from_timestamp: 1712929994\n  interval_sec: 3600\n",
		},
		{
			name: "enrichment-good", connector: "enrichment",
			env: map[string]string{
				"OPENCTI_TOKEN": secrets[0], "RISKIQ_API_KEY": secrets[1], "CONNECTOR_ID": uuid.NewSHA1(uuid.NameSpaceURL, []byte("riskiqctl")).String(),
			},
			yml: "opencti:\n  url: 'http://localhost:8080'\nriskiq:\n  username: 'analyst@example.com'\n  max_tlp: 'TLP:AMBER'\n  unknown_key: 1\n",
		},
	}
}

// TestCheckConfig checks check-config prints every problem of a bad
// configuration at once (exit 1), or that a good one is valid (exit 0), and
// never a secret.
func TestCheckConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range checkConfigCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "config.yml")
			if err := os.WriteFile(path, []byte(tc.yml), 0o600); err != nil {
				t.Fatal(err)
			}
			r := runCLI(t, tc.env, "check-config", "--connector", tc.connector, "--config", path)
			got := "exit " + strconv.Itoa(r.code) + "\n--- stdout\n" + r.stdout + "--- stderr\n" + r.stderr
			got = strings.ReplaceAll(got, dir, "DIR")
			golden := filepath.Join("testdata", "check-config", tc.name+".golden")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o750); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(got), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("check-config %s (-want +got):\n%s", tc.name, diff)
			}
			for _, s := range secrets {
				if strings.Contains(got, s) {
					t.Errorf("check-config printed the secret %q:\n%s", s, got)
				}
			}
			noStackTrace(t, got)
		})
	}
}

// TestCheckConfigMissingFile checks a --config file that does not exist is
// one line and exit 1.
func TestCheckConfigMissingFile(t *testing.T) {
	t.Parallel()
	r := runCLI(t, nil, "check-config", "--connector", "enrichment", "--config", filepath.Join(t.TempDir(), "absent.yml"))
	if r.code != exitFailure {
		t.Errorf("check-config = %d, want %d", r.code, exitFailure)
	}
	checkOneLine(t, r, "riskiqctl check-config: read configuration:")
}

// TestCheckConfigSample checks each connector's own config.yml.sample, with
// the mandatory values given in the environment, is valid: check-config loads
// exactly as the connectors do.
func TestCheckConfigSample(t *testing.T) {
	t.Parallel()
	tests := []struct {
		connector, dir string
		env            map[string]string
	}{
		{"enrichment", "riskiq-passive-total", map[string]string{"RISKIQ_USERNAME": "analyst@example.com", "RISKIQ_API_KEY": secrets[1]}},
		{"import", "riskiq-import", map[string]string{"RISKIQ_USER": "analyst@example.com", "RISKIQ_PASSWORD": secrets[1]}},
	}
	for _, tc := range tests {
		tc.env["OPENCTI_TOKEN"], tc.env["CONNECTOR_ID"] = secrets[0], uuid.NewString()
		r := runCLI(t, tc.env, "check-config", "--connector", tc.connector, "--config", filepath.Join("..", tc.dir, "config.yml.sample"))
		if r.code != exitOK || !strings.Contains(r.stdout, "configuration of the "+tc.connector+" connector is valid") {
			t.Errorf("check-config of the %s sample = %d\n%s%s", tc.connector, r.code, r.stdout, r.stderr)
		}
		for _, s := range secrets {
			if strings.Contains(r.stdout+r.stderr, s) {
				t.Errorf("check-config printed the secret %q", s)
			}
		}
	}
}
