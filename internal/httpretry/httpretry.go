// Package httpretry holds what the vendor HTTP clients (PassiveTotal, Defender
// TI) need to retry a call the same way: reading Retry-After, waiting with
// a context, and naming the cause of a failed attempt.
package httpretry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ParseAfter reads a Retry-After value: delay seconds (capped at the
// longest time.Duration) or an HTTP date (a past date reads as 0). ok is
// false for an empty, negative or unreadable value.
func ParseAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		const maxSecs = int64(1<<63-1) / int64(time.Second)
		return time.Duration(min(secs, maxSecs)) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// Sleep waits for d or until ctx is done (then it returns ctx's cause).
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return context.Cause(ctx)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// TransportCause strips the *url.Error wrapper of a transport error (it
// repeats the whole URL) and names a per-attempt timeout.
func TransportCause(err error, timeout time.Duration) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("attempt timed out after %s: %w", timeout, err)
	}
	return err
}
