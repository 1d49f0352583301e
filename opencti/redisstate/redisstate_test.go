package redisstate_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/riskiq-opencti/connectors/opencti/config"
	"github.com/riskiq-opencti/connectors/opencti/internal/testenv"
	"github.com/riskiq-opencti/connectors/opencti/redisstate"
)

// replicas opens n stores on url sharing one key root and connector id, as n
// replicas of a connector would.
func replicas(t *testing.T, url string, n int, opts ...redisstate.Option) []*redisstate.Store {
	t.Helper()
	stores, _ := replicasAt(t, url, n, opts...)
	return stores
}

// replicasAt is replicas, also returning the key root.
func replicasAt(t *testing.T, url string, n int, opts ...redisstate.Option) ([]*redisstate.Store, string) {
	t.Helper()
	root := testenv.RedisRoot(t)
	out := make([]*redisstate.Store, n)
	for i := range out {
		s, err := redisstate.Open(redisstate.Settings{URL: config.Secret(url), ConnectorID: "c-1"},
			append([]redisstate.Option{redisstate.WithRoot(root)}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		out[i] = s
	}
	return out, root
}

// waitFor polls cond until it holds, failing after a generous bound.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestOpenWithoutURL(t *testing.T) {
	t.Parallel()
	s, err := redisstate.Open(redisstate.Settings{})
	if s != nil || err != nil {
		t.Fatalf("Open(no url) = %v, %v, want nil, nil", s, err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close on nil store = %v", err)
	}
}

func TestLoadSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		wantTTL time.Duration
		problem string
	}{
		{name: "defaults", env: nil, wantTTL: time.Hour},
		{name: "tls and password", env: map[string]string{"CONNECTOR_REDIS_URL": "rediss://:s3cret-pass@redis:6380/2", "CONNECTOR_CACHE_TTL": "PT5M"}, wantTTL: 5 * time.Minute},
		{name: "cache off", env: map[string]string{"CONNECTOR_CACHE_TTL": "PT0S"}, wantTTL: 0},
		{name: "negative ttl", env: map[string]string{"CONNECTOR_CACHE_TTL": "-PT1H"}, wantTTL: -time.Hour, problem: "CONNECTOR_CACHE_TTL"},
		{name: "bad scheme", env: map[string]string{"CONNECTOR_REDIS_URL": "http://user:s3cret-pass@redis:6379"}, wantTTL: time.Hour, problem: "CONNECTOR_REDIS_URL"},
		{name: "bad db", env: map[string]string{"CONNECTOR_REDIS_URL": "redis://:s3cret-pass@redis:6379/notadb"}, wantTTL: time.Hour, problem: "CONNECTOR_REDIS_URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src, err := config.NewSource(func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }, nil)
			if err != nil {
				t.Fatal(err)
			}
			s := redisstate.LoadSettings(src, "id-1")
			if s.CacheTTL != tc.wantTTL {
				t.Errorf("CacheTTL = %s, want %s", s.CacheTTL, tc.wantTTL)
			}
			err = src.Validate()
			switch {
			case tc.problem == "" && err != nil:
				t.Errorf("Validate = %v, want nil", err)
			case tc.problem != "" && (err == nil || !strings.Contains(err.Error(), tc.problem)):
				t.Errorf("Validate = %v, want a problem with %s", err, tc.problem)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret-pass") {
				t.Errorf("the password leaked: %v", err)
			}
		})
	}
}

