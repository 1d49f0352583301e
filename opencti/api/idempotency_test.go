package api

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// operation is one client call, named for the table tests.
type operation struct {
	name string
	run  func(context.Context, *Client) error
	// answer is the data of a successful answer.
	answer string
}

// nonIdempotent are the calls that must never be sent twice.
var nonIdempotent = []operation{
	{"addExpectations", func(ctx context.Context, c *Client) error { return c.AddExpectations(ctx, "w1", 14) },
		`{"workEdit":{"addExpectations":"w1"}}`},
	{"workToReceived", func(ctx context.Context, c *Client) error { return c.WorkToReceived(ctx, "w1", "ready") },
		`{"workEdit":{"toReceived":"w1"}}`},
	{"workToProcessed", func(ctx context.Context, c *Client) error { return c.WorkToProcessed(ctx, "w1", "done", false) },
		`{"workEdit":{"toProcessed":"w1"}}`},
	{"workAdd", func(ctx context.Context, c *Client) error { _, err := c.WorkAdd(ctx, "c1", "run"); return err },
		`{"workAdd":{"id":"w1"}}`},
	{"PlaybookStepExecution", func(ctx context.Context, c *Client) error {
		return c.PlaybookStepExecution(ctx, PlaybookStep{ExecutionID: "e", EventID: "ev", ExecutionStart: "2024-01-01T00:00:00+00:00",
			DataInstanceID: "d", PlaybookID: "p", PreviousStepID: "s0", StepID: "s1", PreviousBundle: "{}", Bundle: "{}"})
	}, `{"playbookStepExecution":true}`},
	{"anonymous mutation through Do", func(ctx context.Context, c *Client) error {
		return c.Do(ctx, "mutation { workEdit(id: \"w1\") { toReceived } }", nil, nil)
	}, `{"workEdit":{"toReceived":"w1"}}`},
}

// idempotentOps may be sent again after a failure.
var idempotentOps = []operation{
	{"WorkQuery", func(ctx context.Context, c *Client) error { _, err := c.Work(ctx, "w1"); return err },
		`{"work":{"id":"w1","status":"progress","tracking":{"import_expected_number":14,"import_processed_number":3}}}`},
	{"healthCheck", func(ctx context.Context, c *Client) error { _, err := c.HealthCheck(ctx); return err },
		`{"about":{"version":"6.9.7"}}`},
	{"pingWork", func(ctx context.Context, c *Client) error { return c.PingWork(ctx, "w1") },
		`{"workEdit":{"ping":"w1"}}`},
}

// hangingServer is a GraphQL endpoint whose handler blocks until the test
// ends; it counts the requests that reached it.
func hangingServer(t *testing.T) (url string, count func() int) {
	t.Helper()
	var n atomic.Int32
	release := make(chan struct{})
	var once sync.Once
	stop := func() { once.Do(func() { close(release) }) }
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		n.Add(1)
		<-release
	}))
	// Close waits for the handlers: release them first (cleanups run last-in first-out).
	t.Cleanup(srv.Close)
	t.Cleanup(stop)
	// count releases the handlers and closes the server, which waits for
	// every request it accepted, so the figure is final.
	return srv.URL, func() int {
		stop()
		srv.Close()
		return int(n.Load())
	}
}

// TestMutationNotRetriedAfterTimeout is issue 9's hang: a non-idempotent
// mutation that timed out after it was sent reaches the platform once, and
// its error says the outcome is unknown; an idempotent one is retried.
func TestMutationNotRetriedAfterTimeout(t *testing.T) {
	check := func(t *testing.T, op operation, wantCalls int) {
		t.Parallel()
		url, count := hangingServer(t)
		// The timeout only has to outlast the handler's dispatch on 127.0.0.1.
		c, err := New(url, testToken, WithTimeout(time.Second), WithRetry(3, 0))
		if err != nil {
			t.Fatal(err)
		}
		err = op.run(t.Context(), c)
		if err == nil {
			t.Fatal("want an error")
		}
		if wantCalls == 1 && !errors.Is(err, ErrOutcomeUnknown) {
			t.Errorf("error = %v, want ErrOutcomeUnknown", err)
		}
		if wantCalls > 1 && errors.Is(err, ErrOutcomeUnknown) {
			t.Errorf("error = %v, want no ErrOutcomeUnknown for an idempotent operation", err)
		}
		if got := count(); got != wantCalls {
			t.Errorf("requests that reached the server = %d, want %d", got, wantCalls)
		}
	}
	for _, op := range nonIdempotent {
		t.Run(op.name, func(t *testing.T) { check(t, op, 1) })
	}
	for _, op := range idempotentOps {
		t.Run(op.name, func(t *testing.T) { check(t, op, 3) })
	}
}

