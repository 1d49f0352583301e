package passivetotal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// rateGate is the client-wide pause a rate-limit answer (HTTP 429 without a
// quota message) orders. PassiveTotal limits the account, not the request:
// its Retry-After tells every request of the client when to come back, so
// one request's 429 holds every later call of the client until the gate
// opens, instead of each request discovering the limit with its own 429 and
// spending its own retries on it.
type rateGate struct {
	mu    sync.Mutex
	until time.Time // no call before then
}

// opensAt returns the time the gate opens; zero or past when open.
func (g *rateGate) opensAt() time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.until
}

// closeUntil keeps the gate closed until t at least and returns when it
// opens, which may be later when another 429 asked for more.
func (g *rateGate) closeUntil(t time.Time) time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	if t.After(g.until) {
		g.until = t
	}
	return g.until
}

// isRateLimit reports whether err is a rate-limit answer: a 429 the API did
// not explain as quota exhaustion (that one is a *QuotaError, never retried).
func isRateLimit(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusTooManyRequests
}

// pauseAll closes the gate for pause, at most the retry budget (a longer
// Retry-After could not be waited for by any call anyway), and returns how
// long the caller has to wait before its next attempt.
func (c *Client) pauseAll(ctx context.Context, r *call, pause time.Duration) time.Duration {
	now := c.now()
	pause = min(max(pause, 0), c.maxElapsed)
	opens := c.gate.closeUntil(now.Add(pause))
	c.sharePause(ctx, opens)
	c.log.LogAttrs(ctx, slog.LevelWarn, "passivetotal rate limit: pausing every call of the client",
		slog.String("endpoint", r.endpoint),
		slog.Duration("pause", pause),
		slog.Time("until", opens))
	return opens.Sub(now)
}

// errPauseBeyondBudget reports a rate-limit pause ending after the caller's
// retry budget.
var errPauseBeyondBudget = errors.New("rate limit pause ends after the retry budget")

// waitRateGate waits until the gate is open or ctx is done. The pause may be
// extended while waiting (another 429), in which case it waits again. When
// limit is not zero and the gate opens after it, it fails at once with
// errPauseBeyondBudget.
func (c *Client) waitRateGate(ctx context.Context, r *call, limit time.Time) error {
	var waited time.Time
	for {
		opens := c.gate.opensAt()
		if shared := c.sharedOpensAt(ctx); shared.After(opens) {
			// Another process was told to pause: this client pauses too,
			// at most its retry budget, like for its own 429.
			opens = c.gate.closeUntil(minTime(shared, c.now().Add(c.maxElapsed)))
		}
		if !opens.After(waited) {
			return nil // already waited for this opening
		}
		d := opens.Sub(c.now())
		if d <= 0 {
			return nil
		}
		if !limit.IsZero() && opens.After(limit) {
			return fmt.Errorf("%w (paused until %s)", errPauseBeyondBudget, opens.UTC().Format(time.RFC3339))
		}
		c.log.LogAttrs(ctx, slog.LevelDebug, "waiting for the passivetotal rate limit pause",
			slog.String("endpoint", r.endpoint),
			slog.Duration("delay", d))
		if err := c.sleep(ctx, d); err != nil {
			return err
		}
		waited = opens
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