func TestIntegrationBudgetSharedByReplicas(t *testing.T) {
	t.Parallel()
	stores := replicas(t, testenv.RedisURL(t), 3)
	const budget, tries = 50, 200
	reset := time.Now().Add(time.Hour)
	var granted atomic.Int32
	var wg sync.WaitGroup
	for i := range tries {
		wg.Go(func() {
			ok, err := stores[i%3].Account("passivetotal", "analyst@example.com").TakeSearch(t.Context(), reset, budget)
			if err != nil {
				t.Error(err)
			}
			if ok {
				granted.Add(1)
			}
		})
	}
	wg.Wait()
	if n := granted.Load(); n != budget {
		t.Errorf("searches granted = %d, want the budget %d", n, budget)
	}
	// Another account and another period have budgets of their own.
	if ok, _ := stores[0].Account("passivetotal", "other@example.com").TakeSearch(t.Context(), reset, 1); !ok {
		t.Error("another account's budget is spent too")
	}
	if ok, _ := stores[0].Account("passivetotal", "analyst@example.com").TakeSearch(t.Context(), reset.Add(24*time.Hour), 1); !ok {
		t.Error("the next period's budget is spent too")
	}
	// Without a seed an untracked budget lets the search through.
	if ok, err := stores[1].Account("passivetotal", "new@example.com").TakeSearch(t.Context(), reset, -1); !ok || err != nil {
		t.Errorf("unseeded TakeSearch = %v, %v, want true, nil", ok, err)
	}
}

func TestIntegrationPauseSharedByReplicas(t *testing.T) {
	t.Parallel()
	stores := replicas(t, testenv.RedisURL(t), 2)
	a, b := stores[0].Account("passivetotal", "u"), stores[1].Account("passivetotal", "u")
	if got, err := b.PausedUntil(t.Context()); err != nil || !got.IsZero() {
		t.Fatalf("PausedUntil before any pause = %v, %v", got, err)
	}
	until := time.Now().Add(time.Minute).Truncate(time.Millisecond)
	if err := a.PauseUntil(t.Context(), until); err != nil {
		t.Fatal(err)
	}
	if err := a.PauseUntil(t.Context(), until.Add(-30*time.Second)); err != nil { // shorter: ignored
		t.Fatal(err)
	}
	got, err := b.PausedUntil(t.Context())
	if err != nil || !got.Equal(until) {
		t.Errorf("PausedUntil = %v, %v, want %v", got, err, until)
	}
}

func TestIntegrationCacheOneLookupAcrossReplicas(t *testing.T) {
	t.Parallel()
	stores := replicas(t, testenv.RedisURL(t), 3)
	const callers = 60
	var fills atomic.Int32
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			v, err := stores[i%3].Cache(time.Hour).Fetch(t.Context(), "passivetotal:2025-01-01:example.com", func(context.Context) ([]byte, error) {
				fills.Add(1)
				return []byte(`[{"Resolve":"1.2.3.4"}]`), nil
			})
			if err != nil || string(v) != `[{"Resolve":"1.2.3.4"}]` {
				t.Errorf("Fetch = %q, %v", v, err)
			}
		})
	}
	wg.Wait()
	if n := fills.Load(); n != 1 {
		t.Errorf("lookups = %d, want 1", n)
	}
}

func TestIntegrationCacheDoesNotKeepFailures(t *testing.T) {
	t.Parallel()
	s := replicas(t, testenv.RedisURL(t), 1)[0]
	c := s.Cache(time.Hour)
	boom := errors.New("boom")
	if _, err := c.Fetch(t.Context(), "k", func(context.Context) ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("Fetch = %v, want boom", err)
	}
	v, err := c.Fetch(t.Context(), "k", func(context.Context) ([]byte, error) { return []byte("ok"), nil })
	if err != nil || string(v) != "ok" {
		t.Errorf("Fetch after a failure = %q, %v, want a new lookup", v, err)
	}
	// PT0S disables the cache: every fetch looks up.
	var n int
	for range 2 {
		_, _ = s.Cache(0).Fetch(t.Context(), "k0", func(context.Context) ([]byte, error) { n++; return []byte("x"), nil })
	}
	if n != 2 {
		t.Errorf("lookups with a zero TTL = %d, want 2", n)
	}
}

