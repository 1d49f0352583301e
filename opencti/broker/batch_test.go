package broker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	amqp "github.com/rabbitmq/amqp091-go"
)

// batchBodies returns n distinct bodies "<prefix>-000000", "<prefix>-000001", ….
func batchBodies(prefix string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, "%s-%06d", prefix, i)
	}
	return out
}

func bodyStrings(ds []amqp.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = string(d.Body)
	}
	return out
}

func asStrings(bodies [][]byte) []string {
	out := make([]string, len(bodies))
	for i, b := range bodies {
		out[i] = string(b)
	}
	return out
}

// TestIntegrationPublishBatchInOrder publishes batches larger than the window (so that it
// wraps many times): with nothing failing, every message is in the queue exactly once, in
// order, with Publish's properties.
func TestIntegrationPublishBatchInOrder(t *testing.T) {
	tests := []struct {
		name   string
		window int // 0: default
		count  int
	}{
		{name: "default window", count: 5000},
		{name: "window 1", window: 1, count: 300},
		{name: "window 7", window: 7, count: 700},
		{name: "window above the batch", window: 10000, count: 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plat := newPlatform(t, nil)
			var retries atomic.Int64
			pub := NewPublisher(testConfig(t, "publisher"), WithPublishWindow(tt.window),
				WithOnRetry(func(error) { retries.Add(1) }))
			t.Cleanup(func() { _ = pub.Close() })
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()

			bodies := batchBodies("m", tt.count)
			n, err := pub.PublishBatch(ctx, plat.exchange, plat.key, bodies)
			if n != tt.count || err != nil {
				t.Fatalf("PublishBatch() = %d, %v; want %d, nil", n, err, tt.count)
			}
			got := plat.consumeAll()
			if diff := cmp.Diff(asStrings(bodies), bodyStrings(got)); diff != "" {
				t.Errorf("queue content mismatch (-want +got):\n%s", diff)
			}
			for _, d := range got {
				if d.DeliveryMode != amqp.Persistent || d.ContentEncoding != "utf-8" || d.ContentType != "" || d.Headers != nil {
					t.Fatalf("message %s: delivery mode %d, content encoding %q, content type %q, headers %v; want 2, utf-8, none, none",
						d.Body, d.DeliveryMode, d.ContentEncoding, d.ContentType, d.Headers)
				}
			}
			if r := retries.Load(); r != 0 {
				t.Errorf("%d retries, want none", r)
			}
		})
	}
}

func TestIntegrationPublishBatchEmpty(t *testing.T) {
	pub := NewPublisher(testConfig(t, "publisher"))
	t.Cleanup(func() { _ = pub.Close() })
	if n, err := pub.PublishBatch(t.Context(), uniqueName("never-used"), "key", nil); n != 0 || err != nil {
		t.Errorf("PublishBatch(nil) = %d, %v; want 0, nil", n, err)
	}
}

// TestIntegrationPublishBatchLostConfirms cuts the publisher's connection while a full
// window of messages awaits confirms the proxy drops: PublishBatch must publish them again
// on a new connection, in order, and return only once every message is confirmed.
func TestIntegrationPublishBatchLostConfirms(t *testing.T) {
	plat := newPlatform(t, nil)
	proxy, cfg := newFaultProxy(t, testConfig(t, "publisher"))
	rec, logger := newLogRecorder(t)
	causes := make(chan error, 100)
	const window, count = 200, 2000
	pub := NewPublisher(cfg, WithLogger(logger), WithPublishWindow(window),
		WithReconnectBackoff(10*time.Millisecond, 100*time.Millisecond),
		WithOnRetry(func(err error) { causes <- err }))
	t.Cleanup(func() { _ = pub.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	if err := pub.Publish(ctx, plat.exchange, plat.key, []byte("connect")); err != nil {
		t.Fatalf("Publish() error = %v", err)
	}
	plat.drain()
	proxy.mute()
	bodies := batchBodies("m", count)
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := pub.PublishBatch(ctx, plat.exchange, plat.key, bodies)
		done <- result{n, err}
	}()
	// The broker enqueued the whole window; its confirms never reach the publisher.
	plat.waitReady(ctx, window)
	proxy.cut()
	res := <-done
	if res.n != count || res.err != nil {
		t.Fatalf("PublishBatch() = %d, %v; want %d, nil", res.n, res.err, count)
	}
	close(causes)
	retries := 0
	for cause := range causes {
		retries++
		if errors.Is(cause, errNacked) || errors.Is(cause, errConfirmTimeout) {
			t.Errorf("retry cause = %v, want a lost connection", cause)
		}
	}
	if retries != 1 {
		t.Errorf("%d retries, want 1", retries)
	}
	if got := rec.count("Publisher connected to RabbitMQ"); got != 2 {
		t.Errorf("publisher connected %d times, want 2", got)
	}
	// The first window reached the queue before the kill, then everything was published
	// again, in order, since none was confirmed.
	got := bodyStrings(plat.consumeAll())
	want := append(asStrings(bodies[:window]), asStrings(bodies)...)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("queue content mismatch (-want +got):\n%s", diff)
	}
	distinct := map[string]bool{}
	for _, b := range got {
		distinct[b] = true
	}
	if len(distinct) != count {
		t.Errorf("queue holds %d distinct messages, want %d", len(distinct), count)
	}
}

