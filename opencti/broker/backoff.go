package broker

import (
	"context"
	"time"

	"github.com/cenkalti/backoff/v5"
)

const (
	// DefaultReconnectInitial is the first delay before a reconnection attempt.
	DefaultReconnectInitial = time.Second
	// DefaultReconnectMax caps the delay between reconnection attempts.
	DefaultReconnectMax = 30 * time.Second
)

// reconnectBackoff is an exponential back-off (factor 2, ±25 % jitter) between initial and
// max. It never gives up: the reconnect loops stop only when their context ends.
type reconnectBackoff struct {
	b   *backoff.ExponentialBackOff
	max time.Duration
}

func newReconnectBackoff(initial, maxDelay time.Duration) *reconnectBackoff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = initial
	b.MaxInterval = maxDelay
	b.Multiplier = 2
	b.RandomizationFactor = 0.25
	b.Reset()
	return &reconnectBackoff{b: b, max: maxDelay}
}

// next returns the delay before the next attempt, never more than max.
func (r *reconnectBackoff) next() time.Duration {
	return min(r.b.NextBackOff(), r.max)
}

func (r *reconnectBackoff) reset() { r.b.Reset() }

// sleepCtx waits for d or until ctx ends; it reports whether the whole delay elapsed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// normalizeBackoff applies the defaults and keeps initial <= max.
func normalizeBackoff(initial, maxDelay time.Duration) (time.Duration, time.Duration) {
	if initial <= 0 {
		initial = DefaultReconnectInitial
	}
	if maxDelay <= 0 {
		maxDelay = DefaultReconnectMax
	}
	if maxDelay < initial {
		maxDelay = initial
	}
	return initial, maxDelay
}