func TestIntegrationCacheWaitIsBounded(t *testing.T) {
	t.Parallel()
	stores := replicas(t, testenv.RedisURL(t), 2, redisstate.WithCacheWait(200*time.Millisecond))
	started, release := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		_, err := stores[0].Cache(time.Hour).Fetch(t.Context(), "slow", func(context.Context) ([]byte, error) {
			close(started)
			<-release
			return []byte("first"), nil
		})
		first <- err
	}()
	<-started
	// The first replica is stuck in its lookup: the second waits its bound,
	// then looks up itself.
	v, err := stores[1].Cache(time.Hour).Fetch(t.Context(), "slow", func(context.Context) ([]byte, error) { return []byte("second"), nil })
	if err != nil || string(v) != "second" {
		t.Errorf("Fetch while another replica is stuck = %q, %v, want its own lookup", v, err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Error(err)
	}
}

func TestIntegrationUnavailableFallsBackAndRecovers(t *testing.T) {
	t.Parallel()
	priv := testenv.StartRedis(t)
	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := replicas(t, priv.URL, 1, redisstate.WithBackoff(time.Millisecond, 5*time.Millisecond), redisstate.WithLogger(log))[0]
	ctx := t.Context()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	priv.Stop()
	acct := s.Account("passivetotal", "u")
	if _, err := acct.TakeSearch(ctx, time.Now().Add(time.Hour), 5); !errors.Is(err, redisstate.ErrUnavailable) {
		t.Errorf("TakeSearch with Redis stopped = %v, want ErrUnavailable", err)
	}
	if s.Available() {
		t.Error("Available after a failure")
	}
	calls := 0
	v, err := s.Cache(time.Hour).Fetch(ctx, "k", func(context.Context) ([]byte, error) { calls++; return []byte("v"), nil })
	if err != nil || string(v) != "v" || calls != 1 {
		t.Errorf("Fetch with Redis stopped = %q, %v (%d lookups), want a local lookup", v, err, calls)
	}
	ran := false
	if err := s.Lease("import", time.Second).Run(ctx, func(context.Context) error { ran = true; return nil }); err != nil || !ran {
		t.Errorf("Lease.Run with Redis stopped = %v (ran %v), want the run done locally", err, ran)
	}
	if _, err := acct.PausedUntil(ctx); !errors.Is(err, redisstate.ErrUnavailable) {
		t.Errorf("PausedUntil with Redis stopped = %v, want ErrUnavailable", err)
	}
	if got := strings.Count(logs.String(), "Redis unavailable, replicas fall back"); got != 1 {
		t.Errorf("unavailability logged %d times, want once:\n%s", got, logs.String())
	}
	// Redis comes back on the same address: the store reconnects by itself.
	again := testenv.StartRedisOn(t, priv.URL)
	_ = again
	waitFor(t, "the store to use Redis again", func() bool {
		_, err := acct.PausedUntil(ctx)
		return err == nil
	})
	if !s.Available() || !strings.Contains(logs.String(), "Redis available again") {
		t.Errorf("recovery not reported:\n%s", logs.String())
	}
}

func TestIntegrationUnavailableAtStart(t *testing.T) {
	t.Parallel()
	testenv.RedisURL(t)
	// Nothing listens on port 1 of the loopback.
	s := replicas(t, "redis://127.0.0.1:1/0", 1)[0]
	if err := s.Ping(t.Context()); !errors.Is(err, redisstate.ErrUnavailable) {
		t.Fatalf("Ping = %v, want ErrUnavailable", err)
	}
	// In backoff: fails at once, without calling.
	if _, err := s.Account("x", "y").PausedUntil(t.Context()); !errors.Is(err, redisstate.ErrUnavailable) || !strings.Contains(err.Error(), "next attempt") {
		t.Errorf("PausedUntil in backoff = %v", err)
	}
}

