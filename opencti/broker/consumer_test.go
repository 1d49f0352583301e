package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// runConsumer starts c.Run in a goroutine. The returned stop cancels Run's context and
// returns Run's result; it is also called at cleanup.
func runConsumer(t *testing.T, c *Consumer, h Handler) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, h) }()
	stop = sync.OnceValue(func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(time.Minute):
			t.Error("Run did not return within a minute of its context ending")
			return nil
		}
	})
	t.Cleanup(func() { _ = stop() })
	return stop
}

// receive waits for n values from ch, failing the test when ctx ends.
func receive[T any](ctx context.Context, t *testing.T, ch <-chan T, n int) []T {
	t.Helper()
	var out []T
	for len(out) < n {
		select {
		case v := <-ch:
			out = append(out, v)
		case <-ctx.Done():
			t.Fatalf("received %d of %d values: %v", len(out), n, ctx.Err())
		}
	}
	return out
}

func TestConsumerRunRejectsBadArguments(t *testing.T) {
	h := func(context.Context, *Delivery) {}
	tests := []struct {
		name string
		c    *Consumer
		h    Handler
		want string
	}{
		{name: "nil handler", c: NewConsumer(Config{Host: "h"}, "q"), want: "nil handler"},
		{name: "empty queue", c: NewConsumer(Config{Host: "h"}, ""), h: h, want: "empty queue name"},
		{name: "invalid config", c: NewConsumer(Config{}, "q"), h: h, want: "host is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Run(t.Context(), tt.h)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Run() error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestConsumerRunsOnceAtATime(t *testing.T) {
	// Nothing listens on port 1: the first Run keeps retrying until stopped.
	rec, logger := newLogRecorder(t)
	c := NewConsumer(Config{Host: "127.0.0.1", Port: 1}, "q", WithLogger(logger), WithReconnectBackoff(5*time.Millisecond, 10*time.Millisecond))
	stop := runConsumer(t, c, func(context.Context, *Delivery) {})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	rec.waitFor(ctx, t, "Consumer could not connect to RabbitMQ", 2)
	if err := c.Run(ctx, func(context.Context, *Delivery) {}); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second Run() error = %v, want already running", err)
	}
	if err := stop(); err != nil {
		t.Errorf("Run() = %v after cancellation, want nil", err)
	}
}

func TestIntegrationConsumePrefetch(t *testing.T) {
	const prefetch, total = 3, 12
	plat := newPlatform(t, nil)
	for i := range total {
		plat.publish(fmt.Sprint(i))
	}
	var (
		current, peak atomic.Int64
		started       = make(chan struct{}, total)
		release       = make(chan struct{})
		acked         = make(chan string, total)
	)
	c := NewConsumer(testConfig(t, "consumer"), plat.queue, WithPrefetch(prefetch))
	stop := runConsumer(t, c, func(ctx context.Context, d *Delivery) {
		defer current.Add(-1)
		n := current.Add(1)
		for p := peak.Load(); n > p; p = peak.Load() {
			if peak.CompareAndSwap(p, n) {
				break
			}
		}
		started <- struct{}{}
		<-release
		if err := d.Ack(); err != nil {
			t.Errorf("Ack() error = %v", err)
			return
		}
		acked <- string(d.Body)
	})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	receive(ctx, t, started, prefetch)
	// Three handlers block: the broker must hold the other messages back.
	if got := plat.ready(); got != total-prefetch {
		t.Errorf("%d messages ready while %d handlers block, want %d", got, prefetch, total-prefetch)
	}
	close(release)
	got := receive(ctx, t, acked, total)
	if err := stop(); err != nil {
		t.Errorf("Run() = %v, want nil", err)
	}
	if p := peak.Load(); p != prefetch {
		t.Errorf("at most %d handlers ran at once, want %d", p, prefetch)
	}
	slices.Sort(got)
	want := make([]string, total)
	for i := range want {
		want[i] = fmt.Sprint(i)
	}
	slices.Sort(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("acked messages mismatch (-want +got):\n%s", diff)
	}
	if n := plat.ready(); n != 0 {
		t.Errorf("%d messages left in the queue, want 0", n)
	}
}

func TestIntegrationConsumeRejectAndRequeue(t *testing.T) {
	plat := newPlatform(t, nil)
	plat.publish("drop", "requeue", "ack")
	type event struct {
		Body        string
		Redelivered bool
	}
	events := make(chan event, 10)
	c := NewConsumer(testConfig(t, "consumer"), plat.queue)
	stop := runConsumer(t, c, func(ctx context.Context, d *Delivery) {
		var err error
		switch body := string(d.Body); {
		case body == "drop":
			err = d.Reject(false)
		case body == "requeue" && !d.Redelivered:
			err = d.Reject(true)
		default:
			err = d.Ack()
		}
		if err != nil {
			t.Errorf("settling %s: %v", d.Body, err)
		}
		if err := d.Ack(); !errors.Is(err, ErrAlreadySettled) {
			t.Errorf("second settle of %s: %v, want ErrAlreadySettled", d.Body, err)
		}
		events <- event{string(d.Body), d.Redelivered}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	got := receive(ctx, t, events, 4)
	if err := stop(); err != nil {
		t.Errorf("Run() = %v, want nil", err)
	}
	slices.SortFunc(got, func(a, b event) int {
		return strings.Compare(fmt.Sprint(a), fmt.Sprint(b))
	})
	want := []event{{"ack", false}, {"drop", false}, {"requeue", false}, {"requeue", true}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("deliveries mismatch (-want +got):\n%s", diff)
	}
	if n := plat.ready(); n != 0 {
		t.Errorf("%d messages left in the queue, want 0 (drop must not come back)", n)
	}
}

// TestIntegrationConsumeUnsettled checks what happens to deliveries a handler forgets to
// settle, or panics on: requeued once, then dropped.
func TestIntegrationConsumeUnsettled(t *testing.T) {
	plat := newPlatform(t, nil)
	plat.publish("panic", "forget")
	rec, logger := newLogRecorder(t)
	seen := make(chan string, 10)
	c := NewConsumer(testConfig(t, "consumer"), plat.queue, WithLogger(logger))
	stop := runConsumer(t, c, func(ctx context.Context, d *Delivery) {
		seen <- fmt.Sprintf("%s redelivered=%v", d.Body, d.Redelivered)
		if string(d.Body) == "panic" {
			panic("handler bug")
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	got := receive(ctx, t, seen, 4)
	rec.waitFor(ctx, t, "Message handler neither acknowledged nor rejected its message", 4)
	if err := stop(); err != nil {
		t.Errorf("Run() = %v, want nil", err)
	}
	slices.Sort(got)
	want := []string{"forget redelivered=false", "forget redelivered=true", "panic redelivered=false", "panic redelivered=true"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("deliveries mismatch (-want +got):\n%s", diff)
	}
	if n := rec.count("Message handler panicked"); n != 2 {
		t.Errorf("Message handler panicked logged %d times, want 2", n)
	}
	if n := plat.ready(); n != 0 {
		t.Errorf("%d messages left in the queue, want 0 (dropped after one requeue)", n)
	}
}

func TestIntegrationConsumeMissingQueue(t *testing.T) {
	cfg := testConfig(t, "consumer")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	err := NewConsumer(cfg, uniqueName("missing")).Run(ctx, func(context.Context, *Delivery) {
		t.Error("handler called for a missing queue")
	})
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("Run() on a missing queue = %v, want ErrNotFound", err)
	}
}

// TestIntegrationConsumeQueueDeleted deletes the queue under a running consumer, as
// deleting a connector in OpenCTI does: the broker cancels the consumer, Run tries again
// and returns ErrNotFound.
func TestIntegrationConsumeQueueDeleted(t *testing.T) {
	plat := newPlatform(t, nil)
	rec, logger := newLogRecorder(t)
	c := NewConsumer(testConfig(t, "consumer"), plat.queue, WithLogger(logger),
		WithReconnectBackoff(10*time.Millisecond, 20*time.Millisecond))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, func(context.Context, *Delivery) {}) }()
	rec.waitFor(ctx, t, "Consumer started", 1)
	if _, err := plat.ch.QueueDelete(plat.queue, false, false, false); err != nil {
		t.Fatalf("delete queue: %v", err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("Run() after the queue was deleted = %v, want ErrNotFound", err)
		}
	case <-ctx.Done():
		t.Fatal("Run() did not return after the queue was deleted")
	}
	if n := rec.count("Consumer connection to RabbitMQ lost"); n != 1 {
		t.Errorf("consumer_connection_lost logged %d times, want 1", n)
	}
}

// TestIntegrationConsumerSecretNeverLogged checks that refused credentials are retried,
// logged at error level, and that the password shows nowhere.
func TestIntegrationConsumerSecretNeverLogged(t *testing.T) {
	const secret = "s3cr3t-broker-PASSWORD-c0n5"
	plat := newPlatform(t, nil)
	cfg := testConfig(t, "consumer")
	cfg.Password = secret
	rec, logger := newLogRecorder(t)
	c := NewConsumer(cfg, plat.queue, WithLogger(logger), WithReconnectBackoff(10*time.Millisecond, 20*time.Millisecond))
	stop := runConsumer(t, c, func(context.Context, *Delivery) {})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	rec.waitFor(ctx, t, "Reconnecting to RabbitMQ", 1) // each refusal takes the broker about 3 s
	if err := stop(); err != nil {
		t.Errorf("Run() = %v after cancellation, want nil", err)
	}
	logs := rec.text()
	if !strings.Contains(logs, "ERROR Consumer could not connect to RabbitMQ") {
		t.Errorf("refused credentials not logged at error level:\n%s", logs)
	}
	if strings.Contains(logs, secret) {
		t.Errorf("password leaked in logs:\n%s", logs)
	}
}

// TestIntegrationConsumerReconnect kills the consumer's connection while handlers hold
// deliveries: their acks fail, the consumer reconnects, the messages come back redelivered
// and every message ends up acknowledged exactly once.
func TestIntegrationConsumerReconnect(t *testing.T) {
	const prefetch, total = 4, 40
	plat := newPlatform(t, nil)
	for i := range total {
		plat.publish(fmt.Sprint(i))
	}
	cfg := testConfig(t, "consumer")
	requireRabbitmqctl(t, cfg)
	rec, logger := newLogRecorder(t)
	var (
		gated       atomic.Int64
		started     = make(chan struct{}, prefetch)
		release     = make(chan struct{})
		acked       = make(chan string, 2*total)
		mu          sync.Mutex
		ackCount    = map[string]int{}
		closedAcks  int
		redelivered int
	)
	c := NewConsumer(cfg, plat.queue, WithPrefetch(prefetch), WithLogger(logger),
		WithReconnectBackoff(10*time.Millisecond, 100*time.Millisecond))
	stop := runConsumer(t, c, func(ctx context.Context, d *Delivery) {
		if gated.Add(1) <= prefetch {
			started <- struct{}{}
			<-release
		}
		err := d.Ack()
		mu.Lock()
		defer mu.Unlock()
		if d.Redelivered {
			redelivered++
		}
		switch {
		case err == nil:
			ackCount[string(d.Body)]++
			acked <- string(d.Body)
		case errors.Is(err, ErrChannelClosed):
			closedAcks++
		default:
			t.Errorf("Ack(%s) error = %v", d.Body, err)
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	receive(ctx, t, started, prefetch)
	if n := killConnections(t, cfg); n != 1 {
		t.Fatalf("killed %d connections named %s, want 1", n, cfg.ConnectionName)
	}
	rec.waitFor(ctx, t, "Consumer connection to RabbitMQ lost", 1)
	close(release)

	distinct := map[string]bool{}
	for len(distinct) < total {
		distinct[receive(ctx, t, acked, 1)[0]] = true
	}
	if err := stop(); err != nil {
		t.Errorf("Run() = %v, want nil", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for body, n := range ackCount {
		if n != 1 {
			t.Errorf("message %s acknowledged %d times, want 1", body, n)
		}
	}
	if closedAcks != prefetch {
		t.Errorf("%d acks failed with ErrChannelClosed, want %d (the deliveries of the killed channel)", closedAcks, prefetch)
	}
	if redelivered < prefetch {
		t.Errorf("%d redeliveries, want at least %d", redelivered, prefetch)
	}
	if n := rec.count("Consumer started"); n < 2 {
		t.Errorf("consumer started %d times, want a restart", n)
	}
	if n := plat.ready(); n != 0 {
		t.Errorf("%d messages left in the queue, want 0", n)
	}
}

// TestIntegrationConsumerStopWaitsForHandlers stops the consumer while handlers hold
// deliveries that they acknowledge within the grace period.
func TestIntegrationConsumerStopWaitsForHandlers(t *testing.T) {
	plat := newPlatform(t, nil)
	plat.publish("a", "b", "c")
	rec, logger := newLogRecorder(t)
	var (
		started  = make(chan struct{}, 2)
		release  = make(chan struct{})
		finished atomic.Int64
	)
	c := NewConsumer(testConfig(t, "consumer"), plat.queue, WithPrefetch(2), WithLogger(logger))
	stop := runConsumer(t, c, func(ctx context.Context, d *Delivery) {
		started <- struct{}{}
		<-release
		if ctx.Err() != nil {
			t.Errorf("handler context cancelled within the grace period: %v", ctx.Err())
		}
		if err := d.Ack(); err != nil {
			t.Errorf("Ack() during shutdown error = %v", err)
		}
		finished.Add(1)
	})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	receive(ctx, t, started, 2)

	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	rec.waitFor(ctx, t, "Consumer stopping, waiting for the messages in flight", 1) // consumer cancelled, Run now waits
	close(release)
	if err := <-stopped; err != nil {
		t.Errorf("Run() = %v, want nil", err)
	}
	if n := finished.Load(); n != 2 {
		t.Errorf("Run returned with %d of 2 handlers finished", n)
	}
	if n := plat.ready(); n != 1 {
		t.Errorf("%d messages ready after stop, want 1 (the one never delivered)", n)
	}
}

// TestIntegrationConsumerStopInFlight stops the consumer while handlers block past the
// grace period: their context is cancelled, nothing is acknowledged, and a second consumer
// receives the messages again.
func TestIntegrationConsumerStopInFlight(t *testing.T) {
	plat := newPlatform(t, nil)
	plat.publish("a", "b")
	rec, logger := newLogRecorder(t)
	started := make(chan struct{}, 2)
	cancelled := make(chan error, 2)
	first := NewConsumer(testConfig(t, "consumer"), plat.queue, WithPrefetch(2),
		WithGracePeriod(100*time.Millisecond), WithLogger(logger))
	stop := runConsumer(t, first, func(ctx context.Context, d *Delivery) {
		started <- struct{}{}
		<-ctx.Done()
		cancelled <- ctx.Err()
	})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	receive(ctx, t, started, 2)
	if err := stop(); err != nil {
		t.Errorf("Run() = %v, want nil", err)
	}
	for _, err := range receive(ctx, t, cancelled, 2) {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("handler context error = %v, want context.Canceled", err)
		}
	}
	if n := rec.count("Shutdown grace period expired with messages in flight"); n != 1 {
		t.Errorf("grace period expiry logged %d times, want 1", n)
	}
	if n := rec.count("Message handler neither acknowledged nor rejected its message"); n != 0 {
		t.Errorf("unsettled message logged %d times while stopping, want 0", n)
	}

	type event struct {
		Body        string
		Redelivered bool
	}
	events := make(chan event, 2)
	second := NewConsumer(testConfig(t, "consumer"), plat.queue, WithPrefetch(2))
	stop2 := runConsumer(t, second, func(ctx context.Context, d *Delivery) {
		if err := d.Ack(); err != nil {
			t.Errorf("Ack() error = %v", err)
		}
		events <- event{string(d.Body), d.Redelivered}
	})
	got := receive(ctx, t, events, 2)
	if err := stop2(); err != nil {
		t.Errorf("second Run() = %v, want nil", err)
	}
	slices.SortFunc(got, func(a, b event) int { return strings.Compare(a.Body, b.Body) })
	if diff := cmp.Diff([]event{{"a", true}, {"b", true}}, got); diff != "" {
		t.Errorf("second consumer deliveries mismatch (-want +got):\n%s", diff)
	}
	if n := plat.ready(); n != 0 {
		t.Errorf("%d messages left in the queue, want 0", n)
	}
}
