package api

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestNewEndpoint(t *testing.T) {
	tests := []struct {
		base, want string
	}{
		{"http://opencti:8080", "http://opencti:8080/graphql"},
		{"http://opencti:8080/", "http://opencti:8080/graphql"},
		{"https://cti.example.com/platform/", "https://cti.example.com/platform/graphql"},
		{"https://cti.example.com/platform", "https://cti.example.com/platform/graphql"},
	}
	for _, tt := range tests {
		t.Run(tt.base, func(t *testing.T) {
			c, err := New(tt.base, testToken)
			if err != nil {
				t.Fatalf("New(%q) error: %v", tt.base, err)
			}
			if got := c.Endpoint(); got != tt.want {
				t.Errorf("New(%q).Endpoint() = %q, want %q", tt.base, got, tt.want)
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name string
		base string
		opts []Option
	}{
		{"empty url", "", nil},
		{"no scheme", "opencti:8080", nil},
		{"ftp", "ftp://opencti", nil},
		{"no host", "http://", nil},
		{"unparsable", "http://[::1", nil},
		{"zero attempts", "http://o", []Option{WithRetry(0, time.Second)}},
		{"negative delay", "http://o", []Option{WithRetry(2, -time.Second)}},
		{"zero timeout", "http://o", []Option{WithTimeout(0)}},
		{"bad header name", "http://o", []Option{WithHeaders(map[string]string{"bad name": "v"})}},
		{"header value with newline", "http://o", []Option{WithHeaders(map[string]string{"X-A": "a\r\nX-B: b"})}},
		{"nil http client", "http://o", []Option{WithHTTPClient(nil)}},
		{"nil logger", "http://o", []Option{WithLogger(nil)}},
		{"zero max response", "http://o", []Option{WithMaxResponseSize(0)}},
		{"missing ca bundle", "http://o", []Option{WithTLS(false, filepath.Join(t.TempDir(), "none.pem"))}},
		{"tls on custom transport", "http://o", []Option{
			WithHTTPClient(&http.Client{Transport: roundTripFunc(nil)}), WithTLS(true, ""),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if c, err := New(tt.base, testToken, tt.opts...); err == nil {
				t.Errorf("New(%q) = %v, want an error", tt.base, c.Endpoint())
			}
		})
	}
}

func TestNewRejectsCABundleWithoutCertificate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New("https://o", testToken, WithTLS(false, path)); err == nil {
		t.Error("New with a CA bundle without certificate: want an error")
	}
}

// roundTripFunc adapts a function to http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestRequestHeaders(t *testing.T) {
	f := newFake(t, func(int, call) reply { return ok(`{"about":{"version":"6.9.7"}}`) })
	c := f.client(
		WithHeaders(map[string]string{"X-Tenant": "blue", "Authorization": "Basic nope", "Content-Type": "text/plain"}),
		WithUserAgent("riskiq-connector/1.0"),
	)
	ctx := ContextWithHeaders(t.Context(), map[string]string{"opencti-draft-id": "draft-1"})
	ctx = ContextWithHeaders(ctx, map[string]string{"opencti-applicant-id": "user-2"})
	if _, err := c.HealthCheck(ctx); err != nil {
		t.Fatal(err)
	}
	h := f.last().Header
	want := map[string]string{
		"Authorization":        "Bearer " + testToken,
		"Content-Type":         "application/json",
		"User-Agent":           "riskiq-connector/1.0",
		"X-Tenant":             "blue",
		"Opencti-Draft-Id":     "draft-1",
		"Opencti-Applicant-Id": "user-2",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if got := h.Values("Authorization"); len(got) != 1 {
		t.Errorf("Authorization values = %q, want one", got)
	}
}

func TestDefaultUserAgentAndNoTokenNoAuthorization(t *testing.T) {
	f := newFake(t, func(int, call) reply { return ok(`{"about":{"version":"6.9.7"}}`) })
	c, err := New(f.url(), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.HealthCheck(t.Context()); err != nil {
		t.Fatal(err)
	}
	h := f.last().Header
	if got := h.Get("User-Agent"); got != DefaultUserAgent {
		t.Errorf("User-Agent = %q, want %q", got, DefaultUserAgent)
	}
	if got := h.Get("Authorization"); got != "" {
		t.Errorf("Authorization = %q with an empty token, want none", got)
	}
}

func TestContextHeadersValidated(t *testing.T) {
	f := newFake(t, func(int, call) reply { return ok(`{}`) })
	ctx := ContextWithHeaders(t.Context(), map[string]string{"opencti-draft-id": "a\nb"})
	if err := f.client().Do(ctx, "query Q { about { version } }", nil, nil); err == nil {
		t.Error("Do with an invalid context header: want an error")
	}
	if f.count() != 0 {
		t.Errorf("sent %d requests, want none", f.count())
	}
}

func TestDo(t *testing.T) {
	f := newFake(t, func(int, call) reply { return ok(`{"about":{"version":"6.9.7"}}`) })
	var out struct {
		About struct {
			Version string `json:"version"`
		} `json:"about"`
	}
	if err := f.client().Do(t.Context(), "query Version { about { version } }", nil, &out); err != nil {
		t.Fatal(err)
	}
	if out.About.Version != "6.9.7" {
		t.Errorf("version = %q, want 6.9.7", out.About.Version)
	}
	got := f.last()
	if got.Query != "query Version { about { version } }" {
		t.Errorf("query = %q", got.Query)
	}
	if got.Variables == nil || len(got.Variables) != 0 {
		t.Errorf("variables = %#v, want {}", got.Variables)
	}
}

func TestDoWrapsOperationName(t *testing.T) {
	f := newFake(t, func(int, call) reply {
		return reply{status: 200, body: `{"errors":[{"message":"boom","extensions":{"code":"FUNCTIONAL_ERROR"}}],"data":null}`}
	})
	err := f.client().Do(t.Context(), "# comment\nmutation Thing($id: ID!) { x }", map[string]any{"id": "1"}, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "graphql operation Thing: ") {
		t.Errorf("Do error = %v, want it to start with the operation name", err)
	}
}

func TestGraphQLError(t *testing.T) {
	tests := []struct {
		name string
		body string
		want GraphQLError
		text string
	}{
		{
			name: "code from extensions",
			body: `{"errors":[{"message":"You must be logged in","extensions":{"code":"AUTH_REQUIRED"}}],"data":null}`,
			want: GraphQLError{Name: "AUTH_REQUIRED", Message: "You must be logged in", Count: 1, Paths: [][]any{nil}},
			text: "graphql error AUTH_REQUIRED: You must be logged in",
		},
		{
			name: "name wins, path and count",
			body: `{"errors":[{"name":"FORBIDDEN_ACCESS","message":"no","path":["workEdit",0],"extensions":{"code":"X"}},{"message":"second"}],"data":{"workEdit":null}}`,
			want: GraphQLError{Name: "FORBIDDEN_ACCESS", Message: "no", Path: []any{"workEdit", float64(0)}, Count: 2, Paths: [][]any{{"workEdit", float64(0)}, nil}},
			text: "graphql error FORBIDDEN_ACCESS: no (path workEdit.0) (and 1 more)",
		},
		{
			name: "no code",
			body: `{"errors":[{"message":"odd"}]}`,
			want: GraphQLError{Message: "odd", Count: 1, Paths: [][]any{nil}},
			text: "graphql error: odd",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(int, call) reply { return reply{status: 200, body: tt.body} })
			err := f.client().PingWork(t.Context(), "w1")
			var ge *GraphQLError
			if !errors.As(err, &ge) {
				t.Fatalf("PingWork error = %v, want a *GraphQLError", err)
			}
			if diff := cmp.Diff(tt.want, *ge); diff != "" {
				t.Errorf("GraphQLError (-want +got):\n%s", diff)
			}
			if ge.Error() != tt.text {
				t.Errorf("Error() = %q, want %q", ge.Error(), tt.text)
			}
			if !strings.HasPrefix(err.Error(), "ping work: ") {
				t.Errorf("error %q not wrapped with the operation", err)
			}
			if f.count() != 1 {
				t.Errorf("GraphQL error retried: %d calls, want 1", f.count())
			}
		})
	}
}

func TestHTTPErrorNotRetriedOn4xx(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		wantGQL string
	}{
		{"unauthorized", 401, "Unauthorized", ""},
		{"rate limited", 429, "slow down", ""},
		{
			"validation failure", 400,
			`{"errors":[{"message":"Cannot query field \"jwks\" on type \"Connector\".","extensions":{"code":"GRAPHQL_VALIDATION_FAILED"}}]}`,
			"GRAPHQL_VALIDATION_FAILED",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(int, call) reply { return reply{status: tt.status, body: tt.body} })
			_, err := f.client().HealthCheck(t.Context())
			var he *HTTPError
			if !errors.As(err, &he) {
				t.Fatalf("error = %v, want an *HTTPError", err)
			}
			if he.Status != tt.status || he.Body != tt.body {
				t.Errorf("HTTPError = {%d %q}, want {%d %q}", he.Status, he.Body, tt.status, tt.body)
			}
			var ge *GraphQLError
			gotGQL := ""
			if errors.As(err, &ge) {
				gotGQL = ge.Name
			}
			if gotGQL != tt.wantGQL {
				t.Errorf("GraphQL error in body = %q, want %q", gotGQL, tt.wantGQL)
			}
			if f.count() != 1 {
				t.Errorf("%d calls, want 1 (4xx must not be retried)", f.count())
			}
		})
	}
}

