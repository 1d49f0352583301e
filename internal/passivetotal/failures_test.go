package passivetotal_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskiq-opencti/connectors/internal/passivetotal"
	"github.com/riskiq-opencti/connectors/internal/passivetotal/passivetotaltest"
)

func TestAuthFailuresAreNotRetried(t *testing.T) {
	tests := []struct {
		name    string
		srvOpts []passivetotaltest.Option
		inject  func(*passivetotaltest.Server)
		status  int
	}{
		{"wrong key", []passivetotaltest.Option{passivetotaltest.WithCredentials(testUser, "another-key")}, nil, 401},
		{"injected 401", nil, func(s *passivetotaltest.Server) { s.Fail(passivetotaltest.EndpointArticles, 401, 0, "") }, 401},
		{"injected 403", nil, func(s *passivetotaltest.Server) { s.Fail(passivetotaltest.EndpointArticles, 403, 0, "") }, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, tt.srvOpts)
			if tt.inject != nil {
				tt.inject(e.srv)
			}
			_, err := e.client.Articles(t.Context(), passivetotal.ArticlesQuery{})
			var ae *passivetotal.APIError
			if !errors.Is(err, passivetotal.ErrAuth) || !errors.As(err, &ae) || ae.Status != tt.status {
				t.Fatalf("Articles = %v, want ErrAuth with status %d", err, tt.status)
			}
			if !strings.Contains(err.Error(), "authentication failed") {
				t.Errorf("error %q does not say authentication failed", err)
			}
			if n := e.srv.Calls(passivetotaltest.EndpointArticles); n != 1 {
				t.Errorf("%d calls, want 1 (no retry)", n)
			}
		})
	}
}

func TestAuthErrorMessage(t *testing.T) {
	e := setup(t, []passivetotaltest.Option{passivetotaltest.WithCredentials(testUser, "another-key")})
	_, err := e.client.Quota(t.Context())
	want := "passivetotal: read quota: GET /account/quota: authentication failed (HTTP 401): Unauthorized: Invalid username or API key"
	if err == nil || err.Error() != want {
		t.Errorf("Quota error = %v, want %q", err, want)
	}
}

func TestRetry429HonoursRetryAfter(t *testing.T) {
	tests := []struct {
		name       string
		retryAfter func(now time.Time) string
		wantSleeps []time.Duration
	}{
		{"seconds", func(time.Time) string { return "3" }, []time.Duration{3 * time.Second, 3 * time.Second}},
		{"http date", func(now time.Time) string { return now.Add(7 * time.Second).Format(http.TimeFormat) },
			[]time.Duration{7 * time.Second, 7 * time.Second}},
		{"zero", func(time.Time) string { return "0" }, []time.Duration{0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, nil)
			e.srv.Fail(passivetotaltest.EndpointPassiveDNS, 429, 2, tt.retryAfter(epoch))
			p, err := e.client.PassiveDNS(t.Context(), "www.riskiq.com", time.Time{})
			if err != nil {
				t.Fatalf("PassiveDNS after two 429: %v", err)
			}
			if len(p.Results) != 4 {
				t.Errorf("got %d results, want 4", len(p.Results))
			}
			if n := e.srv.Calls(passivetotaltest.EndpointPassiveDNS); n != 3 {
				t.Errorf("%d calls, want 3", n)
			}
			// The HTTP date is relative to the fake clock, which the first
			// sleep advanced: the second wait is what remains of it.
			want := tt.wantSleeps
			if tt.name == "http date" {
				want = []time.Duration{7 * time.Second, 0}
			}
			if diff := cmp.Diff(want, e.sleep.Slept()); diff != "" {
				t.Errorf("sleeps (-want +got):\n%s", diff)
			}
			if !strings.Contains(e.logs.String(), `"msg":"retrying passivetotal request"`) {
				t.Errorf("no retry logged:\n%s", e.logs)
			}
		})
	}
}

