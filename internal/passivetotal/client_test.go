package passivetotal_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskiq-opencti/connectors/internal/passivetotal"
	"github.com/riskiq-opencti/connectors/internal/passivetotal/passivetotaltest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

const (
	testUser = "analyst@example.com"
	// testKey is the API key driven through every failure path; it must
	// never show in an error or a log line.
	testKey = "pt-KEY-7f3c9a1e5b2d4c6a8e0f1a3b5c7d9e1f"
)

// epoch is the tests' "now": inside the recorded quota period.
var epoch = time.Date(2025, 6, 15, 12, 0, 0, 0, time.UTC)

// fakeClock is a settable clock shared by the client and the fake server.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// sleeper records the retry delays and advances the clock instead of
// sleeping.
type sleeper struct {
	mu    sync.Mutex
	clock *fakeClock
	slept []time.Duration
}

func (s *sleeper) Sleep(ctx context.Context, d time.Duration) error {
	if err := context.Cause(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	s.slept = append(s.slept, d)
	s.mu.Unlock()
	s.clock.Advance(d)
	return nil
}

func (s *sleeper) Slept() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.slept...)
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// env is a client wired to a fake server with a fake clock, a recording
// sleeper and captured debug logs.
type env struct {
	client *passivetotal.Client
	srv    *passivetotaltest.Server
	clock  *fakeClock
	sleep  *sleeper
	logs   *syncBuffer
}

func setup(t *testing.T, srvOpts []passivetotaltest.Option, opts ...passivetotal.Option) *env {
	t.Helper()
	clock := &fakeClock{t: epoch}
	e := &env{clock: clock, sleep: &sleeper{clock: clock}, logs: &syncBuffer{}}
	e.srv = passivetotaltest.NewServer(t, append([]passivetotaltest.Option{passivetotaltest.WithClock(clock.Now)}, srvOpts...)...)
	logger := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	base := []passivetotal.Option{
		passivetotal.WithHTTPClient(e.srv.Client()),
		passivetotal.WithClock(clock.Now),
		passivetotal.WithSleep(e.sleep.Sleep),
		passivetotal.WithBackoff(time.Second, 8*time.Second),
		passivetotal.WithLogger(logger),
	}
	c, err := passivetotal.New(e.srv.BaseURL(), testUser, testKey, append(base, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.client = c
	return e
}

// golden compares got, as indented JSON, with testdata/golden/name.json.
func golden(t *testing.T, name string, got any) {
	t.Helper()
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	path := filepath.Join("testdata", "golden", name+".json")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), string(b)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name, base, user, key string
		wantErr               string
	}{
		{"ok", "https://api.riskiq.net/pt/v2", "u", "k", ""},
		{"trailing slash", "https://api.riskiq.net/pt/v2/", "u", "k", ""},
		{"http", "http://127.0.0.1:8080/v2", "u", "k", ""},
		{"empty user", "https://api.riskiq.net/pt/v2", "", "k", "passivetotal: username is empty"},
		{"empty key", "https://api.riskiq.net/pt/v2", "u", "", "passivetotal: api key is empty"},
		{"empty url", "", "u", "k", `passivetotal: base url: scheme "": must be http or https`},
		{"ftp", "ftp://api.riskiq.net/pt/v2", "u", "k", `passivetotal: base url: scheme "ftp": must be http or https`},
		{"relative", "api.riskiq.net/pt/v2", "u", "k", `passivetotal: base url: scheme "": must be http or https`},
		{"no host", "https:///pt/v2", "u", "k", "passivetotal: base url: host is missing"},
		{"credentials", "https://u:" + testKey + "@api.riskiq.net/pt/v2", "u", "k", "passivetotal: base url: must not contain credentials"},
		{"query", "https://api.riskiq.net/pt/v2?x=1", "u", "k", "passivetotal: base url: must not contain a query"},
		{"fragment", "https://api.riskiq.net/pt/v2#x", "u", "k", "passivetotal: base url: must not contain a fragment"},
		{"unparsable", "https://u:" + testKey + "@api riskiq.net/v2", "u", "k", `passivetotal: base url: not a valid URL: invalid character " " in host name`},
		{"unparsable, password in the port", "https://u:" + testKey + "/x@api.riskiq.net/v2", "u", "k",
			"passivetotal: base url: not a valid URL (details withheld: they quote the credentials; percent-encode reserved characters in them)"},
		{"unparsable, password escape", "https://u:" + testKey + "%zz@api.riskiq.net/v2", "u", "k",
			"passivetotal: base url: not a valid URL (details withheld: they quote the credentials; percent-encode reserved characters in them)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := passivetotal.New(tt.base, tt.user, tt.key)
			if tt.wantErr == "" {
				if err != nil || c == nil {
					t.Fatalf("New(%q) = %v, %v, want a client", tt.base, c, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("New(%q) = nil error, want %q", tt.base, tt.wantErr)
			}
			got := err.Error()
			if strings.Contains(got, testKey) {
				t.Errorf("New(%q) error shows the key: %q", tt.name, got)
			}
			if got != tt.wantErr {
				t.Errorf("New(%q) error = %q, want %q", tt.base, got, tt.wantErr)
			}
		})
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opt  passivetotal.Option
		want string
	}{
		{"timeout", passivetotal.WithTimeout(0), "timeout 0s: must be positive"},
		{"tries", passivetotal.WithRetry(0, time.Second), "retry max tries 0: must be at least 1"},
		{"elapsed", passivetotal.WithRetry(3, 0), "retry max elapsed 0s: must be positive"},
		{"backoff", passivetotal.WithBackoff(2*time.Second, time.Second), "backoff 2s..1s: must be positive and ordered"},
		{"body", passivetotal.WithMaxBodySize(0), "max body size 0: must be positive"},
		{"ttl", passivetotal.WithQuotaCacheTTL(-time.Second), "quota cache ttl -1s: must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := passivetotal.New("https://api.riskiq.net/pt/v2", "u", "k", tt.opt)
			if err == nil || err.Error() != "passivetotal: "+tt.want {
				t.Errorf("New with %s = %v, want %q", tt.name, err, "passivetotal: "+tt.want)
			}
		})
	}
}

