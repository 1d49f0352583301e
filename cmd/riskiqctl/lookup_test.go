package main

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// goldenCases are the enrichment connector's golden files: value looked up,
// objects sent back (internal/enrichment/testdata/<case>/objects.golden.json,
// clock 2025-07-01T12:00:00Z, window 3650 days).
var goldenCases = []struct{ name, value string }{
	{"domain-passivetotal.org", "passivetotal.org"},
	{"domain-www.riskiq.com", "www.riskiq.com"},
	{"ipv4-54.153.123.93", "54.153.123.93"},
}

// readGolden returns the objects of an enrichment golden file, as indented text.
func readGolden(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "internal", "enrichment", "testdata", name, "objects.golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// bundleObjects checks b is a STIX 2.1 bundle and returns its objects as an
// indented JSON array, in the format of the goldens.
func bundleObjects(t *testing.T, b []byte) string {
	t.Helper()
	var bundle struct {
		Type        string          `json:"type"`
		ID          string          `json:"id"`
		SpecVersion string          `json:"spec_version"`
		Objects     json.RawMessage `json:"objects"`
	}
	if err := json.Unmarshal(b, &bundle); err != nil {
		t.Fatalf("output is not a bundle: %v\n%s", err, b)
	}
	if bundle.Type != "bundle" || !strings.HasPrefix(bundle.ID, "bundle--") || bundle.SpecVersion != "2.1" {
		t.Errorf("bundle header = %q %q %q, want bundle, bundle--…, 2.1", bundle.Type, bundle.ID, bundle.SpecVersion)
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, bundle.Objects, "", "  "); err != nil {
		t.Fatal(err)
	}
	buf.WriteByte('\n')
	return buf.String()
}

// TestLookupEqualsEnrichmentGoldens looks up each golden value with
// "riskiqctl lookup" against "riskiqctl simulate", with the goldens' clock and
// window, and compares every object of the bundle with the golden: the
// request lookup builds has the shape of the golden test's (same entity JSON,
// no marking object), so the whole object list is equal, entity included.
// Both simulator modes are covered: with --filter-start the server applies the
// window as the enrichment test's fake does.
func TestLookupEqualsEnrichmentGoldens(t *testing.T) {
	t.Parallel()
	for _, mode := range [][]string{nil, {"--filter-start"}} {
		sim := startSimulator(t, mode...)
		env := sim.env()
		env["RISKIQ_IMPORT_LAST_SEEN_TIME_WINDOW"] = "P3650D"
		for _, tc := range goldenCases {
			t.Run(tc.name+strings.Join(mode, ""), func(t *testing.T) {
				r := runCLI(t, env, "lookup", "--config", emptyConfig(t), tc.value)
				if r.code != exitOK || r.stderr != "" {
					t.Fatalf("lookup %s = %d\n%s", tc.value, r.code, r.stderr)
				}
				if diff := cmp.Diff(readGolden(t, tc.name), bundleObjects(t, []byte(r.stdout))); diff != "" {
					t.Errorf("lookup %s objects differ from the enrichment golden (-want +got):\n%s", tc.value, diff)
				}
			})
		}
	}
}

// TestLookupOut writes one file per value into --out, each equal to its
// golden, says on stderr where and how many, and skips values without records.
func TestLookupOut(t *testing.T) {
	t.Parallel()
	sim := startSimulator(t)
	out := filepath.Join(t.TempDir(), "out", "lookup")
	args := []string{"lookup", "--out", out}
	for _, tc := range goldenCases {
		args = append(args, tc.value)
	}
	args = append(args, "nx.passivetotal.org")
	r := runCLI(t, sim.env(), args...)
	if r.code != exitOK {
		t.Fatalf("lookup --out = %d\n%s", r.code, r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("lookup --out wrote to stdout: %q", r.stdout)
	}
	for _, tc := range goldenCases {
		b, err := os.ReadFile(filepath.Join(out, tc.value+".json"))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(readGolden(t, tc.name), bundleObjects(t, b)); diff != "" {
			t.Errorf("%s.json differs from the golden (-want +got):\n%s", tc.value, diff)
		}
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(goldenCases) {
		t.Errorf("--out holds %d files, want %d (no file for a value without records, no temporary file)", len(entries), len(goldenCases))
	}
	for _, want := range []string{
		"riskiqctl lookup: nx.passivetotal.org: No information found\n",
		"lookup: wrote 3 bundles to " + out + " (49 STIX objects)\n",
		"      20 relationship\n",
		"       3 marking-definition\n",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
}

// TestLookupSeveralValuesToStdout checks several values give one bundle: the
// goldens' objects in order, each id once.
func TestLookupSeveralValuesToStdout(t *testing.T) {
	t.Parallel()
	sim := startSimulator(t)
	args := []string{"lookup"}
	var want []json.RawMessage
	seen := map[string]bool{}
	for _, tc := range goldenCases {
		args = append(args, tc.value)
		var objects []json.RawMessage
		if err := json.Unmarshal([]byte(readGolden(t, tc.name)), &objects); err != nil {
			t.Fatal(err)
		}
		for _, o := range objects {
			var id struct {
				ID string `json:"id"`
			}
			if err := json.Unmarshal(o, &id); err != nil {
				t.Fatal(err)
			}
			if !seen[id.ID] {
				seen[id.ID] = true
				want = append(want, o)
			}
		}
	}
	wantText, err := json.MarshalIndent(want, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, sim.env(), args...)
	if r.code != exitOK {
		t.Fatalf("lookup = %d\n%s", r.code, r.stderr)
	}
	if diff := cmp.Diff(string(wantText)+"\n", bundleObjects(t, []byte(r.stdout))); diff != "" {
		t.Errorf("lookup of %d values (-want +got):\n%s", len(goldenCases), diff)
	}
}

// TestLookupBadInput checks bad values and unreachable or refusing servers
// give one clear line on stderr, exit 1 and nothing on stdout.
func TestLookupBadInput(t *testing.T) {
	t.Parallel()
	sim := startSimulator(t)
	// A port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/pt"
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // after the parallel subtests
		if strings.Contains(sim.logs.String(), "query=www.riskiq.com") {
			t.Errorf("a value was looked up although another one was invalid:\n%s", sim.logs.String())
		}
	})
	unreachable := sim.env()
	unreachable["RISKIQ_BASE_URL"] = closed
	tests := []struct {
		name  string
		env   map[string]string
		value string
		want  string
	}{
		{"url", sim.env(), "https://passivetotal.org/", `"https://passivetotal.org/" is a URL, not a value to look up (give its host name)`},
		{"ipv6", sim.env(), "2606:4700::6810:b712", `"2606:4700::6810:b712" is an IPv6 address`},
		{"e-mail", sim.env(), "admin@passivetotal.org", "is an e-mail address"},
		{"network", sim.env(), "54.153.123.0/24", "is not a single address or name"},
		{"bad ipv4", sim.env(), "54.153.123.256", `"54.153.123.256" is not a valid IPv4 address`},
		{"garbage", sim.env(), "not a domain!", `"not a domain!" is neither an IPv4 address nor a domain name: lookup takes IPv4 addresses and domain names`},
		{"single label", sim.env(), "localhost", "is neither an IPv4 address nor a domain name"},
		{"unreachable simulator", unreachable, "passivetotal.org", "riskiqctl lookup: www.riskiq.com: passivetotal lookup failed: passivetotal: check quota: giving up after 3 attempts: GET /account/quota: dial tcp " + ln.Addr().String() + ": connect: connection refused\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, tc.env, "lookup", "--config", emptyConfig(t), "www.riskiq.com", tc.value)
			if r.code != exitFailure {
				t.Errorf("lookup %s = %d, want %d", tc.value, r.code, exitFailure)
			}
			if r.stdout != "" {
				t.Errorf("lookup %s wrote to stdout:\n%s", tc.value, r.stdout)
			}
			checkOneLine(t, r, tc.want)
		})
	}
}

// TestLookupConfigProblems checks missing settings are all reported, from
// the environment and config.yml, without the API key.
func TestLookupConfigProblems(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "config.yml")
	const yml = "riskiq:\n  api_key: 'yaml-key-secret-314'\n  base_url: 'ftp://api.riskiq.net/pt'\n"
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, map[string]string{"RISKIQ_IMPORT_LAST_SEEN_TIME_WINDOW": "thirty days"}, "lookup", "--config", path, "passivetotal.org")
	if r.code != exitFailure {
		t.Errorf("lookup = %d, want %d", r.code, exitFailure)
	}
	for _, want := range []string{"RISKIQ_USERNAME", "RISKIQ_BASE_URL", "RISKIQ_IMPORT_LAST_SEEN_TIME_WINDOW"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("problem with %s not reported:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "yaml-key-secret-314") {
		t.Errorf("the API key leaked:\n%s", r.stderr)
	}
	r = runCLI(t, nil, "lookup", "--config", filepath.Join(t.TempDir(), "absent.yml"), "passivetotal.org")
	checkOneLine(t, r, "riskiqctl lookup: read configuration:")
}

