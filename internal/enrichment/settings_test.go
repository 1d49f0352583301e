package enrichment

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/riskiq-opencti/connectors/internal/defenderti"
	"github.com/riskiq-opencti/connectors/opencti/config"
)

// TestLoadPerSource: RISKIQ_SOURCE=defender needs the DEFENDER_TI_* settings
// and not the PassiveTotal account; the default scope follows the source; an
// explicit scope wins; the PassiveTotal default is unchanged.
func TestLoadPerSource(t *testing.T) {
	t.Parallel()
	base := map[string]string{"OPENCTI_URL": "http://opencti:8080", "OPENCTI_TOKEN": "t0k", "CONNECTOR_ID": "5b0e0f4c-2a57-4bd8-9d1c-3e0c1c2b9f11"}
	defender := map[string]string{"RISKIQ_SOURCE": "Defender", "DEFENDER_TI_TENANT_ID": "contoso.onmicrosoft.com",
		"DEFENDER_TI_CLIENT_ID": "0f7a3c5e-1111-4222-8333-944455556666", "DEFENDER_TI_CLIENT_SECRET": "graph-secret-value-99"}
	tests := []struct {
		name         string
		env          map[string]string
		wantProblems []string // variables named by the problems, in order
		wantSource   string
		wantScope    string
	}{
		{name: "passivetotal by default", env: map[string]string{"RISKIQ_USERNAME": "a@example.com", "RISKIQ_API_KEY": "k3y"},
			wantSource: defenderti.SourcePassiveTotal, wantScope: DefaultScope},
		{name: "passivetotal needs its account", env: map[string]string{},
			wantProblems: []string{"RISKIQ_USERNAME", "RISKIQ_API_KEY"}},
		{name: "defender without account", env: defender, wantSource: defenderti.SourceDefender, wantScope: DefaultDefenderScope},
		{name: "defender explicit scope wins", env: merge(defender, map[string]string{"CONNECTOR_SCOPE": "Domain-Name"}),
			wantSource: defenderti.SourceDefender, wantScope: "Domain-Name"},
		{name: "defender needs its app", env: map[string]string{"RISKIQ_SOURCE": "defender", "RISKIQ_MAX_TLP": "TLP:PURPLE"},
			wantProblems: []string{"DEFENDER_TI_TENANT_ID", "DEFENDER_TI_CLIENT_ID", "DEFENDER_TI_CLIENT_SECRET", "RISKIQ_MAX_TLP"}},
		{name: "unknown source", env: map[string]string{"RISKIQ_SOURCE": "graph", "RISKIQ_USERNAME": "a@example.com", "RISKIQ_API_KEY": "k3y"},
			wantProblems: []string{"RISKIQ_SOURCE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := merge(base, tt.env)
			src, err := config.NewSource(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, nil)
			if err != nil {
				t.Fatal(err)
			}
			cfg, s := Load(src)
			var got []string
			for _, p := range src.Problems() {
				got = append(got, p.Env)
				if strings.Contains(p.Error(), "graph-secret-value-99") {
					t.Errorf("problem prints the secret: %v", p)
				}
			}
			if diff := cmp.Diff(tt.wantProblems, got); diff != "" {
				t.Errorf("problems mismatch (-want +got):\n%s", diff)
			}
			if tt.wantProblems != nil {
				return
			}
			if s.Source != tt.wantSource || strings.Join(cfg.Connector.Scope, ",") != tt.wantScope {
				t.Errorf("Load() source %q scope %v, want %q %q", s.Source, cfg.Connector.Scope, tt.wantSource, tt.wantScope)
			}
			if s.Source == defenderti.SourceDefender && (s.Defender.ClientSecret.Reveal() != "graph-secret-value-99" || s.Window != DefaultWindow) {
				t.Errorf("Load() = %+v, want the Defender settings and the default window", s)
			}
		})
	}
}

// TestLoadNoWarningForTheOtherSource: a config.yml holding both sections
// (the sample) reads without "not a setting this connector reads" warnings
// whichever the source.
func TestLoadNoWarningForTheOtherSource(t *testing.T) {
	t.Parallel()
	doc := []byte("riskiq:\n  username: a@example.com\n  api_key: k3y\n  base_url: https://api.riskiq.net/pt\n" +
		"defender_ti:\n  tenant_id: contoso.onmicrosoft.com\n  client_id: 0f7a3c5e-1111-4222-8333-944455556666\n  client_secret: s3cr3t\n" +
		"  base_url: https://graph.microsoft.com/v1.0\n  authority_url: https://login.microsoftonline.com\n  page_size: 100\n  max_records: 10000\n  host_reputation: true\n")
	for _, source := range []string{"passivetotal", "defender"} {
		env := map[string]string{"RISKIQ_SOURCE": source}
		src, err := config.NewSource(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, doc)
		if err != nil {
			t.Fatal(err)
		}
		LoadSettings(src)
		if w := slices.DeleteFunc(src.Warnings(), func(w string) bool { return !strings.Contains(w, "not a setting") }); len(w) != 0 {
			t.Errorf("source %s: warnings %v", source, w)
		}
	}
}

func merge(a, b map[string]string) map[string]string {
	out := make(map[string]string, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}
