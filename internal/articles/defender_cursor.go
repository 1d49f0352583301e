package articles

import (
	"log/slog"
	"slices"
	"time"
)

// State keys of the Microsoft Defender TI import, apart from the
// PassiveTotal importer's latest_article_timestamp so that both sources can
// be switched (spec §5).
const (
	// StateDefenderLastUpdated is the cursor: the lastUpdatedDateTime (RFC
	// 3339, UTC) of the latest imported article. Every article updated
	// before it was imported, given up, or is in the overlap below it.
	StateDefenderLastUpdated = "defender_ti_last_updated"
	// StateDefenderSeenAtCursor are the ids of the imported articles whose
	// lastUpdatedDateTime equals the cursor (ties): ["<id>", …].
	StateDefenderSeenAtCursor = "defender_ti_seen_at_cursor"
	// StateDefenderSeenInOverlap are the imported articles updated within
	// the overlap below the cursor, by id: {"<id>": "<lastUpdatedDateTime>"}.
	// An article found in the overlap that is not there, or with another
	// date, was written late and is imported; one that is, is not imported
	// again.
	StateDefenderSeenInOverlap = "defender_ti_seen_in_overlap"
)

// Defaults of the Defender TI cursor.
const (
	// DefaultDefenderImportWindow is how far back the first run reads
	// (DEFENDER_TI_IMPORT_WINDOW_DAYS) when RISKIQ_IMPORT_FROM_TIMESTAMP is
	// not set.
	DefaultDefenderImportWindow = 30 * 24 * time.Hour
	// DefaultDefenderOverlap is how far below the cursor each run reads
	// again (DEFENDER_TI_IMPORT_OVERLAP_SEC), against clock skew and late
	// writes.
	DefaultDefenderOverlap = time.Hour
)

// UpdatedCursor is the Microsoft Defender TI import's cursor (spec §5): the
// lastUpdatedDateTime of the latest imported article, with the ids of the
// articles updated at that instant (ties) and of those imported within the
// overlap below it. A run reads the articles updated at or after the cursor
// minus the overlap and imports those updated after the cursor, at it but
// not among the ties, or within the overlap but not imported at that date:
// an article imported once is not imported again until it is updated.
type UpdatedCursor struct {
	// From is the first date to import before any article was imported
	// (RISKIQ_IMPORT_FROM_TIMESTAMP); nil reads back Window from the run's
	// start.
	From *time.Time
	// Window is how far back the first run reads when From is nil; zero is
	// DefaultDefenderImportWindow.
	Window time.Duration
	// Overlap is how far below the cursor each run reads again; negative
	// is none, zero is DefaultDefenderOverlap.
	Overlap time.Duration
}

// overlap returns the overlap in use.
func (c UpdatedCursor) overlap() time.Duration {
	switch {
	case c.Overlap < 0:
		return 0
	case c.Overlap == 0:
		return DefaultDefenderOverlap
	}
	return c.Overlap
}

// defenderCursor is the cursor's state, read.
type defenderCursor struct {
	at      time.Time // zero: no article imported yet
	ties    []string
	overlap map[string]time.Time
}

// read reads the cursor's keys; invalid values read as absent (Clean
// removes them at the start of a run).
func readDefenderCursor(st map[string]any) defenderCursor {
	var d defenderCursor
	if s, ok := st[StateDefenderLastUpdated].(string); ok {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			d.at = t.UTC()
		}
	}
	d.ties, _ = stringList(st[StateDefenderSeenAtCursor])
	d.overlap, _ = dateMap(st[StateDefenderSeenInOverlap])
	return d
}

// write stores the cursor's keys in st, as new values (st may be shared
// with a reader that holds a shallow copy).
func (d defenderCursor) write(st map[string]any) {
	if d.at.IsZero() {
		delete(st, StateDefenderLastUpdated)
		delete(st, StateDefenderSeenAtCursor)
		delete(st, StateDefenderSeenInOverlap)
		return
	}
	st[StateDefenderLastUpdated] = d.at.UTC().Format(time.RFC3339Nano)
	ties := make([]any, len(d.ties))
	for i, id := range d.ties {
		ties[i] = id
	}
	st[StateDefenderSeenAtCursor] = ties
	if len(d.overlap) == 0 {
		delete(st, StateDefenderSeenInOverlap)
		return
	}
	m := make(map[string]any, len(d.overlap))
	for id, t := range d.overlap {
		m[id] = t.UTC().Format(time.RFC3339Nano)
	}
	st[StateDefenderSeenInOverlap] = m
}

