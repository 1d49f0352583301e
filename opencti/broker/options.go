package broker

import (
	"log/slog"
	"time"
)

// ConsumerOption configures a Consumer.
type ConsumerOption interface {
	applyConsumer(c *Consumer)
}

// PublisherOption configures a Publisher.
type PublisherOption interface {
	applyPublisher(p *Publisher)
}

// Option configures a Consumer or a Publisher alike: it is both a ConsumerOption and a
// PublisherOption.
type Option struct {
	consumer  func(*Consumer)
	publisher func(*Publisher)
}

func (o Option) applyConsumer(c *Consumer) {
	if o.consumer != nil {
		o.consumer(c)
	}
}

func (o Option) applyPublisher(p *Publisher) {
	if o.publisher != nil {
		o.publisher(p)
	}
}

type consumerOptionFunc func(*Consumer)

func (f consumerOptionFunc) applyConsumer(c *Consumer) { f(c) }

type publisherOptionFunc func(*Publisher)

func (f publisherOptionFunc) applyPublisher(p *Publisher) { f(p) }

// WithLogger sets the logger of a Consumer or Publisher (default: discard). Nil is ignored.
func WithLogger(l *slog.Logger) Option {
	return Option{
		consumer: func(c *Consumer) {
			if l != nil {
				c.logger = l
			}
		},
		publisher: func(p *Publisher) {
			if l != nil {
				p.logger = l
			}
		},
	}
}

// WithReconnectBackoff sets the first and the largest delay between reconnection attempts
// of a Consumer, or between the attempts of one Publish call (default 1 s and 30 s; the
// delay doubles each time, with ±25 % jitter, and returns to initial after a success).
// Values <= 0 select the defaults; max is raised to initial when below it.
func WithReconnectBackoff(initial, maxDelay time.Duration) Option {
	initial, maxDelay = normalizeBackoff(initial, maxDelay)
	return Option{
		consumer:  func(c *Consumer) { c.backoffInitial, c.backoffMax = initial, maxDelay },
		publisher: func(p *Publisher) { p.backoffInitial, p.backoffMax = initial, maxDelay },
	}
}

// WithPrefetch sets the prefetch count (basic.qos) of a Consumer, which is also the maximum
// number of handlers running at once (default 1, as pycti). Values below 1 select 1; values
// above 65535 select 65535.
func WithPrefetch(n int) ConsumerOption {
	return consumerOptionFunc(func(c *Consumer) { c.prefetch = min(max(n, 1), maxPrefetch) })
}

// WithGracePeriod sets how long a stopping Consumer waits for in-flight handlers before
// cancelling their context (default 30 s). Negative values select 0.
func WithGracePeriod(d time.Duration) ConsumerOption {
	return consumerOptionFunc(func(c *Consumer) { c.grace = max(d, 0) })
}

// WithConfirmTimeout sets how long Publish waits for the confirm of a message, and
// PublishBatch for the next confirm while messages await one, before they drop the
// connection and publish again (default 30 s). Values <= 0 select the default.
func WithConfirmTimeout(d time.Duration) PublisherOption {
	return publisherOptionFunc(func(p *Publisher) {
		if d > 0 {
			p.confirmTimeout = d
		}
	})
}

// WithPublishWindow sets how many messages one PublishBatch call keeps published but not
// yet confirmed at most (default DefaultPublishWindow). Values below 1 select the default.
func WithPublishWindow(n int) PublisherOption {
	return publisherOptionFunc(func(p *Publisher) {
		if n > 0 {
			p.window = n
		}
	})
}

// WithOnRetry sets a function Publish and PublishBatch call, with the cause, each time an
// attempt failed and the message (or the messages not yet confirmed) will be published
// again: a nack, a confirm timeout, a lost or refused connection. The runtime uses it to flag buffering and count errors. It is called from the
// publishing goroutine, so it must be quick and safe for concurrent use.
func WithOnRetry(f func(err error)) PublisherOption {
	return publisherOptionFunc(func(p *Publisher) { p.onRetry = f })
}
