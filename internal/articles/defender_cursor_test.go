package articles

import (
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// TestUpdatedCursor walks the Defender TI cursor through the cases of spec
// §5: first run from the window or From, ties at the cursor, late writes in
// the overlap, updates, and articles older than the overlap.
func TestUpdatedCursor(t *testing.T) {
	t.Parallel()
	c := UpdatedCursor{Overlap: time.Hour}
	now := at("2026-12-01T12:00:00Z")
	st := map[string]any{}

	if got := c.Since(st, now); !got.Equal(at("2026-11-01T12:00:00Z")) {
		t.Errorf("first Since = %s, want now - 30 days", got)
	}
	from := at("2026-10-01T00:00:00Z")
	if got := (UpdatedCursor{From: &from}).Since(st, now); !got.Equal(from) {
		t.Errorf("first Since with From = %s, want %s", got, from)
	}
	if got := (UpdatedCursor{Window: 24 * time.Hour}).Since(st, now); !got.Equal(at("2026-11-30T12:00:00Z")) {
		t.Errorf("first Since with a 1-day window = %s", got)
	}
	if (c.Imported(st, &Article{GUID: "a", Updated: now})) {
		t.Error("Imported before any article = true")
	}

	c.Advance(st, Position{GUID: "a", Updated: at("2026-11-30T10:00:00Z")})
	c.Advance(st, Position{GUID: "b", Updated: at("2026-11-30T10:30:00.5Z")})
	c.Advance(st, Position{GUID: "c", Updated: at("2026-11-30T11:00:00.007Z")})
	c.Advance(st, Position{GUID: "d", Updated: at("2026-11-30T11:00:00.007Z")})
	want := map[string]any{
		StateDefenderLastUpdated:   "2026-11-30T11:00:00.007Z",
		StateDefenderSeenAtCursor:  []any{"c", "d"},
		StateDefenderSeenInOverlap: map[string]any{"b": "2026-11-30T10:30:00.5Z"},
	}
	if d := cmp.Diff(want, st); d != "" {
		t.Fatalf("state (-want +got):\n%s", d)
	}
	if got := c.Since(st, now); !got.Equal(at("2026-11-30T10:00:00.007Z")) {
		t.Errorf("Since = %s, want cursor - 1 h", got)
	}

	tests := []struct {
		name     string
		a        Article
		imported bool
	}{
		{"tie imported", Article{GUID: "c", Updated: at("2026-11-30T11:00:00.007Z")}, true},
		{"new tie", Article{GUID: "e", Updated: at("2026-11-30T11:00:00.007Z")}, false},
		{"after the cursor", Article{GUID: "c", Updated: at("2026-11-30T11:00:00.008Z")}, false},
		{"in the overlap, imported at this date", Article{GUID: "b", Updated: at("2026-11-30T10:30:00.5Z")}, true},
		{"in the overlap, updated since", Article{GUID: "b", Updated: at("2026-11-30T10:45:00Z")}, false},
		{"in the overlap, written late", Article{GUID: "z", Updated: at("2026-11-30T10:59:59Z")}, false},
		{"below the overlap", Article{GUID: "a", Updated: at("2026-11-30T10:00:00Z")}, true},
	}
	for _, tt := range tests {
		if got := c.Imported(st, &tt.a); got != tt.imported {
			t.Errorf("%s: Imported = %v, want %v", tt.name, got, tt.imported)
		}
	}

	// A late article within the overlap joins the overlap list; a later
	// article moves the cursor, the old ties join the list, entries older
	// than the overlap leave it.
	c.Advance(st, Position{GUID: "z", Updated: at("2026-11-30T10:59:59Z")})
	c.Advance(st, Position{GUID: "f", Updated: at("2026-11-30T11:45:00Z")})
	want = map[string]any{
		StateDefenderLastUpdated:  "2026-11-30T11:45:00Z",
		StateDefenderSeenAtCursor: []any{"f"},
		StateDefenderSeenInOverlap: map[string]any{
			"c": "2026-11-30T11:00:00.007Z", "d": "2026-11-30T11:00:00.007Z", "z": "2026-11-30T10:59:59Z",
		},
	}
	if d := cmp.Diff(want, st); d != "" {
		t.Fatalf("state (-want +got):\n%s", d)
	}
	// The ties moved to the overlap list are still imported.
	if !c.Imported(st, &Article{GUID: "d", Updated: at("2026-11-30T11:00:00.007Z")}) {
		t.Error("an old tie is imported again")
	}
}

// TestUpdatedCursorClean drops what cannot be read, the whole cursor when
// its date cannot.
func TestUpdatedCursorClean(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		st   map[string]any
		want map[string]any
	}{
		{"valid", map[string]any{StateDefenderLastUpdated: "2026-11-30T11:00:00Z", StateDefenderSeenAtCursor: []any{"a"}},
			map[string]any{StateDefenderLastUpdated: "2026-11-30T11:00:00Z", StateDefenderSeenAtCursor: []any{"a"}}},
		{"bad date", map[string]any{StateDefenderLastUpdated: "yesterday", StateDefenderSeenAtCursor: []any{"a"}, "other": 1.0},
			map[string]any{"other": 1.0}},
		{"number date", map[string]any{StateDefenderLastUpdated: 1712929994.0}, map[string]any{}},
		{"bad ties", map[string]any{StateDefenderLastUpdated: "2026-11-30T11:00:00Z", StateDefenderSeenAtCursor: []any{1.0}},
			map[string]any{StateDefenderLastUpdated: "2026-11-30T11:00:00Z"}},
		{"bad overlap", map[string]any{StateDefenderLastUpdated: "2026-11-30T11:00:00Z", StateDefenderSeenInOverlap: map[string]any{"a": "x"}},
			map[string]any{StateDefenderLastUpdated: "2026-11-30T11:00:00Z"}},
		{"ties without a cursor", map[string]any{StateDefenderSeenAtCursor: []any{"a"}}, map[string]any{}},
	}
	for _, tt := range tests {
		UpdatedCursor{}.Clean(tt.st, slog.New(slog.DiscardHandler))
		if d := cmp.Diff(tt.want, tt.st); d != "" {
			t.Errorf("%s: (-want +got):\n%s", tt.name, d)
		}
	}
}
