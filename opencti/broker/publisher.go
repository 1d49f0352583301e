package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// DefaultConfirmTimeout is how long Publish waits for a publisher confirm before it
// reconnects and publishes again.
const DefaultConfirmTimeout = 30 * time.Second

var (
	// errNacked is the retry cause when the broker nacks a message.
	errNacked = errors.New("broker nacked the message")
	// errConfirmTimeout is the retry cause when no confirm arrives in time.
	errConfirmTimeout = errors.New("no publisher confirm in time")
)

// Publisher publishes persistent messages and waits for their publisher confirms: one at a
// time with Publish, pipelined with PublishBatch. It keeps one long-lived connection with
// one confirm-mode channel, dialled on first use and again after any loss. It is safe for
// concurrent use.
type Publisher struct {
	cfg            Config
	logger         *slog.Logger
	backoffInitial time.Duration
	backoffMax     time.Duration
	confirmTimeout time.Duration
	window         int
	onRetry        func(error)
	// withholdConfirms, set by tests only, is asked once per new session whether the
	// confirms of that session are to be ignored, as if the broker never sent them: the
	// confirm wait then ends only by the confirm timeout (or ctx, or Close).
	withholdConfirms func() bool

	closing   context.Context // cancelled by Close
	stop      context.CancelFunc
	dialing   chan struct{} // one-slot lock held while dialling
	mu        sync.Mutex
	sess      *session
	closed    bool
	closeOnce sync.Once
}

// NewPublisher returns a publisher. It does no I/O: the first Publish connects.
func NewPublisher(cfg Config, opts ...PublisherOption) *Publisher {
	closing, stop := context.WithCancel(context.Background())
	p := &Publisher{
		cfg:            cfg,
		logger:         slog.New(slog.DiscardHandler),
		backoffInitial: DefaultReconnectInitial,
		backoffMax:     DefaultReconnectMax,
		confirmTimeout: DefaultConfirmTimeout,
		window:         DefaultPublishWindow,
		closing:        closing,
		stop:           stop,
		dialing:        make(chan struct{}, 1),
	}
	for _, o := range opts {
		if o != nil {
			o.applyPublisher(p)
		}
	}
	return p
}

// Publish publishes body to exchange with routingKey and returns once RabbitMQ confirmed
// it. The message is persistent (delivery mode 2) with content encoding "utf-8", no content
// type, no headers, and not mandatory, as pycti publishes bundles.
//
// While the broker blocks publishing (connection.blocked, e.g. a memory alarm) Publish
// waits. After a nack, a confirm that does not arrive within the confirm timeout (the
// connection is then dropped), or a lost connection, it backs off, reconnects when needed
// and publishes again, until the message is confirmed or ctx ends; it then returns an
// error wrapping ctx.Err(). A message can therefore reach the queue twice, never zero times
// once Publish returned nil.
//
// Publish gives up at once, with an error wrapping ErrNotFound or ErrAccessRefused, when the
// broker closes the channel because this exchange does not exist or may not be written to
// (the broker's reason names it; a channel closed by a concurrent publication to another
// exchange is retried), and with ErrClosed after Close.
func (p *Publisher) Publish(ctx context.Context, exchange, routingKey string, body []byte) error {
	return p.publish(ctx, exchange, routingKey, nil, body)
}

// PublishWithHeaders is [Publisher.Publish] with AMQP application headers, e.g. to put a
// message back at the tail of its queue (default exchange "", routing key = the queue name)
// with an attempt count. The values must be of the types an AMQP table carries (string,
// bool, int32, int64, float64, []byte, time.Time, nested tables and arrays): headers that do
// not validate fail at once, before anything is sent.
func (p *Publisher) PublishWithHeaders(ctx context.Context, exchange, routingKey string, headers map[string]any, body []byte) error {
	if err := amqp.Table(headers).Validate(); err != nil {
		return fmt.Errorf("publish to exchange %q: invalid headers: %w", exchange, err)
	}
	return p.publish(ctx, exchange, routingKey, amqp.Table(headers), body)
}

