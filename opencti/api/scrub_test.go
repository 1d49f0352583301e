package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// hostileText is a provider's error message as fault injection sent it:
// 50 KB of text with screen-clearing escape sequences and line breaks.
func hostileText() string {
	var b strings.Builder
	for b.Len() < 50_000 {
		b.WriteString("passivetotal: GET /dns/passive: HTTP 500: \x1b[2J\x1b[Hboom\r\n\x1b]0;pwned\x07line\n\u009b1m\u202e")
	}
	return b.String()
}

// checkWorkText fails unless s is what a work may receive.
func checkWorkText(t *testing.T, what, s string) {
	t.Helper()
	if len(s) > MaxWorkMessage {
		t.Errorf("%s: %d bytes, want at most %d", what, len(s), MaxWorkMessage)
	}
	if !utf8.ValidString(s) {
		t.Errorf("%s: not valid UTF-8", what)
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			t.Errorf("%s: control character %U in %q", what, r, s[:min(len(s), 80)])
			return
		}
	}
	if !strings.Contains(s, "boom") {
		t.Errorf("%s = %q, want the start of the message kept", what, s[:min(len(s), 80)])
	}
}

// TestWorkMessagesBoundedAndClean: whatever the caller passes, the work
// mutations send one bounded printable line.
func TestWorkMessagesBoundedAndClean(t *testing.T) {
	f := newFake(t, func(int, call) reply {
		return ok(`{"workAdd":{"id":"w1"},"workEdit":{"toReceived":"w1","toProcessed":"w1"}}`)
	})
	c := f.client()
	msg := hostileText()
	steps := []struct {
		name, key string
		run       func() error
	}{
		{"work add", "friendlyName", func() error { _, err := c.WorkAdd(t.Context(), "c1", msg); return err }},
		{"to received", "message", func() error { return c.WorkToReceived(t.Context(), "w1", msg) }},
		{"to processed", "message", func() error { return c.WorkToProcessed(t.Context(), "w1", msg, false) }},
		{"to processed in error", "message", func() error { return c.WorkToProcessed(t.Context(), "w1", msg, true) }},
	}
	for _, s := range steps {
		if err := s.run(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		sent, _ := f.last().Variables[s.key].(string)
		checkWorkText(t, s.name, sent)
	}
}

// TestRedirectToAnotherOriginRefused: the token and custom headers never
// reach another port, host or scheme; same-origin redirects still work.
func TestRedirectToAnotherOriginRefused(t *testing.T) {
	const headerSecret = "hdr-value-8d1c-SECRET"
	got := make(chan http.Header, 4)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Clone()
		_, _ = w.Write([]byte(`{"data":{"about":{"version":"6.9.7"}}}`))
	}))
	t.Cleanup(other.Close)
	redirect := func(to string) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/same/graphql" {
				_, _ = w.Write([]byte(`{"data":{"about":{"version":"6.9.8"}}}`))
				return
			}
			http.Redirect(w, r, to, http.StatusTemporaryRedirect)
		}))
		t.Cleanup(srv.Close)
		return srv
	}

	t.Run("another port", func(t *testing.T) {
		// The same host (127.0.0.1) on another port: net/http alone would
		// send the Authorization header along.
		srv := redirect(other.URL + "/graphql")
		logger, logs := debugLogger()
		c, err := New(srv.URL, testToken, WithHeaders(map[string]string{"X-Api-Key": headerSecret}),
			WithRetry(3, time.Millisecond), WithLogger(logger))
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.HealthCheck(t.Context())
		if !errors.Is(err, ErrCrossOriginRedirect) {
			t.Fatalf("HealthCheck = %v, want ErrCrossOriginRedirect", err)
		}
		select {
		case h := <-got:
			t.Fatalf("the other origin was called, with Authorization %q and X-Api-Key %q", h.Get("Authorization"), h.Get("X-Api-Key"))
		default:
		}
		if strings.Contains(logs.String(), "GraphQL request failed, retrying") {
			t.Errorf("a refused redirect was retried: %s", logs)
		}
		for _, s := range []string{err.Error(), logs.String()} {
			if strings.Contains(s, testToken) || strings.Contains(s, headerSecret) {
				t.Errorf("secret printed: %s", s)
			}
		}
	})
	t.Run("another scheme", func(t *testing.T) {
		srv := redirect("https" + strings.TrimPrefix(srv2URL(t), "http") + "/graphql")
		c, err := New(srv.URL, testToken, WithRetry(1, 0))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.HealthCheck(t.Context()); !errors.Is(err, ErrCrossOriginRedirect) {
			t.Fatalf("HealthCheck = %v, want ErrCrossOriginRedirect", err)
		}
	})
	t.Run("same origin", func(t *testing.T) {
		srv := redirect("/same/graphql")
		c, err := New(srv.URL, testToken, WithRetry(1, 0))
		if err != nil {
			t.Fatal(err)
		}
		if v, err := c.HealthCheck(t.Context()); err != nil || v != "6.9.8" {
			t.Fatalf("HealthCheck = %q, %v; want 6.9.8 through a same-origin redirect", v, err)
		}
	})
}