func TestHTTPErrorBodyTruncated(t *testing.T) {
	big := strings.Repeat("x", 5000)
	f := newFake(t, func(int, call) reply { return reply{status: 403, body: big} })
	_, err := f.client().HealthCheck(t.Context())
	var he *HTTPError
	if !errors.As(err, &he) {
		t.Fatalf("error = %v, want an *HTTPError", err)
	}
	if len(he.Body) != 1024 {
		t.Errorf("len(Body) = %d, want 1024", len(he.Body))
	}
}

func TestRetryOn5xx(t *testing.T) {
	f := newFake(t, func(n int, _ call) reply {
		if n < 3 {
			return reply{status: http.StatusBadGateway, body: "bad gateway"}
		}
		return ok(`{"about":{"version":"6.9.7"}}`)
	})
	v, err := f.client().HealthCheck(t.Context())
	if err != nil || v != "6.9.7" {
		t.Fatalf("HealthCheck = %q, %v; want 6.9.7 after retries", v, err)
	}
	if f.count() != 3 {
		t.Errorf("%d calls, want 3", f.count())
	}
}

func TestRetryBounded(t *testing.T) {
	f := newFake(t, func(int, call) reply { return reply{status: http.StatusServiceUnavailable, body: "down"} })
	_, err := f.client(WithRetry(4, time.Millisecond)).HealthCheck(t.Context())
	var he *HTTPError
	if !errors.As(err, &he) || he.Status != 503 {
		t.Fatalf("error = %v, want HTTPError 503", err)
	}
	if f.count() != 4 {
		t.Errorf("%d calls, want 4", f.count())
	}
}

