package defenderti_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/riskiq-opencti/connectors/internal/defenderti"
	"github.com/riskiq-opencti/connectors/internal/defenderti/defendertitest"
)

// TestSecretsNeverPrinted drives the client secret, the certificate
// assertions and the access tokens through every fault mode and greps the
// logs (debug level) and the errors for them.
func TestSecretsNeverPrinted(t *testing.T) {
	srv := defendertitest.NewServer(t)
	secretEnv := setupOn(t, srv, nil)
	certEnv := setupOn(t, srv, func(s *defenderti.Settings) { *s = srv.CertificateSettings(t.TempDir()) })
	var printed []string
	record := func(err error) {
		if err != nil {
			printed = append(printed, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
		}
	}
	for _, e := range []*env{secretEnv, certEnv} {
		record(lookup(e)) // a token first
		printed = append(printed, fmt.Sprint(e.c), fmt.Sprintf("%#v", e.c))
	}
	for _, e := range []*env{secretEnv, certEnv} {
		// The token this client uses now, echoed back by hostile error
		// bodies together with the client secret.
		srv.ClearFaults()
		n := len(srv.Requests())
		record(lookup(e))
		token := ""
		for _, r := range srv.Requests()[n:] {
			if a := r.Header.Get("Authorization"); strings.HasPrefix(a, "Bearer ") {
				token = strings.TrimPrefix(a, "Bearer ")
			}
		}
		if token == "" {
			t.Fatal("no token seen")
		}
		echo := "token " + token + " jwt eyJhbGciOiJQUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXRoYXQtaXMtbG9uZw"
		if e == secretEnv {
			echo += " secret " + srv.ClientSecret()
		}
		faults := []defendertitest.Fault{
			{Status: 400, Message: echo},
			{Status: 403, Message: echo},
			{Status: 500, Body: []byte(echo), Times: -1},
			{Status: 502, ContentType: "text/html", Body: []byte("<html><title>" + echo + "</title></html>"), Times: -1},
			{Status: 429, RetryAfter: "1", Message: echo, Times: -1},
			{Body: []byte(`{"value":[` + echo), Times: -1},
			{Paging: defendertitest.PagingLoop, Times: -1},
			{Paging: defendertitest.PagingForeign, ForeignURL: "https://" + token + ".example", Times: -1},
			{Status: 401, Message: echo, Times: -1},
		}
		for _, f := range faults {
			srv.ClearFaults()
			srv.Inject(pdns, f)
			record(lookup(e))
		}
		srv.ClearFaults()
		srv.Inject(defendertitest.EndpointToken, defendertitest.Fault{Status: 401, AADSTS: 7000215,
			Message: "echo " + secretIfAny(e, secretEnv, srv.ClientSecret()), Times: -1})
		srv.ExpireTokens()
		record(lookup(e))
		srv.ClearFaults()
		srv.Inject(defendertitest.EndpointToken, defendertitest.Fault{Status: 503, Body: []byte("echo " + secretIfAny(e, secretEnv, srv.ClientSecret())), Times: -1})
		srv.ExpireTokens()
		record(lookup(e))
		srv.ClearFaults()
	}
	// Wrong secret, unknown client: the token endpoint's own errors.
	for _, mutate := range []func(*defenderti.Settings){
		func(s *defenderti.Settings) { s.ClientSecret = "another-wrong-secret-9876" },
		func(s *defenderti.Settings) { s.ClientID = "11111111-2222-3333-4444-555555555555" },
	} {
		e := setupOn(t, srv, mutate)
		record(lookup(e))
		printed = append(printed, e.logs.String())
	}
	printed = append(printed, secretEnv.logs.String(), certEnv.logs.String())

	var assertions, tokens []string
	for _, r := range srv.Requests() {
		if a := r.Form.Get("client_assertion"); a != "" {
			assertions = append(assertions, a)
		}
		if a := r.Header.Get("Authorization"); strings.HasPrefix(a, "Bearer ") {
			tokens = append(tokens, strings.TrimPrefix(a, "Bearer "))
		}
	}
	if len(assertions) == 0 {
		t.Fatal("no assertion seen")
	}
	secrets := map[string]string{"client secret": srv.ClientSecret(), "wrong secret": "another-wrong-secret-9876",
		"jwt": "c2lnbmF0dXJlLXRoYXQtaXMtbG9uZw"}
	for i, tok := range tokens {
		secrets[fmt.Sprintf("token %d", i)] = tok
	}
	for i, a := range assertions {
		secrets[fmt.Sprintf("assertion %d", i)] = a
		// The signature alone must not show up either.
		secrets[fmt.Sprintf("assertion %d signature", i)] = a[strings.LastIndex(a, ".")+1:]
	}
	all := strings.Join(printed, "\n")
	if !strings.Contains(all, "REDACTED") {
		t.Error("nothing was redacted: the echo faults did not reach the output")
	}
	for name, s := range secrets {
		if strings.Contains(all, s) {
			i := strings.Index(all, s)
			t.Errorf("%s printed: ...%s...", name, all[max(0, i-100):min(len(all), i+len(s)+200)])
		}
	}
}

// secretIfAny returns the secret for the client that has it: a client
// cannot redact a secret it was never given.
func secretIfAny(e, secretEnv *env, secret string) string {
	if e == secretEnv {
		return secret
	}
	return "no-secret"
}
