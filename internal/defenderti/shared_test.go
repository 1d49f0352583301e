package defenderti_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/riskiq-opencti/connectors/internal/defenderti"
	"github.com/riskiq-opencti/connectors/internal/defenderti/defendertitest"
)

// memPause is an in-memory SharedPause, as Redis holds it for replicas.
type memPause struct {
	mu    sync.Mutex
	until time.Time
}

func (p *memPause) PauseUntil(_ context.Context, t time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t.After(p.until) {
		p.until = t
	}
	return nil
}

func (p *memPause) PausedUntil(context.Context) (time.Time, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.until, nil
}

// TestSharedPause: a 429 seen by one replica's client pauses the other
// replica's client too: it waits for the Retry-After before its first call
// instead of calling into the throttle.
func TestSharedPause(t *testing.T) {
	t.Parallel()
	srv := defendertitest.NewServer(t)
	pause := &memPause{}
	a := setupOn(t, srv, nil, defenderti.WithSharedPause(pause))
	b := setupOn(t, srv, nil, defenderti.WithSharedPause(pause))
	// Both replicas' clocks read the same time: a's is advanced by its wait,
	// b's is not, so b's wait is the whole announced pause.
	srv.Inject(defendertitest.EndpointPassiveDNS, defendertitest.Fault{Status: 429, RetryAfter: "7"})
	if _, err := a.c.PassiveDNS(t.Context(), "malicious.example", false, time.Time{}); err != nil {
		t.Fatalf("replica a: %v", err)
	}
	if got := a.clock.Sleeps(); len(got) != 1 || got[0] != 7*time.Second {
		t.Fatalf("replica a slept %v, want the 7 s Retry-After", got)
	}
	calls := srv.Calls(defendertitest.EndpointPassiveDNS)
	if _, err := b.c.PassiveDNS(t.Context(), "malicious.example", false, time.Time{}); err != nil {
		t.Fatalf("replica b: %v", err)
	}
	if got := b.clock.Sleeps(); len(got) != 1 || got[0] != 7*time.Second {
		t.Errorf("replica b slept %v, want the pause replica a was told (7 s) before its first call", got)
	}
	if n := srv.Calls(defendertitest.EndpointPassiveDNS) - calls; n != 1 {
		t.Errorf("replica b made %d passive DNS calls, want 1 (after the pause)", n)
	}
}
