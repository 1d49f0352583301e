package enrichment_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskiq-opencti/connectors/internal/defenderti"
	"github.com/riskiq-opencti/connectors/internal/enrichment"
)

// memCache is an in-memory ResultCache.
type memCache struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (c *memCache) Fetch(ctx context.Context, key string, fill func(context.Context) ([]byte, error)) ([]byte, error) {
	c.mu.Lock()
	v, ok := c.m[key]
	c.mu.Unlock()
	if ok {
		return v, nil
	}
	v, err := fill(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.m[key] = v
	c.mu.Unlock()
	return v, nil
}

// countingSource answers fixed records and counts lookups per value.
type countingSource struct {
	mu    sync.Mutex
	calls map[string]int
	err   error
}

func (s *countingSource) Resolutions(_ context.Context, value string, _ time.Time) ([]enrichment.Resolution, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[value]++
	if s.err != nil {
		return nil, s.err
	}
	return []enrichment.Resolution{{RecordType: "A", ResolveType: "ip", Resolve: "1.2.3.4",
		FirstSeen: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), LastSeen: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}}, nil
}

func TestCachedSource(t *testing.T) {
	t.Parallel()
	src := &countingSource{calls: map[string]int{}}
	c := enrichment.Cached{Source: src, Cache: &memCache{m: map[string][]byte{}}, Name: "passivetotal"}
	day := time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)
	first, err := c.Resolutions(t.Context(), "example.com", day)
	if err != nil {
		t.Fatal(err)
	}
	// Same value, same window day (later in the day): from the cache, equal.
	again, err := c.Resolutions(t.Context(), "example.com", day.Add(5*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(first, again); diff != "" {
		t.Errorf("cached records differ (-fresh +cached):\n%s", diff)
	}
	// Another day or another value: looked up.
	_, _ = c.Resolutions(t.Context(), "example.com", day.Add(24*time.Hour))
	_, _ = c.Resolutions(t.Context(), "example.org", day)
	want := map[string]int{"example.com": 2, "example.org": 1}
	if diff := cmp.Diff(want, src.calls); diff != "" {
		t.Errorf("lookups (-want +got):\n%s", diff)
	}
}

func TestCachedSourceKeepsNoErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	src := &countingSource{calls: map[string]int{}, err: boom}
	c := enrichment.Cached{Source: src, Cache: &memCache{m: map[string][]byte{}}, Name: "passivetotal"}
	for range 2 {
		if _, err := c.Resolutions(t.Context(), "example.com", time.Now()); !errors.Is(err, boom) {
			t.Fatalf("err = %v, want boom", err)
		}
	}
	if src.calls["example.com"] != 2 {
		t.Errorf("lookups = %d, want 2 (failures are not cached)", src.calls["example.com"])
	}
}

// countingGraph answers a fixed Defender TI result and counts lookups per
// direction and host.
type countingGraph struct {
	mu    sync.Mutex
	calls map[string]int
	err   error
}

func (g *countingGraph) PassiveDNS(_ context.Context, host string, reverse bool, _ time.Time) (defenderti.PassiveDNSResult, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls[fmt.Sprint(reverse, " ", host)]++
	if g.err != nil {
		return defenderti.PassiveDNSResult{Count: -1}, g.err
	}
	seen := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	return defenderti.PassiveDNSResult{Count: 1, Records: []defenderti.PassiveDNSRecord{{
		ID: "r1", RecordType: "A", FirstSeenDateTime: seen, LastSeenDateTime: seen, CollectedDateTime: seen,
		ParentHost: defenderti.Artifact{ID: host}, Artifact: defenderti.Artifact{ODataType: defenderti.TypeIPAddress, ID: "192.0.2.10"},
	}}}, nil
}

// TestCachedPassiveDNS: the Defender TI lookups are cached per direction,
// window day and host; failures are not.
func TestCachedPassiveDNS(t *testing.T) {
	t.Parallel()
	g := &countingGraph{calls: map[string]int{}}
	c := enrichment.CachedPassiveDNS{Client: g, Cache: &memCache{m: map[string][]byte{}}, Name: "defenderti"}
	day := time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)
	first, err := c.PassiveDNS(t.Context(), "malicious.example", false, day)
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.PassiveDNS(t.Context(), "malicious.example", false, day.Add(5*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(first, again); diff != "" {
		t.Errorf("cached result differs (-fresh +cached):\n%s", diff)
	}
	_, _ = c.PassiveDNS(t.Context(), "malicious.example", true, day)
	_, _ = c.PassiveDNS(t.Context(), "malicious.example", false, day.Add(24*time.Hour))
	want := map[string]int{"false malicious.example": 2, "true malicious.example": 1}
	if diff := cmp.Diff(want, g.calls); diff != "" {
		t.Errorf("lookups (-want +got):\n%s", diff)
	}
	g.err = errors.New("boom")
	for range 2 {
		if _, err := c.PassiveDNS(t.Context(), "other.example", false, day); !errors.Is(err, g.err) {
			t.Fatalf("err = %v, want boom", err)
		}
	}
	if n := g.calls["false other.example"]; n != 2 {
		t.Errorf("failed lookups = %d, want 2 (failures are not cached)", n)
	}
}
