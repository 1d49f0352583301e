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

func TestIntegrationPublishEnvelope(t *testing.T) {
	plat := newPlatform(t, nil)
	_, logger := newLogRecorder(t)
	pub := NewPublisher(testConfig(t, "publisher"), WithLogger(logger))
	t.Cleanup(func() { _ = pub.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	applicant := "88ec0c6a-13ce-5e39-b486-354fe4a7084f"
	part := []byte(`{"type": "bundle", "id": "bundle--0b0c1c1e-6e5e-4c5a-9d53-1a9c1a9e5b11", "objects": [{"type": "domain-name", "value": "exampl\u00e9.com"}]}`)
	body, err := NewEnvelope(part, 1, &applicant, nil, "work_1").Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(ctx, plat.exchange, plat.key, body); err != nil {
		t.Fatalf("Publish() error = %v", err)
	}
	// Publish returned after the confirm: the broker has enqueued the message.
	got := plat.drain()
	if len(got) != 1 {
		t.Fatalf("queue holds %d messages after Publish, want 1", len(got))
	}
	m := got[0]
	type props struct {
		DeliveryMode    uint8
		ContentEncoding string
		ContentType     string
		Headers         amqp.Table
		Body            string
	}
	want := props{DeliveryMode: 2, ContentEncoding: "utf-8", Body: string(body)}
	if diff := cmp.Diff(want, props{m.DeliveryMode, m.ContentEncoding, m.ContentType, m.Headers, string(m.Body)}); diff != "" {
		t.Errorf("published message mismatch (-want +got):\n%s", diff)
	}
}

func TestIntegrationPublishConcurrent(t *testing.T) {
	plat := newPlatform(t, nil)
	pub := NewPublisher(testConfig(t, "publisher"))
	t.Cleanup(func() { _ = pub.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	const goroutines, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*each)
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				if err := pub.Publish(ctx, plat.exchange, plat.key, fmt.Appendf(nil, "%d-%d", g, i)); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Publish() error = %v", err)
	}
	if got := plat.ready(); got != goroutines*each {
		t.Errorf("queue holds %d messages, want %d", got, goroutines*each)
	}
}

// TestIntegrationPublishNackRetry fills a reject-publish queue so that the broker nacks,
// then makes room: Publish must retry until the message is confirmed.
func TestIntegrationPublishNackRetry(t *testing.T) {
	plat := newPlatform(t, amqp.Table{"x-max-length": int32(1), "x-overflow": "reject-publish"})
	retried := make(chan error, 100)
	pub := NewPublisher(testConfig(t, "publisher"),
		WithReconnectBackoff(10*time.Millisecond, 50*time.Millisecond),
		WithOnRetry(func(err error) { retried <- err }))
	t.Cleanup(func() { _ = pub.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	if err := pub.Publish(ctx, plat.exchange, plat.key, []byte("first")); err != nil {
		t.Fatalf("Publish(first) error = %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- pub.Publish(ctx, plat.exchange, plat.key, []byte("second")) }()
	select {
	case err := <-retried:
		if !errors.Is(err, errNacked) {
			t.Errorf("retry cause = %v, want errNacked", err)
		}
	case err := <-done:
		t.Fatalf("Publish(second) into a full queue returned %v before any retry", err)
	}
	if got := plat.drain(); len(got) != 1 || string(got[0].Body) != "first" {
		t.Fatalf("drained %d messages, want only first", len(got))
	}
	if err := <-done; err != nil {
		t.Fatalf("Publish(second) error = %v, want nil once the queue has room", err)
	}
	if got := plat.drain(); len(got) != 1 || string(got[0].Body) != "second" {
		t.Errorf("queue after retry holds %d messages, want only second", len(got))
	}
}

func TestIntegrationPublishGivesUpWhenContextEnds(t *testing.T) {
	plat := newPlatform(t, amqp.Table{"x-max-length": int32(0), "x-overflow": "reject-publish"})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var retries atomic.Int64
	pub := NewPublisher(testConfig(t, "publisher"),
		WithReconnectBackoff(10*time.Millisecond, 20*time.Millisecond),
		WithOnRetry(func(error) {
			// Give up after a few nacks; counting retries keeps the test free of timing.
			if retries.Add(1) == 3 {
				cancel()
			}
		}))
	t.Cleanup(func() { _ = pub.Close() })
	err := pub.Publish(ctx, plat.exchange, plat.key, []byte("never fits"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Publish() error = %v, want one wrapping context.Canceled", err)
	}
	if !strings.Contains(err.Error(), errNacked.Error()) {
		t.Errorf("Publish() error = %q, want the last cause (nack) in it", err)
	}
}

// TestIntegrationPublishConfirmTimeout withholds every publisher confirm: each attempt
// must time out, drop its connection and try again on a new one, until ctx ends.
func TestIntegrationPublishConfirmTimeout(t *testing.T) {
	plat := newPlatform(t, nil)
	rec, logger := newLogRecorder(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	causes := make(chan error, 10)
	var sessions atomic.Int64
	pub := NewPublisher(testConfig(t, "publisher"), WithLogger(logger), WithConfirmTimeout(time.Millisecond),
		withholdConfirms(&sessions),
		WithReconnectBackoff(time.Millisecond, 5*time.Millisecond),
		WithOnRetry(func(err error) {
			causes <- err
			if len(causes) == 2 {
				cancel()
			}
		}))
	t.Cleanup(func() { _ = pub.Close() })
	err := pub.Publish(ctx, plat.exchange, plat.key, []byte("x"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Publish() error = %v, want context.Canceled", err)
	}
	if !strings.Contains(err.Error(), "gave up after 2 attempt(s)") || !strings.Contains(err.Error(), errConfirmTimeout.Error()) {
		t.Errorf("Publish() error = %q, want 2 attempts and the confirm timeout as last cause", err)
	}
	close(causes)
	n := 0
	for cause := range causes {
		n++
		if !errors.Is(cause, errConfirmTimeout) {
			t.Errorf("retry cause = %v, want errConfirmTimeout", cause)
		}
	}
	if n != 2 {
		t.Errorf("%d retries, want 2", n)
	}
	// One connection per attempt: each confirm timeout dropped the connection.
	if c, s := rec.count("Publisher connected to RabbitMQ"), sessions.Load(); c != 2 || s != 2 {
		t.Errorf("publisher connected %d times (%d sessions), want 2", c, s)
	}
}

func TestIntegrationPublishUnknownExchange(t *testing.T) {
	plat := newPlatform(t, nil)
	var retries atomic.Int64
	pub := NewPublisher(testConfig(t, "publisher"), WithOnRetry(func(error) { retries.Add(1) }),
		WithReconnectBackoff(10*time.Millisecond, 20*time.Millisecond))
	t.Cleanup(func() { _ = pub.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	// Publications to a good exchange run meanwhile on the same channel, which the broker
	// closes because of the bad one: they must be retried, not fail with ErrNotFound.
	const good = 50
	var wg sync.WaitGroup
	firstDone := make(chan struct{})
	wg.Go(func() {
		for i := range good {
			if err := pub.Publish(ctx, plat.exchange, plat.key, fmt.Append(nil, i)); err != nil {
				t.Errorf("Publish() to the good exchange error = %v", err)
			}
			if i == 0 {
				close(firstDone)
			}
		}
	})
	<-firstDone
	err := pub.Publish(ctx, uniqueName("missing"), "key", []byte("x"))
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("Publish() to a missing exchange error = %v, want ErrNotFound", err)
	}
	wg.Wait()
	distinct := map[string]bool{}
	for _, d := range plat.drain() {
		distinct[string(d.Body)] = true // a message whose confirm was lost is there twice
	}
	if len(distinct) != good {
		t.Errorf("queue holds %d distinct messages, want %d", len(distinct), good)
	}
	// The channel closed by the broker is replaced on the next call.
	if err := pub.Publish(ctx, plat.exchange, plat.key, []byte("ok")); err != nil {
		t.Fatalf("Publish() after the channel error = %v", err)
	}
	if got := plat.ready(); got != 1 {
		t.Errorf("queue holds %d messages, want 1", got)
	}
	t.Logf("%d retries of good publications", retries.Load())
}

func TestIntegrationPublishAfterClose(t *testing.T) {
	plat := newPlatform(t, nil)
	pub := NewPublisher(testConfig(t, "publisher"))
	if err := pub.Publish(t.Context(), plat.exchange, plat.key, []byte("x")); err != nil {
		t.Fatalf("Publish() error = %v", err)
	}
	if err := pub.Close(); err != nil {
		t.Fatalf("Close() error = %v", err)
	}
	if err := pub.Close(); err != nil {
		t.Fatalf("second Close() error = %v", err)
	}
	if err := pub.Publish(t.Context(), plat.exchange, plat.key, []byte("y")); !errors.Is(err, ErrClosed) {
		t.Errorf("Publish() after Close error = %v, want ErrClosed", err)
	}
}

// TestIntegrationPublisherSecretNeverLogged drives a known password through the failure
// paths (refused credentials, retries, giving up) and looks for it in logs and errors.
func TestIntegrationPublisherSecretNeverLogged(t *testing.T) {
	const secret = "s3cr3t-broker-PASSWORD-7f3a"
	cfg := testConfig(t, "publisher")
	cfg.Password = secret
	rec, logger := newLogRecorder(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var retries atomic.Int64
	pub := NewPublisher(cfg, WithLogger(logger), WithReconnectBackoff(10*time.Millisecond, 20*time.Millisecond),
		WithOnRetry(func(error) {
			if retries.Add(1) == 1 { // each refusal takes the broker about 3 s
				cancel()
			}
		}))
	t.Cleanup(func() { _ = pub.Close() })
	err := pub.Publish(ctx, "amq.direct", "key", []byte("x"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Publish() with a wrong password error = %v, want context.Canceled", err)
	}
	logs := rec.text()
	if !strings.Contains(logs, "ERROR Publishing failed, retrying") {
		t.Errorf("refused credentials not logged at error level:\n%s", logs)
	}
	if strings.Contains(err.Error(), secret) || strings.Contains(logs, secret) {
		t.Errorf("password leaked: error %q, logs:\n%s", err, logs)
	}
}

// TestIntegrationPublisherReconnect kills the publisher's connection while several
// goroutines publish: every Publish must return only once its message is confirmed, so
// each of them is in the queue afterwards (some maybe twice).
func TestIntegrationPublisherReconnect(t *testing.T) {
	plat := newPlatform(t, nil)
	cfg := testConfig(t, "publisher")
	requireRabbitmqctl(t, cfg)
	rec, logger := newLogRecorder(t)
	var retries atomic.Int64
	pub := NewPublisher(cfg, WithLogger(logger),
		WithReconnectBackoff(10*time.Millisecond, 100*time.Millisecond),
		WithOnRetry(func(error) { retries.Add(1) }))
	t.Cleanup(func() { _ = pub.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	const goroutines, afterKill = 4, 25
	var (
		killed    atomic.Bool
		mu        sync.Mutex
		confirmed = map[string]bool{}
		wg        sync.WaitGroup
		published atomic.Int64
	)
	for g := range goroutines {
		wg.Go(func() {
			extra := 0
			for i := 0; extra < afterKill; i++ {
				if killed.Load() {
					extra++
				}
				body := fmt.Sprintf("%d-%d", g, i)
				if err := pub.Publish(ctx, plat.exchange, plat.key, []byte(body)); err != nil {
					t.Errorf("Publish(%s) error = %v", body, err)
					return
				}
				published.Add(1)
				mu.Lock()
				confirmed[body] = true
				mu.Unlock()
			}
		})
	}
	for published.Load() < 20 && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	if n := killConnections(t, cfg); n != 1 {
		t.Errorf("killed %d connections named %s, want 1", n, cfg.ConnectionName)
	}
	killed.Store(true)
	wg.Wait()

	if got := rec.count("Publisher connected to RabbitMQ"); got < 2 {
		t.Errorf("publisher connected %d times, want a reconnection", got)
	}
	inQueue := map[string]int{}
	for _, d := range plat.drain() {
		inQueue[string(d.Body)]++
	}
	for body := range confirmed {
		if inQueue[body] == 0 {
			t.Errorf("message %s was confirmed but is not in the queue", body)
		}
	}
	t.Logf("%d messages confirmed, %d distinct in the queue, %d retries", len(confirmed), len(inQueue), retries.Load())
}

func BenchmarkIntegrationPublish(b *testing.B) {
	plat := newPlatform(b, nil)
	pub := NewPublisher(testConfig(b, "bench"))
	b.Cleanup(func() { _ = pub.Close() })
	applicant := "88ec0c6a-13ce-5e39-b486-354fe4a7084f"
	body, err := NewEnvelope([]byte(`{"type": "bundle", "objects": [{"type": "domain-name", "value": "example.com"}]}`), 1, &applicant, nil, "work_1").Marshal()
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	if err := pub.Publish(ctx, plat.exchange, plat.key, body); err != nil { // connect outside the timing
		b.Fatal(err)
	}
	b.Run("sequential", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := pub.Publish(ctx, plat.exchange, plat.key, body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := pub.Publish(ctx, plat.exchange, plat.key, body); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
