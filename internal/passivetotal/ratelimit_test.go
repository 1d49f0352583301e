package passivetotal_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riskiq-opencti/connectors/internal/passivetotal"
	"github.com/riskiq-opencti/connectors/internal/passivetotal/passivetotaltest"
)

// simClock is simulated time for concurrent requests: Sleep blocks until the
// test advances the clock past the wake-up time with Step, so every request
// runs at a known instant and no test depends on the scheduler or wall time.
type simClock struct {
	mu       sync.Mutex
	now      time.Time
	sleepers []*simSleeper
}

type simSleeper struct {
	at   time.Time
	wake chan struct{}
}

func (c *simClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Sleep waits until Step reaches now+d, or ctx is done.
func (c *simClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return context.Cause(ctx)
	}
	c.mu.Lock()
	s := &simSleeper{at: c.now.Add(d), wake: make(chan struct{})}
	c.sleepers = append(c.sleepers, s)
	c.mu.Unlock()
	select {
	case <-s.wake:
		return nil
	case <-ctx.Done():
		c.mu.Lock()
		c.sleepers = slices.DeleteFunc(c.sleepers, func(o *simSleeper) bool { return o == s })
		c.mu.Unlock()
		return context.Cause(ctx)
	}
}

// Sleeping returns how many goroutines sleep.
func (c *simClock) Sleeping() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sleepers)
}

// Step moves the clock to the earliest wake-up time and wakes every sleeper
// due then; false when nobody sleeps.
func (c *simClock) Step() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.sleepers) == 0 {
		return false
	}
	next := c.sleepers[0].at
	for _, s := range c.sleepers {
		if s.at.Before(next) {
			next = s.at
		}
	}
	c.now = next
	c.sleepers = slices.DeleteFunc(c.sleepers, func(s *simSleeper) bool {
		if s.at.After(next) {
			return false
		}
		close(s.wake)
		return true
	})
	return true
}