func Test5xxExhaustsRetries(t *testing.T) {
	for _, status := range []int{500, 502, 503, 504} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			e := setup(t, nil, passivetotal.WithRetry(5, time.Hour))
			e.srv.Fail(passivetotaltest.EndpointArticles, status, 0, "")
			_, err := e.client.Articles(t.Context(), passivetotal.ArticlesQuery{})
			var ae *passivetotal.APIError
			if !errors.As(err, &ae) || ae.Status != status {
				t.Fatalf("Articles = %v, want an APIError %d", err, status)
			}
			if !strings.Contains(err.Error(), "giving up after 5 attempts") {
				t.Errorf("error %q does not count the attempts", err)
			}
			if n := e.srv.Calls(passivetotaltest.EndpointArticles); n != 5 {
				t.Errorf("%d calls, want 5", n)
			}
			// Exponential backoff from 1 s, factor 2, jitter ±50 %, cap 8 s.
			sleeps := e.sleep.Slept()
			if len(sleeps) != 4 {
				t.Fatalf("slept %v, want 4 waits", sleeps)
			}
			for i, d := range sleeps {
				base := min(time.Second<<i, 8*time.Second)
				if d < base/2 || d > base*3/2+time.Nanosecond {
					t.Errorf("wait %d = %v, want within ±50%% of %v", i, d, base)
				}
			}
			if status >= 502 && (ae.Message != "" || !strings.Contains(ae.Body, http.StatusText(status))) {
				t.Errorf("gateway page parsed as message %q, body %q", ae.Message, ae.Body)
			}
		})
	}
}

func TestRetryBudget(t *testing.T) {
	e := setup(t, nil, passivetotal.WithRetry(5, time.Minute))
	e.srv.Fail(passivetotaltest.EndpointPassiveDNS, 503, 0, "120")
	_, err := e.client.PassiveDNS(t.Context(), "passivetotal.org", time.Time{})
	var ae *passivetotal.APIError
	if !errors.As(err, &ae) || ae.RetryAfter != 2*time.Minute {
		t.Fatalf("PassiveDNS = %v, want an APIError carrying Retry-After 2m", err)
	}
	if !strings.Contains(err.Error(), "exceeds the remaining retry budget") {
		t.Errorf("error %q does not name the budget", err)
	}
	if n, s := e.srv.Calls(passivetotaltest.EndpointPassiveDNS), e.sleep.Slept(); n != 1 || len(s) != 0 {
		t.Errorf("%d calls and sleeps %v, want 1 call and no sleep", n, s)
	}
}

func TestRetryBudgetSpentByBackoff(t *testing.T) {
	e := setup(t, nil, passivetotal.WithRetry(100, 20*time.Second))
	e.srv.Fail(passivetotaltest.EndpointQuota, 500, 0, "")
	_, err := e.client.Quota(t.Context())
	if err == nil {
		t.Fatal("Quota succeeded")
	}
	var total time.Duration
	for _, d := range e.sleep.Slept() {
		total += d
	}
	if total > 20*time.Second || e.srv.Calls(passivetotaltest.EndpointQuota) >= 100 {
		t.Errorf("slept %v in %d calls, want at most the 20 s budget", total, e.srv.Calls(passivetotaltest.EndpointQuota))
	}
}

func TestTransportErrorsAreRetried(t *testing.T) {
	e := setup(t, nil, passivetotal.WithRetry(3, time.Hour))
	e.srv.Close()
	_, err := e.client.Quota(t.Context())
	if err == nil || !strings.Contains(err.Error(), "giving up after 3 attempts") {
		t.Fatalf("Quota on a closed server = %v, want 3 attempts", err)
	}
	if n := len(e.sleep.Slept()); n != 2 {
		t.Errorf("%d waits, want 2", n)
	}
	var ae *passivetotal.APIError
	if errors.As(err, &ae) {
		t.Errorf("transport error reported as an APIError: %v", err)
	}
}

func TestAttemptTimeoutIsRetried(t *testing.T) {
	e := setup(t, []passivetotaltest.Option{passivetotaltest.WithLatency(time.Second)},
		passivetotal.WithTimeout(50*time.Millisecond), passivetotal.WithRetry(2, time.Hour))
	_, err := e.client.Quota(t.Context())
	if err == nil || !strings.Contains(err.Error(), "attempt timed out after 50ms") {
		t.Fatalf("Quota on a slow server = %v, want a timeout", err)
	}
	if n := e.srv.Calls(passivetotaltest.EndpointQuota); n != 2 {
		t.Errorf("%d calls, want 2", n)
	}
}

