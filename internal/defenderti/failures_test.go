package defenderti_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/riskiq-opencti/connectors/internal/defenderti"
	"github.com/riskiq-opencti/connectors/internal/defenderti/defendertitest"
)

const pdns = defendertitest.EndpointPassiveDNS

func lookup(e *env) error {
	_, err := e.c.PassiveDNS(context.Background(), "malicious.example", false, time.Time{})
	return err
}

func TestCertificateCredential(t *testing.T) {
	srv := defendertitest.NewServer(t)
	dir := t.TempDir()
	e := setupOn(t, srv, func(s *defenderti.Settings) {
		*s = srv.CertificateSettings(dir)
	})
	if err := lookup(e); err != nil {
		t.Fatal(err)
	}
	var tok *defendertitest.Request
	for _, r := range srv.Requests() {
		if r.Endpoint == defendertitest.EndpointToken {
			tok = &r
		}
	}
	if tok == nil {
		t.Fatal("no token request")
	}
	if tok.Form.Get("client_secret") != "" || tok.Form.Get("client_assertion") == "" ||
		tok.Form.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
		t.Errorf("token form: %v", tok.Form)
	}

	// A certificate the app registration does not know: AADSTS700027.
	other := defendertitest.NewServer(t) // trusts nothing
	e2 := setupOn(t, other, func(s *defenderti.Settings) {
		*s = srv.CertificateSettings(t.TempDir()) // trusted by srv, not by other
		s.BaseURL, s.AuthorityURL = other.URL(), other.AuthorityURL()
	})
	err := lookup(e2)
	var ae *defenderti.AuthError
	if !errors.As(err, &ae) || ae.AADSTS != 700027 || !errors.Is(err, defenderti.ErrAuthentication) {
		t.Fatalf("untrusted certificate: %v", err)
	}
	if !strings.Contains(err.Error(), "hint: the certificate is not the one uploaded") {
		t.Errorf("no hint: %v", err)
	}
	if n := other.Calls(defendertitest.EndpointToken); n != 1 {
		t.Errorf("token requests = %d, want 1 (a configuration error is not retried)", n)
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*defenderti.Settings)
		fault  *defendertitest.Fault
		aadsts int
		hint   string
	}{
		{name: "wrong secret", mutate: func(s *defenderti.Settings) { s.ClientSecret = "wrong-secret-value-1234" },
			aadsts: 7000215, hint: "configure the secret's Value, not its Secret ID"},
		{name: "expired secret", fault: &defendertitest.Fault{Status: 401, AADSTS: 7000222},
			aadsts: 7000222, hint: "the client secret has expired"},
		{name: "unknown client", mutate: func(s *defenderti.Settings) { s.ClientID = "11111111-2222-3333-4444-555555555555" },
			aadsts: 700016, hint: "check DEFENDER_TI_CLIENT_ID and DEFENDER_TI_TENANT_ID"},
		{name: "unknown tenant", mutate: func(s *defenderti.Settings) { s.TenantID = "99999999-2222-3333-4444-555555555555" },
			aadsts: 90002, hint: "tenant not found"},
		{name: "conditional access", fault: &defendertitest.Fault{Status: 400, AADSTS: 53003},
			aadsts: 53003, hint: "Conditional Access"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := setup(t, tc.mutate)
			if tc.fault != nil {
				e.srv.Inject(defendertitest.EndpointToken, *tc.fault)
			}
			err := lookup(e)
			var ae *defenderti.AuthError
			if !errors.As(err, &ae) || ae.AADSTS != tc.aadsts {
				t.Fatalf("err = %v, want AADSTS%d", err, tc.aadsts)
			}
			if !errors.Is(err, defenderti.ErrAuthentication) || ae.Retryable() {
				t.Errorf("%v: not a fatal authentication error", err)
			}
			if !strings.Contains(err.Error(), tc.hint) || strings.ContainsAny(err.Error(), "\r\n") {
				t.Errorf("message %q lacks hint %q or is not one line", err, tc.hint)
			}
			if ae.TraceID == "" {
				t.Errorf("no trace id")
			}
			if n := e.srv.Calls(pdns); n != 0 {
				t.Errorf("graph called %d times without a token", n)
			}
			if len(e.clock.Sleeps()) != 0 {
				t.Errorf("retried a configuration error: sleeps %v", e.clock.Sleeps())
			}
			attrs := defenderti.ErrorAttrs(err)
			if len(attrs) == 0 || attrs[0].Value.String() != "token" {
				t.Errorf("ErrorAttrs = %v", attrs)
			}
		})
	}
}

