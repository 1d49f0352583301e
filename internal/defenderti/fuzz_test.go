package defenderti_test

import (
	"io/fs"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/riskiq-opencti/connectors/internal/defenderti"
	"github.com/riskiq-opencti/connectors/internal/defenderti/defendertitest"
)

// FuzzErrorBodies feeds arbitrary bodies to the Graph and identity-platform
// error parsers: they never panic, and what an error prints is one valid
// UTF-8 line of bounded length without the secret.
func FuzzErrorBodies(f *testing.F) {
	for _, seed := range []string{
		`{"error":{"code":"Forbidden","message":"Missing permission","innerError":{"date":"2026-11-24T15:40:03","request-id":"0d1c","client-request-id":"0d1c"}}}`,
		`{"error":{"code":"x","message":{"nested":1},"innererror":{"code":"inner","request-id":7}}}`,
		`{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: a\r\nCorrelation ID: b","error_codes":[7000215],"trace_id":"t","correlation_id":"c"}`,
		`{"error":"invalid_client","error_codes":"oops"}`,
		`<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head></html>`,
		"", "null", "[]", `{"error":null}`, "\x1b[31mred\u202e\n", `{"value":[`,
	} {
		f.Add([]byte(seed))
	}
	_ = fs.WalkDir(defendertitest.DataFS(), ".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := fs.ReadFile(defendertitest.DataFS(), path)
			f.Add(b)
		}
		return nil
	})
	const secret = "fuzz-secret-value-123456"
	redact := func(s string) string { return strings.ReplaceAll(s, secret, "REDACTED") }
	f.Fuzz(func(t *testing.T, body []byte) {
		code, msg, reqID := defenderti.ParseGraphError(body)
		ae := &defenderti.APIError{Endpoint: "articles", Status: 403, Code: redact(code), Message: redact(msg), RequestID: reqID}
		au := defenderti.ParseAuthError(401, http.Header{"Retry-After": {string(body[:min(len(body), 40)])}}, body, time.Unix(0, 0), redact)
		for _, s := range []string{ae.Error(), au.Error()} {
			if !utf8.ValidString(s) || strings.ContainsAny(s, "\r\n\x1b") || len(s) > 3000 {
				t.Fatalf("unprintable or unbounded: %q", s)
			}
			if strings.Contains(s, secret) {
				t.Fatalf("secret printed: %q", s)
			}
		}
		_ = defenderti.ParseTime(string(body))
	})
}
