package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
)

// checkTerminalSafe fails unless s is lines of printable text: no escape
// sequence, no control character but the line feeds.
func checkTerminalSafe(t *testing.T, s string) {
	t.Helper()
	for i, r := range s {
		if r != '\n' && (unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r)) {
			t.Fatalf("control character %U at %d: %q", r, i, s[max(i-30, 0):min(i+30, len(s))])
		}
	}
}

// TestImportPrintsOpenCTIURLWithoutCredentials: "riskiqctl import" names the
// platform it resolves tags in, without OPENCTI_URL's password or query
// values.
func TestImportPrintsOpenCTIURLWithoutCredentials(t *testing.T) {
	t.Parallel()
	const password, key = "octi-url-password-5521", "octi-url-key-9034"
	platform := &fakePlatform{token: "opencti-token-for-tags"}
	octi := httptest.NewServer(platform)
	t.Cleanup(octi.Close)
	sim := startSimulator(t)
	env := importEnv(sim)
	host := strings.TrimPrefix(octi.URL, "http://")
	env["OPENCTI_URL"] = "http://svc:" + password + "@" + host + "/?api_key=" + key
	env["OPENCTI_TOKEN"] = platform.token
	r := runImport(t, env, true, "--from-timestamp", "0", "--config", emptyConfig(t), "--out", filepath.Join(t.TempDir(), "import"))
	if r.code != exitOK {
		t.Fatalf("import = %d\n%s", r.code, r.stderr)
	}
	want := "import: resolving article tags in OpenCTI at http://REDACTED@" + host + "/?api_key=REDACTED\n"
	if !strings.Contains(r.stderr, want) {
		t.Errorf("stderr does not hold %q:\n%s", want, r.stderr)
	}
	if strings.Contains(r.stderr, password) || strings.Contains(r.stderr, key) {
		t.Errorf("OPENCTI_URL's credentials printed:\n%s", r.stderr)
	}
}

// TestLookupHostileErrorIsOneCleanLine: a 50 KB error message with escape
// sequences and line breaks from the API is printed as one bounded line.
func TestLookupHostileErrorIsOneCleanLine(t *testing.T) {
	t.Parallel()
	var msg strings.Builder
	for msg.Len() < 50_000 {
		msg.WriteString(`\u001b[2J\u001b[1;1Hpassivetotal is down\r\nriskiqctl lookup: wrote 0 bundles\n\u001b]0;owned\u0007`)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":{"message":"%s"}}`, msg.String())
	}))
	t.Cleanup(srv.Close)
	env := map[string]string{"RISKIQ_BASE_URL": srv.URL + "/pt", "RISKIQ_USERNAME": "analyst@example.com", "RISKIQ_API_KEY": "pt-key-0123456789"}
	r := runCLI(t, env, "lookup", "--config", emptyConfig(t), "passivetotal.org")
	if r.code != exitFailure {
		t.Fatalf("lookup = %d, want %d\n%.300s", r.code, exitFailure, r.stderr)
	}
	checkOneLine(t, r, "passivetotal is down; riskiqctl lookup: wrote 0 bundles;")
	checkTerminalSafe(t, r.stderr)
	if len(r.stderr) > maxLine+1 {
		t.Errorf("stderr of %d bytes, want at most %d", len(r.stderr), maxLine+1)
	}
}

// TestImportProgressSanitised: an article guid from the API with escape
// sequences does not reach the terminal raw.
func TestImportProgressSanitised(t *testing.T) {
	t.Parallel()
	var progress bytes.Buffer
	p := &directoryPlatform{dir: t.TempDir(), progress: &progress}
	p.begin("\x1b[2J\x1b]0;owned\x07guid\r\nimport: article 9 (fake): done")
	if err := p.WorkToProcessed(t.Context(), "w", "", false); err != nil {
		t.Fatal(err)
	}
	out := progress.String()
	checkTerminalSafe(t, out)
	if strings.Count(out, "\n") != 1 || !strings.Contains(out, "(guid; import: article 9 (fake): done): no report") {
		t.Errorf("progress = %q, want one clean line", out)
	}
}
