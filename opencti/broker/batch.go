package broker

import (
	"context"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// DefaultPublishWindow is how many messages one PublishBatch call keeps published but not
// yet confirmed at most.
const DefaultPublishWindow = 1000

// PublishBatch publishes bodies in order to exchange with routingKey, with the properties
// Publish gives a message, and returns once RabbitMQ confirmed every one of them. Instead
// of waiting for each confirm before publishing the next message, it keeps up to the
// publish window (WithPublishWindow, default DefaultPublishWindow) messages unconfirmed,
// which saves a round trip per message.
//
// After nacks, a confirm timeout (no confirm for that long while messages await one; the
// connection is then dropped) or a lost connection, it backs off, reconnects when needed
// and publishes again exactly the messages not confirmed yet, in their original order,
// until all are confirmed or ctx ends; it then returns an error wrapping ctx.Err(). A
// message can therefore reach the queue twice, and after messages that followed it in
// bodies; none is missing once PublishBatch returned nil. Failures are handled as by
// Publish: the same ones are permanent (a missing exchange fails at once), WithOnRetry is
// called once per failed attempt, and connection.blocked makes it wait. The back-off
// starts again from its initial delay after an attempt that got some message confirmed.
//
// It returns how many distinct messages were confirmed: len(bodies) with a nil error,
// fewer otherwise (anywhere in bodies). It is safe for concurrent use with Publish and
// other PublishBatch calls; the window bounds each call on its own. bodies is only read,
// and not retained after the call.
func (p *Publisher) PublishBatch(ctx context.Context, exchange, routingKey string, bodies [][]byte) (int, error) {
	if len(bodies) == 0 {
		return 0, nil
	}
	var (
		todo      []int // indices of the messages left, in order; nil: all of them
		confirmed int
	)
	left := func() int {
		if todo == nil {
			return len(bodies)
		}
		return len(todo)
	}
	err := p.retry(ctx, exchange, routingKey, len(bodies), left, func() (bool, error) {
		n, failed, err := p.publishBatchOnce(ctx, exchange, routingKey, bodies, todo)
		confirmed += n
		todo = failed
		return n > 0, err
	})
	return confirmed, err
}

// inFlight is a published message awaiting its confirm.
type inFlight struct {
	idx int // in bodies
	dc  *amqp.DeferredConfirmation
}

// publishBatchOnce makes one attempt at publishing the bodies indexed by todo (nil: all)
// on the current session, at most p.window unconfirmed at once. It returns how many got
// confirmed and, with the cause, the indices of those that did not, in todo's order.
func (p *Publisher) publishBatchOnce(ctx context.Context, exchange, routingKey string, bodies [][]byte, todo []int) (int, []int, error) {
	count := len(bodies)
	if todo != nil {
		count = len(todo)
	}
	at := func(k int) int {
		if todo == nil {
			return k
		}
		return todo[k]
	}
	var (
		confirmed int
		nacked    []int
		cause     error
		next      int // in todo, the next message to publish
	)
	// unconfirmed lists the nacked messages, then those of the window not acked, then
	// those not published: todo's order.
	var ring []inFlight
	var head, pending int
	var s *session
	unconfirmed := func() []int {
		out := nacked
		for ; pending > 0; pending-- {
			f := ring[head]
			if isDone(s.confirmDone(f.dc)) && f.dc.Acked() {
				confirmed++
			} else {
				out = append(out, f.idx)
			}
			head = (head + 1) % len(ring)
		}
		for ; next < count; next++ {
			out = append(out, at(next))
		}
		return out
	}

	s, err := p.session(ctx)
	if err != nil {
		return 0, unconfirmed(), err
	}
	ring = make([]inFlight, min(p.window, count))
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	msg := amqp.Publishing{DeliveryMode: amqp.Persistent, ContentEncoding: "utf-8"}
loop:
	for next < count || pending > 0 {
		// Settle the confirms that arrived, oldest first.
		for pending > 0 {
			f := ring[head]
			if !isDone(s.confirmDone(f.dc)) {
				break
			}
			switch {
			case f.dc.Acked():
				confirmed++
			case s.ch.IsClosed():
				// Pending confirms are nacked when the channel closes; the watcher records why.
				cause = ownLoss(s.lossErr(), exchange)
				break loop
			default:
				nacked = append(nacked, f.idx)
			}
			ring[head] = inFlight{}
			head = (head + 1) % len(ring)
			pending--
		}
		if next < count && pending < len(ring) {
			if err := p.waitUnblocked(ctx, s, exchange); err != nil {
				cause = err
				break loop
			}
			msg.Body = bodies[at(next)]
			dc, err := s.ch.PublishWithDeferredConfirmWithContext(ctx, exchange, routingKey, false, false, msg)
			if err != nil {
				cause = publishError(ctx, s, exchange, err)
				break loop
			}
			ring[(head+pending)%len(ring)] = inFlight{idx: at(next), dc: dc}
			pending++
			next++
			continue
		}
		if pending == 0 {
			break
		}
		// The window is full, or everything is published: wait for the oldest confirm.
		if timer == nil {
			timer = time.NewTimer(p.confirmTimeout)
		} else {
			timer.Reset(p.confirmTimeout)
		}
		select {
		case <-s.confirmDone(ring[head].dc):
		case <-ctx.Done():
			cause = ctx.Err()
			break loop
		case <-p.closing.Done():
			cause = ErrClosed
			break loop
		case <-timer.C:
			p.discard(s)
			cause = errConfirmTimeout
			break loop
		}
	}
	if cause == nil && len(nacked) > 0 {
		cause = fmt.Errorf("%w: %d of %d message(s)", errNacked, len(nacked), count)
	}
	if cause == nil {
		return confirmed, nil, nil
	}
	failed := unconfirmed()
	return confirmed, failed, cause
}

// isDone reports whether done, a confirm's channel, is closed: the confirm arrived (ack or
// nack).
func isDone(done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
		return false
	}
}