// srv2URL is the URL of a server that is never called: the redirect to it is
// refused first.
func srv2URL(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		t.Error("the refused origin was called")
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestURLQueryNotPrinted: a key in OPENCTI_URL's query shows neither in
// errors nor in retry logs.
func TestURLQueryNotPrinted(t *testing.T) {
	const key = "url-key-4b7a-SECRET"
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL + "/?api_key=" + key
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
	if !strings.Contains(logs.String(), "GraphQL request failed, retrying") {
		t.Fatalf("no retry log: %s", logs)
	}
	for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), logs.String()} {
		if strings.Contains(s, key) {
			t.Errorf("the URL's key was printed: %s", s)
		}
	}
	if !strings.Contains(err.Error(), "api_key=REDACTED") {
		t.Errorf("error = %v, want the URL shown with api_key=REDACTED", err)
	}
	for _, bad := range []string{"https://user:" + key + "@host:badport/", "ftp://user:" + key + "@host/"} {
		if _, err := New(bad, testToken); err == nil || strings.Contains(err.Error(), key) {
			t.Errorf("New(%q) = %v, want an error without the password", bad, err)
		}
	}
}

// TestTokenAcrossTheExcerptCut: the token is redacted before the error body
// is cut to 1 KiB, so no piece of it survives at any offset.
func TestTokenAcrossTheExcerptCut(t *testing.T) {
	for off := maxErrorBody - len(testToken) + 1; off < maxErrorBody; off += 3 {
		body := strings.Repeat("x", off) + testToken + strings.Repeat("y", 200)
		f := newFake(t, func(int, call) reply { return reply{status: 403, body: body} })
		_, err := f.client().HealthCheck(t.Context())
		var he *HTTPError
		if !errors.As(err, &he) {
			t.Fatalf("error = %v, want an *HTTPError", err)
		}
		if len(he.Body) > maxErrorBody {
			t.Errorf("offset %d: body of %d bytes", off, len(he.Body))
		}
		if piece := testToken[:4]; strings.Contains(he.Body, piece) {
			t.Errorf("offset %d: a piece of the token survives the cut: ...%q", off, he.Body[len(he.Body)-30:])
		}
	}
}

// TestShortTokenDoesNotCorruptErrors: a one-letter token is not "redacted"
// out of every word of an error.
func TestShortTokenDoesNotCorruptErrors(t *testing.T) {
	f := newFake(t, func(int, call) reply { return reply{status: 400, body: "bad request: please retry"} })
	c, err := New(f.url(), "p", WithRetry(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.HealthCheck(t.Context())
	if err == nil || !strings.Contains(err.Error(), "bad request: please retry") {
		t.Errorf("error = %v, want the body unchanged", err)
	}
}

// TestCustomHeaderValuesRedacted: a server echoing a custom header value (an
// API gateway key) does not get it printed.
func TestCustomHeaderValuesRedacted(t *testing.T) {
	const headerSecret = "gw-key-1e2d-SECRET"
	f := newFake(t, func(_ int, c call) reply {
		return reply{status: 502, body: "gateway refused key " + c.Header.Get("X-Gateway-Key")}
	})
	logger, logs := debugLogger()
	c := f.client(WithHeaders(map[string]string{"X-Gateway-Key": headerSecret}), WithLogger(logger))
	_, err := c.HealthCheck(t.Context())
	if err == nil {
		t.Fatal("want an error")
	}
	for _, s := range []string{err.Error(), logs.String()} {
		if strings.Contains(s, headerSecret) {
			t.Errorf("custom header value printed: %s", s)
		}
	}
}
