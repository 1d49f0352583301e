package passivetotal_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riskiq-opencti/connectors/internal/passivetotal"
	"github.com/riskiq-opencti/connectors/internal/passivetotal/passivetotaltest"
)

// memShared is an in-memory shared budget and pause, as Redis holds them for
// the replicas; err, when set, makes every call fail (Redis down).
type memShared struct {
	mu      sync.Mutex
	budgets map[time.Time]int
	pause   time.Time
	takes   int
	err     error
}

func (m *memShared) TakeSearch(_ context.Context, reset time.Time, remaining int) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.takes++
	if m.err != nil {
		return false, m.err
	}
	if m.budgets == nil {
		m.budgets = map[time.Time]int{}
	}
	left, ok := m.budgets[reset]
	if !ok {
		if remaining < 0 {
			return true, nil
		}
		left = remaining
	}
	if left <= 0 {
		m.budgets[reset] = 0
		return false, nil
	}
	m.budgets[reset] = left - 1
	return true, nil
}

func (m *memShared) PauseUntil(_ context.Context, t time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	if t.After(m.pause) {
		m.pause = t
	}
	return nil
}

func (m *memShared) PausedUntil(context.Context) (time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pause, m.err
}

// twoReplicas returns two clients of one account sharing m, on one fake API
// and one simulated clock.
func twoReplicas(t *testing.T, m *memShared) (a, b *passivetotal.Client, srv *passivetotaltest.Server, clock *simClock) {
	t.Helper()
	clock = &simClock{now: epoch}
	srv = passivetotaltest.NewServer(t, passivetotaltest.WithClock(clock.Now))
	mk := func() *passivetotal.Client {
		c, err := passivetotal.New(srv.BaseURL(), testUser, testKey,
			passivetotal.WithHTTPClient(srv.Client()), passivetotal.WithClock(clock.Now), passivetotal.WithSleep(clock.Sleep),
			passivetotal.WithSharedQuota(m), passivetotal.WithSharedPause(m))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	return mk(), mk(), srv, clock
}

// TestSharedQuotaAcrossReplicas: two replicas read the same quota (5
// searches left); they make 6 lookups between them. With the shared budget
// exactly 5 reach the API and the sixth fails fast with the reset time; each
// counting alone, both believed 5 were left and the API refused the sixth.
func TestSharedQuotaAcrossReplicas(t *testing.T) {
	m := &memShared{}
	a, b, srv, _ := twoReplicas(t, m)
	srv.SetQuota(95, 100)
	for _, c := range []*passivetotal.Client{a, b} {
		if err := c.CheckQuota(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	var failures []error
	for i, c := range []*passivetotal.Client{a, a, a, b, b, b} {
		if _, err := c.PassiveDNS(t.Context(), "passivetotal.org", time.Time{}); err != nil {
			failures = append(failures, err)
			if i != 5 {
				t.Errorf("lookup %d failed: %v", i, err)
			}
		}
	}
	if n := srv.Calls(passivetotaltest.EndpointPassiveDNS); n != 5 {
		t.Errorf("API calls = %d, want the 5 searches left", n)
	}
	if len(failures) != 1 {
		t.Fatalf("failures = %v, want 1", failures)
	}
	var qe *passivetotal.QuotaError
	if !errors.As(failures[0], &qe) || qe.NextReset.IsZero() || !strings.Contains(failures[0].Error(), "next reset") {
		t.Errorf("error = %v, want a quota error with the reset time", failures[0])
	}
	// Spent: later lookups fail fast, without asking the budget again.
	takes := m.takes
	if _, err := b.PassiveDNS(t.Context(), "passivetotal.org", time.Time{}); !errors.Is(err, passivetotal.ErrQuotaExceeded) {
		t.Errorf("lookup after the budget is spent = %v", err)
	}
	if m.takes != takes {
		t.Errorf("the spent budget was asked again")
	}
}

// TestSharedPauseAcrossReplicas: a 429 with Retry-After 30 s on replica a
// pauses replica b too: b's lookup waits without calling, then succeeds.
func TestSharedPauseAcrossReplicas(t *testing.T) {
	m := &memShared{}
	a, b, srv, clock := twoReplicas(t, m)
	srv.Fail(passivetotaltest.EndpointPassiveDNS, 429, 1, "30")
	results := make(chan error, 2)
	go func() { _, err := a.PassiveDNS(t.Context(), "passivetotal.org", time.Time{}); results <- err }()
	waitFor(t, "a sleeps after its 429", func() bool { return clock.Sleeping() == 1 })
	if got, _ := m.PausedUntil(t.Context()); !got.Equal(epoch.Add(30 * time.Second)) {
		t.Errorf("shared pause = %v, want epoch+30s", got)
	}
	go func() { _, err := b.PassiveDNS(t.Context(), "riskiq.net", time.Time{}); results <- err }()
	waitFor(t, "b waits for the shared pause", func() bool { return clock.Sleeping() == 2 })
	if n := srv.Calls(passivetotaltest.EndpointPassiveDNS); n != 1 {
		t.Errorf("API calls during the pause = %d, want only the refused one", n)
	}
	clock.Step()
	for range 2 {
		if err := <-results; err != nil {
			t.Error(err)
		}
	}
	if clock.Now().Sub(epoch) != 30*time.Second {
		t.Errorf("lookups resumed at +%v, want +30s", clock.Now().Sub(epoch))
	}
}

// TestSharedStateDownCountsAlone: while the shared state fails, lookups go
// on with the client's own count and pause.
func TestSharedStateDownCountsAlone(t *testing.T) {
	m := &memShared{err: errors.New("redis unavailable")}
	a, _, srv, _ := twoReplicas(t, m)
	if err := a.CheckQuota(t.Context()); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := a.PassiveDNS(t.Context(), "passivetotal.org", time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.Calls(passivetotaltest.EndpointPassiveDNS); n != 3 {
		t.Errorf("API calls = %d, want 3", n)
	}
}
