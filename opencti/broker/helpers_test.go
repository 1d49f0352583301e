package broker

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/riskiq-opencti/connectors/opencti/internal/testenv"
)

// withholdConfirms makes the publisher ignore the publisher confirms of every session it
// opens, as if the broker never sent them: each confirm wait then ends by the confirm
// timeout, whatever the timing of the broker. It counts the sessions opened.
func withholdConfirms(sessions *atomic.Int64) PublisherOption {
	return publisherOptionFunc(func(p *Publisher) {
		p.withholdConfirms = func() bool {
			sessions.Add(1)
			return true
		}
	})
}

// uniqueName returns prefix followed by a random suffix, for queues, exchanges and
// connection names that do not collide with other tests using the same broker.
func uniqueName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "gotest-broker-" + prefix + "-" + hex.EncodeToString(b)
}

// testConfig returns the broker Config of the integration tests, with a unique connection
// name so that a test can find and kill its own connections.
func testConfig(tb testing.TB, name string) Config {
	tb.Helper()
	cfg, err := ConfigFromURL(testenv.AMQPURL(tb))
	if err != nil {
		tb.Fatalf("TEST_AMQP_URL: %v", err)
	}
	cfg.ConnectionName = uniqueName(name)
	return cfg
}

// platform plays the OpenCTI platform: it declares a durable direct exchange and a durable
// queue bound to it, and deletes them at cleanup.
type platform struct {
	tb       testing.TB
	cfg      Config
	conn     *amqp.Connection
	ch       *amqp.Channel
	exchange string
	queue    string
	key      string
}

func newPlatform(tb testing.TB, queueArgs amqp.Table) *platform {
	tb.Helper()
	cfg := testConfig(tb, "platform")
	p := &platform{
		tb:       tb,
		cfg:      cfg,
		exchange: uniqueName("exchange"),
		queue:    uniqueName("queue"),
		key:      uniqueName("key"),
	}
	p.connect()
	if err := p.ch.ExchangeDeclare(p.exchange, "direct", true, false, false, false, nil); err != nil {
		tb.Fatalf("declare exchange: %v", err)
	}
	if _, err := p.ch.QueueDeclare(p.queue, true, false, false, false, queueArgs); err != nil {
		tb.Fatalf("declare queue: %v", err)
	}
	if err := p.ch.QueueBind(p.queue, p.key, p.exchange, false, nil); err != nil {
		tb.Fatalf("bind queue: %v", err)
	}
	tb.Cleanup(func() {
		p.reconnectIfNeeded()
		if _, err := p.ch.QueueDelete(p.queue, false, false, false); err != nil {
			tb.Errorf("delete queue %s: %v", p.queue, err)
		}
		if err := p.ch.ExchangeDelete(p.exchange, false, false); err != nil {
			tb.Errorf("delete exchange %s: %v", p.exchange, err)
		}
		_ = p.conn.Close()
	})
	return p
}

func (p *platform) connect() {
	p.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := p.cfg.dial(ctx)
	if err != nil {
		p.tb.Fatalf("platform dial: %v", err)
	}
	ch, err := conn.Channel()
	if err != nil {
		_ = conn.Close()
		p.tb.Fatalf("platform channel: %v", err)
	}
	if err := ch.Confirm(false); err != nil {
		_ = conn.Close()
		p.tb.Fatalf("platform confirm.select: %v", err)
	}
	p.conn, p.ch = conn, ch
}

// reconnectIfNeeded replaces the channel after a channel error (e.g. a failed passive
// declare).
func (p *platform) reconnectIfNeeded() {
	p.tb.Helper()
	if p.ch.IsClosed() {
		_ = p.conn.Close()
		p.connect()
	}
}

// publish publishes bodies to the platform's exchange and waits for their confirms.
func (p *platform) publish(bodies ...string) {
	p.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, b := range bodies {
		dc, err := p.ch.PublishWithDeferredConfirmWithContext(ctx, p.exchange, p.key, false, false,
			amqp.Publishing{DeliveryMode: amqp.Persistent, Body: []byte(b)})
		if err != nil {
			p.tb.Fatalf("platform publish: %v", err)
		}
		if ok, err := dc.WaitContext(ctx); !ok || err != nil {
			p.tb.Fatalf("platform publish not confirmed: acked %v, %v", ok, err)
		}
	}
}

