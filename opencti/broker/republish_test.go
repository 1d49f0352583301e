package broker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	amqp "github.com/rabbitmq/amqp091-go"
)

// TestIntegrationPublishWithHeadersToQueueTail puts a message straight into a queue through
// the default exchange, with headers, behind the messages already there.
func TestIntegrationPublishWithHeadersToQueueTail(t *testing.T) {
	plat := newPlatform(t, nil)
	pub := NewPublisher(testConfig(t, "publisher"))
	t.Cleanup(func() { _ = pub.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	plat.publish("first")
	if err := pub.PublishWithHeaders(ctx, "", plat.queue, map[string]any{"x-opencti-attempt": int32(2)}, []byte("again")); err != nil {
		t.Fatalf("PublishWithHeaders() error = %v", err)
	}
	got := plat.drain()
	if len(got) != 2 {
		t.Fatalf("queue holds %d messages, want 2", len(got))
	}
	type props struct {
		DeliveryMode    uint8
		ContentEncoding string
		Headers         amqp.Table
		Body            string
	}
	want := []props{
		{DeliveryMode: 2, Body: "first"},
		{DeliveryMode: 2, ContentEncoding: "utf-8", Headers: amqp.Table{"x-opencti-attempt": int32(2)}, Body: "again"},
	}
	var have []props
	for _, m := range got {
		have = append(have, props{m.DeliveryMode, m.ContentEncoding, m.Headers, string(m.Body)})
	}
	if diff := cmp.Diff(want, have); diff != "" {
		t.Errorf("queue content mismatch (-want +got):\n%s", diff)
	}
}

func TestPublishWithInvalidHeadersFailsAtOnce(t *testing.T) {
	// Nothing listens on this port: an attempt to connect would be retried until ctx ends.
	pub := NewPublisher(Config{Host: "127.0.0.1", Port: 1, User: "guest", Password: "guest"})
	t.Cleanup(func() { _ = pub.Close() })
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	err := pub.PublishWithHeaders(ctx, "", "queue", map[string]any{"bad": struct{}{}}, []byte("x"))
	if err == nil || errors.Is(err, context.Canceled) {
		t.Fatalf("PublishWithHeaders() with an invalid header = %v, want a validation error", err)
	}
}