func TestIntegrationLeaseTakeoverAfterHolderDies(t *testing.T) {
	t.Parallel()
	url := testenv.RedisURL(t)
	stores := replicas(t, url, 2)
	const ttl = 3 * time.Second
	dead, standby := stores[0].Lease("import", ttl), stores[1].Lease("import", ttl)
	// The holder takes the lease and dies: nobody renews it.
	if ok, err := dead.Acquire(t.Context()); !ok || err != nil {
		t.Fatalf("Acquire = %v, %v", ok, err)
	}
	if err := dead.SaveState(t.Context(), []byte(`{"last":5}`)); err != nil {
		t.Fatal(err)
	}
	if err := standby.Run(t.Context(), func(context.Context) error { t.Error("ran while the lease is held"); return nil }); !errors.Is(err, redisstate.ErrStandby) {
		t.Fatalf("Run while held = %v, want ErrStandby", err)
	}
	ran := false
	waitFor(t, "the standby to take over", func() bool {
		err := standby.Run(t.Context(), func(ctx context.Context) error {
			ran = true
			st, found, err := standby.LoadState(ctx)
			if err != nil || !found || string(st) != `{"last":5}` {
				t.Errorf("LoadState = %s, %v, %v, want the dead holder's state", st, found, err)
			}
			return nil
		})
		if err != nil && !errors.Is(err, redisstate.ErrStandby) {
			t.Fatal(err)
		}
		return err == nil
	})
	if !ran {
		t.Error("the standby never ran")
	}
	// The dead holder cannot overwrite the state once another took the lease.
	if ok, err := standby.Acquire(t.Context()); !ok || err != nil {
		t.Fatal(ok, err)
	}
	_ = dead.SaveState(t.Context(), []byte(`{"last":1}`))
	if st, _, _ := standby.LoadState(t.Context()); string(st) != `{"last":5}` {
		t.Errorf("state = %s after a stale holder saved, want it unchanged", st)
	}
}

func TestIntegrationLeaseRenewedWhileRunning(t *testing.T) {
	t.Parallel()
	url := testenv.RedisURL(t)
	stores, root := replicasAt(t, url, 2)
	const ttl = 1500 * time.Millisecond
	holder, other := stores[0].Lease("import", ttl), stores[1].Lease("import", ttl)
	raw := redis.NewClient(mustOptions(t, url))
	t.Cleanup(func() { _ = raw.Close() })
	done := make(chan error, 1)
	running := make(chan struct{})
	stop := make(chan struct{})
	go func() {
		done <- holder.Run(t.Context(), func(ctx context.Context) error {
			close(running)
			select {
			case <-stop:
				return nil
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		})
	}()
	<-running
	// Watch three renewals (the TTL going up again); the other replica
	// stands by throughout.
	key := root + ":connector:c-1:lease:import"
	last, renewals := ttl, 0
	waitFor(t, "three renewals", func() bool {
		pttl := raw.PTTL(t.Context(), key).Val()
		if pttl > last {
			renewals++
		}
		last = pttl
		if ok, err := other.Acquire(t.Context()); ok || err != nil {
			t.Fatalf("the other replica got the lease while it is renewed: %v, %v", ok, err)
		}
		return renewals >= 3
	})
	close(stop)
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
	// Released: the other replica takes it at once.
	if ok, err := other.Acquire(t.Context()); !ok || err != nil {
		t.Errorf("Acquire after release = %v, %v", ok, err)
	}
}

func TestIntegrationLeaseLostCancelsTheRun(t *testing.T) {
	t.Parallel()
	url := testenv.RedisURL(t)
	stores, root := replicasAt(t, url, 2)
	holder, thief := stores[0].Lease("import", 600*time.Millisecond), stores[1].Lease("import", time.Minute)
	raw := redis.NewClient(mustOptions(t, url))
	t.Cleanup(func() { _ = raw.Close() })
	running := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- holder.Run(t.Context(), func(ctx context.Context) error {
			close(running)
			<-ctx.Done()
			return context.Cause(ctx)
		})
	}()
	<-running
	// Another replica takes the lease (as after a pause longer than the TTL).
	raw.Del(t.Context(), root+":connector:c-1:lease:import")
	if ok, err := thief.Acquire(t.Context()); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if err := <-done; !errors.Is(err, redisstate.ErrLeaseLost) {
		t.Errorf("Run = %v, want ErrLeaseLost", err)
	}
}

func mustOptions(t *testing.T, url string) *redis.Options {
	t.Helper()
	o, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

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