// TestIntegrationPublishBatchReconnect kills the publisher's connection, through
// rabbitmqctl, while several goroutines publish batches at full speed (which messages are
// in flight then is up to timing): each batch returns only once all its messages are
// confirmed, and they are all in the queue afterwards (some maybe twice).
func TestIntegrationPublishBatchReconnect(t *testing.T) {
	plat := newPlatform(t, nil)
	cfg := testConfig(t, "publisher")
	requireRabbitmqctl(t, cfg)
	rec, logger := newLogRecorder(t)
	var retries atomic.Int64
	pub := NewPublisher(cfg, WithLogger(logger), WithPublishWindow(100),
		WithReconnectBackoff(10*time.Millisecond, 100*time.Millisecond),
		WithOnRetry(func(error) { retries.Add(1) }))
	t.Cleanup(func() { _ = pub.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	if err := pub.Publish(ctx, plat.exchange, plat.key, []byte("connect")); err != nil {
		t.Fatalf("Publish() error = %v", err)
	}
	const goroutines, size = 3, 500
	var (
		wg      sync.WaitGroup
		stopped atomic.Bool
		sent    atomic.Int64
	)
	for g := range goroutines {
		wg.Go(func() {
			for b := 0; !stopped.Load(); b++ {
				bodies := batchBodies(fmt.Sprintf("g%d-b%d", g, b), size)
				n, err := pub.PublishBatch(ctx, plat.exchange, plat.key, bodies)
				if n != size || err != nil {
					t.Errorf("PublishBatch() = %d, %v; want %d, nil", n, err, size)
					return
				}
				sent.Add(size)
			}
		})
	}
	plat.waitReady(ctx, 2000)
	if n := killConnections(t, cfg); n != 1 {
		t.Errorf("killed %d connections named %s, want 1", n, cfg.ConnectionName)
	}
	// Let the batches run on the new connection for a while, then stop them.
	plat.waitReady(ctx, plat.ready()+2000)
	stopped.Store(true)
	wg.Wait()
	if got := rec.count("Publisher connected to RabbitMQ"); got < 2 {
		t.Errorf("publisher connected %d times, want a reconnection", got)
	}

	distinct := map[string]bool{}
	for _, d := range plat.consumeAll() {
		distinct[string(d.Body)] = true
	}
	delete(distinct, "connect")
	if int64(len(distinct)) != sent.Load() {
		t.Errorf("queue holds %d distinct messages, want the %d confirmed", len(distinct), sent.Load())
	}
	t.Logf("%d messages confirmed, %d retries", sent.Load(), retries.Load())
}

// TestIntegrationPublishBatchNack publishes more than a reject-publish queue holds: the
// broker nacks the excess, which PublishBatch publishes again as the queue is drained
// (the drain may race with the next attempt), until every message got in, exactly once.
func TestIntegrationPublishBatchNack(t *testing.T) {
	const capacity, count = 100, 450
	plat := newPlatform(t, amqp.Table{"x-max-length": int32(capacity), "x-overflow": "reject-publish"})
	causes := make(chan error, count)
	pub := NewPublisher(testConfig(t, "publisher"),
		WithReconnectBackoff(10*time.Millisecond, 50*time.Millisecond),
		WithOnRetry(func(err error) { causes <- err }))
	t.Cleanup(func() { _ = pub.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	bodies := batchBodies("m", count)
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := pub.PublishBatch(ctx, plat.exchange, plat.key, bodies)
		done <- result{n, err}
	}()
	var got []string
	retries := 0
	for res := (result{n: -1}); res.n < 0; {
		select {
		case res = <-done:
			if res.n != count || res.err != nil {
				t.Fatalf("PublishBatch() = %d, %v; want %d, nil", res.n, res.err, count)
			}
		case cause := <-causes:
			retries++
			if !errors.Is(cause, errNacked) {
				t.Errorf("retry cause = %v, want errNacked", cause)
			}
		}
		// Make room for the next attempt.
		got = append(got, bodyStrings(plat.drain())...)
	}
	if retries == 0 {
		t.Error("no retry, want one at least")
	}
	seen := map[string]int{}
	for _, b := range got {
		seen[b]++
	}
	for _, b := range bodies {
		if seen[string(b)] != 1 {
			t.Errorf("message %s is in the queue %d times, want once", b, seen[string(b)])
		}
	}
	if len(got) != count {
		t.Errorf("queue held %d messages, want %d", len(got), count)
	}
	// The first attempt had room for the head of the batch only.
	if diff := cmp.Diff(asStrings(bodies[:capacity]), got[:capacity]); diff != "" {
		t.Errorf("first attempt mismatch (-want +got):\n%s", diff)
	}
}

// TestIntegrationPublishBatchContextCancelled cancels ctx while PublishBatch waits for
// confirms that never come: it returns at once with ctx's error.
func TestIntegrationPublishBatchContextCancelled(t *testing.T) {
	plat := newPlatform(t, nil)
	proxy, cfg := newFaultProxy(t, testConfig(t, "publisher"))
	pub := NewPublisher(cfg, WithPublishWindow(50))
	t.Cleanup(func() { _ = pub.Close() })
	t.Cleanup(proxy.cut) // before Close: the muted connection cannot complete connection.close
	if err := pub.Publish(t.Context(), plat.exchange, plat.key, []byte("connect")); err != nil {
		t.Fatalf("Publish() error = %v", err)
	}
	plat.drain()
	proxy.mute()

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := pub.PublishBatch(ctx, plat.exchange, plat.key, batchBodies("m", 500))
		done <- result{n, err}
	}()
	waitCtx, stop := context.WithTimeout(t.Context(), 20*time.Second)
	defer stop()
	plat.waitReady(waitCtx, 50)
	cancel()
	res := <-done
	if res.n != 0 || !errors.Is(res.err, context.Canceled) {
		t.Fatalf("PublishBatch() = %d, %v; want 0 and an error wrapping context.Canceled", res.n, res.err)
	}
	if !strings.Contains(res.err.Error(), "500 of 500 messages unconfirmed") {
		t.Errorf("PublishBatch() error = %q, want it to say how many messages are unconfirmed", res.err)
	}
	if got := plat.ready(); got != 50 {
		t.Errorf("queue holds %d messages, want the window (50)", got)
	}
}

// TestIntegrationPublishBatchConfirmTimeout withholds every publisher confirm: each
// attempt must time out, drop its connection and try again on a new one, until ctx ends.
func TestIntegrationPublishBatchConfirmTimeout(t *testing.T) {
	plat := newPlatform(t, nil)
	rec, logger := newLogRecorder(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	causes := make(chan error, 10)
	var sessions atomic.Int64
	pub := NewPublisher(testConfig(t, "publisher"), WithLogger(logger), WithConfirmTimeout(time.Millisecond),
		withholdConfirms(&sessions), WithPublishWindow(10),
		WithReconnectBackoff(time.Millisecond, 5*time.Millisecond),
		WithOnRetry(func(err error) {
			causes <- err
			if len(causes) == 2 {
				cancel()
			}
		}))
	t.Cleanup(func() { _ = pub.Close() })
	n, err := pub.PublishBatch(ctx, plat.exchange, plat.key, batchBodies("m", 100))
	if n != 0 || !errors.Is(err, context.Canceled) {
		t.Fatalf("PublishBatch() = %d, %v; want 0 and an error wrapping context.Canceled", n, err)
	}
	if !strings.Contains(err.Error(), "100 of 100 messages unconfirmed") {
		t.Errorf("PublishBatch() error = %q, want every message unconfirmed", err)
	}
	close(causes)
	retries := 0
	for cause := range causes {
		retries++
		if !errors.Is(cause, errConfirmTimeout) {
			t.Errorf("retry cause = %v, want errConfirmTimeout", cause)
		}
	}
	if retries != 2 {
		t.Errorf("%d retries, want 2", retries)
	}
	if c, s := rec.count("Publisher connected to RabbitMQ"), sessions.Load(); c != 2 || s != 2 {
		t.Errorf("publisher connected %d times (%d sessions), want 2: a new connection after each confirm timeout", c, s)
	}
}

// TestIntegrationPublishBatchConcurrent runs batches and single publications at once on one
// publisher: each source's messages are in the queue exactly once and in order.
func TestIntegrationPublishBatchConcurrent(t *testing.T) {
	plat := newPlatform(t, nil)
	var retries atomic.Int64
	pub := NewPublisher(testConfig(t, "publisher"), WithPublishWindow(300),
		WithOnRetry(func(error) { retries.Add(1) }))
	t.Cleanup(func() { _ = pub.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	const batchers, batches, size, singles = 4, 3, 700, 100
	var wg sync.WaitGroup
	want := map[string][]string{}
	for g := range batchers {
		src := fmt.Sprintf("batch%d", g)
		all := batchBodies(src, batches*size)
		want[src] = asStrings(all)
		wg.Go(func() {
			for b := range batches {
				part := all[b*size : (b+1)*size]
				if n, err := pub.PublishBatch(ctx, plat.exchange, plat.key, part); n != size || err != nil {
					t.Errorf("PublishBatch() = %d, %v; want %d, nil", n, err, size)
				}
			}
		})
	}
	single := batchBodies("single", singles)
	want["single"] = asStrings(single)
	wg.Go(func() {
		for _, b := range single {
			if err := pub.Publish(ctx, plat.exchange, plat.key, b); err != nil {
				t.Errorf("Publish() error = %v", err)
			}
		}
	})
	wg.Wait()

	got := map[string][]string{}
	for _, b := range bodyStrings(plat.consumeAll()) {
		src, _, _ := strings.Cut(b, "-")
		got[src] = append(got[src], b)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("queue content by source mismatch (-want +got):\n%s", diff)
	}
	if r := retries.Load(); r != 0 {
		t.Errorf("%d retries, want none", r)
	}
}

// TestIntegrationPublishBatchUnknownExchange publishes a batch to a missing exchange while
// another batch goes to a good one on the same channel, which the broker closes: the first
// fails at once with ErrNotFound, the other is published again and completes.
func TestIntegrationPublishBatchUnknownExchange(t *testing.T) {
	plat := newPlatform(t, nil)
	var retries atomic.Int64
	pub := NewPublisher(testConfig(t, "publisher"), WithOnRetry(func(error) { retries.Add(1) }),
		WithReconnectBackoff(10*time.Millisecond, 20*time.Millisecond))
	t.Cleanup(func() { _ = pub.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	if err := pub.Publish(ctx, plat.exchange, plat.key, []byte("connect")); err != nil {
		t.Fatalf("Publish() error = %v", err)
	}
	plat.drain()
	good := batchBodies("good", 3000)
	var wg sync.WaitGroup
	wg.Go(func() {
		if n, err := pub.PublishBatch(ctx, plat.exchange, plat.key, good); n != len(good) || err != nil {
			t.Errorf("PublishBatch() to the good exchange = %d, %v; want %d, nil", n, err, len(good))
		}
	})
	plat.waitReady(ctx, 100) // the good batch is under way
	missing := uniqueName("missing")
	n, err := pub.PublishBatch(ctx, missing, "key", batchBodies("bad", 10))
	if n != 0 || !errors.Is(err, ErrNotFound) {
		t.Errorf("PublishBatch() to a missing exchange = %d, %v; want 0 and an error wrapping ErrNotFound", n, err)
	}
	wg.Wait()
	distinct := map[string]bool{}
	for _, d := range plat.consumeAll() {
		distinct[string(d.Body)] = true
	}
	if len(distinct) != len(good) {
		t.Errorf("queue holds %d distinct messages, want %d", len(distinct), len(good))
	}
	t.Logf("%d retries of the good batch", retries.Load())
}

func TestIntegrationPublishBatchAfterClose(t *testing.T) {
	plat := newPlatform(t, nil)
	pub := NewPublisher(testConfig(t, "publisher"))
	if err := pub.Close(); err != nil {
		t.Fatalf("Close() error = %v", err)
	}
	if n, err := pub.PublishBatch(t.Context(), plat.exchange, plat.key, batchBodies("m", 3)); n != 0 || !errors.Is(err, ErrClosed) {
		t.Errorf("PublishBatch() after Close = %d, %v; want 0 and ErrClosed", n, err)
	}
}

func BenchmarkIntegrationPublishBatch(b *testing.B) {
	plat := newPlatform(b, nil)
	pub := NewPublisher(testConfig(b, "bench"))
	b.Cleanup(func() { _ = pub.Close() })
	applicant := "88ec0c6a-13ce-5e39-b486-354fe4a7084f"
	const size = 1000
	bodies := make([][]byte, size)
	for i := range bodies {
		body, err := NewEnvelope([]byte(`{"type": "bundle", "objects": [{"type": "domain-name", "value": "example.com"}]}`), i+1, &applicant, nil, "work_1").Marshal()
		if err != nil {
			b.Fatal(err)
		}
		bodies[i] = body
	}
	ctx := b.Context()
	if err := pub.Publish(ctx, plat.exchange, plat.key, bodies[0]); err != nil { // connect outside the timing
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if n, err := pub.PublishBatch(ctx, plat.exchange, plat.key, bodies); n != size || err != nil {
			b.Fatalf("PublishBatch() = %d, %v", n, err)
		}
		b.StopTimer()
		if _, err := plat.ch.QueuePurge(plat.queue, false); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*size), "ns/msg")
}
