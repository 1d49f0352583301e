package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskiq-opencti/connectors/internal/passivetotal/passivetotaltest"
)

// articlesCase is the import connector's golden case run on the simulator's
// five sample articles (internal/articles/testdata/sample-articles): its clock,
// the OpenCTI entities its tags resolve to, and the bundles it publishes.
const articlesCase = "../../internal/articles/testdata/sample-articles"

// articlesNow is the clock of that case.
var articlesNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// goldenArticle is one bundle of bundles.golden.json.
type goldenArticle struct {
	Article string            `json:"article"`
	Objects []json.RawMessage `json:"objects"`
}

// readArticleGoldens returns the golden bundles by article guid.
func readArticleGoldens(t *testing.T) map[string][]json.RawMessage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(articlesCase, "bundles.golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var list []goldenArticle
	if err := json.Unmarshal(b, &list); err != nil {
		t.Fatal(err)
	}
	out := map[string][]json.RawMessage{}
	for _, g := range list {
		out[g.Article] = g.Objects
	}
	return out
}

// generic decodes JSON into generic values, numbers kept as written.
func generic(t *testing.T, raw []byte) any {
	t.Helper()
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return v
}

// readBundleFile returns the objects of a bundle file, checking its envelope.
func readBundleFile(t *testing.T, path string) []json.RawMessage {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var bundle struct {
		Type        string            `json:"type"`
		ID          string            `json:"id"`
		SpecVersion string            `json:"spec_version"`
		Objects     []json.RawMessage `json:"objects"`
	}
	if err := json.Unmarshal(b, &bundle); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if bundle.Type != "bundle" || !strings.HasPrefix(bundle.ID, "bundle--") || bundle.SpecVersion != "2.1" {
		t.Errorf("%s: bundle header = %q %q %q", path, bundle.Type, bundle.ID, bundle.SpecVersion)
	}
	return bundle.Objects
}

