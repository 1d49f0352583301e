package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/riskiq-opencti/connectors/internal/passivetotal/passivetotaltest"
	"github.com/riskiq-opencti/connectors/opencti/api"
	"github.com/riskiq-opencti/connectors/opencti/openctitest"
)

// TestCheckHidesURLCredentials: -check names a bad OPENCTI_URL or
// RISKIQ_BASE_URL without the password or query values it holds, whether the
// URL parses or not (issue 9).
func TestCheckHidesURLCredentials(t *testing.T) {
	t.Parallel()
	const secret = "url-secret-value-4471"
	tests := []struct{ name, env, value, want string }{
		{"base url unparsable with password", "RISKIQ_BASE_URL", "https://user:" + secret + "@host:badport/pt", `"https://REDACTED@host:badport/pt"`},
		{"base url with a password holding a slash", "RISKIQ_BASE_URL", "https://user:12/" + secret + "@host/pt", `"https://REDACTED@host/pt"`},
		{"base url with api_key", "RISKIQ_BASE_URL", "https://api.riskiq.net/pt?api_key=" + secret, `"https://api.riskiq.net/pt?api_key=REDACTED"`},
		{"opencti url with api_key", "OPENCTI_URL", "http://opencti:8080/?api_key=" + secret, `"http://opencti:8080/?api_key=REDACTED"`},
		{"opencti url unparsable with password", "OPENCTI_URL", "http://svc:" + secret + "@opencti:port", `"http://REDACTED@opencti:port"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{
				"OPENCTI_URL": "http://opencti:8080", "OPENCTI_TOKEN": uuid.NewString(), "CONNECTOR_ID": uuid.NewString(),
				"RISKIQ_USERNAME": "analyst@example.com", "RISKIQ_API_KEY": "pt-key-0123456789",
			}
			env[tc.env] = tc.value
			var out, errOut bytes.Buffer
			if code := run(t.Context(), []string{"-check"}, envOf(env), &out, &errOut); code != 1 {
				t.Fatalf("-check with %s=%q = %d, want 1\n%s", tc.env, tc.value, code, errOut.String())
			}
			msg := errOut.String()
			if strings.Contains(msg, secret) {
				t.Errorf("the secret in %s was printed:\n%s", tc.env, msg)
			}
			if !strings.Contains(msg, tc.env+" (config.yml: ") || !strings.Contains(msg, tc.want) {
				t.Errorf("want %s shown as %s:\n%s", tc.env, tc.want, msg)
			}
		})
	}
}

// TestIntegrationHostileErrorBecomesCleanWorkError: PassiveTotal answers a
// lookup with a 50 KB error message full of escape sequences and line
// breaks; the work's error in OpenCTI is one line of at most 1 KiB without
// control characters (issue 9).
func TestIntegrationHostileErrorBecomesCleanWorkError(t *testing.T) {
	t.Parallel()
	var msg strings.Builder
	for msg.Len() < 50_000 {
		msg.WriteString(`\u001b[2J\u001b[Hlookup refused\r\n\u001b]0;owned\u0007 try later\n\u009b1m`)
	}
	fake := passivetotaltest.NewHandler(passivetotaltest.Options{Prefix: passivetotaltest.DefaultPrefix})
	pt := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/dns/passive") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"error":{"message":"%s"}}`, msg.String())
			return
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(pt.Close)
	octi := openctitest.NewServer(t)
	connectorID := uuid.NewString()
	env := map[string]string{
		"OPENCTI_URL": octi.URL, "OPENCTI_TOKEN": octi.Token(), "CONNECTOR_ID": connectorID,
		"RISKIQ_USERNAME": "analyst@example.com", "RISKIQ_API_KEY": "pt-key-never-logged-78",
		"RISKIQ_BASE_URL": pt.URL + passivetotaltest.DefaultPrefix,
	}
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	var logs syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(runCtx, nil, envOf(env), &logs, &logs) }()
	for {
		if c, ok := octi.Connector(connectorID); ok && c.Registered {
			break
		}
		select {
		case code := <-done:
			t.Fatalf("connector exited with %d:\n%s", code, logs.String())
		case <-ctx.Done():
			t.Fatalf("connector never registered:\n%s", logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	domain, err := octi.AddEntity(openctitest.Entity{EntityType: "Domain-Name", Value: "passivetotal.org"})
	if err != nil {
		t.Fatal(err)
	}
	workID, err := octi.Enrich(ctx, connectorID, openctitest.EnrichmentRequest{EntityID: domain.StandardID, Mode: openctitest.ModeManual})
	if err != nil {
		t.Fatal(err)
	}
	w, err := octi.WaitWork(ctx, workID, openctitest.StatusComplete)
	if err != nil {
		t.Fatalf("work %s: %v\n%s", workID, err, logs.String())
	}
	stop()
	if code := <-done; code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", code)
	}
	if len(w.Errors) != 1 {
		t.Fatalf("work errors = %d, want 1", len(w.Errors))
	}
	e := w.Errors[0]
	if len(e) > api.MaxWorkMessage || !utf8.ValidString(e) {
		t.Errorf("work error of %d bytes (valid UTF-8: %t), want at most %d", len(e), utf8.ValidString(e), api.MaxWorkMessage)
	}
	if i := strings.IndexFunc(e, func(r rune) bool { return unicode.IsControl(r) }); i >= 0 {
		t.Errorf("control character in the work error: %q", e[max(i-20, 0):min(i+20, len(e))])
	}
	if !strings.Contains(e, "passivetotal lookup failed") || !strings.Contains(e, "lookup refused; try later; lookup refused") {
		t.Errorf("work error = %.300q, want the cause kept readable", e)
	}
}