func TestContextCancelStopsRetries(t *testing.T) {
	e := setup(t, nil)
	e.srv.Fail(passivetotaltest.EndpointQuota, 500, 0, "")
	ctx, cancel := context.WithCancel(t.Context())
	c, err := passivetotal.New(e.srv.BaseURL(), testUser, testKey,
		passivetotal.WithHTTPClient(e.srv.Client()),
		passivetotal.WithSleep(func(context.Context, time.Duration) error {
			cancel()
			return context.Canceled
		}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Quota(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Quota = %v, want context.Canceled", err)
	}
	if n := e.srv.Calls(passivetotaltest.EndpointQuota); n != 1 {
		t.Errorf("%d calls, want 1", n)
	}
}

func TestMalformedJSON(t *testing.T) {
	tests := []struct {
		endpoint string
		call     func(context.Context, *passivetotal.Client) error
	}{
		{passivetotaltest.EndpointQuota, func(ctx context.Context, c *passivetotal.Client) error { _, err := c.Quota(ctx); return err }},
		{passivetotaltest.EndpointPassiveDNS, func(ctx context.Context, c *passivetotal.Client) error {
			_, err := c.PassiveDNS(ctx, "passivetotal.org", time.Time{})
			return err
		}},
		{passivetotaltest.EndpointArticles, func(ctx context.Context, c *passivetotal.Client) error {
			_, err := c.Articles(ctx, passivetotal.ArticlesQuery{})
			return err
		}},
		{passivetotaltest.EndpointArticle, func(ctx context.Context, c *passivetotal.Client) error {
			_, err := c.Article(ctx, "e86878b1")
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.endpoint, func(t *testing.T) {
			e := setup(t, nil)
			e.srv.Malformed(tt.endpoint, 1)
			err := tt.call(t.Context(), e.client)
			var de *passivetotal.DecodeError
			if !errors.As(err, &de) || de.Endpoint != tt.endpoint {
				t.Fatalf("error = %v, want a DecodeError for %s", err, tt.endpoint)
			}
			if !strings.Contains(err.Error(), "decode GET "+tt.endpoint+" answer") {
				t.Errorf("error %q does not name the endpoint", err)
			}
			if n := e.srv.Calls(tt.endpoint); n != 1 {
				t.Errorf("%d calls, want 1 (a malformed answer is not retried)", n)
			}
		})
	}
}

func TestUnsuccessfulAnswers(t *testing.T) {
	tests := []struct {
		endpoint string
		call     func(context.Context, *passivetotal.Client) error
		want     string
	}{
		{passivetotaltest.EndpointArticles, func(ctx context.Context, c *passivetotal.Client) error {
			_, err := c.Articles(ctx, passivetotal.ArticlesQuery{})
			return err
		}, `passivetotal: articles page 0: decode GET /articles answer: "success" is false`},
		{passivetotaltest.EndpointPassiveDNS, func(ctx context.Context, c *passivetotal.Client) error {
			_, err := c.PassiveDNS(ctx, "passivetotal.org", time.Time{})
			return err
		}, `passivetotal: passive dns for "passivetotal.org": decode GET /dns/passive answer: "success" is false`},
		{passivetotaltest.EndpointArticle, func(ctx context.Context, c *passivetotal.Client) error {
			_, err := c.Article(ctx, "e86878b1")
			return err
		}, `passivetotal: article "e86878b1": decode GET /articles/{guid} answer: "success" is false`},
	}
	for _, tt := range tests {
		t.Run(tt.endpoint, func(t *testing.T) {
			e := setup(t, nil)
			e.srv.Unsuccessful(tt.endpoint, 1)
			err := tt.call(t.Context(), e.client)
			var de *passivetotal.DecodeError
			if !errors.As(err, &de) || err.Error() != tt.want {
				t.Errorf("error = %v, want DecodeError %q", err, tt.want)
			}
		})
	}
}

func TestOversizedAnswers(t *testing.T) {
	t.Run("content length", func(t *testing.T) {
		e := setup(t, nil, passivetotal.WithMaxBodySize(1000))
		_, err := e.client.PassiveDNS(t.Context(), "passivetotal.org", time.Time{})
		if !errors.Is(err, passivetotal.ErrResponseTooLarge) || !strings.Contains(err.Error(), "content length") {
			t.Fatalf("PassiveDNS = %v, want ErrResponseTooLarge from the Content-Length", err)
		}
		if n := e.srv.Calls(passivetotaltest.EndpointPassiveDNS); n != 1 {
			t.Errorf("%d calls, want 1", n)
		}
	})
	t.Run("streamed", func(t *testing.T) {
		e := setup(t, nil, passivetotal.WithMaxBodySize(64<<10))
		e.srv.Oversized(passivetotaltest.EndpointArticles, 4<<20, 1)
		_, err := e.client.Articles(t.Context(), passivetotal.ArticlesQuery{})
		if !errors.Is(err, passivetotal.ErrResponseTooLarge) || !strings.Contains(err.Error(), "body exceeds the limit of 65536 bytes") {
			t.Fatalf("Articles = %v, want ErrResponseTooLarge after reading", err)
		}
		if n := e.srv.Calls(passivetotaltest.EndpointArticles); n != 1 {
			t.Errorf("%d calls, want 1", n)
		}
	})
	t.Run("within limit", func(t *testing.T) {
		e := setup(t, nil, passivetotal.WithMaxBodySize(64<<10))
		e.srv.Oversized(passivetotaltest.EndpointPassiveDNS, 32<<10, 1)
		_, err := e.client.PassiveDNS(t.Context(), "passivetotal.org", time.Time{})
		var de *passivetotal.DecodeError
		if !errors.As(err, &de) { // strings, not records: read in full, then refused by shape
			t.Fatalf("PassiveDNS = %v, want a DecodeError", err)
		}
	})
}

// TestErrorsInSuccessfulBodies covers old API versions that reported errors
// with HTTP 200, in the three body shapes.
func TestErrorsInSuccessfulBodies(t *testing.T) {
	tests := []struct {
		name, body string
		wantQuota  bool
		wantMsg    string
	}{
		{"error object", `{"error":{"message":"Bad query","developer_message":"query is not a domain"}}`, false, "Bad query: query is not a domain"},
		{"error string", `{"error":"invalid_request","message":"query is required"}`, false, "invalid_request: query is required"},
		{"quota message", `{"message":"quota_exceeded: too many searches"}`, true, ""},
		{"quota in error", `{"error":{"message":"Quota has been exceeded!"}}`, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(tt.body))
			}))
			t.Cleanup(srv.Close)
			c, err := passivetotal.New(srv.URL+"/v2", testUser, testKey)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.PassiveDNS(t.Context(), "passivetotal.org", time.Time{})
			if tt.wantQuota {
				if !errors.Is(err, passivetotal.ErrQuotaExceeded) {
					t.Errorf("PassiveDNS = %v, want ErrQuotaExceeded", err)
				}
				return
			}
			var ae *passivetotal.APIError
			if !errors.As(err, &ae) || ae.Status != 200 || ae.Message != tt.wantMsg {
				t.Errorf("PassiveDNS = %v, want an APIError 200 with message %q", err, tt.wantMsg)
			}
		})
	}
}