// runImport runs "riskiqctl import" with the case's clock.
func runImport(t *testing.T, env map[string]string, progress bool, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	c := &cli{env: envOf(env), stdout: &out, stderr: &errOut, now: func() time.Time { return articlesNow }, progress: progress}
	code := c.run(t.Context(), append([]string{"import"}, args...))
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

// importEnv returns the import connector's settings for the simulator.
func importEnv(sim *simulator) map[string]string {
	return map[string]string{"RISKIQ_BASE_URL": sim.URL + "/v2", "RISKIQ_USER": "analyst@example.com", "RISKIQ_PASSWORD": "pt-key-0123456789"}
}

// articleGUIDs are the sample articles that carry indicators, hence a report.
var articleGUIDs = []string{"0f9e8d7c", "3a5fd1c9", "b71c02e4", "e86878b1"}

// TestImportWithoutOpenCTI imports the sample articles from the simulator
// without OpenCTI: one file per article with a report, objects equal to the
// import connector's golden except what tag resolution adds. Every object
// but the report is in the golden, unchanged; the report has the golden's id
// and properties, its object_refs being the golden's without the entities
// only OpenCTI knows.
func TestImportWithoutOpenCTI(t *testing.T) {
	t.Parallel()
	sim := startSimulator(t)
	out := filepath.Join(t.TempDir(), "import")
	r := runImport(t, importEnv(sim), false, "--since", "2015-01-01", "--config", emptyConfig(t), "--out", out)
	if r.code != exitOK {
		t.Fatalf("import = %d\n%s", r.code, r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("import wrote to stdout: %q", r.stdout)
	}
	if strings.Contains(r.stderr, "import: article ") {
		t.Errorf("progress lines although stderr is not a terminal:\n%s", r.stderr)
	}
	for _, want := range []string{
		"import: 1 of 5 articles gave no report",
		"import: wrote 4 bundles to " + out + " (",
		"       4 report\n",
		"      26 indicator\n",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	var want []string
	for _, g := range articleGUIDs {
		want = append(want, g+".json")
	}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("files in --out (-want +got):\n%s", diff)
	}
	if !strings.Contains(sim.logs.String(), "createdAfter=2015-01-01") {
		t.Errorf("--since was not asked of the API:\n%s", sim.logs.String())
	}

	goldens := readArticleGoldens(t)
	for _, guid := range articleGUIDs {
		t.Run(guid, func(t *testing.T) {
			golden := map[string]any{}
			for _, o := range goldens[guid] {
				g := generic(t, o).(map[string]any)
				golden[g["id"].(string)] = g
			}
			got := readBundleFile(t, filepath.Join(out, guid+".json"))
			present := map[string]bool{}
			for _, o := range got {
				present[generic(t, o).(map[string]any)["id"].(string)] = true
			}
			reports := 0
			for _, o := range got {
				obj := generic(t, o).(map[string]any)
				id := obj["id"].(string)
				want, ok := golden[id].(map[string]any)
				if !ok {
					t.Errorf("object %s is not in the golden", id)
					continue
				}
				if obj["type"] == "report" {
					reports++
					var refs []any
					for _, ref := range want["object_refs"].([]any) {
						if present[ref.(string)] {
							refs = append(refs, ref)
						}
					}
					want = cloneWith(want, "object_refs", refs)
				}
				if diff := cmp.Diff(want, any(obj)); diff != "" {
					t.Errorf("object %s (-golden +got):\n%s", id, diff)
				}
			}
			if reports != 1 {
				t.Errorf("%s.json holds %d reports, want 1", guid, reports)
			}
		})
	}
}

// cloneWith returns a copy of m with key set to v.
func cloneWith(m map[string]any, key string, v any) map[string]any {
	out := make(map[string]any, len(m))
	for k, x := range m {
		out[k] = x
	}
	out[key] = v
	return out
}

// fakePlatform is the part of OpenCTI that tag resolution reads: POST
// /graphql answering stixDomainObjects from the golden case's
// domain_objects.json, matching the filter values against name or x_mitre_id
// (operator eq) within the requested types, as the platform and the import
// connector's own test fake do. (openctitest does not know Threat-Actor,
// Sector or Country, which the case uses.)
type fakePlatform struct {
	objects []domainObject
	token   string
	mu      sync.Mutex
	queries int
}

// domainObject is one entry of domain_objects.json.
type domainObject struct {
	EntityType string `json:"entity_type"`
	Name       string `json:"name"`
	XMitreID   string `json:"x_mitre_id,omitempty"`
}

func (f *fakePlatform) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/graphql" || r.Header.Get("Authorization") != "Bearer "+f.token {
		http.Error(w, "unexpected request", http.StatusBadRequest)
		return
	}
	var req struct {
		Query     string `json:"query"`
		Variables struct {
			Types   []string `json:"types"`
			Filters struct {
				Filters []struct {
					Key      []string `json:"key"`
					Values   []string `json:"values"`
					Operator string   `json:"operator"`
				} `json:"filters"`
			} `json:"filters"`
		} `json:"variables"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || !strings.Contains(req.Query, "stixDomainObjects(") ||
		len(req.Variables.Filters.Filters) != 1 || req.Variables.Filters.Filters[0].Operator != "eq" {
		http.Error(w, "unexpected query", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.queries++
	f.mu.Unlock()
	filter := req.Variables.Filters.Filters[0]
	type node struct {
		ID          string   `json:"id"`
		StandardID  string   `json:"standard_id"`
		EntityType  string   `json:"entity_type"`
		ParentTypes []string `json:"parent_types"`
		Name        string   `json:"name"`
		XMitreID    string   `json:"x_mitre_id,omitempty"`
	}
	edges := []map[string]node{}
	for i, o := range f.objects {
		if len(req.Variables.Types) > 0 && !slices.Contains(req.Variables.Types, o.EntityType) {
			continue
		}
		match := false
		for _, k := range filter.Key {
			for _, v := range filter.Values {
				match = match || k == "name" && o.Name == v || k == "x_mitre_id" && o.XMitreID != "" && o.XMitreID == v
			}
		}
		if match {
			edges = append(edges, map[string]node{"node": {
				ID: fmt.Sprintf("internal-%d", i), StandardID: fmt.Sprintf("x--%d", i), EntityType: o.EntityType,
				ParentTypes: []string{"Stix-Domain-Object"}, Name: o.Name, XMitreID: o.XMitreID,
			}})
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"stixDomainObjects": map[string]any{"edges": edges}}})
}

// TestImportEqualsArticlesGoldens imports the sample articles with OpenCTI
// configured (a fake platform holding the golden case's entities), so tags are
// resolved: every bundle equals the import connector's golden, object for
// object, in order, and progress shows one line per article on a terminal.
func TestImportEqualsArticlesGoldens(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(articlesCase, "domain_objects.json"))
	if err != nil {
		t.Fatal(err)
	}
	platform := &fakePlatform{token: "opencti-token-for-tags"}
	if err := json.Unmarshal(b, &platform.objects); err != nil {
		t.Fatal(err)
	}
	octi := httptest.NewServer(platform)
	t.Cleanup(octi.Close)
	sim := startSimulator(t)
	env := importEnv(sim)
	env["OPENCTI_URL"], env["OPENCTI_TOKEN"] = octi.URL, platform.token
	out := filepath.Join(t.TempDir(), "import")
	r := runImport(t, env, true, "--from-timestamp", "0", "--config", emptyConfig(t), "--out", out)
	if r.code != exitOK {
		t.Fatalf("import = %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "import: resolving article tags in OpenCTI at "+octi.URL+"\n") {
		t.Errorf("stderr does not say tags are resolved in OpenCTI:\n%s", r.stderr)
	}
	if platform.queries != 18 {
		t.Errorf("%d tag lookups, want 18 as in the golden run", platform.queries)
	}
	for i, guid := range []string{"e86878b1", "3a5fd1c9", "b71c02e4", "0f9e8d7c", "c4d2e6f8"} {
		line := fmt.Sprintf("import: article %d (%s): ", i+1, guid)
		if !strings.Contains(r.stderr, line) {
			t.Errorf("no progress line %q:\n%s", line, r.stderr)
		}
	}
	goldens := readArticleGoldens(t)
	if len(goldens) != len(articleGUIDs) {
		t.Fatalf("the golden case has %d bundles, want %d", len(goldens), len(articleGUIDs))
	}
	for guid, want := range goldens {
		got := readBundleFile(t, filepath.Join(out, guid+".json"))
		wantJSON, err := json.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		gotJSON, err := json.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(generic(t, wantJSON), generic(t, gotJSON)); diff != "" {
			t.Errorf("%s.json differs from the import connector's golden (-want +got):\n%s", guid, diff)
		}
	}
}

// TestImportBadInput checks bad dates, a missing output directory and an
// unreachable simulator: one line on stderr, non-zero exit, no file.
func TestImportBadInput(t *testing.T) {
	t.Parallel()
	sim := startSimulator(t)
	unreachable := importEnv(sim)
	unreachable["RISKIQ_BASE_URL"] = "http://127.0.0.1:1/pt/v2"
	tests := []struct {
		name string
		env  map[string]string
		args []string
		code int
		want string
	}{
		{"bad date", importEnv(sim), []string{"--since", "2025-13-01"}, exitUsage,
			`riskiqctl import: --since "2025-13-01" is not a date: want YYYY-MM-DD or RFC 3339`},
		{"date words", importEnv(sim), []string{"--since", "yesterday"}, exitUsage, `--since "yesterday" is not a date`},
		{"bad timestamp", importEnv(sim), []string{"--from-timestamp", "-5"}, exitUsage, `--from-timestamp "-5" is not a Unix time`},
		{"both", importEnv(sim), []string{"--since", "2025-01-01", "--from-timestamp", "0"}, exitUsage, "give --since or --from-timestamp, not both"},
		{"neither", importEnv(sim), nil, exitUsage, "give --since DATE or --from-timestamp N (or set RISKIQ_IMPORT_FROM_TIMESTAMP)"},
		{"no out", importEnv(sim), []string{"--since", "2025-01-01", "--out", ""}, exitUsage, "--out DIR is required"},
		{"argument", importEnv(sim), []string{"--since", "2025-01-01", "now"}, exitUsage, "unexpected argument now"},
		{"missing settings", map[string]string{"RISKIQ_USER": "a@example.com"}, []string{"--since", "2025-01-01"}, exitFailure, "RISKIQ_PASSWORD"},
		{"unreachable simulator", unreachable, []string{"--since", "2025-01-01"}, exitFailure,
			"riskiqctl import: riskiq run: fetch articles: passivetotal: articles page 0: giving up after 3 attempts: GET /articles: dial tcp 127.0.0.1:1: connect: connection refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "import")
			args := append([]string{"--config", emptyConfig(t), "--out", out}, tc.args...)
			r := runImport(t, tc.env, false, args...)
			if r.code != tc.code {
				t.Errorf("import %q = %d, want %d", tc.args, r.code, tc.code)
			}
			if tc.name != "missing settings" {
				checkOneLine(t, r, tc.want)
			} else if !strings.Contains(r.stderr, tc.want) || strings.Contains(r.stderr, "pt-key") {
				t.Errorf("stderr = %q, want the problem with %s", r.stderr, tc.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("import %q created %s", tc.args, out)
			}
		})
	}
}

// TestImportSampleArticles makes sure the golden case is the simulator's data,
// so that comparing with it means something.
func TestImportSampleArticles(t *testing.T) {
	t.Parallel()
	guids := passivetotaltest.DefaultData().ArticleGUIDs()
	for _, g := range guids {
		want, err := os.ReadFile(filepath.Join(articlesCase, "articles", g+".json"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := passivetotaltest.DataFS().Open("articles/" + g + ".json")
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if _, err := buf.ReadFrom(got); err != nil {
			t.Fatal(err)
		}
		_ = got.Close()
		if diff := cmp.Diff(generic(t, want), generic(t, buf.Bytes())); diff != "" {
			t.Errorf("article %s of the golden case differs from the simulator's (-case +simulator):\n%s", g, diff)
		}
	}
	if !slices.Equal(slices.Sorted(slices.Values(guids)), []string{"0f9e8d7c", "3a5fd1c9", "b71c02e4", "c4d2e6f8", "e86878b1"}) {
		t.Errorf("simulator articles = %v", guids)
	}
}
