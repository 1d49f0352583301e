package broker

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

var (
	// ErrChannelClosed means the AMQP channel a delivery came from is gone, so it can no
	// longer be acknowledged or rejected; RabbitMQ redelivers the message.
	ErrChannelClosed = errors.New("broker: channel closed, the message will be redelivered")
	// ErrAlreadySettled is returned by a second Ack or Reject of the same delivery.
	ErrAlreadySettled = errors.New("broker: delivery already acknowledged or rejected")
	// ErrNotFound means the broker answered NOT_FOUND (404): the queue or exchange does not
	// exist.
	ErrNotFound = errors.New("broker: queue or exchange not found")
	// ErrAccessRefused means the broker answered ACCESS_REFUSED (403) on a queue or exchange:
	// the user lacks the permission.
	ErrAccessRefused = errors.New("broker: access to queue or exchange refused")
	// ErrClosed is returned by Publish after Close.
	ErrClosed = errors.New("broker: publisher closed")
)

// Acknowledger settles deliveries by tag. The Consumer provides one per AMQP channel;
// tests of handlers can pass their own to NewDelivery.
type Acknowledger interface {
	// Ack acknowledges the delivery with this tag.
	Ack(tag uint64) error
	// Reject rejects the delivery with this tag, requeueing it or not.
	Reject(tag uint64, requeue bool) error
}

// Delivery is one message received from a queue. Exactly one of Ack or Reject must be
// called, once; later calls return ErrAlreadySettled. A Delivery is safe for concurrent use.
type Delivery struct {
	// Body is the message payload.
	Body []byte
	// Redelivered is true when RabbitMQ delivered this message before (to this or another
	// consumer) without it being acknowledged.
	Redelivered bool
	// DeliveryTag identifies the message on its AMQP channel.
	DeliveryTag uint64
	// Exchange is the exchange the message was published to.
	Exchange string
	// RoutingKey is the routing key it was published with.
	RoutingKey string
	// ContentType is the content_type property, often empty.
	ContentType string
	// ContentEncoding is the content_encoding property ("utf-8" for OpenCTI messages).
	ContentEncoding string
	// Headers are the application headers, nil when there are none.
	Headers map[string]any
	// MessageID is the message_id property.
	MessageID string
	// Timestamp is the timestamp property, zero when unset.
	Timestamp time.Time

	acker   Acknowledger
	settled atomic.Bool
}

// NewDelivery returns a delivery settled through acker, for tests of handlers.
func NewDelivery(body []byte, tag uint64, redelivered bool, acker Acknowledger) *Delivery {
	return &Delivery{Body: body, DeliveryTag: tag, Redelivered: redelivered, acker: acker}
}

// Ack acknowledges the message: RabbitMQ removes it from the queue. It fails with an error
// wrapping ErrChannelClosed when the channel the message came from is gone (the broker will
// redeliver the message), and with ErrAlreadySettled when called twice.
func (d *Delivery) Ack() error {
	if !d.settled.CompareAndSwap(false, true) {
		return ErrAlreadySettled
	}
	if d.acker == nil {
		return fmt.Errorf("ack delivery %d: %w", d.DeliveryTag, ErrChannelClosed)
	}
	if err := d.acker.Ack(d.DeliveryTag); err != nil {
		return fmt.Errorf("ack delivery %d: %w", d.DeliveryTag, err)
	}
	return nil
}

// Reject rejects the message: with requeue RabbitMQ puts it back in the queue (it is
// delivered again with Redelivered set), without requeue it is dropped (or dead-lettered
// when the queue has a dead-letter exchange). Errors are those of Ack.
func (d *Delivery) Reject(requeue bool) error {
	if !d.settled.CompareAndSwap(false, true) {
		return ErrAlreadySettled
	}
	if d.acker == nil {
		return fmt.Errorf("reject delivery %d: %w", d.DeliveryTag, ErrChannelClosed)
	}
	if err := d.acker.Reject(d.DeliveryTag, requeue); err != nil {
		return fmt.Errorf("reject delivery %d: %w", d.DeliveryTag, err)
	}
	return nil
}

// Settled reports whether Ack or Reject was called.
func (d *Delivery) Settled() bool { return d.settled.Load() }

// channelAcker settles deliveries on the AMQP channel they came from. It never touches a
// closed channel: a tag is meaningful only on its channel, and acking a tag on a channel
// that does not know it closes that channel with PRECONDITION_FAILED.
type channelAcker struct {
	ch *amqp.Channel
}

func (a channelAcker) Ack(tag uint64) error {
	if a.ch.IsClosed() {
		return ErrChannelClosed
	}
	return mapClosed(a.ch.Ack(tag, false))
}

func (a channelAcker) Reject(tag uint64, requeue bool) error {
	if a.ch.IsClosed() {
		return ErrChannelClosed
	}
	return mapClosed(a.ch.Reject(tag, requeue))
}

func mapClosed(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, amqp.ErrClosed) {
		return fmt.Errorf("%w: %w", ErrChannelClosed, err)
	}
	return err
}

func newDelivery(d amqp.Delivery, acker Acknowledger) *Delivery {
	var headers map[string]any
	if len(d.Headers) > 0 {
		headers = make(map[string]any, len(d.Headers))
		for k, v := range d.Headers {
			headers[k] = v
		}
	}
	return &Delivery{
		Body:            d.Body,
		Redelivered:     d.Redelivered,
		DeliveryTag:     d.DeliveryTag,
		Exchange:        d.Exchange,
		RoutingKey:      d.RoutingKey,
		ContentType:     d.ContentType,
		ContentEncoding: d.ContentEncoding,
		Headers:         headers,
		MessageID:       d.MessageId,
		Timestamp:       d.Timestamp,
		acker:           acker,
	}
}

// classify wraps an error the broker sent on a queue or exchange operation with ErrNotFound
// or ErrAccessRefused when it is one of those; such errors are not retried.
func classify(err error) error {
	var ae *amqp.Error
	if !errors.As(err, &ae) {
		return err
	}
	switch ae.Code {
	case amqp.NotFound:
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case amqp.AccessRefused:
		return fmt.Errorf("%w: %w", ErrAccessRefused, err)
	}
	return err
}

func isPermanent(err error) bool {
	return errors.Is(err, ErrNotFound) || errors.Is(err, ErrAccessRefused)
}
