package passivetotal_test

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/riskiq-opencti/connectors/internal/passivetotal"
)

// rawServer answers every request with handle, on 127.0.0.1.
func rawServer(t *testing.T, handle http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(handle)
	t.Cleanup(srv.Close)
	return srv
}

// rawClient is a client of srv without retries.
func rawClient(t *testing.T, srv *httptest.Server, key string, opts ...passivetotal.Option) *passivetotal.Client {
	t.Helper()
	c, err := passivetotal.New(srv.URL+"/pt/v2", testUser, key,
		append([]passivetotal.Option{passivetotal.WithRetry(1, time.Hour)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRedirectToAnotherPortRefused: net/http keeps the Authorization header
// on a redirect to the same host name on another port; the client refuses
// such redirects, so the Basic credentials never get there.
func TestRedirectToAnotherPortRefused(t *testing.T) {
	var reached atomic.Int32
	var gotAuth atomic.Value
	other := rawServer(t, func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		gotAuth.Store(r.Header.Get("Authorization"))
		_, _ = w.Write([]byte(`{"totalRecords":0,"results":[]}`))
	})
	for _, tc := range []struct{ name, target string }{
		{"another port", other.URL},
		{"another scheme", "https" + strings.TrimPrefix(other.URL, "http")},
		{"another host", strings.Replace(other.URL, "127.0.0.1", "localhost", 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := rawServer(t, func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, tc.target+r.URL.RequestURI(), http.StatusFound)
			})
			logs := &syncBuffer{}
			c := rawClient(t, srv, testKey, passivetotal.WithLogger(slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
			_, err := c.PassiveDNS(t.Context(), "passivetotal.org", time.Time{})
			if !errors.Is(err, passivetotal.ErrCrossOriginRedirect) {
				t.Fatalf("PassiveDNS = %v, want ErrCrossOriginRedirect", err)
			}
			if n := reached.Load(); n != 0 {
				t.Fatalf("the other origin got %d requests, Authorization %q", n, gotAuth.Load())
			}
			if s := err.Error() + logs.String(); strings.Contains(s, testKey) {
				t.Errorf("the key was printed: %s", s)
			}
		})
	}
	t.Run("same origin is followed", func(t *testing.T) {
		srv := rawServer(t, func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/moved/") {
				if r.Header.Get("Authorization") == "" {
					t.Error("same-origin redirect lost the credentials")
				}
				_, _ = w.Write([]byte(`{"totalRecords":0,"results":[]}`))
				return
			}
			http.Redirect(w, r, "/moved"+r.URL.RequestURI(), http.StatusFound)
		})
		if _, err := rawClient(t, srv, testKey).PassiveDNS(t.Context(), "passivetotal.org", time.Time{}); err != nil {
			t.Fatalf("PassiveDNS through a same-origin redirect = %v", err)
		}
	})
}

// TestOneLetterKeyDoesNotCorruptErrors: with RISKIQ_PASSWORD=p, an error no
// longer reads "REDACTEDassivetotal: articles REDACTEDage 0".
func TestOneLetterKeyDoesNotCorruptErrors(t *testing.T) {
	srv := rawServer(t, func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"message":"unexpected page parameter"}`))
	})
	_, err := rawClient(t, srv, "p").Articles(t.Context(), passivetotal.ArticlesQuery{})
	const want = "passivetotal: articles page 0: GET /articles: HTTP 400: unexpected page parameter"
	if err == nil || err.Error() != want {
		t.Errorf("Articles error = %v, want %q", err, want)
	}
}

// TestKeyAcrossTheExcerptCut: the key is redacted before the body is cut to
// 1 KiB, so no piece of it survives, at any offset around the cut.
func TestKeyAcrossTheExcerptCut(t *testing.T) {
	for off := 1024 - len(testKey) + 1; off < 1024; off += 3 {
		body := strings.Repeat("x", off) + testKey + strings.Repeat("y", 100)
		srv := rawServer(t, func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(body))
		})
		_, err := rawClient(t, srv, testKey).Quota(t.Context())
		var ae *passivetotal.APIError
		if !errors.As(err, &ae) {
			t.Fatalf("Quota = %v, want an APIError", err)
		}
		if piece := testKey[:6]; strings.Contains(ae.Body, piece) || strings.Contains(err.Error(), piece) {
			t.Fatalf("offset %d: the start of the key survives the cut: ...%q", off, ae.Body[max(len(ae.Body)-40, 0):])
		}
	}
}

// TestHostileErrorMessage: a 50 KB error message with escape sequences and
// line breaks prints as one bounded line without control characters.
func TestHostileErrorMessage(t *testing.T) {
	var msg strings.Builder
	for msg.Len() < 50_000 {
		msg.WriteString(`quota \u001b[2J\u001b[H gone\r\n\u001b]0;owned\u0007 next\n`)
	}
	srv := rawServer(t, func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":{"message":"%s"}}`, msg.String())
	})
	_, err := rawClient(t, srv, testKey).PassiveDNS(t.Context(), "passivetotal.org", time.Time{})
	if err == nil {
		t.Fatal("want an error")
	}
	s := err.Error()
	if len(s) > 1200 || !utf8.ValidString(s) {
		t.Errorf("error of %d bytes (valid UTF-8: %t), want about 1 KiB", len(s), utf8.ValidString(s))
	}
	if i := strings.IndexFunc(s, unicode.IsControl); i >= 0 {
		t.Errorf("control character in %q", s[max(i-20, 0):min(i+20, len(s))])
	}
	if !strings.Contains(s, "quota gone; next; quota gone") {
		t.Errorf("error = %.200q, want the message kept, one line", s)
	}
}
