package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskiq-opencti/connectors/internal/defenderti/defendertitest"
)

// defenderGoldens are the enrichment connector's Graph goldens (clock
// defendertitest.Anchor, window 3650 days) by value looked up.
var defenderGoldens = []struct{ name, value string }{
	{"defender-forward-malicious.example", "malicious.example"},
	{"defender-reverse-192.0.2.10", "192.0.2.10"},
	{"defender-reverse-2001-db8--10", "2001:db8::10"},
}

// runDefenderLookup runs "riskiqctl lookup" against a fake Graph.
func runDefenderLookup(t *testing.T, graph *defendertitest.Server, env map[string]string, args ...string) result {
	t.Helper()
	full := map[string]string{
		"DEFENDER_TI_TENANT_ID": graph.TenantID(), "DEFENDER_TI_CLIENT_ID": graph.ClientID(),
		"DEFENDER_TI_CLIENT_SECRET": graph.ClientSecret(), "DEFENDER_TI_BASE_URL": graph.URL(),
		"DEFENDER_TI_AUTHORITY_URL": graph.AuthorityURL(), "RISKIQ_IMPORT_LAST_SEEN_TIME_WINDOW": "P3650D",
	}
	for k, v := range env {
		full[k] = v
	}
	var out, errOut bytes.Buffer
	c := &cli{env: envOf(full), stdout: &out, stderr: &errOut, now: func() time.Time { return defendertitest.Anchor }, graphHTTP: graph.Client()}
	code := c.run(t.Context(), append([]string{"lookup", "--config", emptyConfig(t)}, args...))
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

// TestLookupDefenderEqualsEnrichmentGoldens: "lookup --source defender"
// writes, for a domain (forward), an IPv4 and an IPv6 address (reverse), the
// objects of the enrichment connector's Graph goldens; --source overrides
// RISKIQ_SOURCE; no PassiveTotal account is needed; the secret is never
// printed.
func TestLookupDefenderEqualsEnrichmentGoldens(t *testing.T) {
	t.Parallel()
	graph := defendertitest.NewServer(t)
	out := filepath.Join(t.TempDir(), "out")
	args := []string{"--source", "defender", "--out", out}
	for _, g := range defenderGoldens {
		args = append(args, g.value)
	}
	r := runDefenderLookup(t, graph, map[string]string{"RISKIQ_SOURCE": "passivetotal"}, append(args, "quiet.example")...)
	if r.code != exitOK {
		t.Fatalf("lookup --source defender = %d\n%s", r.code, r.stderr)
	}
	for _, g := range defenderGoldens {
		b, err := os.ReadFile(filepath.Join(out, g.value+".json"))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(readGolden(t, g.name), bundleObjects(t, b)); diff != "" {
			t.Errorf("%s.json differs from the golden (-want +got):\n%s", g.value, diff)
		}
	}
	if !strings.Contains(r.stderr, "riskiqctl lookup: quiet.example: No information found") {
		t.Errorf("stderr lacks the empty lookup:\n%s", r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, graph.ClientSecret()) {
		t.Error("the client secret was printed")
	}
	if n := graph.Calls(defendertitest.EndpointPassiveDNSReverse); n != 2 {
		t.Errorf("reverse calls = %d, want 2", n)
	}
}

// TestLookupDefenderSourceFromEnvironment: RISKIQ_SOURCE=defender without
// the flag selects Defender TI too; a bad --source is a usage error; an IPv6
// address is refused with PassiveTotal and must be canonical with Defender.
func TestLookupDefenderSourceFromEnvironment(t *testing.T) {
	t.Parallel()
	graph := defendertitest.NewServer(t)
	r := runDefenderLookup(t, graph, map[string]string{"RISKIQ_SOURCE": "defender"}, "malicious.example")
	if r.code != exitOK || !strings.Contains(r.stdout, `"Microsoft Defender Threat Intelligence"`) {
		t.Errorf("lookup with RISKIQ_SOURCE=defender = %d\n%s", r.code, r.stderr)
	}
	r = runDefenderLookup(t, graph, nil, "--source", "graph", "malicious.example")
	if r.code != exitUsage || !strings.Contains(r.stderr, "--source must be passivetotal or defender") {
		t.Errorf("lookup --source graph = %d\n%s", r.code, r.stderr)
	}
	r = runDefenderLookup(t, graph, map[string]string{"RISKIQ_USERNAME": "a@example.com", "RISKIQ_API_KEY": "k"}, "--source", "passivetotal", "2001:db8::10")
	if r.code != exitFailure || !strings.Contains(r.stderr, "IPv6") {
		t.Errorf("lookup --source passivetotal of an IPv6 address = %d\n%s", r.code, r.stderr)
	}
	r = runDefenderLookup(t, graph, nil, "--source", "defender", "2001:DB8:0::10")
	if r.code != exitFailure || !strings.Contains(r.stderr, "canonical form, 2001:db8::10") {
		t.Errorf("lookup of a non-canonical IPv6 address = %d\n%s", r.code, r.stderr)
	}
	r = runDefenderLookup(t, graph, map[string]string{"DEFENDER_TI_TENANT_ID": ""}, "--source", "defender", "malicious.example")
	if r.code != exitFailure || !strings.Contains(r.stderr, "DEFENDER_TI_TENANT_ID") || strings.Contains(r.stderr, "RISKIQ_USERNAME") {
		t.Errorf("lookup without a tenant = %d\n%s", r.code, r.stderr)
	}
}