func TestAPIErrorBodyExcerpt(t *testing.T) {
	big := strings.Repeat("é", 3000) // 6000 bytes of 2-byte runes
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(418)
		_, _ = w.Write([]byte(big))
	}))
	t.Cleanup(srv.Close)
	c, err := passivetotal.New(srv.URL+"/v2", testUser, testKey)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Quota(t.Context())
	var ae *passivetotal.APIError
	if !errors.As(err, &ae) || ae.Status != 418 {
		t.Fatalf("Quota = %v, want an APIError 418", err)
	}
	if len(ae.Body) > 1024 || len(ae.Body) < 1000 || !strings.HasPrefix(big, ae.Body) {
		t.Errorf("body excerpt of %d bytes, want a prefix of at most 1 KiB cut on a rune", len(ae.Body))
	}
}

// TestSecretsNeverLeak drives the known key through every failure path and
// looks for it, and for the Authorization header value, in the errors and the
// debug logs.
func TestSecretsNeverLeak(t *testing.T) {
	token := base64.StdEncoding.EncodeToString([]byte(testUser + ":" + testKey))
	secrets := []string{testKey, token, base64.URLEncoding.EncodeToString([]byte(testUser + ":" + testKey))}

	// An echo server, like a debugging proxy, that repeats the request's
	// credentials in its error bodies.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		_, key, _ := r.BasicAuth()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/account/quota"):
			w.WriteHeader(500)
			fmt.Fprintf(w, `{"error":{"message":"bad header %s","developer_message":"key %s"}}`, auth, key)
		case strings.HasSuffix(r.URL.Path, "/dns/passive"):
			fmt.Fprintf(w, `{"error":"echo","message":"you sent %s"}`, auth)
		case strings.HasSuffix(r.URL.Path, "/articles"):
			w.WriteHeader(400)
			fmt.Fprintf(w, "<html>Authorization: %s</html>", auth)
		default:
			w.WriteHeader(401)
			fmt.Fprintf(w, `{"message":"invalid key %s"}`, key)
		}
	}))
	t.Cleanup(echo.Close)

	var errs []error
	collect := func(err error) {
		if err != nil { // some calls succeed in some scenarios (e.g. 404 on passive DNS)
			errs = append(errs, err)
		}
	}
	all := func(c *passivetotal.Client) {
		ctx := t.Context()
		_, err := c.Quota(ctx)
		collect(err)
		collect(c.CheckQuota(ctx))
		_, err = c.PassiveDNS(ctx, "passivetotal.org", time.Time{})
		collect(err)
		_, err = c.Articles(ctx, passivetotal.ArticlesQuery{})
		collect(err)
		_, err = c.Article(ctx, "e86878b1")
		collect(err)
		for _, err := range c.AllArticles(ctx, passivetotal.ArticlesQuery{}) {
			collect(err)
		}
	}

	var logs []*syncBuffer
	scenario := func(name string, srvOpts []passivetotaltest.Option, inject func(*passivetotaltest.Server), opts ...passivetotal.Option) {
		t.Run(name, func(t *testing.T) {
			e := setup(t, srvOpts, opts...)
			logs = append(logs, e.logs)
			if inject != nil {
				inject(e.srv)
			}
			all(e.client)
		})
	}
	every := func(f func(s *passivetotaltest.Server, endpoint string)) func(*passivetotaltest.Server) {
		return func(s *passivetotaltest.Server) {
			for _, ep := range []string{passivetotaltest.EndpointQuota, passivetotaltest.EndpointPassiveDNS,
				passivetotaltest.EndpointArticles, passivetotaltest.EndpointArticle} {
				f(s, ep)
			}
		}
	}
	scenario("wrong key", []passivetotaltest.Option{passivetotaltest.WithCredentials(testUser, "other")}, nil)
	for _, status := range []int{400, 402, 403, 404, 429, 500, 502, 503} {
		scenario(fmt.Sprint(status), nil, every(func(s *passivetotaltest.Server, ep string) { s.Fail(ep, status, 0, "1") }))
	}
	scenario("malformed", nil, every(func(s *passivetotaltest.Server, ep string) { s.Malformed(ep, 0) }))
	scenario("unsuccessful", nil, every(func(s *passivetotaltest.Server, ep string) { s.Unsuccessful(ep, 0) }))
	scenario("oversized", nil, every(func(s *passivetotaltest.Server, ep string) { s.Oversized(ep, 1<<20, 0) }),
		passivetotal.WithMaxBodySize(4<<10))
	scenario("quota", nil, func(s *passivetotaltest.Server) { s.SetQuota(9, 9) })
	scenario("timeout", []passivetotaltest.Option{passivetotaltest.WithLatency(time.Second)}, nil,
		passivetotal.WithTimeout(20*time.Millisecond), passivetotal.WithRetry(2, time.Hour))
	scenario("closed", nil, func(s *passivetotaltest.Server) { s.Close() })

	t.Run("echo", func(t *testing.T) {
		buf := &syncBuffer{}
		logs = append(logs, buf)
		c, err := passivetotal.New(echo.URL+"/pt/v2", testUser, testKey,
			passivetotal.WithRetry(2, time.Hour), passivetotal.WithBackoff(time.Millisecond, time.Millisecond),
			passivetotal.WithLogger(slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))))
		if err != nil {
			t.Fatal(err)
		}
		all(c)
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			if s := fmt.Sprintf(verb, c); containsAny(s, secrets) {
				t.Errorf("fmt %s of the client shows a secret: %s", verb, s)
			}
		}
		buf2 := &syncBuffer{}
		slog.New(slog.NewJSONHandler(buf2, nil)).Info("client", "client", c)
		if containsAny(buf2.String(), secrets) {
			t.Errorf("logging the client shows a secret: %s", buf2)
		}
	})

	if len(errs) < 70 {
		t.Errorf("only %d failures collected", len(errs))
	}
	for _, err := range errs {
		for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
			if containsAny(s, secrets) {
				t.Errorf("error shows a secret: %s", s)
			}
		}
		var ae *passivetotal.APIError
		if errors.As(err, &ae) && containsAny(ae.Message+ae.Body, secrets) {
			t.Errorf("APIError fields show a secret: %+v", ae)
		}
	}
	var sawRedacted bool
	for _, b := range logs {
		if containsAny(b.String(), secrets) {
			t.Errorf("log shows a secret:\n%s", b)
		}
		sawRedacted = sawRedacted || strings.Contains(b.String(), "REDACTED")
	}
	if !sawRedacted {
		t.Error("the echoed credentials were never redacted in the logs: was the echo path exercised?")
	}
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
