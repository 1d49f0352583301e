package articles

import (
	"log/slog"
	"time"
)

// Cursor is where the import stands in a provider's articles. It keeps its
// own keys of the connector state: [CreatedCursor] those of the Python
// connector (PassiveTotal), [UpdatedCursor] those of the Microsoft Defender
// TI import, so that both sources can be switched without mixing their
// positions.
type Cursor interface {
	// Clean removes the values of st that belong to the cursor but cannot be
	// read, logging each.
	Clean(st map[string]any, log *slog.Logger)
	// Since returns the lower bound given to [Source.Articles] (nil reads
	// every article); now is the start of the run.
	Since(st map[string]any, now time.Time) *time.Time
	// Imported reports an article the state already passes: it is counted
	// as already imported and not sent again.
	Imported(st map[string]any, a *Article) bool
	// Advance records in st an article imported, empty, gone or given up.
	// The importer advances the articles in the order the source yields
	// them.
	Advance(st map[string]any, p Position)
}

// Position is an article's place in the import order: what a [Cursor]
// records once the article is imported.
type Position struct {
	// GUID is the article's id.
	GUID string
	// Created and Updated are its creation and last update dates (Updated
	// is zero when the provider has none).
	Created, Updated time.Time
}

// position returns the article's position.
func (a *Article) position() Position {
	return Position{GUID: a.GUID, Created: a.Created, Updated: a.Updated}
}

// CreatedCursor is the PassiveTotal importer's cursor, the Python
// connector's: latest_article_timestamp, the creation date (Unix seconds) of
// the latest imported article. Articles created at or before it are
// imported; the list is asked from that day, or from From (the day of
// RISKIQ_IMPORT_FROM_TIMESTAMP) until an article is imported, or from the
// start when From is nil.
type CreatedCursor struct {
	// From is the first day to import when no article was imported yet.
	From *time.Time
}

// Clean does nothing: the importer checks latest_article_timestamp with the
// other Unix timestamps of the state.
func (CreatedCursor) Clean(map[string]any, *slog.Logger) {}

// Since is the creation date of the latest imported article, else From.
func (c CreatedCursor) Since(st map[string]any, _ time.Time) *time.Time {
	if latest, ok := state(st).timestamp(StateLatestArticle); ok {
		t := time.Unix(latest, 0).UTC()
		return &t
	}
	return c.From
}

// Imported reports an article created at or before the latest imported one.
func (CreatedCursor) Imported(st map[string]any, a *Article) bool {
	latest, ok := state(st).timestamp(StateLatestArticle)
	return ok && a.Created.Unix() <= latest
}

// Advance moves latest_article_timestamp to the article's creation date
// when it is later.
func (CreatedCursor) Advance(st map[string]any, p Position) {
	created := p.Created.Unix()
	if prev, ok := state(st).timestamp(StateLatestArticle); !ok || created > prev {
		st[StateLatestArticle] = created
	}
}
