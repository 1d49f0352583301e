package passivetotal

import (
	"context"
	"log/slog"
	"time"
)

// SharedQuota is a search budget shared by every process using the account
// (the replicas of a connector); *redisstate.Account fits.
type SharedQuota interface {
	// TakeSearch takes one search from the budget of the quota period ending
	// at reset, seeding a new budget with remaining (negative: unknown). It
	// reports false when the budget is spent. An error means the budget
	// could not be consulted: the client then relies on its own count.
	TakeSearch(ctx context.Context, reset time.Time, remaining int) (bool, error)
}

// SharedPause is a rate-limit pause shared by every process using the
// account; *redisstate.Account fits.
type SharedPause interface {
	// PauseUntil records that no process may call before t.
	PauseUntil(ctx context.Context, t time.Time) error
	// PausedUntil returns the time before which no process may call (zero:
	// none).
	PausedUntil(ctx context.Context) (time.Time, error)
}

// WithSharedQuota makes every passive DNS search first take one search from
// the shared budget q, seeded from the client's quota reading: once the
// budget is spent, the client fails fast with a [*QuotaError] until the
// reset, as when its own count is spent. Without it (or while q fails) the
// client counts alone.
func WithSharedQuota(q SharedQuota) Option {
	return func(c *Client) { c.sharedQuota = q }
}

// WithSharedPause makes a 429 pause every process sharing p, and every call
// wait for the pauses they ordered. While p fails the pause is the client's
// own.
func WithSharedPause(p SharedPause) Option {
	return func(c *Client) { c.sharedPause = p }
}

// takeSharedSearch takes a search from the shared budget, if any. A spent
// budget is recorded as exhaustion until the reset (fail fast, no call).
func (c *Client) takeSharedSearch(ctx context.Context) error {
	if c.sharedQuota == nil {
		return nil
	}
	now := c.now()
	s := &c.quota
	s.mu.Lock()
	remaining, limit := -1, 0
	var reset time.Time
	if used, lim, ok := s.reading.SearchAPI(); ok {
		remaining, limit = max(lim-used-s.since, 0), lim
	}
	if s.reading != nil && s.reading.User != nil {
		reset = s.reading.User.NextReset
	}
	s.mu.Unlock()
	ok, err := c.sharedQuota.TakeSearch(ctx, reset, remaining)
	if err != nil {
		c.log.LogAttrs(ctx, slog.LevelDebug, "shared quota budget not consulted, counting alone",
			slog.String("error", err.Error()))
		return nil
	}
	if ok {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	qe := &QuotaError{Used: limit, Limit: limit, NextReset: reset, Reason: "the budget shared by the connector's replicas is spent"}
	s.markExhaustedLocked(qe, now)
	e := *qe
	return &e
}

// sharedOpensAt returns when the shared pause ends (zero: none, or unknown).
func (c *Client) sharedOpensAt(ctx context.Context) time.Time {
	if c.sharedPause == nil {
		return time.Time{}
	}
	t, err := c.sharedPause.PausedUntil(ctx)
	if err != nil {
		c.log.LogAttrs(ctx, slog.LevelDebug, "shared rate limit pause not read, pausing alone",
			slog.String("error", err.Error()))
		return time.Time{}
	}
	return t
}

// sharePause tells the other processes about a pause until t.
func (c *Client) sharePause(ctx context.Context, t time.Time) {
	if c.sharedPause == nil {
		return
	}
	if err := c.sharedPause.PauseUntil(ctx, t); err != nil {
		c.log.LogAttrs(ctx, slog.LevelDebug, "rate limit pause not shared",
			slog.String("error", err.Error()))
	}
}
