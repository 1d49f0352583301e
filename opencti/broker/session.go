package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// closeTimeout bounds the connection.close handshake when a session is torn down.
const closeTimeout = 5 * time.Second

// errConnectionClosed is the cause recorded when the library closed a notification channel
// without an error (a close this package did not ask for is unexpected).
var errConnectionClosed = errors.New("connection closed")

// session is one AMQP connection with one channel. A goroutine drains the connection's and
// the channel's notification channels (undrained ones deadlock amqp091) and records the
// first reason the session died; lost is closed then.
type session struct {
	conn *amqp.Connection
	ch   *amqp.Channel

	lost      chan struct{}
	lostOnce  sync.Once
	err       error // set before lost is closed
	watchDone chan struct{}
	closeOnce sync.Once

	blockMu   sync.Mutex
	unblocked chan struct{} // closed while the connection is not blocked

	// confirmsWithheld makes confirmDone ignore this session's publisher confirms, as if
	// the broker never sent them (set by tests through Publisher.withholdConfirms).
	confirmsWithheld bool
}

// confirmDone returns the channel closed when the confirm of dc arrives: dc.Done(), or a
// channel that never closes while the session's confirms are withheld.
func (s *session) confirmDone(dc *amqp.DeferredConfirmation) <-chan struct{} {
	if s.confirmsWithheld {
		return nil
	}
	return dc.Done()
}

// startSession opens a channel on conn and starts watching both. On error conn is closed.
// With watchBlocked, connection.blocked and connection.unblocked are logged and tracked
// (see whenUnblocked).
func startSession(conn *amqp.Connection, logger *slog.Logger, watchBlocked bool) (*session, error) {
	ch, err := conn.Channel()
	if err != nil {
		_ = conn.CloseDeadline(time.Now().Add(closeTimeout))
		return nil, fmt.Errorf("open channel: %w", err)
	}
	s := &session{
		conn:      conn,
		ch:        ch,
		lost:      make(chan struct{}),
		watchDone: make(chan struct{}),
		unblocked: make(chan struct{}),
	}
	close(s.unblocked)
	connClosed := conn.NotifyClose(make(chan *amqp.Error, 1))
	chClosed := ch.NotifyClose(make(chan *amqp.Error, 1))
	cancelled := ch.NotifyCancel(make(chan string, 1))
	var blocked chan amqp.Blocking
	if watchBlocked {
		blocked = conn.NotifyBlocked(make(chan amqp.Blocking, 4))
	}
	go s.watch(logger, connClosed, chClosed, cancelled, blocked)
	return s, nil
}

func (s *session) watch(logger *slog.Logger, connClosed, chClosed chan *amqp.Error, cancelled chan string, blocked chan amqp.Blocking) {
	defer close(s.watchDone)
	for connClosed != nil || chClosed != nil || cancelled != nil || blocked != nil {
		select {
		case e, ok := <-connClosed:
			if !ok {
				connClosed = nil
				s.markLost(errConnectionClosed)
				continue
			}
			s.markLost(fmt.Errorf("connection closed by broker or network: %w", e))
		case e, ok := <-chClosed:
			if !ok {
				chClosed = nil
				s.markLost(errConnectionClosed)
				continue
			}
			s.markLost(fmt.Errorf("channel closed by broker: %w", classify(e)))
		case tag, ok := <-cancelled:
			if !ok {
				cancelled = nil
				continue
			}
			s.markLost(fmt.Errorf("consumer %s cancelled by broker (queue deleted?)", tag))
		case b, ok := <-blocked:
			if !ok {
				blocked = nil
				s.setBlocked(false)
				continue
			}
			if b.Active {
				logger.Warn("RabbitMQ blocked publishing", slog.String("reason", b.Reason))
			} else {
				logger.Info("RabbitMQ unblocked publishing")
			}
			s.setBlocked(b.Active)
		}
	}
}

func (s *session) markLost(err error) {
	s.lostOnce.Do(func() {
		s.err = err
		close(s.lost)
	})
}

// isLost reports whether the session died (or was closed).
func (s *session) isLost() bool {
	select {
	case <-s.lost:
		return true
	default:
		return false
	}
}

// lossErr returns why the session died; call it only after lost is closed.
func (s *session) lossErr() error {
	<-s.lost
	return s.err
}

func (s *session) setBlocked(active bool) {
	s.blockMu.Lock()
	defer s.blockMu.Unlock()
	isBlocked := false
	select {
	case <-s.unblocked:
	default:
		isBlocked = true
	}
	switch {
	case active && !isBlocked:
		s.unblocked = make(chan struct{})
	case !active && isBlocked:
		close(s.unblocked)
	}
}

// whenUnblocked returns a channel closed while the connection is not blocked.
func (s *session) whenUnblocked() <-chan struct{} {
	s.blockMu.Lock()
	defer s.blockMu.Unlock()
	return s.unblocked
}

// close closes the connection (and so the channel: unacknowledged deliveries go back to
// their queue) and waits for the watcher to finish. It is idempotent.
func (s *session) close() {
	s.closeOnce.Do(func() {
		s.markLost(errSessionClosed)
		_ = s.conn.CloseDeadline(time.Now().Add(closeTimeout))
		<-s.watchDone
	})
}

// errSessionClosed is the cause recorded for a session this package closed itself.
var errSessionClosed = errors.New("session closed")