func TestTokenEndpointTransientErrorsAreRetried(t *testing.T) {
	e := setup(t, nil)
	e.srv.Inject(defendertitest.EndpointToken, defendertitest.Fault{Status: 429, RetryAfter: "3"})
	e.srv.Inject(defendertitest.EndpointToken, defendertitest.Fault{Status: 503})
	if err := lookup(e); err != nil {
		t.Fatal(err)
	}
	sleeps := e.clock.Sleeps()
	if len(sleeps) != 2 || sleeps[0] != 3*time.Second || sleeps[1] < 5*time.Second {
		t.Errorf("sleeps %v, want [3s, >=5s]", sleeps)
	}
}

func TestGraph401RefreshesTheTokenOnce(t *testing.T) {
	e := setup(t, nil)
	if err := lookup(e); err != nil {
		t.Fatal(err)
	}
	e.srv.ExpireTokens()
	if err := lookup(e); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if n := e.srv.TokensIssued(); n != 2 {
		t.Errorf("tokens = %d, want 2", n)
	}

	// Graph refuses even a fresh token: one refresh, then fatal.
	e.srv.Inject(pdns, defendertitest.Fault{Status: 401, Times: -1})
	before := e.srv.Calls(pdns)
	err := lookup(e)
	if !errors.Is(err, defenderti.ErrAuthentication) {
		t.Fatalf("err = %v, want ErrAuthentication", err)
	}
	if n := e.srv.Calls(pdns) - before; n != 2 {
		t.Errorf("graph calls = %d, want 2 (one retry with a new token)", n)
	}
	if n := e.srv.TokensIssued(); n != 3 {
		t.Errorf("tokens = %d, want 3", n)
	}
}

func TestGraphErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		faults   []defendertitest.Fault
		opts     []defenderti.Option
		wantErr  func(error) bool
		calls    int
		msg      []string
		sleeps   []time.Duration // exact, when set
		nSleeps  int
		succeeds bool
	}{
		{name: "403 permission", faults: []defendertitest.Fault{{Status: 403, Times: -1}},
			wantErr: func(err error) bool { return errors.Is(err, defenderti.ErrAccessDenied) }, calls: 1,
			msg: []string{"HTTP 403 Forbidden", "ThreatIntelligence.Read.All", "Forbidden: Missing application permission", "request-id "}},
		{name: "403 tenant verification", faults: []defendertitest.Fault{{Status: 403, Code: "Forbidden", Message: defendertitest.TenantVerificationMessage, Times: -1}},
			wantErr: func(err error) bool { return errors.Is(err, defenderti.ErrAccessDenied) }, calls: 1,
			msg: []string{"Verification state: Pending. Complete the verification at https://security.microsoft.com/tenant-verification"}},
		{name: "400 bad request", faults: []defendertitest.Fault{{Status: 400, Code: "invalidRequest", Message: "Query option '$filter' is required.", Times: -1}},
			wantErr: func(err error) bool { var ae *defenderti.APIError; return errors.As(err, &ae) && ae.Status == 400 }, calls: 1,
			msg: []string{"HTTP 400 Bad Request: invalidRequest: Query option '$filter' is required."}},
		{name: "429 seconds then ok", faults: []defendertitest.Fault{{Status: 429, RetryAfter: "7", Times: 2}},
			succeeds: true, calls: 3, sleeps: []time.Duration{7 * time.Second, 7 * time.Second}},
		{name: "429 http date then ok", faults: []defendertitest.Fault{{Status: 429, RetryAfter: "Sat, 21 Nov 2026 12:00:09 GMT"}},
			succeeds: true, calls: 2, sleeps: []time.Duration{9 * time.Second}},
		{name: "429 beyond the budget", faults: []defendertitest.Fault{{Status: 429, RetryAfter: "600", Times: -1}},
			wantErr: func(err error) bool { return strings.Contains(err.Error(), "exceeds the remaining retry budget") }, calls: 1,
			msg: []string{"HTTP 429 Too Many Requests"}},
		{name: "5xx then ok", faults: []defendertitest.Fault{{Status: 500}, {Status: 502}, {Status: 503}, {Status: 504}},
			succeeds: true, calls: 5, nSleeps: 4},
		{name: "5xx exhausted", faults: []defendertitest.Fault{{Status: 503, Times: -1}},
			wantErr: func(err error) bool {
				var ae *defenderti.APIError
				return errors.As(err, &ae) && ae.Status == 503 && ae.Attempts == 5
			},
			calls: 5, nSleeps: 4, msg: []string{"HTTP 503 Service Unavailable", "after 5 attempts"}},
		{name: "html gateway page", faults: []defendertitest.Fault{{Status: 502, ContentType: "text/html", Body: []byte("<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"), Times: -1}},
			opts:    []defenderti.Option{defenderti.WithRetry(2, time.Minute)},
			wantErr: func(err error) bool { return strings.Contains(err.Error(), "non-JSON error page: 502 Bad Gateway") }, calls: 2, nSleeps: 1},
		{name: "malformed once", faults: []defendertitest.Fault{{Body: []byte(`{"value":[{"id":"x"`)}},
			succeeds: true, calls: 2, nSleeps: 1},
		{name: "malformed twice", faults: []defendertitest.Fault{{Body: []byte(`{"value":[`), Times: -1}},
			wantErr: func(err error) bool { var de *defenderti.DecodeError; return errors.As(err, &de) }, calls: 2, nSleeps: 1,
			msg: []string{"malformed answer"}},
		{name: "empty 200 body", faults: []defendertitest.Fault{{Body: []byte{}, Times: -1}},
			wantErr: func(err error) bool { return strings.Contains(err.Error(), "malformed answer: empty body") }, calls: 2, nSleeps: 1},
		{name: "200 without value", faults: []defendertitest.Fault{{Body: []byte(`{"@odata.count": 3}`), Times: -1}},
			wantErr: func(err error) bool { return strings.Contains(err.Error(), "no value array") }, calls: 2, nSleeps: 1},
		{name: "nextLink loop", faults: []defendertitest.Fault{{Paging: defendertitest.PagingLoop, Times: -1}},
			wantErr: func(err error) bool { return errors.Is(err, defenderti.ErrPaging) }, calls: 1, msg: []string{"loop"}},
		{name: "empty page then records", faults: []defendertitest.Fault{{Paging: defendertitest.PagingEmpty}},
			succeeds: true, calls: 2},
		{name: "empty pages forever", faults: []defendertitest.Fault{{Paging: defendertitest.PagingEmpty, Times: -1}},
			wantErr: func(err error) bool { return errors.Is(err, defenderti.ErrPaging) }, calls: 6, msg: []string{"empty pages in a row"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := setup(t, func(s *defenderti.Settings) { s.PageSize = 20 }, tc.opts...)
			for _, f := range tc.faults {
				e.srv.Inject(pdns, f)
			}
			err := lookup(e)
			switch {
			case tc.succeeds && err != nil:
				t.Fatalf("err = %v", err)
			case !tc.succeeds && (err == nil || !tc.wantErr(err)):
				t.Fatalf("err = %v", err)
			}
			if n := e.srv.Calls(pdns); n != tc.calls {
				t.Errorf("calls = %d, want %d", n, tc.calls)
			}
			for _, m := range tc.msg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q lacks %q", err, m)
				}
			}
			if err != nil && strings.ContainsAny(err.Error(), "\r\n") {
				t.Errorf("error is not one line: %q", err)
			}
			sleeps := e.clock.Sleeps()
			if tc.sleeps != nil && !equalDurations(sleeps, tc.sleeps) {
				t.Errorf("sleeps %v, want %v", sleeps, tc.sleeps)
			}
			if tc.sleeps == nil && len(sleeps) != tc.nSleeps {
				t.Errorf("sleeps %v, want %d", sleeps, tc.nSleeps)
			}
		})
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestThrottlingPausesEveryCall(t *testing.T) {
	e := setup(t, nil, defenderti.WithRetry(1, time.Minute))
	e.srv.Inject(pdns, defendertitest.Fault{Status: 429, RetryAfter: "30"})
	if err := lookup(e); err == nil {
		t.Fatal("want the 429 with one attempt")
	}
	if len(e.clock.Sleeps()) != 0 {
		t.Fatalf("slept %v with one attempt", e.clock.Sleeps())
	}
	// Another call of the same client, on another endpoint, waits for the
	// pause before it sends anything.
	if _, err := e.c.Article(t.Context(), "3f9c01ab"); err != nil {
		t.Fatal(err)
	}
	if s := e.clock.Sleeps(); len(s) != 1 || s[0] != 30*time.Second {
		t.Errorf("sleeps %v, want [30s]", s)
	}
	if !strings.Contains(e.logs.String(), `"msg":"defender ti throttled"`) || !strings.Contains(e.logs.String(), `"retry_after_seconds":30`) {
		t.Errorf("no throttling warning: %s", e.logs.String())
	}
}