// ready returns the number of messages ready in the queue (not counting unacknowledged).
func (p *platform) ready() int {
	p.tb.Helper()
	q, err := p.ch.QueueDeclarePassive(p.queue, true, false, false, false, nil)
	if err != nil {
		p.tb.Fatalf("inspect queue: %v", err)
	}
	return q.Messages
}

// drain takes every ready message off the queue.
func (p *platform) drain() []amqp.Delivery {
	p.tb.Helper()
	var out []amqp.Delivery
	for {
		d, ok, err := p.ch.Get(p.queue, true)
		if err != nil {
			p.tb.Fatalf("basic.get: %v", err)
		}
		if !ok {
			return out
		}
		out = append(out, d)
	}
}

// killConnections closes, through rabbitmqctl, every broker connection named name, as an
// operator or a failing node would. It returns how many it closed. The test is skipped
// when rabbitmqctl cannot manage the broker under test.
func killConnections(tb testing.TB, cfg Config) int {
	tb.Helper()
	requireRabbitmqctl(tb, cfg)
	out, err := exec.Command("rabbitmqctl", "-q", "--no-table-headers", "list_connections", "pid", "client_properties").CombinedOutput()
	if err != nil {
		tb.Fatalf("rabbitmqctl list_connections: %v: %s", err, out)
	}
	marker := fmt.Sprintf(`{"connection_name","%s"}`, cfg.ConnectionName)
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, marker) {
			continue
		}
		pid, _, _ := strings.Cut(line, "\t")
		if out, err := exec.Command("rabbitmqctl", "-q", "close_connection", pid, "test: broker fault").CombinedOutput(); err != nil {
			tb.Fatalf("rabbitmqctl close_connection %s: %v: %s", pid, err, out)
		}
		n++
	}
	return n
}

func requireRabbitmqctl(tb testing.TB, cfg Config) {
	tb.Helper()
	if _, err := exec.LookPath("rabbitmqctl"); err != nil {
		tb.Skip("rabbitmqctl not found: connection faults cannot be injected")
	}
	if ip := net.ParseIP(cfg.Host); cfg.Host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		tb.Skipf("broker %s is not local: connection faults cannot be injected", cfg.Host)
	}
}

// logRecorder is a slog.Handler that writes to the test log and lets a test wait for a
// message to have been logged a number of times.
type logRecorder struct {
	mu     sync.Mutex
	counts map[string]int
	lines  []string
	wake   chan struct{} // closed and replaced at every record
	out    slog.Handler
}

func newLogRecorder(tb testing.TB) (*logRecorder, *slog.Logger) {
	r := &logRecorder{
		counts: map[string]int{},
		wake:   make(chan struct{}),
		out:    slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}),
	}
	return r, slog.New(r)
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *logRecorder) Handle(ctx context.Context, rec slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", rec.Level, rec.Message)
	rec.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s", a)
		return true
	})
	r.mu.Lock()
	r.counts[rec.Message]++
	r.lines = append(r.lines, b.String())
	close(r.wake)
	r.wake = make(chan struct{})
	r.mu.Unlock()
	return r.out.Handle(ctx, rec)
}

func (r *logRecorder) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &logRecorderChild{parent: r, attrs: attrs}
}

func (r *logRecorder) WithGroup(string) slog.Handler { return r }

// logRecorderChild carries attributes added with Logger.With.
type logRecorderChild struct {
	parent *logRecorder
	attrs  []slog.Attr
}

func (c *logRecorderChild) Enabled(ctx context.Context, l slog.Level) bool { return true }

func (c *logRecorderChild) Handle(ctx context.Context, rec slog.Record) error {
	rec = rec.Clone()
	rec.AddAttrs(c.attrs...)
	return c.parent.Handle(ctx, rec)
}

func (c *logRecorderChild) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &logRecorderChild{parent: c.parent, attrs: append(append([]slog.Attr{}, c.attrs...), attrs...)}
}

func (c *logRecorderChild) WithGroup(string) slog.Handler { return c }