// emptyConfig returns an empty config.yml, so that tests do not read one
// lying around.
func emptyConfig(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yml")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, wantType string
	}{
		{"54.153.123.93", "ipv4-addr"},
		{"0.0.0.0", "ipv4-addr"},
		{"passivetotal.org", "domain-name"},
		{"WWW.RiskIQ.com", "domain-name"},
		{"_dmarc.example.com", "domain-name"},
		{"xn--bcher-kva.example", "domain-name"},
		{"a-b.c-d.io", "domain-name"},
		{strings.Repeat("a", 63) + ".com", "domain-name"},
		{strings.Repeat("a", 64) + ".com", ""},
		{strings.Repeat("abcdefghi.", 26) + "com", ""}, // 263 characters
		{"-bad.example.com", ""},
		{"bad-.example.com", ""},
		{"example..com", ""},
		{"example.com.", ""},
		{".example.com", ""},
		{"example", ""},
		{"1.2.3", ""},
		{"01.2.3.4", ""},
		{"::ffff:1.2.3.4", ""},
		{"bücher.example", ""},
		{"", ""},
		{"example.com:443", ""},
	}
	for _, tc := range tests {
		got, _, err := classify(tc.in)
		if got != tc.wantType || (err == nil) != (tc.wantType != "") {
			t.Errorf("classify(%q) = %q, %v; want %q", tc.in, got, err, tc.wantType)
		}
	}
}
