package defenderti

import (
	"context"
	"log/slog"
	"time"
)

// SharedPause is a throttling pause shared by every process using the same
// app registration (the replicas of a connector); *redisstate.Account fits.
type SharedPause interface {
	// PauseUntil records that no process may call before t.
	PauseUntil(ctx context.Context, t time.Time) error
	// PausedUntil returns the time before which no process may call (zero:
	// none).
	PausedUntil(ctx context.Context) (time.Time, error)
}

// WithSharedPause makes a 429 pause every process sharing p, and every call
// wait for the pauses the others were told (at most the retry budget). While
// p fails, the pause is the client's own.
func WithSharedPause(p SharedPause) Option {
	return func(c *Client) { c.sharedPause = p }
}

// sharedOpensAt returns when the shared pause ends (zero: none, or unknown).
func (c *Client) sharedOpensAt(ctx context.Context) time.Time {
	if c.sharedPause == nil {
		return time.Time{}
	}
	t, err := c.sharedPause.PausedUntil(ctx)
	if err != nil {
		c.log.LogAttrs(ctx, slog.LevelDebug, "shared defender ti pause not read, pausing alone", slog.String("error", err.Error()))
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
		c.log.LogAttrs(ctx, slog.LevelDebug, "defender ti pause not shared", slog.String("error", err.Error()))
	}
}