func (r *logRecorder) count(msg string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[msg]
}

func (r *logRecorder) text() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.lines, "\n")
}

// waitFor waits until msg was logged at least n times, failing the test when ctx ends.
func (r *logRecorder) waitFor(ctx context.Context, tb testing.TB, msg string, n int) {
	tb.Helper()
	for {
		r.mu.Lock()
		got, wake := r.counts[msg], r.wake
		r.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-wake:
		case <-ctx.Done():
			tb.Fatalf("waiting for log %q x%d: got %d: %v", msg, n, got, ctx.Err())
		}
	}
}

// faultProxy forwards TCP connections to the broker of cfg. mute makes the connections
// open at that moment drop everything the broker sends (publisher confirms included), as
// a one-way network partition would; connections made later are forwarded normally.
type faultProxy struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []*proxyConn
}

type proxyConn struct {
	client, server net.Conn
	muted          atomic.Bool
	closeOnce      sync.Once
}

func (c *proxyConn) close() {
	c.closeOnce.Do(func() {
		_ = c.client.Close()
		_ = c.server.Close()
	})
}

// newFaultProxy starts a proxy to cfg's broker and returns it with cfg pointing at it.
// It stops, cutting its connections, at cleanup.
func newFaultProxy(tb testing.TB, cfg Config) (*faultProxy, Config) {
	tb.Helper()
	if cfg.UseSSL {
		tb.Skip("the fault proxy is for plain AMQP only")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("proxy listen: %v", err)
	}
	p := &faultProxy{ln: ln}
	target := cfg.addr()
	p.wg.Go(func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				_ = client.Close()
				continue
			}
			c := &proxyConn{client: client, server: server}
			p.mu.Lock()
			p.conns = append(p.conns, c)
			p.mu.Unlock()
			p.wg.Go(func() { c.pipe(server, client, false) })
			p.wg.Go(func() { c.pipe(client, server, true) })
		}
	})
	tb.Cleanup(func() {
		_ = ln.Close()
		p.cut()
		p.wg.Wait()
	})
	cfg.Host = "127.0.0.1"
	cfg.Port = ln.Addr().(*net.TCPAddr).Port
	return p, cfg
}

// pipe copies src to dst until either fails, dropping the data while c is muted when
// fromBroker; it then closes both sides, so that each peer sees the other go.
func (c *proxyConn) pipe(dst, src net.Conn, fromBroker bool) {
	defer c.close()
	buf := make([]byte, 32*1024)
	for {
		n, err := src.Read(buf)
		if n > 0 && !(fromBroker && c.muted.Load()) {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// mute drops, from now on, what the broker sends on the connections open now.
func (p *faultProxy) mute() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.muted.Store(true)
	}
}

// cut closes every connection open now, as a network failure would.
func (p *faultProxy) cut() {
	p.mu.Lock()
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
}

// waitReady waits until the platform's queue holds at least n ready messages.
func (p *platform) waitReady(ctx context.Context, n int) {
	p.tb.Helper()
	for {
		got := p.ready()
		if got >= n {
			return
		}
		select {
		case <-ctx.Done():
			p.tb.Fatalf("queue holds %d messages, waited for %d: %v", got, n, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// consumeAll takes every ready message off the queue, faster than drain: it consumes
// instead of polling with basic.get. Nothing may publish meanwhile.
func (p *platform) consumeAll() []amqp.Delivery {
	p.tb.Helper()
	n := p.ready()
	ch, err := p.conn.Channel()
	if err != nil {
		p.tb.Fatalf("platform channel: %v", err)
	}
	defer func() { _ = ch.Close() }()
	ds, err := ch.Consume(p.queue, uniqueName("drain"), true, false, false, false, nil)
	if err != nil {
		p.tb.Fatalf("basic.consume: %v", err)
	}
	out := make([]amqp.Delivery, 0, n)
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	for len(out) < n {
		select {
		case d, ok := <-ds:
			if !ok {
				p.tb.Fatalf("consumer closed after %d of %d messages", len(out), n)
			}
			out = append(out, d)
		case <-timeout.C:
			p.tb.Fatalf("consumed %d of %d messages", len(out), n)
		}
	}
	return out
}