func TestForeignNextLinkIsRefused(t *testing.T) {
	var mu sync.Mutex
	var foreignHits int
	foreign := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		foreignHits++
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(foreign.Close)
	e := setup(t, func(s *defenderti.Settings) { s.PageSize = 2 })
	e.srv.Inject(pdns, defendertitest.Fault{Paging: defendertitest.PagingForeign, ForeignURL: foreign.URL})
	err := lookup(e)
	if !errors.Is(err, defenderti.ErrPaging) || !strings.Contains(err.Error(), "another origin") {
		t.Fatalf("err = %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if foreignHits != 0 {
		t.Errorf("the foreign host got %d requests", foreignHits)
	}
}

func TestCrossOriginRedirectIsRefused(t *testing.T) {
	var mu sync.Mutex
	var auth []string
	foreign := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auth = append(auth, r.Header.Get("Authorization"))
		mu.Unlock()
	}))
	t.Cleanup(foreign.Close)
	srv := defendertitest.NewServer(t)
	redirector := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "threatIntelligence") {
			http.Redirect(w, r, foreign.URL+r.URL.Path, http.StatusFound)
			return
		}
		srv.ServeHTTP(w, r)
	}))
	t.Cleanup(redirector.Close)
	e := setupOn(t, srv, func(s *defenderti.Settings) { s.BaseURL = redirector.URL + "/v1.0" }, defenderti.WithHTTPClient(redirector.Client()))
	err := lookup(e)
	if !errors.Is(err, defenderti.ErrCrossOriginRedirect) {
		t.Fatalf("err = %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(auth) != 0 {
		t.Errorf("the other origin got %d requests", len(auth))
	}
}

// staticCredential hands out one token, so that a test's attempts make no
// token request whose duration would depend on the machine's load.
type staticCredential string

func (s staticCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(s), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// issueToken gets a token from the fake's token endpoint directly.
func issueToken(t *testing.T, srv *defendertitest.Server) string {
	t.Helper()
	resp, err := srv.Client().PostForm(srv.AuthorityURL()+"/"+srv.TenantID()+"/oauth2/v2.0/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {srv.ClientID()}, "client_secret": {srv.ClientSecret()},
		"scope": {"https://graph.microsoft.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.AccessToken == "" {
		t.Fatalf("token: %v", err)
	}
	return body.AccessToken
}

func TestSlowAnswerTimesOut(t *testing.T) {
	srv := defendertitest.NewServer(t)
	e := setupOn(t, srv, nil, defenderti.WithCredential(staticCredential(issueToken(t, srv))),
		defenderti.WithTimeout(200*time.Millisecond), defenderti.WithRetry(2, time.Minute))
	srv.Inject(pdns, defendertitest.Fault{Delay: time.Hour, Times: -1})
	err := lookup(e)
	if err == nil || !strings.Contains(err.Error(), "attempt timed out after 200ms") || !strings.Contains(err.Error(), "giving up after 2 attempts") {
		t.Fatalf("err = %v", err)
	}
	if n := srv.Calls(pdns); n != 2 {
		t.Errorf("calls = %d, want 2", n)
	}
}

func TestWithCredential401RetriesOnce(t *testing.T) {
	srv := defendertitest.NewServer(t)
	e := setupOn(t, srv, nil, defenderti.WithCredential(staticCredential(issueToken(t, srv))))
	if err := lookup(e); err != nil {
		t.Fatal(err)
	}
	srv.ExpireTokens()
	if err := lookup(e); !errors.Is(err, defenderti.ErrAuthentication) {
		t.Fatalf("err = %v", err)
	}
	if n := srv.Calls(pdns); n != 3 {
		t.Errorf("calls = %d, want 3", n)
	}
}

func TestCancelledWhileWaiting(t *testing.T) {
	srv := defendertitest.NewServer(t)
	ctx, cancel := context.WithCancel(t.Context())
	c, err := defenderti.New(srv.Settings(), defenderti.WithHTTPClient(srv.Client()),
		defenderti.WithSleep(func(ctx context.Context, _ time.Duration) error { cancel(); <-ctx.Done(); return context.Cause(ctx) }))
	if err != nil {
		t.Fatal(err)
	}
	srv.Inject(pdns, defendertitest.Fault{Status: 503, Times: -1})
	_, err = c.PassiveDNS(ctx, "malicious.example", false, time.Time{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if n := srv.Calls(pdns); n != 1 {
		t.Errorf("calls = %d, want 1", n)
	}
}

func TestTransportErrorIsRetriedThenReported(t *testing.T) {
	e := setup(t, nil, defenderti.WithRetry(3, time.Minute))
	e.srv.Close()
	err := lookup(e)
	if err == nil || !strings.Contains(err.Error(), "giving up after 3 attempts") {
		t.Fatalf("err = %v", err)
	}
	if n := len(e.clock.Sleeps()); n != 2 {
		t.Errorf("sleeps = %d, want 2", n)
	}
}

func TestConcurrentCallsShareOneToken(t *testing.T) {
	e := setup(t, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() { errs <- lookup(e) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := e.srv.TokensIssued(); n != 1 {
		t.Errorf("tokens issued = %d for 16 concurrent calls", n)
	}
}
