package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// testToken is the token every test client sends; no error or log may show it.
const testToken = "tok-9f8e7d6c-SECRET"

// prefix is where the fake platform is mounted, to catch URL joining bugs.
const prefix = "/opencti"

// call is one GraphQL request the fake received.
type call struct {
	Query     string
	Variables map[string]any
	Header    http.Header
}

// reply is the fake's answer to one call.
type reply struct {
	status int
	body   string
	// hangup closes the connection without an answer.
	hangup bool
}

// ok answers 200 with data.
func ok(data string) reply { return reply{status: http.StatusOK, body: `{"data":` + data + `}`} }

// fake is a GraphQL endpoint on 127.0.0.1 that records calls and answers
// with a per-call function.
type fake struct {
	t      *testing.T
	srv    *httptest.Server
	answer func(n int, c call) reply

	mu    sync.Mutex
	calls []call
}

// newFake starts a fake; answer gets the 1-based call number.
func newFake(t *testing.T, answer func(n int, c call) reply) *fake {
	t.Helper()
	f := &fake{t: t, answer: answer}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// serve decodes the request, records it and writes the answer.
func (f *fake) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != prefix+"/graphql" {
		http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
		return
	}
	var body struct {
		Query     string         `json:"query"`
		Variables map[string]any `json:"variables"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	c := call{Query: body.Query, Variables: body.Variables, Header: r.Header.Clone()}
	f.mu.Lock()
	f.calls = append(f.calls, c)
	n := len(f.calls)
	f.mu.Unlock()
	rep := f.answer(n, c)
	if rep.hangup {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			f.t.Errorf("hijack: %v", err)
			return
		}
		_ = conn.Close()
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rep.status)
	_, _ = io.WriteString(w, rep.body)
}

// url is the base URL (OPENCTI_URL) of the fake, with a trailing slash.
func (f *fake) url() string { return f.srv.URL + prefix + "/" }

// count is the number of calls received.
func (f *fake) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// last is the last call received.
func (f *fake) last() call {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		f.t.Fatal("no call received")
	}
	return f.calls[len(f.calls)-1]
}

// client returns a client of the fake with fast retries and options.
func (f *fake) client(opts ...Option) *Client {
	f.t.Helper()
	all := append([]Option{WithRetry(3, time.Millisecond)}, opts...)
	c, err := New(f.url(), testToken, all...)
	if err != nil {
		f.t.Fatalf("New: %v", err)
	}
	return c
}

// jsonValue decodes a JSON literal the way the fake decodes variables.
func jsonValue(t *testing.T, s string) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad JSON literal %s: %v", s, err)
	}
	return v
}

// checkVars compares the variables of a call with a JSON literal.
func checkVars(t *testing.T, got call, want string) {
	t.Helper()
	if diff := cmp.Diff(jsonValue(t, want), got.Variables); diff != "" {
		t.Errorf("variables (-want +got):\n%s", diff)
	}
}

// activeQuery is a document without its comment lines.
func activeQuery(q string) string {
	var b strings.Builder
	for _, line := range strings.Split(q, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		b.WriteString(line)
		b.WriteString("\n")
	}
	return b.String()
}

// logBuffer is a concurrency-safe buffer for a JSON slog handler.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// debugLogger logs everything as JSON into a buffer.
func debugLogger() (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// hookHandler is a slog.Handler that calls fn, synchronously, for every record whose
// message is msg: a test can act at a precise point of the client's flow (e.g. once a
// retry is scheduled) instead of guessing it with a timer.
type hookHandler struct {
	msg string
	fn  func()
}

func (h hookHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h hookHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.fn()
	}
	return nil
}

func (h hookHandler) WithAttrs([]slog.Attr) slog.Handler { return h }

func (h hookHandler) WithGroup(string) slog.Handler { return h }

// onLog returns a logger that calls fn each time msg is logged.
func onLog(msg string, fn func()) *slog.Logger {
	return slog.New(hookHandler{msg: msg, fn: fn})
}