func setupSim(t *testing.T, opts ...passivetotal.Option) (*passivetotal.Client, *passivetotaltest.Server, *simClock) {
	t.Helper()
	clock := &simClock{now: epoch}
	srv := passivetotaltest.NewServer(t, passivetotaltest.WithClock(clock.Now))
	base := []passivetotal.Option{
		passivetotal.WithHTTPClient(srv.Client()),
		passivetotal.WithClock(clock.Now),
		passivetotal.WithSleep(clock.Sleep),
		passivetotal.WithBackoff(time.Second, 8*time.Second),
	}
	c, err := passivetotal.New(srv.BaseURL(), testUser, testKey, append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c, srv, clock
}

// TestRateLimitBurst: 10 workers (staggered by 100 ms) make 100 passive DNS
// queries while PassiveTotal throttles the account, refusing every request
// that comes less than Retry-After (2 s) after the last one, for a burst of
// at most 50 refusals. Each 429 pauses every call of the client, so one
// refusal is enough and no query fails; when each request backed off alone,
// the workers kept the throttle alive and the first query of each one failed
// after 5 refusals (10 failed, 50 × 429).
func TestRateLimitBurst(t *testing.T) {
	client, srv, clock := setupSim(t) // default retry budget: 5 tries, 60 s
	srv.Throttle(passivetotaltest.EndpointPassiveDNS, 2*time.Second, 50)

	const workers, perWorker = 10, 10
	var (
		done   atomic.Int32
		failed atomic.Int32
		errMu  sync.Mutex
		errs   []error
	)
	for w := range workers {
		go func() {
			defer done.Add(1)
			if err := clock.Sleep(t.Context(), time.Duration(w)*100*time.Millisecond); err != nil {
				return
			}
			for i := range perWorker {
				_, err := client.PassiveDNS(t.Context(), fmt.Sprintf("host-%d-%d.example.com", w, i), time.Time{})
				if err != nil {
					failed.Add(1)
					errMu.Lock()
					errs = append(errs, err)
					errMu.Unlock()
				}
			}
		}()
	}

	type step struct {
		at    time.Duration
		calls int
	}
	var steps []step
	for {
		waitFor(t, "every worker sleeps or is done", func() bool {
			return clock.Sleeping()+int(done.Load()) == workers
		})
		steps = append(steps, step{clock.Now().Sub(epoch), srv.Calls(passivetotaltest.EndpointPassiveDNS)})
		if int(done.Load()) == workers {
			break
		}
		clock.Step()
	}

	// The first 429 (t=0) announced 2 s: nothing may reach the API before.
	for _, s := range steps {
		if s.at < 2*time.Second && s.calls != 1 {
			t.Errorf("at t=%v the API got %d calls, want 1: the 429 must pause every call for 2 s", s.at, s.calls)
		}
	}
	refused := srv.Throttled(passivetotaltest.EndpointPassiveDNS)
	t.Logf("%d requests: %d failed, %d × 429, %d calls, done at t=%v",
		workers*perWorker, failed.Load(), refused, srv.Calls(passivetotaltest.EndpointPassiveDNS), steps[len(steps)-1].at)
	if n := failed.Load(); n != 0 {
		t.Errorf("%d of %d requests failed, want 0; first: %v", n, workers*perWorker, errs[0])
	}
	if refused != 1 {
		t.Errorf("the API refused %d requests, want 1", refused)
	}
}

// TestRateLimitPausesOtherRequests: after one request's 429 with
// Retry-After: 30, requests started meanwhile wait for the pause without
// calling; one whose ctx ends while waiting gives up without calling; after
// the pause all the others succeed.
func TestRateLimitPausesOtherRequests(t *testing.T) {
	client, srv, clock := setupSim(t)
	srv.Fail(passivetotaltest.EndpointPassiveDNS, 429, 1, "30")
	calls := func() int { return srv.Calls(passivetotaltest.EndpointPassiveDNS) }

	results := make(chan error, 5)
	lookup := func(ctx context.Context) {
		_, err := client.PassiveDNS(ctx, "passivetotal.org", time.Time{})
		results <- err
	}
	go lookup(t.Context())
	waitFor(t, "the first request sleeps after its 429", func() bool { return clock.Sleeping() == 1 })

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go lookup(ctx)
	for range 3 {
		go lookup(t.Context())
	}
	waitFor(t, "5 requests wait for the pause", func() bool { return clock.Sleeping() == 5 })
	if n := calls(); n != 1 {
		t.Fatalf("the API got %d calls during the pause, want 1", n)
	}

	cancel()
	if err := <-results; !errors.Is(err, context.Canceled) {
		t.Errorf("request cancelled at the gate = %v, want context.Canceled", err)
	}
	if !clock.Step() || clock.Now() != epoch.Add(30*time.Second) {
		t.Fatalf("clock at %v after one step, want the end of the 30 s pause", clock.Now())
	}
	for range 4 {
		if err := <-results; err != nil {
			t.Errorf("request after the pause = %v", err)
		}
	}
	if n := calls(); n != 5 {
		t.Errorf("the API got %d calls, want 5 (the 429 and 4 successes)", n)
	}
}

// TestRateLimitPauseCapped: a Retry-After beyond the retry budget makes the
// request that got it give up at once, as before, but pauses the other calls
// only for the budget (60 s), so an absurd value cannot stop the client.
func TestRateLimitPauseCapped(t *testing.T) {
	client, srv, clock := setupSim(t, passivetotal.WithRetry(5, time.Minute))
	srv.Fail(passivetotaltest.EndpointPassiveDNS, 429, 1, "86400")
	_, err := client.PassiveDNS(t.Context(), "passivetotal.org", time.Time{})
	var ae *passivetotal.APIError
	if !errors.As(err, &ae) || ae.Status != 429 {
		t.Fatalf("PassiveDNS = %v, want the 429", err)
	}
	res := make(chan error, 1)
	go func() {
		_, err := client.PassiveDNS(t.Context(), "passivetotal.org", time.Time{})
		res <- err
	}()
	waitFor(t, "the next request waits for the pause", func() bool { return clock.Sleeping() == 1 })
	clock.Step()
	if got := clock.Now().Sub(epoch); got != time.Minute {
		t.Errorf("paused for %v, want the 60 s budget", got)
	}
	if err := <-res; err != nil {
		t.Errorf("request after the pause = %v", err)
	}
}

// TestRateLimitPauseBeyondBudget: a request waiting to retry after a 500
// gives up, without calling, when another request's 429 pauses the client
// past its retry budget; the one that got the 429 succeeds after the pause.
func TestRateLimitPauseBeyondBudget(t *testing.T) {
	client, srv, clock := setupSim(t, passivetotal.WithRetry(5, 30*time.Second), passivetotal.WithBackoff(10*time.Second, 10*time.Second))
	srv.Fail(passivetotaltest.EndpointPassiveDNS, 500, 1, "")
	srv.Fail(passivetotaltest.EndpointPassiveDNS, 429, 1, "30")
	a, b := make(chan error, 1), make(chan error, 1)
	go func() {
		_, err := client.PassiveDNS(t.Context(), "passivetotal.org", time.Time{})
		a <- err
	}()
	waitFor(t, "A backs off after its 500 (5 to 15 s)", func() bool { return clock.Sleeping() == 1 })
	go func() {
		if err := clock.Sleep(t.Context(), 4*time.Second); err != nil {
			b <- err
			return
		}
		_, err := client.PassiveDNS(t.Context(), "passivetotal.org", time.Time{})
		b <- err
	}()
	waitFor(t, "B sleeps until t=4s", func() bool { return clock.Sleeping() == 2 })
	clock.Step() // t=4s: B gets the 429, the client pauses until t=34s
	waitFor(t, "B waits for the pause", func() bool { return clock.Sleeping() == 2 && srv.Calls(passivetotaltest.EndpointPassiveDNS) == 2 })
	clock.Step() // A wakes: its budget ends at t=30s
	err := <-a
	var ae *passivetotal.APIError
	if !errors.As(err, &ae) || ae.Status != 500 || !strings.Contains(err.Error(), "giving up after 1 attempts, rate limit pause ends after the retry budget") {
		t.Errorf("A = %v, want it to give up on the pause with its last error", err)
	}
	if n := srv.Calls(passivetotaltest.EndpointPassiveDNS); n != 2 {
		t.Errorf("%d calls, want 2: A must not call during the pause", n)
	}
	clock.Step()
	if err := <-b; err != nil {
		t.Errorf("B after the pause = %v", err)
	}
	if got := clock.Now().Sub(epoch); got != 34*time.Second {
		t.Errorf("B succeeded at t=%v, want 34s", got)
	}
}
