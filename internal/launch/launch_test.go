package launch

import (
	"bytes"
	"strings"
	"testing"

	"github.com/riskiq-opencti/connectors/opencti/config"
)

func TestPrepare(t *testing.T) {
	t.Parallel()
	cmd := Command{Name: "demo", Version: "1.2.3", Sample: "opencti:\n  url: x\n", Load: func(src *config.Source) config.Config {
		return config.Load(src, config.Defaults{Type: config.TypeExternalImport, Name: "Demo"})
	}}
	good := map[string]string{"OPENCTI_URL": "http://opencti:8080", "OPENCTI_TOKEN": "secret-token-42", "CONNECTOR_ID": "5a8f3f1e-2b8e-4d0c-9f67-2f8f0f0b1c11"}
	bad := map[string]string{"OPENCTI_URL": "nope", "OPENCTI_TOKEN": "secret-token-42", "CONNECTOR_LOG_LEVEL": "loud"}
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		wantCode   int
		wantDone   bool
		wantStdout string
		wantStderr []string
	}{
		{name: "version", args: []string{"-version"}, wantDone: true, wantStdout: "demo 1.2.3\n"},
		{name: "sample", args: []string{"-sample-config"}, wantDone: true, wantStdout: "opencti:\n  url: x\n"},
		{name: "help", args: []string{"-help"}, wantDone: true},
		{name: "unknown flag", args: []string{"-nope"}, wantCode: 2, wantDone: true},
		{name: "stray argument", args: []string{"run"}, wantCode: 2, wantDone: true, wantStderr: []string{"unexpected arguments"}},
		{name: "check good", args: []string{"-check"}, env: good, wantDone: true, wantStdout: "configuration is valid\n"},
		{name: "check bad lists every problem", args: []string{"-check"}, env: bad, wantCode: 1, wantDone: true,
			wantStderr: []string{"OPENCTI_URL", "CONNECTOR_ID", "CONNECTOR_LOG_LEVEL"}},
		{name: "run", env: good},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			env := func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
			p, code, done := cmd.Prepare(append(tt.args, "-config="), env, &stdout, &stderr)
			if code != tt.wantCode || done != tt.wantDone {
				t.Fatalf("Prepare(%v) = code %d done %v, want %d %v\n%s", tt.args, code, done, tt.wantCode, tt.wantDone, stderr.String())
			}
			if tt.wantStdout != "" && stdout.String() != tt.wantStdout {
				t.Errorf("stdout = %q, want %q", stdout.String(), tt.wantStdout)
			}
			for _, w := range tt.wantStderr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
			if strings.Contains(stdout.String()+stderr.String(), "secret-token-42") {
				t.Error("the token was printed")
			}
			if !done && (p.Log == nil || p.Config.Connector.Name != "Demo") {
				t.Errorf("Prepare() = %+v, want a config and a logger", p)
			}
		})
	}
}