func TestJoinVersion(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://api.riskiq.net/pt", "https://api.riskiq.net/pt/v2"},
		{"https://api.riskiq.net/pt/", "https://api.riskiq.net/pt/v2"},
		{"https://api.riskiq.net/pt/v2", "https://api.riskiq.net/pt/v2"},
		{"https://api.riskiq.net/pt/v2/", "https://api.riskiq.net/pt/v2"},
		{"https://api.passivetotal.org", "https://api.passivetotal.org/v2"},
	}
	for _, tt := range tests {
		if got := passivetotal.JoinVersion(tt.in); got != tt.want {
			t.Errorf("JoinVersion(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestURLJoining checks the client against the fake mounted under /pt: the
// base with the version segment works with or without a trailing slash, the
// root without it does not, and JoinVersion repairs it.
func TestURLJoining(t *testing.T) {
	srv := passivetotaltest.NewServer(t)
	tests := []struct {
		name   string
		base   string
		wantOK bool
	}{
		{"base", srv.BaseURL(), true},
		{"base with slash", srv.BaseURL() + "/", true},
		{"root joined", passivetotal.JoinVersion(srv.RootURL()), true},
		{"root joined with slash", passivetotal.JoinVersion(srv.RootURL() + "/"), true},
		{"root without version", srv.RootURL(), false},
		{"version twice", srv.BaseURL() + "/v2", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := passivetotal.New(tt.base, testUser, testKey, passivetotal.WithHTTPClient(srv.Client()))
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Quota(t.Context())
			if tt.wantOK {
				if err != nil {
					t.Fatalf("Quota via %q: %v", tt.base, err)
				}
				return
			}
			var ae *passivetotal.APIError
			if !errors.As(err, &ae) || ae.Status != 404 || !errors.Is(err, passivetotal.ErrNotFound) {
				t.Fatalf("Quota via %q = %v, want a 404 APIError", tt.base, err)
			}
		})
	}
	if n := srv.Calls(passivetotaltest.EndpointQuota); n != 4 {
		t.Errorf("fake counted %d quota calls, want 4 (only the well-joined ones)", n)
	}
}

func TestRequestHeaders(t *testing.T) {
	var got struct {
		user, key, accept, ua string
		ok                    bool
	}
	h := passivetotaltest.NewHandler(passivetotaltest.Options{Prefix: "/pt"})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.user, got.key, got.ok = r.BasicAuth()
		got.accept, got.ua = r.Header.Get("Accept"), r.Header.Get("User-Agent")
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c, err := passivetotal.New(srv.URL+"/pt/v2", testUser, testKey, passivetotal.WithUserAgent("riskiq-test/1.0"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Quota(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !got.ok || got.user != testUser || got.key != testKey || got.accept != "application/json" || got.ua != "riskiq-test/1.0" {
		t.Errorf("request had basic auth %v, user %q, key matches %v, Accept %q, User-Agent %q",
			got.ok, got.user, got.key == testKey, got.accept, got.ua)
	}
}