func TestNoRetryWhenDisabled(t *testing.T) {
	f := newFake(t, func(int, call) reply { return reply{status: 500} })
	if _, err := f.client(WithRetry(1, 0)).HealthCheck(t.Context()); err == nil {
		t.Fatal("want an error")
	}
	if f.count() != 1 {
		t.Errorf("%d calls, want 1", f.count())
	}
}

func TestRetryOnTransportError(t *testing.T) {
	f := newFake(t, func(n int, _ call) reply {
		if n < 3 {
			return reply{hangup: true}
		}
		return ok(`{"about":{"version":"6.9.7"}}`)
	})
	if _, err := f.client().HealthCheck(t.Context()); err != nil {
		t.Fatalf("HealthCheck after two hang-ups: %v", err)
	}
	if f.count() != 3 {
		t.Errorf("%d calls, want 3", f.count())
	}
}

func TestRetryOnTransportErrorBounded(t *testing.T) {
	f := newFake(t, func(int, call) reply { return reply{hangup: true} })
	_, err := f.client().HealthCheck(t.Context())
	if err == nil {
		t.Fatal("want an error")
	}
	var he *HTTPError
	if errors.As(err, &he) {
		t.Errorf("error = %v, want a transport error", err)
	}
	if f.count() != 3 {
		t.Errorf("%d calls, want 3", f.count())
	}
}

