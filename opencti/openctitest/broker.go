package openctitest

import (
	"context"
	"errors"
	"fmt"
	"sync"

	amqp "github.com/rabbitmq/amqp091-go"
)

// queueNames are a connector's RabbitMQ names (spec §3.1).
type queueNames struct {
	listenExchange, pushExchange string
	listen, listenRouting        string
	push, pushRouting            string
	deadLetterRouting            string
}

// names returns the RabbitMQ names of connector id under prefix p ("" or
// "<queue_prefix>_").
func names(p, id string) queueNames {
	return queueNames{
		listenExchange:    p + "amqp.connector.exchange",
		pushExchange:      p + "amqp.worker.exchange",
		listen:            p + "listen_" + id,
		listenRouting:     p + "listen_routing_" + id,
		push:              p + "push_" + id,
		pushRouting:       p + "push_routing_" + id,
		deadLetterRouting: p + "listen_routing_too-large-bundle",
	}
}

// broker is the fake platform's RabbitMQ side: declarations, purges,
// publications and cleanup.
type broker struct {
	url    string
	prefix string // "<queue_prefix>_"

	connMu sync.Mutex
	conn   *amqp.Connection // redialled by channel when RabbitMQ closed it

	mu     sync.Mutex
	queues map[string]bool // declared, to delete at cleanup
}

// dialBroker connects to url.
func dialBroker(url, prefix string) (*broker, error) {
	conn, err := amqp.Dial(url)
	if err != nil {
		return nil, fmt.Errorf("dial rabbitmq: %w", err)
	}
	return &broker{url: url, conn: conn, prefix: prefix, queues: map[string]bool{}}, nil
}

// channel opens a channel, first dialling again when RabbitMQ closed the
// connection (a connection-level error of one operation must not fail every
// later one, the cleanup included).
func (b *broker) channel() (*amqp.Channel, error) {
	b.connMu.Lock()
	defer b.connMu.Unlock()
	if b.conn.IsClosed() {
		conn, err := amqp.Dial(b.url)
		if err != nil {
			return nil, fmt.Errorf("dial rabbitmq again: %w", err)
		}
		b.conn = conn
	}
	return b.conn.Channel()
}

// withChannel runs fn on a fresh channel: a channel-level error (for
// example PRECONDITION_FAILED) then never affects later operations.
func (b *broker) withChannel(fn func(ch *amqp.Channel) error) error {
	ch, err := b.channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer func() { _ = ch.Close() }()
	return fn(ch)
}

// declareConnector asserts both exchanges and the connector's queues and
// bindings like registerConnectorQueues (spec §3.2).
func (b *broker) declareConnector(id, name, typ string, scope []string) error {
	n := names(b.prefix, id)
	scopes := make([]any, 0, len(scope))
	for _, s := range scope {
		scopes = append(scopes, s)
	}
	args := amqp.Table{
		"name":         name,
		"config":       amqp.Table{"id": id, "type": typ, "scope": scopes},
		"x-queue-type": "classic",
	}
	b.mu.Lock()
	b.queues[n.listen] = true
	b.queues[n.push] = true
	b.mu.Unlock()
	return b.withChannel(func(ch *amqp.Channel) error {
		for _, ex := range []string{n.listenExchange, n.pushExchange} {
			if err := ch.ExchangeDeclare(ex, amqp.ExchangeDirect, true, false, false, false, nil); err != nil {
				return fmt.Errorf("declare exchange %s: %w", ex, err)
			}
		}
		for _, q := range []struct{ queue, key, exchange string }{
			{n.listen, n.listenRouting, n.listenExchange},
			{n.push, n.pushRouting, n.pushExchange},
		} {
			if _, err := ch.QueueDeclare(q.queue, true, false, false, false, args); err != nil {
				return fmt.Errorf("declare queue %s: %w", q.queue, err)
			}
			if err := ch.QueueBind(q.queue, q.key, q.exchange, false, nil); err != nil {
				return fmt.Errorf("bind queue %s: %w", q.queue, err)
			}
		}
		return nil
	})
}

// purge empties queues.
func (b *broker) purge(queues ...string) error {
	return b.withChannel(func(ch *amqp.Channel) error {
		for _, q := range queues {
			if _, err := ch.QueuePurge(q, false); err != nil {
				return fmt.Errorf("purge queue %s: %w", q, err)
			}
		}
		return nil
	})
}

// messageCount returns the number of ready messages of a queue.
func (b *broker) messageCount(queue string) (int, error) {
	var n int
	err := b.withChannel(func(ch *amqp.Channel) error {
		q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
		if err != nil {
			return fmt.Errorf("inspect queue %s: %w", queue, err)
		}
		n = q.Messages
		return nil
	})
	return n, err
}

// publish sends a persistent message and waits for the broker's confirm.
func (b *broker) publish(ctx context.Context, exchange, key string, msg amqp.Publishing) error {
	return b.withChannel(func(ch *amqp.Channel) error {
		if err := ch.Confirm(false); err != nil {
			return fmt.Errorf("enable confirms: %w", err)
		}
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, exchange, key, false, false, msg)
		if err != nil {
			return fmt.Errorf("publish to %s/%s: %w", exchange, key, err)
		}
		ok, err := dc.WaitContext(ctx)
		if err != nil {
			return fmt.Errorf("wait for confirm: %w", err)
		}
		if !ok {
			return fmt.Errorf("publish to %s/%s: broker nacked the message", exchange, key)
		}
		return nil
	})
}

// deleteQueues deletes queues (missing ones are fine).
func (b *broker) deleteQueues(queues ...string) error {
	var errs []error
	for _, q := range queues {
		err := b.withChannel(func(ch *amqp.Channel) error {
			_, err := ch.QueueDelete(q, false, false, false)
			return err
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("delete queue %s: %w", q, err))
		}
		b.mu.Lock()
		delete(b.queues, q)
		b.mu.Unlock()
	}
	return errors.Join(errs...)
}

// shutdown deletes every queue and the prefixed exchanges, then closes the
// connection.
func (b *broker) shutdown() error {
	b.mu.Lock()
	queues := make([]string, 0, len(b.queues))
	for q := range b.queues {
		queues = append(queues, q)
	}
	b.mu.Unlock()
	errs := []error{b.deleteQueues(queues...)}
	n := names(b.prefix, "")
	for _, ex := range []string{n.listenExchange, n.pushExchange} {
		err := b.withChannel(func(ch *amqp.Channel) error { return ch.ExchangeDelete(ex, false, false) })
		var amqpErr *amqp.Error
		if err != nil && (!errors.As(err, &amqpErr) || amqpErr.Code != amqp.NotFound) {
			errs = append(errs, fmt.Errorf("delete exchange %s: %w", ex, err))
		}
	}
	b.connMu.Lock()
	conn := b.conn
	b.connMu.Unlock()
	if err := conn.Close(); err != nil && !errors.Is(err, amqp.ErrClosed) {
		errs = append(errs, fmt.Errorf("close rabbitmq connection: %w", err))
	}
	return errors.Join(errs...)
}