func (p *Publisher) publish(ctx context.Context, exchange, routingKey string, headers amqp.Table, body []byte) error {
	msg := amqp.Publishing{
		Headers:         headers,
		DeliveryMode:    amqp.Persistent,
		ContentEncoding: "utf-8",
		Body:            body,
	}
	return p.retry(ctx, exchange, routingKey, 1, nil, func() (bool, error) {
		return false, p.publishOnce(ctx, exchange, routingKey, msg)
	})
}

// retry calls attempt until it returns nil, backing off between failed attempts, and
// returns nil, or an error once ctx ends, the publisher closes or the failure is permanent.
// attempt reports whether it made progress (some message got confirmed): the back-off
// then starts again from its initial delay. Of total messages, unconfirmed says how many
// are left after a failed attempt (nil: all of them); it is only used in logs and errors.
func (p *Publisher) retry(ctx context.Context, exchange, routingKey string, total int, unconfirmed func() int, attempt func() (progressed bool, err error)) error {
	left := func() int {
		if unconfirmed != nil {
			return unconfirmed()
		}
		return total
	}
	var bo *reconnectBackoff
	for n := 1; ; n++ {
		progressed, err := attempt()
		if err == nil {
			if n > 1 {
				p.logger.Info("Publishing recovered", slog.String("exchange", exchange), slog.Int("attempts", n), slog.Int("messages", total))
			}
			return nil
		}
		switch {
		case errors.Is(err, ErrClosed):
			return fmt.Errorf("publish to exchange %q: %w", exchange, ErrClosed)
		case ctx.Err() != nil:
			return p.giveUp(ctx, exchange, n, left(), total, err)
		case isPermanent(err):
			return fmt.Errorf("publish to exchange %q with routing key %q: %w", exchange, routingKey, err)
		}
		if p.onRetry != nil {
			p.onRetry(err)
		}
		if bo == nil || progressed {
			bo = newReconnectBackoff(p.backoffInitial, p.backoffMax)
		}
		delay := bo.next()
		level := slog.LevelWarn
		if isAuthError(err) {
			level = slog.LevelError
		}
		p.logger.Log(ctx, level, "Publishing failed, retrying", slog.String("exchange", exchange), slog.Int("attempt", n),
			slog.Int("unconfirmed", left()), slog.Duration("retry_in", delay), slog.Any("error", err))
		if !p.sleep(ctx, delay) {
			if ctx.Err() != nil {
				return p.giveUp(ctx, exchange, n, left(), total, err)
			}
			return fmt.Errorf("publish to exchange %q: %w", exchange, ErrClosed)
		}
	}
}

func (p *Publisher) giveUp(ctx context.Context, exchange string, attempts, unconfirmed, total int, last error) error {
	what := ""
	if total > 1 {
		what = fmt.Sprintf(", %d of %d messages unconfirmed", unconfirmed, total)
	}
	if errors.Is(last, ctx.Err()) {
		return fmt.Errorf("publish to exchange %q: gave up after %d attempt(s)%s: %w", exchange, attempts, what, ctx.Err())
	}
	return fmt.Errorf("publish to exchange %q: gave up after %d attempt(s)%s: %w (last error: %w)", exchange, attempts, what, ctx.Err(), last)
}

// sleep waits for d; it returns false early when ctx ends or the publisher closes.
func (p *Publisher) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-p.closing.Done():
		return false
	case <-t.C:
		return true
	}
}

// publishOnce makes one attempt: session, wait while blocked, publish, wait for the confirm.
func (p *Publisher) publishOnce(ctx context.Context, exchange, routingKey string, msg amqp.Publishing) error {
	s, err := p.session(ctx)
	if err != nil {
		return err
	}
	if err := p.waitUnblocked(ctx, s, exchange); err != nil {
		return err
	}
	dc, err := s.ch.PublishWithDeferredConfirmWithContext(ctx, exchange, routingKey, false, false, msg)
	if err != nil {
		return publishError(ctx, s, exchange, err)
	}
	timer := time.NewTimer(p.confirmTimeout)
	defer timer.Stop()
	select {
	case <-s.confirmDone(dc):
		if dc.Acked() {
			return nil
		}
		if s.ch.IsClosed() {
			// Pending confirms are nacked when the channel closes; the watcher records why.
			return ownLoss(s.lossErr(), exchange)
		}
		return errNacked
	case <-ctx.Done():
		return ctx.Err()
	case <-p.closing.Done():
		return ErrClosed
	case <-timer.C:
		p.discard(s)
		return errConfirmTimeout
	}
}

