package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
)

const (
	// DefaultPrefetch is the default prefetch count, hence of concurrent handlers (pycti: 1).
	DefaultPrefetch = 1
	// DefaultGracePeriod is how long Run waits for in-flight handlers when stopping.
	DefaultGracePeriod = 30 * time.Second

	// abandonTimeout is how long Run still waits for handlers after cancelling their
	// context before returning without them.
	abandonTimeout = 5 * time.Second
	// maxPrefetch is the largest prefetch count AMQP can carry.
	maxPrefetch = 65535
)

// Handler processes one delivery. It must call exactly one of d.Ack or d.Reject, normally
// before returning; ctx is cancelled only when Run stops and the grace period ran out.
//
// A handler that returns (or panics) without settling its delivery is a bug: the consumer
// logs an error and requeues the message once (Reject(true) unless it was already
// redelivered; a redelivered one is dropped with Reject(false)), so that the message neither
// blocks a prefetch slot forever nor loops for ever. A handler that returns unsettled after
// its ctx was cancelled leaves the message to RabbitMQ, which redelivers it once the channel
// is closed.
type Handler func(ctx context.Context, d *Delivery)

// Consumer consumes one queue with manual acknowledgement, reconnecting after any loss.
type Consumer struct {
	cfg            Config
	queue          string
	prefetch       int
	grace          time.Duration
	logger         *slog.Logger
	backoffInitial time.Duration
	backoffMax     time.Duration

	running atomic.Bool
}

// NewConsumer returns a consumer of queue. It does no I/O: Run connects.
func NewConsumer(cfg Config, queue string, opts ...ConsumerOption) *Consumer {
	c := &Consumer{
		cfg:            cfg,
		queue:          queue,
		prefetch:       DefaultPrefetch,
		grace:          DefaultGracePeriod,
		logger:         slog.New(slog.DiscardHandler),
		backoffInitial: DefaultReconnectInitial,
		backoffMax:     DefaultReconnectMax,
	}
	for _, o := range opts {
		if o != nil {
			o.applyConsumer(c)
		}
	}
	return c
}

// Run consumes the queue and calls h for each message, at most prefetch at a time, until
// ctx ends. It connects, sets basic.qos(prefetch) and starts a consumer with manual
// acknowledgement; it never declares the queue. After a lost connection or channel, or a
// consumer cancelled by the broker, it logs, backs off and starts again, forever; messages
// delivered on the lost channel cannot be acknowledged any more (Ack returns
// ErrChannelClosed) and come back redelivered. Failed connection attempts, including refused
// credentials (logged at error level), are retried the same way.
//
// When ctx ends Run cancels the consumer (no new deliveries), waits for the running
// handlers for the grace period, then cancels their context (and, after at most 5 more
// seconds, stops waiting for them), closes the connection, so that RabbitMQ requeues what
// was not acknowledged, and returns nil.
//
// Run returns an error, after the same shutdown, only for problems retrying cannot solve:
// an invalid Config or queue name, or the broker answering basic.consume with NOT_FOUND
// (the queue does not exist: wraps ErrNotFound) or ACCESS_REFUSED (the user may not read
// it: wraps ErrAccessRefused), at start or after a reconnection. A Consumer runs once at a
// time; a concurrent second Run fails.
func (c *Consumer) Run(ctx context.Context, h Handler) error {
	if h == nil {
		return errors.New("consume: nil handler")
	}
	if c.queue == "" {
		return errors.New("consume: empty queue name")
	}
	if err := c.cfg.Validate(); err != nil {
		return fmt.Errorf("consume queue %q: %w", c.queue, err)
	}
	if !c.running.CompareAndSwap(false, true) {
		return fmt.Errorf("consume queue %q: consumer already running", c.queue)
	}
	defer c.running.Store(false)

	logger := c.logger.With(slog.String("queue", c.queue), slog.String("broker", c.cfg.String()))
	handlerCtx, cancelHandlers := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHandlers()
	r := &consumerRun{
		c:          c,
		h:          h,
		logger:     logger,
		handlerCtx: handlerCtx,
		slots:      make(chan struct{}, c.prefetch),
	}
	bo := newReconnectBackoff(c.backoffInitial, c.backoffMax)

	var (
		current *consumerSession
		result  error
	)
	for attempt := 1; ; attempt++ {
		s, err := r.start(ctx)
		if err == nil {
			attempt = 0
			bo.reset()
			logger.Info("Consumer started", slog.Int("prefetch", c.prefetch))
			err = r.serve(ctx, s)
			if ctx.Err() != nil {
				current = s
				break
			}
			s.close()
			logger.Warn("Consumer connection to RabbitMQ lost", slog.Any("error", err))
		} else {
			if ctx.Err() != nil {
				break
			}
			if isPermanent(err) {
				result = fmt.Errorf("consume queue %q: %w", c.queue, err)
				break
			}
			level := slog.LevelWarn
			if isAuthError(err) {
				level = slog.LevelError
			}
			logger.Log(ctx, level, "Consumer could not connect to RabbitMQ", slog.Int("attempt", attempt), slog.Any("error", err))
		}
		delay := bo.next()
		logger.Info("Reconnecting to RabbitMQ", slog.Duration("retry_in", delay))
		if !sleepCtx(ctx, delay) {
			break
		}
	}
	r.shutdown(current, cancelHandlers)
	return result
}

