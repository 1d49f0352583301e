package main

import (
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/riskiq-opencti/connectors/internal/articles"
	"github.com/riskiq-opencti/connectors/internal/defenderti/defendertitest"
)

// startGraph serves the fake Graph and token endpoint (its built-in
// articles) over TLS and writes its certificate to a PEM file for
// --ca-file.
func startGraph(t *testing.T) (*httptest.Server, *defendertitest.Handler, string) {
	t.Helper()
	h := defendertitest.NewHandler(defendertitest.Options{})
	ts := httptest.NewTLSServer(h)
	t.Cleanup(ts.Close)
	ca := filepath.Join(t.TempDir(), "graph-ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return ts, h, ca
}

// defenderImportEnv is the Defender TI settings for the fake, without any
// RiskIQ credential.
func defenderImportEnv(ts *httptest.Server) map[string]string {
	return map[string]string{
		"DEFENDER_TI_TENANT_ID": defendertitest.DefaultTenantID, "DEFENDER_TI_CLIENT_ID": defendertitest.DefaultClientID,
		"DEFENDER_TI_CLIENT_SECRET": defendertitest.DefaultClientSecret,
		"DEFENDER_TI_BASE_URL":      ts.URL + defendertitest.DefaultPrefix, "DEFENDER_TI_AUTHORITY_URL": ts.URL,
	}
}

// TestImportDefender runs "riskiqctl import --source defender" against the
// fake Graph: one file per article with a report, named after the article
// id, holding the Defender TI reference, the body as content and the
// indicators; the secret never shows.
func TestImportDefender(t *testing.T) {
	t.Parallel()
	ts, h, ca := startGraph(t)
	out := filepath.Join(t.TempDir(), "defender")
	r := runImport(t, defenderImportEnv(ts), false, "--source", "defender", "--ca-file", ca, "--since", "2026-09-01",
		"--config", emptyConfig(t), "--out", out)
	if r.code != exitOK {
		t.Fatalf("import = %d\n%s", r.code, r.stderr)
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"3f9c01ab.json", "a272d5ab.json"}; !slices.Equal(names, want) {
		t.Fatalf("files = %v, want %v (the article without indicators gives none)", names, want)
	}
	var report struct {
		Name    string `json:"name"`
		Content string `json:"x_opencti_content"`
		Refs    []struct {
			SourceName string `json:"source_name"`
			ExternalID string `json:"external_id"`
		} `json:"external_references"`
	}
	indicators := 0
	for _, o := range readBundleFile(t, filepath.Join(out, "3f9c01ab.json")) {
		var v struct {
			Type string `json:"type"`
		}
		_ = json.Unmarshal(o, &v)
		switch v.Type {
		case "report":
			if err := json.Unmarshal(o, &report); err != nil {
				t.Fatal(err)
			}
		case "indicator":
			indicators++
		}
	}
	if report.Name != "Loader campaign abuses signed installers" || !strings.HasPrefix(report.Content, "#### Description") ||
		len(report.Refs) != 1 || report.Refs[0].SourceName != articles.DefenderReferenceSource || report.Refs[0].ExternalID != "3f9c01ab" {
		t.Errorf("report = %+v", report)
	}
	if indicators != 6 {
		t.Errorf("%d indicators, want 6 (3 artifacts have no STIX mapping)", indicators)
	}
	if h.Calls(defendertitest.EndpointArticleIndicators) != 3 {
		t.Errorf("indicator calls = %d, want one per article", h.Calls(defendertitest.EndpointArticleIndicators))
	}
	if strings.Contains(r.stderr, defendertitest.DefaultClientSecret) {
		t.Error("the client secret was printed")
	}
}

// TestImportDefenderErrors: a refused permission fails the command with
// Graph's reason; --ca-file without defender and an unknown source are
// usage errors; no RiskIQ credential is asked for.
func TestImportDefenderErrors(t *testing.T) {
	t.Parallel()
	ts, h, ca := startGraph(t)
	h.Fail(defendertitest.EndpointArticles, http.StatusForbidden, 0, 0)
	r := runImport(t, defenderImportEnv(ts), false, "--source", "defender", "--ca-file", ca,
		"--config", emptyConfig(t), "--out", t.TempDir())
	if r.code == exitOK || !strings.Contains(r.stderr, "403") || !strings.Contains(r.stderr, "ThreatIntelligence.Read.All") {
		t.Errorf("403: import = %d\n%s", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, "RISKIQ_USER") {
		t.Errorf("RiskIQ credentials asked for with defender:\n%s", r.stderr)
	}
	r = runImport(t, map[string]string{"RISKIQ_USER": "a@example.com", "RISKIQ_PASSWORD": "k"}, false,
		"--ca-file", ca, "--since", "2026-01-01", "--config", emptyConfig(t), "--out", t.TempDir())
	if r.code != exitUsage || !strings.Contains(r.stderr, "--ca-file applies to --source defender only") {
		t.Errorf("--ca-file with passivetotal: import = %d\n%s", r.code, r.stderr)
	}
	r = runImport(t, nil, false, "--source", "graph", "--out", t.TempDir())
	if r.code != exitUsage || !strings.Contains(r.stderr, "--source must be passivetotal or defender") {
		t.Errorf("--source graph: import = %d\n%s", r.code, r.stderr)
	}
}
