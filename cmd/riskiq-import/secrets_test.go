package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/uuid"
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
		{"base url with api_key", "RISKIQ_BASE_URL", "https://api.riskiq.net/pt/v2?api_key=" + secret, `"https://api.riskiq.net/pt/v2?api_key=REDACTED"`},
		{"opencti url with api_key", "OPENCTI_URL", "http://opencti:8080/?api_key=" + secret, `"http://opencti:8080/?api_key=REDACTED"`},
		{"opencti url unparsable with password", "OPENCTI_URL", "http://svc:" + secret + "@opencti:port", `"http://REDACTED@opencti:port"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{
				"OPENCTI_URL": "http://opencti:8080", "OPENCTI_TOKEN": uuid.NewString(), "CONNECTOR_ID": uuid.NewString(),
				"RISKIQ_USER": "analyst@example.com", "RISKIQ_PASSWORD": "pt-key-0123456789",
			}
			env[tc.env] = tc.value
			var out, errOut bytes.Buffer
			if code := runContext(t.Context(), []string{"-check"}, envOf(env), &out, &errOut); code != 1 {
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