type consumerSession struct {
	*session
	tag        string
	deliveries <-chan amqp.Delivery
	acker      channelAcker
}

// consumerRun is the state of one Run call shared by its sessions.
type consumerRun struct {
	c          *Consumer
	h          Handler
	logger     *slog.Logger
	handlerCtx context.Context
	slots      chan struct{} // one per running handler
	handlers   sync.WaitGroup
	inFlight   atomic.Int64
}

// start connects and starts the AMQP consumer.
func (r *consumerRun) start(ctx context.Context) (*consumerSession, error) {
	conn, err := r.c.cfg.dial(ctx)
	if err != nil {
		return nil, err
	}
	s, err := startSession(conn, r.logger, false)
	if err != nil {
		return nil, err
	}
	if err := s.ch.Qos(r.c.prefetch, 0, false); err != nil {
		s.close()
		return nil, fmt.Errorf("set prefetch %d: %w", r.c.prefetch, err)
	}
	tag := "opencti-go-" + uuid.NewString()
	deliveries, err := s.ch.Consume(r.c.queue, tag, false, false, false, false, nil)
	if err != nil {
		s.close()
		return nil, fmt.Errorf("basic.consume: %w", classify(err))
	}
	return &consumerSession{session: s, tag: tag, deliveries: deliveries, acker: channelAcker{ch: s.ch}}, nil
}

// serve hands deliveries to handlers until ctx ends (it returns nil) or the session dies
// (it returns why).
func (r *consumerRun) serve(ctx context.Context, s *consumerSession) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.lost:
			return s.lossErr()
		case r.slots <- struct{}{}:
		}
		select {
		case <-ctx.Done():
			<-r.slots
			return nil
		case <-s.lost:
			<-r.slots
			return s.lossErr()
		case d, ok := <-s.deliveries:
			if !ok {
				<-r.slots
				// The library closes the deliveries after a cancel or a close, which the
				// watcher reports.
				select {
				case <-s.lost:
					return s.lossErr()
				case <-ctx.Done():
					return nil
				}
			}
			r.handlers.Add(1)
			r.inFlight.Add(1)
			go r.handle(newDelivery(d, s.acker))
		}
	}
}

func (r *consumerRun) handle(d *Delivery) {
	defer r.handlers.Done()
	defer func() { <-r.slots }()
	defer r.inFlight.Add(-1)

	panicked := func() (panicked bool) {
		defer func() {
			if p := recover(); p != nil {
				panicked = true
				r.logger.Error("Message handler panicked", slog.Uint64("delivery_tag", d.DeliveryTag),
					slog.String("panic", fmt.Sprint(p)), slog.String("stack", string(debug.Stack())))
			}
		}()
		r.h(r.handlerCtx, d)
		return false
	}()
	if d.Settled() {
		return
	}
	if r.handlerCtx.Err() != nil {
		// Stopping: RabbitMQ requeues the message when the channel closes.
		return
	}
	requeue := !d.Redelivered
	err := d.Reject(requeue)
	r.logger.Error("Message handler neither acknowledged nor rejected its message", slog.Uint64("delivery_tag", d.DeliveryTag),
		slog.Bool("panicked", panicked), slog.Bool("requeued", requeue), slog.Any("error", err))
}

// shutdown stops receiving, waits for the handlers (grace period, then cancellation) and
// closes the session.
func (r *consumerRun) shutdown(s *consumerSession, cancelHandlers context.CancelFunc) {
	if s != nil && !s.isLost() {
		if err := s.ch.Cancel(s.tag, false); err != nil {
			r.logger.Warn("Cancelling the consumer failed", slog.Any("error", err))
		}
	}
	done := make(chan struct{})
	go func() {
		r.handlers.Wait()
		close(done)
	}()
	if n := r.inFlight.Load(); n > 0 {
		r.logger.Info("Consumer stopping, waiting for the messages in flight", slog.Int64("in_flight", n), slog.Duration("grace_period", r.c.grace))
	}
	grace := time.NewTimer(r.c.grace)
	defer grace.Stop()
	select {
	case <-done:
	case <-grace.C:
		r.logger.Warn("Shutdown grace period expired with messages in flight", slog.Int64("in_flight", r.inFlight.Load()))
		cancelHandlers()
		abandon := time.NewTimer(abandonTimeout)
		defer abandon.Stop()
		select {
		case <-done:
		case <-abandon.C:
			r.logger.Error("Message handlers abandoned at shutdown", slog.Int64("in_flight", r.inFlight.Load()))
		}
	}
	if s != nil {
		s.close()
	}
	r.logger.Info("Consumer stopped")
}