func TestRetryOnAttemptTimeout(t *testing.T) {
	var calls atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // lets the server notice the client leaving
		if calls.Add(1) == 1 {
			select { // the first attempt hangs until the client gives up
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		_, _ = w.Write([]byte(`{"data":{"about":{"version":"6.9.7"}}}`))
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	// The first attempt always times out (its server never answers); the timeout is
	// generous so that the second one, answered at once, cannot.
	c, err := New(srv.URL, testToken, WithTimeout(time.Second), WithRetry(2, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.HealthCheck(t.Context()); err != nil {
		t.Fatalf("HealthCheck: %v", err)
	}
	if got := calls.Load(); got != 2 {
		t.Errorf("%d calls, want 2", got)
	}
}

func TestRetryHonoursContext(t *testing.T) {
	f := newFake(t, func(int, call) reply { return reply{status: 502} })
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// Cancel once the first attempt failed and the (hour-long) wait for the second began.
	c := f.client(WithRetry(5, time.Hour), WithLogger(onLog("GraphQL request failed, retrying", cancel)))
	_, err := c.HealthCheck(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want context.Canceled", err)
	}
	var he *HTTPError
	if !errors.As(err, &he) {
		t.Errorf("error = %v, want the last HTTPError kept", err)
	}
	if f.count() != 1 {
		t.Errorf("%d calls, want 1", f.count())
	}
}

func TestResponseSizeLimit(t *testing.T) {
	payload := `{"about":{"version":"` + strings.Repeat("9", 2000) + `"}}`
	f := newFake(t, func(int, call) reply { return ok(payload) })
	_, err := f.client(WithMaxResponseSize(1000)).HealthCheck(t.Context())
	if !errors.Is(err, ErrResponseTooLarge) {
		t.Fatalf("error = %v, want ErrResponseTooLarge", err)
	}
	if f.count() != 1 {
		t.Errorf("%d calls, want 1", f.count())
	}
	if _, err := f.client(WithMaxResponseSize(int64(len(payload) + 20))).HealthCheck(t.Context()); err != nil {
		t.Errorf("response under the limit: %v", err)
	}
}

func TestMalformedResponse(t *testing.T) {
	f := newFake(t, func(int, call) reply { return reply{status: 200, body: "<html>proxy</html>"} })
	if _, err := f.client().HealthCheck(t.Context()); err == nil || !strings.Contains(err.Error(), "decode response") {
		t.Errorf("error = %v, want a decode error", err)
	}
	if f.count() != 1 {
		t.Errorf("%d calls, want 1", f.count())
	}
}

// TestTokenNeverLeaks drives the token through every failure path and checks
// errors and logs.
func TestTokenNeverLeaks(t *testing.T) {
	echo := "token " + testToken + " rejected"
	tests := []struct {
		name  string
		reply reply
	}{
		{"401 echoing the token", reply{status: 401, body: echo}},
		{"502 echoing the token", reply{status: 502, body: echo}},
		{"400 graphql error echoing the token", reply{status: 400, body: `{"errors":[{"message":"` + echo + `","extensions":{"code":"` + testToken + `"}}]}`}},
		{"200 graphql error echoing the token", reply{status: 200, body: `{"errors":[{"message":"` + echo + `","path":["` + testToken + `"]}]}`}},
		{"hang-up", reply{hangup: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(int, call) reply { return tt.reply })
			logger, logs := debugLogger()
			c := f.client(WithLogger(logger))
			_, err := c.HealthCheck(t.Context())
			if err == nil {
				t.Fatal("want an error")
			}
			for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err), logs.String()} {
				if strings.Contains(s, testToken) {
					t.Errorf("token leaked: %s", s)
				}
			}
			if got := f.last().Header.Get("Authorization"); got != "Bearer "+testToken {
				t.Errorf("Authorization = %q", got)
			}
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		base := srv.URL
		srv.Close()
		logger, logs := debugLogger()
		c, err := New(base, testToken, WithRetry(2, time.Millisecond), WithLogger(logger))
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.HealthCheck(t.Context())
		if err == nil {
			t.Fatal("want an error")
		}
		if strings.Contains(err.Error(), testToken) || strings.Contains(logs.String(), testToken) {
			t.Errorf("token leaked: %v / %s", err, logs.String())
		}
		if !strings.Contains(logs.String(), `"msg":"GraphQL request failed, retrying"`) {
			t.Errorf("no retry log record: %s", logs.String())
		}
	})
}

func TestSanitizeFallback(t *testing.T) {
	c, err := New("http://o", testToken)
	if err != nil {
		t.Fatal(err)
	}
	got := c.sanitize(fmt.Errorf("wrapped: %w", errors.New("saw "+testToken)))
	if strings.Contains(got.Error(), testToken) || got.Error() != "wrapped: saw REDACTED" {
		t.Errorf("sanitize = %q", got.Error())
	}
	plain := errors.New("fine")
	if c.sanitize(plain) != plain { //nolint:errorlint // identity: the very same error must come back
		t.Error("sanitize changed an error without the token")
	}
}

func TestTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"data":{"about":{"version":"6.9.7"}}}`))
	}))
	// The rejected handshakes are expected: keep them out of the test output.
	srv.Config.ErrorLog = slog.NewLogLogger(slog.DiscardHandler, slog.LevelError)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	caPath := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caPath, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("verify fails and is not retried", func(t *testing.T) {
		var attempts atomic.Int32
		base := &http.Transport{}
		hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			attempts.Add(1)
			return base.RoundTrip(r)
		})}
		c, err := New(srv.URL, testToken, WithHTTPClient(hc))
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.HealthCheck(t.Context())
		var verr *tls.CertificateVerificationError
		if !errors.As(err, &verr) {
			t.Fatalf("error = %v, want a certificate verification error", err)
		}
		if attempts.Load() != 1 {
			t.Errorf("%d attempts, want 1", attempts.Load())
		}
	})
	t.Run("default client verifies", func(t *testing.T) {
		c, err := New(srv.URL, testToken, WithRetry(1, 0))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.HealthCheck(t.Context()); err == nil {
			t.Error("self-signed certificate accepted without WithTLS")
		}
	})
	t.Run("insecure skip verify", func(t *testing.T) {
		c, err := New(srv.URL, testToken, WithTLS(true, ""))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.HealthCheck(t.Context()); err != nil {
			t.Errorf("HealthCheck: %v", err)
		}
	})
	t.Run("ca bundle", func(t *testing.T) {
		c, err := New(srv.URL, testToken, WithTLS(false, caPath))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.HealthCheck(t.Context()); err != nil {
			t.Errorf("HealthCheck: %v", err)
		}
	})
	t.Run("caller's client untouched", func(t *testing.T) {
		tr := &http.Transport{}
		hc := &http.Client{Transport: tr}
		c, err := New(srv.URL, testToken, WithHTTPClient(hc), WithTLS(true, ""))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.HealthCheck(t.Context()); err != nil {
			t.Errorf("HealthCheck: %v", err)
		}
		if hc.Transport != tr || (tr.TLSClientConfig != nil && tr.TLSClientConfig.InsecureSkipVerify) {
			t.Error("WithTLS modified the caller's client")
		}
	})
}

func TestConcurrentUse(t *testing.T) {
	f := newFake(t, func(int, call) reply { return ok(`{"workEdit":{"ping":"w"}}`) })
	c := f.client()
	errs := make(chan error, 20)
	for i := range 20 {
		go func() { errs <- c.PingWork(t.Context(), fmt.Sprintf("w%d", i)) }()
	}
	for range 20 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if f.count() != 20 {
		t.Errorf("%d calls, want 20", f.count())
	}
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	c := &Client{retryDelay: time.Second}
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 20: maxRetryDelay} {
		got := c.backoff(n)
		if got < want/2 || got > want {
			t.Errorf("backoff(%d) = %s, want in [%s, %s]", n, got, want/2, want)
		}
	}
	if got := (&Client{}).backoff(3); got != 0 {
		t.Errorf("backoff with zero delay = %s, want 0", got)
	}
}