// TestMutationNotRetriedAfter5xx: a 5xx answer comes from a server that may
// have applied the mutation.
func TestMutationNotRetriedAfter5xx(t *testing.T) {
	for _, tt := range []struct {
		ops  []operation
		want int
	}{{nonIdempotent, 1}, {idempotentOps, 3}} {
		for _, op := range tt.ops {
			t.Run(op.name, func(t *testing.T) {
				f := newFake(t, func(int, call) reply { return reply{status: http.StatusGatewayTimeout, body: "timeout"} })
				err := op.run(t.Context(), f.client())
				var he *HTTPError
				if !errors.As(err, &he) || he.Status != http.StatusGatewayTimeout {
					t.Fatalf("error = %v, want the 504", err)
				}
				if f.count() != tt.want {
					t.Errorf("%d calls, want %d", f.count(), tt.want)
				}
				if got := errors.Is(err, ErrOutcomeUnknown); got != (tt.want == 1) {
					t.Errorf("errors.Is(ErrOutcomeUnknown) = %v for %v", got, err)
				}
			})
		}
	}
}

// refusedAddr is the address of a listener that was closed: dialing it is
// refused before a byte is written.
func refusedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// TestMutationRetriedWhenConnectionRefused: a refused connection never
// carried the request, so every operation is retried, mutations included.
func TestMutationRetriedWhenConnectionRefused(t *testing.T) {
	for _, op := range append(append([]operation{}, nonIdempotent...), idempotentOps...) {
		t.Run(op.name, func(t *testing.T) {
			f := newFake(t, func(int, call) reply { return ok(op.answer) })
			refused := refusedAddr(t)
			live := strings.TrimPrefix(f.srv.URL, "http://")
			var dials atomic.Int32
			tr := defaultTransport()
			var d net.Dialer
			tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
				// The first attempt is refused, the next ones reach the platform.
				if dials.Add(1) == 1 {
					return d.DialContext(ctx, network, refused)
				}
				return d.DialContext(ctx, network, live)
			}
			c := f.client(WithHTTPClient(&http.Client{Transport: tr}))
			if err := op.run(t.Context(), c); err != nil {
				t.Fatalf("after a refused connection: %v", err)
			}
			if f.count() != 1 || dials.Load() != 2 {
				t.Errorf("requests = %d, dials = %d; want 1 request after 2 dials", f.count(), dials.Load())
			}
		})
	}
}

// TestRefusedConnectionBounded: with the platform down, a mutation is tried
// maxAttempts times and its error is not ErrOutcomeUnknown (nothing was sent).
func TestRefusedConnectionBounded(t *testing.T) {
	refused := refusedAddr(t)
	var dials atomic.Int32
	tr := defaultTransport()
	var d net.Dialer
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		dials.Add(1)
		return d.DialContext(ctx, network, refused)
	}
	c, err := New("http://"+refused, testToken, WithRetry(3, 0), WithHTTPClient(&http.Client{Transport: tr}))
	if err != nil {
		t.Fatal(err)
	}
	err = c.AddExpectations(t.Context(), "w1", 3)
	if err == nil || errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("error = %v, want a refusal that is not ErrOutcomeUnknown", err)
	}
	if dials.Load() != 3 {
		t.Errorf("dials = %d, want 3", dials.Load())
	}
}

// TestEveryMutationHasAnIdempotencyDecision: a new mutation document must be
// listed in mutationIdempotent, so that whether it is retried is a decision.
func TestEveryMutationHasAnIdempotencyDecision(t *testing.T) {
	entries, err := queryFS.ReadDir("queries")
	if err != nil {
		t.Fatal(err)
	}
	mutations := 0
	for _, e := range entries {
		b, err := queryFS.ReadFile("queries/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		m := operationKind.FindStringSubmatch(string(b))
		if m == nil {
			t.Errorf("%s: no operation found", e.Name())
			continue
		}
		if m[1] != "mutation" {
			continue
		}
		mutations++
		if _, ok := mutationIdempotent[m[2]]; !ok {
			t.Errorf("%s: mutation %s is not in mutationIdempotent", e.Name(), m[2])
		}
	}
	if mutations == 0 {
		t.Fatal("no mutation document found")
	}
}

func TestIsIdempotent(t *testing.T) {
	tests := []struct {
		doc  string
		want bool
	}{
		{"query WorkQuery($id: ID!) { work(id: $id) { id } }", true},
		{"# comment with mutation addExpectations\nquery X { a }", true},
		{"{ about { version } }", true},
		{"query { about { version } }", true},
		{"mutation addExpectations($id: ID!) { workEdit(id: $id) { addExpectations } }", false},
		{"mutation RegisterConnector($input: RegisterConnectorInput) { registerConnector(input: $input) { id } }", true},
		{"mutation PingConnector { pingConnector(id: \"x\") { id } }", true},
		{"mutation { workEdit(id: \"w\") { toReceived } }", false},
		{"mutation SomethingNew { x }", false},
		{"subscription S { x }", false},
		{docAddExpectations, false},
		{docWorkToProcessed, false},
		{docWorkToReceived, false},
		{docWorkAdd, false},
		{docPlaybookStep, false},
		{docWork, true},
		{docRegister, true},
		{docPingConnector, true},
	}
	for _, tt := range tests {
		if got := isIdempotent(tt.doc); got != tt.want {
			t.Errorf("isIdempotent(%.60q) = %v, want %v", tt.doc, got, tt.want)
		}
	}
}