// stringList reads a JSON array of strings; ok is false when v is another
// value (nil included) or holds one.
func stringList(v any) ([]string, bool) {
	var out []string
	switch l := v.(type) {
	case []any:
		for _, e := range l {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
	case []string:
		out = slices.Clone(l)
	default:
		return nil, false
	}
	return out, true
}

// dateMap reads a JSON object of RFC 3339 dates; ok is false when v is
// another value (nil included) or holds one.
func dateMap(v any) (map[string]time.Time, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, false
	}
	out := make(map[string]time.Time, len(m))
	for id, e := range m {
		s, ok := e.(string)
		if !ok {
			return nil, false
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, false
		}
		out[id] = t.UTC()
	}
	return out, true
}

// Clean removes the cursor's keys that cannot be read: the whole cursor when
// its date cannot, so that no tie or overlap list outlives it.
func (UpdatedCursor) Clean(st map[string]any, log *slog.Logger) {
	v, ok := st[StateDefenderLastUpdated]
	if !ok {
		for _, k := range []string{StateDefenderSeenAtCursor, StateDefenderSeenInOverlap} {
			if _, present := st[k]; present {
				log.Warn("State value ignored: no defender_ti_last_updated goes with it", "state_key", k)
				delete(st, k)
			}
		}
		return
	}
	s, _ := v.(string)
	if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
		log.Warn("State value ignored: not an RFC 3339 date; the Defender TI import starts again from its window",
			"state_key", StateDefenderLastUpdated)
		for _, k := range []string{StateDefenderLastUpdated, StateDefenderSeenAtCursor, StateDefenderSeenInOverlap} {
			delete(st, k)
		}
		return
	}
	if _, ok := st[StateDefenderSeenAtCursor]; ok {
		if _, valid := stringList(st[StateDefenderSeenAtCursor]); !valid {
			log.Warn("State value ignored: not a list of article ids", "state_key", StateDefenderSeenAtCursor)
			delete(st, StateDefenderSeenAtCursor)
		}
	}
	if _, ok := st[StateDefenderSeenInOverlap]; ok {
		if _, valid := dateMap(st[StateDefenderSeenInOverlap]); !valid {
			log.Warn("State value ignored: not an object of article ids and dates", "state_key", StateDefenderSeenInOverlap)
			delete(st, StateDefenderSeenInOverlap)
		}
	}
}

// Since is the cursor minus the overlap; before any article was imported,
// From, else the run's start minus the window.
func (c UpdatedCursor) Since(st map[string]any, now time.Time) *time.Time {
	d := readDefenderCursor(st)
	var t time.Time
	switch {
	case !d.at.IsZero():
		t = d.at.Add(-c.overlap())
	case c.From != nil:
		t = c.From.UTC()
	default:
		w := c.Window
		if w <= 0 {
			w = DefaultDefenderImportWindow
		}
		t = now.UTC().Add(-w)
	}
	return &t
}

// Imported reports an article the cursor passes: updated before the
// cursor's overlap, at the cursor among the ties, or within the overlap and
// imported with this very date.
func (c UpdatedCursor) Imported(st map[string]any, a *Article) bool {
	d := readDefenderCursor(st)
	if d.at.IsZero() {
		return false
	}
	u := a.Updated.UTC()
	switch {
	case u.After(d.at):
		return false
	case u.Equal(d.at):
		return slices.Contains(d.ties, a.GUID)
	case u.Before(d.at.Add(-c.overlap())):
		return true
	}
	seen, ok := d.overlap[a.GUID]
	return ok && seen.Equal(u)
}

// Advance moves the cursor to a later article (the ties at the old cursor
// join the overlap list), adds a tie at the cursor, or records a late
// article within the overlap. Overlap entries older than the overlap are
// dropped.
func (c UpdatedCursor) Advance(st map[string]any, p Position) {
	d := readDefenderCursor(st)
	u := p.Updated.UTC()
	if u.IsZero() {
		u = p.Created.UTC()
	}
	if d.overlap == nil {
		d.overlap = map[string]time.Time{}
	}
	switch {
	case d.at.IsZero() || u.After(d.at):
		for _, id := range d.ties {
			d.overlap[id] = d.at
		}
		d.at, d.ties = u, []string{p.GUID}
	case u.Equal(d.at):
		if !slices.Contains(d.ties, p.GUID) {
			d.ties = append(d.ties, p.GUID)
		}
	default:
		d.overlap[p.GUID] = u
	}
	floor := d.at.Add(-c.overlap())
	for id, t := range d.overlap {
		if t.Before(floor) || slices.Contains(d.ties, id) {
			delete(d.overlap, id)
		}
	}
	d.write(st)
}