// waitUnblocked returns at once while s is not blocked (connection.blocked), else once it
// is unblocked, or with an error when s is lost, ctx ends or the publisher closes.
func (p *Publisher) waitUnblocked(ctx context.Context, s *session, exchange string) error {
	select {
	case <-s.whenUnblocked():
		return nil
	default:
	}
	select {
	case <-s.whenUnblocked():
		return nil
	case <-s.lost:
		return ownLoss(s.lossErr(), exchange)
	case <-ctx.Done():
		return ctx.Err()
	case <-p.closing.Done():
		return ErrClosed
	}
}

// publishError says why basic.publish on s failed with err.
func publishError(ctx context.Context, s *session, exchange string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if s.ch.IsClosed() {
		return ownLoss(s.lossErr(), exchange)
	}
	return fmt.Errorf("basic.publish: %w", err)
}

// ownLoss keeps a permanent channel error (ErrNotFound, ErrAccessRefused) permanent only
// when the broker's reason names exchange, as RabbitMQ's do ("no exchange 'x' in vhost
// '/'"): the channel is shared, and a concurrent publication to another exchange may be the
// one that closed it. Other callers retry on a new channel.
func ownLoss(err error, exchange string) error {
	var ae *amqp.Error
	if !isPermanent(err) || !errors.As(err, &ae) || strings.Contains(ae.Reason, "'"+exchange+"'") {
		return err
	}
	return fmt.Errorf("channel closed after another publication failed: %v", err) //nolint:errorlint // deliberately not wrapped: that failure (e.g. NOT_FOUND for another exchange) must not classify this publication
}

// session returns the live session, dialling a new one when there is none.
func (p *Publisher) session(ctx context.Context) (*session, error) {
	if s, err := p.current(); err != nil || s != nil {
		return s, err
	}
	select {
	case p.dialing <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-p.closing.Done():
		return nil, ErrClosed
	}
	defer func() { <-p.dialing }()
	// Another caller may have dialled while this one waited.
	if s, err := p.current(); err != nil || s != nil {
		return s, err
	}
	p.mu.Lock()
	old := p.sess
	p.sess = nil
	p.mu.Unlock()
	if old != nil {
		old.close()
		p.logger.Warn("Publisher connection to RabbitMQ lost", slog.Any("error", old.lossErr()))
	}

	dialCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(p.closing, cancel)
	defer stop()
	conn, err := p.cfg.dial(dialCtx)
	if err != nil {
		if p.closing.Err() != nil {
			return nil, ErrClosed
		}
		return nil, err
	}
	s, err := startSession(conn, p.logger, true)
	if err != nil {
		return nil, err
	}
	if err := s.ch.Confirm(false); err != nil {
		s.close()
		return nil, fmt.Errorf("confirm.select: %w", err)
	}
	if p.withholdConfirms != nil {
		s.confirmsWithheld = p.withholdConfirms()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		s.close()
		return nil, ErrClosed
	}
	p.sess = s
	p.logger.Info("Publisher connected to RabbitMQ", slog.String("broker", p.cfg.String()))
	return s, nil
}

// current returns the live session, nil when there is none, or ErrClosed.
func (p *Publisher) current() (*session, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	if p.sess != nil && !p.sess.isLost() {
		return p.sess, nil
	}
	return nil, nil
}

// discard closes s and forgets it if it is still the current session.
func (p *Publisher) discard(s *session) {
	p.mu.Lock()
	if p.sess == s {
		p.sess = nil
	}
	p.mu.Unlock()
	s.close()
}

// Close closes the connection. Publish calls in progress return errors wrapping ErrClosed
// (their messages may or may not have been confirmed), later ones fail at once. Close is
// idempotent and always returns nil: nothing is left to retry.
func (p *Publisher) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		p.stop()
		// Wait for a dial in progress (cancelled above) to give up.
		p.dialing <- struct{}{}
		p.mu.Lock()
		s := p.sess
		p.sess = nil
		p.mu.Unlock()
		if s != nil {
			s.close()
		}
		<-p.dialing
		p.logger.Debug("Publisher closed")
	})
	return nil
}
