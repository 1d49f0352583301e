package defenderti_test

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/riskiq-opencti/connectors/internal/defenderti"
	"github.com/riskiq-opencti/connectors/internal/defenderti/defendertitest"
)

// fakeClock is a clock that only the fake sleep advances.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	sleeps []time.Duration
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := context.Cause(ctx); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.t = c.t.Add(d)
	return nil
}

func (c *fakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type env struct {
	srv   *defendertitest.Server
	c     *defenderti.Client
	clock *fakeClock
	logs  *syncBuffer
}

// setup starts a fake and a client on it with the secret, a fake clock and
// a debug logger.
func setup(t *testing.T, mutate func(*defenderti.Settings), opts ...defenderti.Option) *env {
	t.Helper()
	srv := defendertitest.NewServer(t)
	return setupOn(t, srv, mutate, opts...)
}

func setupOn(t *testing.T, srv *defendertitest.Server, mutate func(*defenderti.Settings), opts ...defenderti.Option) *env {
	t.Helper()
	s := srv.Settings()
	if mutate != nil {
		mutate(&s)
	}
	e := &env{srv: srv, clock: newFakeClock(), logs: &syncBuffer{}}
	all := append([]defenderti.Option{
		defenderti.WithHTTPClient(srv.Client()),
		defenderti.WithClock(e.clock.Now),
		defenderti.WithSleep(e.clock.Sleep),
		defenderti.WithLogger(slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
	}, opts...)
	c, err := defenderti.New(s, all...)
	if err != nil {
		t.Fatal(err)
	}
	e.c = c
	return e
}

func date(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}
