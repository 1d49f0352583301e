package articles_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riskiq-opencti/connectors/internal/articles"
	"github.com/riskiq-opencti/connectors/internal/defenderti"
)

// memGraph is an in-memory Defender TI article store behind the
// articles.DefenderClient interface: it lists newest lastUpdatedDateTime
// first (or in the order given, when unsorted) and fails per article on
// demand. The HTTP path (paging, retries, error bodies) is covered through
// the real client and the fake Graph in defender_golden_test.go.
type memGraph struct {
	mu         sync.Mutex
	articles   []defenderti.Article
	indicators map[string][]defenderti.ArticleIndicator
	unsorted   bool
	listErr    error
	indErr     map[string]error
	listed     int // articles handed to the list callback
	indCalls   []string
	// blockID's indicators hang until the caller's context ends, as a
	// process frozen there (then killed); reached is closed when they do.
	blockID string
	reached chan struct{}
}

func newMemGraph() *memGraph {
	return &memGraph{indicators: map[string][]defenderti.ArticleIndicator{}, indErr: map[string]error{}}
}

// put adds or replaces an article with one hostname indicator per value.
func (g *memGraph) put(id, title string, created, updated time.Time, hosts ...string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	a := defenderti.Article{ID: id, Title: title, CreatedDateTime: created, LastUpdatedDateTime: updated,
		Summary: defenderti.FormattedContent{Content: "Summary of " + title, Format: "markdown"},
		Body:    defenderti.FormattedContent{Content: "## " + title + "\n\nBody.", Format: "markdown"}}
	g.articles = slices.DeleteFunc(g.articles, func(o defenderti.Article) bool { return o.ID == id })
	g.articles = append(g.articles, a)
	var inds []defenderti.ArticleIndicator
	for _, h := range hosts {
		inds = append(inds, defenderti.ArticleIndicator{ID: h, Source: "microsoft",
			Artifact: defenderti.Artifact{ODataType: defenderti.TypeHostname, ID: h}})
	}
	g.indicators[id] = inds
}

func (g *memGraph) Articles(ctx context.Context, fn func(defenderti.Article) (bool, error)) error {
	g.mu.Lock()
	list := slices.Clone(g.articles)
	err := g.listErr
	unsorted := g.unsorted
	g.mu.Unlock()
	if err != nil {
		return err
	}
	if !unsorted {
		slices.SortStableFunc(list, func(a, b defenderti.Article) int { return b.LastUpdatedDateTime.Compare(a.LastUpdatedDateTime) })
	}
	for _, a := range list {
		if err := ctx.Err(); err != nil {
			return err
		}
		g.mu.Lock()
		g.listed++
		g.mu.Unlock()
		more, err := fn(a)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

func (g *memGraph) Article(_ context.Context, id string) (*defenderti.Article, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, a := range g.articles {
		if a.ID == id {
			return &a, nil
		}
	}
	return nil, defenderti.ErrNotFound
}

func (g *memGraph) ArticleIndicators(ctx context.Context, id string) ([]defenderti.ArticleIndicator, bool, error) {
	g.mu.Lock()
	if id == g.blockID && g.reached != nil {
		close(g.reached)
		g.reached = nil
		g.mu.Unlock()
		<-ctx.Done()
		return nil, false, ctx.Err()
	}
	defer g.mu.Unlock()
	g.indCalls = append(g.indCalls, id)
	if err := g.indErr[id]; err != nil {
		return nil, false, err
	}
	return slices.Clone(g.indicators[id]), false, nil
}

func (g *memGraph) indicatorCalls() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := g.indCalls
	g.indCalls = nil
	return out
}

// defenderRunner runs the importer over a memGraph with a clock the test
// moves.
type defenderRunner struct {
	graph    *memGraph
	platform *fakePlatform
	now      time.Time
	logs     logBuffer
	from     *time.Time
}

func (r *defenderRunner) run(t *testing.T) error {
	t.Helper()
	im, err := articles.NewImporter(articles.Config{
		Source: &articles.Defender{Client: r.graph, TLP: articles.DefaultDefenderTLP, Logger: bufferLogger(&r.logs),
			OrderCheck: 2},
		Platform: r.platform, Lister: &fakeLister{},
		Options:  articles.Options{CreateObservables: true},
		Interval: time.Hour,
		Cursor:   articles.UpdatedCursor{From: r.from, Overlap: time.Hour},
		Logger:   bufferLogger(&r.logs),
		Now:      func() time.Time { return r.now },
		InFlight: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	err = im.Run(t.Context())
	r.now = r.now.Add(2 * time.Hour) // the next run is due
	return err
}

// reports returns the external ids of the reports sent since the last call,
// in order.
func (r *defenderRunner) reports(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, b := range r.platform.goldenBundles(t) {
		out = append(out, b.Article)
	}
	r.platform.mu.Lock()
	r.platform.bundles = nil
	r.platform.mu.Unlock()
	return out
}

func (r *defenderRunner) lastWork(t *testing.T) goldenWork {
	t.Helper()
	if len(r.platform.works) == 0 {
		t.Fatal("no work")
	}
	return r.platform.works[len(r.platform.works)-1]
}

var t0 = time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)

// TestDefenderRunIncremental: the first run imports the window oldest
// first; a second imports nothing; an update, a tie and a late write within
// the overlap are imported, and only they; an article older than the window
// never is. Indicators are read only for the articles imported.
func TestDefenderRunIncremental(t *testing.T) {
	t.Parallel()
	g := newMemGraph()
	g.put("old00001", "Too old", t0.AddDate(0, -3, 0), t0.AddDate(0, -2, 0), "old.example")
	g.put("a0000001", "First", t0, t0.Add(time.Hour), "a.example")
	g.put("b0000002", "Second", t0, t0.Add(3*time.Hour), "b.example")
	g.put("c0000003", "Tie", t0, t0.Add(3*time.Hour), "c.example")
	g.put("d0000004", "Latest", t0, t0.Add(5*time.Hour), "d.example")
	r := &defenderRunner{graph: g, platform: newFakePlatform(nil), now: t0.Add(6 * time.Hour)}

	if err := r.run(t); err != nil {
		t.Fatalf("run 1: %v", err)
	}
	if got, want := r.reports(t), []string{"a0000001", "b0000002", "c0000003", "d0000004"}; !slices.Equal(got, want) {
		t.Errorf("run 1 reports = %v, want %v (oldest first, the article older than the window left)", got, want)
	}
	st := r.platform.stateMap(t)
	if st[articles.StateDefenderLastUpdated] != "2026-11-30T05:00:00Z" || fmt.Sprint(st[articles.StateDefenderSeenAtCursor]) != "[d0000004]" {
		t.Errorf("state after run 1 = %v", st)
	}
	if st[articles.StateLatestArticle] != nil {
		t.Errorf("the PassiveTotal key was written: %v", st)
	}
	if calls := g.indicatorCalls(); len(calls) != 4 {
		t.Errorf("indicator reads = %v, want the 4 imported articles", calls)
	}
	if w := r.lastWork(t); w.InError || !strings.Contains(w.Message, "4 reports sent") {
		t.Errorf("work 1 = %+v", w)
	}

	// Nothing changed: nothing is sent, no indicator is read, the list stops
	// below the overlap.
	g.mu.Lock()
	g.listed = 0
	g.mu.Unlock()
	if err := r.run(t); err != nil {
		t.Fatalf("run 2: %v", err)
	}
	if got := r.reports(t); len(got) != 0 {
		t.Errorf("run 2 reports = %v, want none", got)
	}
	if calls := g.indicatorCalls(); len(calls) != 0 {
		t.Errorf("run 2 indicator reads = %v, want none", calls)
	}
	if g.listed != 3 { // d (in the overlap), then b and c: older than cursor - 1 h, in order (OrderCheck 2)
		t.Errorf("run 2 listed %d articles, want 3", g.listed)
	}
	if w := r.lastWork(t); w.InError || !strings.Contains(w.Message, "1 already imported") {
		t.Errorf("work 2 = %+v", w)
	}

	// b updated, a new tie with d, a late write within the overlap (and
	// one below it, which is missed by design).
	g.put("b0000002", "Second", t0, t0.Add(7*time.Hour), "b.example", "b2.example")
	g.put("e0000005", "Tie with latest", t0, t0.Add(5*time.Hour), "e.example")
	g.put("f0000006", "Late", t0, t0.Add(4*time.Hour+30*time.Minute), "f.example")
	g.put("g0000007", "Too late", t0, t0.Add(3*time.Hour+59*time.Minute), "g.example")
	if err := r.run(t); err != nil {
		t.Fatalf("run 3: %v", err)
	}
	if got, want := r.reports(t), []string{"f0000006", "e0000005", "b0000002"}; !slices.Equal(got, want) {
		t.Errorf("run 3 reports = %v, want %v", got, want)
	}
	st = r.platform.stateMap(t)
	if st[articles.StateDefenderLastUpdated] != "2026-11-30T07:00:00Z" || fmt.Sprint(st[articles.StateDefenderSeenAtCursor]) != "[b0000002]" {
		t.Errorf("state after run 3 = %v", st)
	}
	if err := r.run(t); err != nil {
		t.Fatalf("run 4: %v", err)
	}
	if got := r.reports(t); len(got) != 0 {
		t.Errorf("run 4 reports = %v, want none", got)
	}
}

// TestDefenderRunUnsorted: when the API ignores $orderby, the whole list is
// read (a warning says so) and the articles are still imported oldest
// first.
func TestDefenderRunUnsorted(t *testing.T) {
	t.Parallel()
	g := newMemGraph()
	g.unsorted = true
	g.put("b0000002", "Second", t0, t0.Add(3*time.Hour), "b.example")
	g.put("old00001", "Too old", t0.AddDate(0, -3, 0), t0.AddDate(0, -2, 0), "old.example")
	g.put("a0000001", "First", t0, t0.Add(time.Hour), "a.example")
	g.put("c0000003", "Third", t0, t0.Add(5*time.Hour), "c.example")
	g.put("old00002", "Too old too", t0.AddDate(0, -3, 0), t0.AddDate(0, -2, -1), "old2.example")
	r := &defenderRunner{graph: g, platform: newFakePlatform(nil), now: t0.Add(6 * time.Hour)}
	if err := r.run(t); err != nil {
		t.Fatal(err)
	}
	if got, want := r.reports(t), []string{"a0000001", "b0000002", "c0000003"}; !slices.Equal(got, want) {
		t.Errorf("reports = %v, want %v", got, want)
	}
	if g.listed != 5 {
		t.Errorf("listed %d, want the full list (5)", g.listed)
	}
	if !strings.Contains(r.logs.String(), "not in lastUpdatedDateTime order") {
		t.Errorf("no warning about the order:\n%s", r.logs.String())
	}
}

// TestDefenderRunFailures: a failing list or a provider failure on an
// article ends the run in error keeping the cursor before it; a 404 skips
// the article and passes it; an error of one article (a malformed body)
// skips it, the next runs try it again and give it up after
// MaxArticleAttempts.
func TestDefenderRunFailures(t *testing.T) {
	t.Parallel()
	unavailable := &defenderti.APIError{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailable", Message: "try later"}
	tests := []struct {
		name      string
		inject    func(g *memGraph)
		reports   []string
		cursor    any // defender_ti_last_updated after the run
		inError   bool
		reason    string
		runFailed bool
	}{
		{"list 503", func(g *memGraph) { g.listErr = unavailable }, nil, nil, true, "fetch articles", true},
		{"list 403", func(g *memGraph) {
			g.listErr = &defenderti.APIError{Endpoint: "articles", Status: http.StatusForbidden, Code: "Forbidden", Message: "Missing application permission"}
		}, nil, nil, true, "ThreatIntelligence.Read.All", true},
		{"list token refused", func(g *memGraph) {
			g.listErr = &defenderti.AuthError{AADSTS: 7000215, Status: http.StatusUnauthorized, Hint: "DEFENDER_TI_CLIENT_SECRET is wrong"}
		}, nil, nil, true, "DEFENDER_TI_CLIENT_SECRET is wrong", true},
		{"list 404", func(g *memGraph) { g.listErr = defenderti.ErrNotFound }, nil, nil, true, "DEFENDER_TI_BASE_URL", true},
		{"indicators 503", func(g *memGraph) { g.indErr["b0000002"] = unavailable }, []string{"a0000001"}, "2026-11-30T01:00:00Z", true, "source unavailable", true},
		{"indicators 429", func(g *memGraph) {
			g.indErr["b0000002"] = &defenderti.APIError{Status: http.StatusTooManyRequests, RetryAfter: time.Second}
		}, []string{"a0000001"}, "2026-11-30T01:00:00Z", true, "throttling", true},
		{"indicators transport", func(g *memGraph) {
			g.indErr["b0000002"] = fmt.Errorf("defender ti GET articles/{id}/indicators: giving up after 5 attempts: %w",
				&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")})
		}, []string{"a0000001"}, "2026-11-30T01:00:00Z", true, "source unavailable", true},
		{"indicators 400", func(g *memGraph) {
			g.indErr["b0000002"] = &defenderti.APIError{Endpoint: "articles/{id}/indicators", Status: http.StatusBadRequest, Code: "BadRequest"}
		}, []string{"a0000001", "c0000003"}, "2026-11-30T01:00:00Z", false, "1 failed, tried again at the next run", false},
		{"indicators 403", func(g *memGraph) {
			g.indErr["a0000001"] = &defenderti.APIError{Endpoint: "articles/{id}/indicators", Status: http.StatusForbidden}
		}, nil, nil, true, "access denied", true},
		{"indicators 404", func(g *memGraph) { g.indErr["b0000002"] = defenderti.ErrNotFound }, []string{"a0000001", "c0000003"}, "2026-11-30T05:00:00Z", false, "1 gone from the source (404)", false},
		{"indicators malformed", func(g *memGraph) {
			g.indErr["b0000002"] = &defenderti.DecodeError{Endpoint: "articles/{id}/indicators", Err: errors.New("unexpected EOF")}
		},
			[]string{"a0000001", "c0000003"}, "2026-11-30T01:00:00Z", false, "1 failed, tried again at the next run", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := newMemGraph()
			g.put("a0000001", "First", t0, t0.Add(time.Hour), "a.example")
			g.put("b0000002", "Second", t0, t0.Add(3*time.Hour), "b.example")
			g.put("c0000003", "Third", t0, t0.Add(5*time.Hour), "c.example")
			tt.inject(g)
			r := &defenderRunner{graph: g, platform: newFakePlatform(nil), now: t0.Add(6 * time.Hour)}
			err := r.run(t)
			if (err != nil) != tt.runFailed {
				t.Errorf("Run() = %v, want failed %v", err, tt.runFailed)
			}
			if got := r.reports(t); !slices.Equal(got, tt.reports) {
				t.Errorf("reports = %v, want %v", got, tt.reports)
			}
			w := r.lastWork(t)
			if w.InError != tt.inError || !strings.Contains(w.Message, tt.reason) {
				t.Errorf("work = %+v, want in error %v naming %q", w, tt.inError, tt.reason)
			}
			if got := r.platform.stateMap(t)[articles.StateDefenderLastUpdated]; got != tt.cursor {
				t.Errorf("cursor = %v, want %v", got, tt.cursor)
			}
		})
	}
}

// TestDefenderRunGivesUp: an article whose indicators cannot be read is
// tried by the next runs (the later ones sent again), then given up after
// MaxArticleAttempts runs and passed.
func TestDefenderRunGivesUp(t *testing.T) {
	t.Parallel()
	g := newMemGraph()
	g.put("a0000001", "First", t0, t0.Add(time.Hour), "a.example")
	g.put("b0000002", "Second", t0, t0.Add(3*time.Hour), "b.example")
	g.put("c0000003", "Third", t0, t0.Add(5*time.Hour), "c.example")
	g.indErr["b0000002"] = &defenderti.DecodeError{Endpoint: "articles/{id}/indicators", Err: errors.New("unexpected EOF")}
	r := &defenderRunner{graph: g, platform: newFakePlatform(nil), now: t0.Add(6 * time.Hour)}
	for run := 1; run <= articles.MaxArticleAttempts; run++ {
		if err := r.run(t); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		want := []string{"c0000003"}
		if run == 1 {
			want = []string{"a0000001", "c0000003"}
		}
		if got := r.reports(t); !slices.Equal(got, want) {
			t.Errorf("run %d reports = %v, want %v", run, got, want)
		}
	}
	if w := r.lastWork(t); !strings.Contains(w.Message, "1 given up after failing in 3 runs") {
		t.Errorf("last work = %+v", w)
	}
	st := r.platform.stateMap(t)
	if st[articles.StateDefenderLastUpdated] != "2026-11-30T05:00:00Z" || st[articles.StateFailedArticles] != nil {
		t.Errorf("state = %v, want the cursor past the given-up article", st)
	}
	if err := r.run(t); err != nil {
		t.Fatal(err)
	}
	if got := r.reports(t); len(got) != 0 {
		t.Errorf("after giving up: reports = %v, want none", got)
	}
}

// TestDefenderRunResumesAfterKill: a Defender run killed at article 85 of
// 200, after its cursor reached the platform, is resumed at once by the
// restarted connector: the 115 others are imported, none lost, none sent
// twice, and the killed run's work is closed.
func TestDefenderRunResumesAfterKill(t *testing.T) {
	t.Parallel()
	const total, killed = 200, 85
	g := newMemGraph()
	var ids []string
	for i := range total {
		id := fmt.Sprintf("a%07d", i)
		ids = append(ids, id)
		g.put(id, "Article "+id, t0, t0.Add(time.Duration(i)*time.Minute), id+".example")
	}
	g.blockID, g.reached = ids[killed], make(chan struct{})
	reached := g.reached
	p := newFakePlatform(nil)
	r := &defenderRunner{graph: g, platform: p, now: t0.Add(6 * time.Hour)}

	ctx, kill := context.WithCancel(t.Context())
	done := make(chan error, 1)
	start := r.now
	go func() {
		im, err := articles.NewImporter(articles.Config{
			Source:   &articles.Defender{Client: g, TLP: articles.DefaultDefenderTLP},
			Platform: p, Lister: &fakeLister{}, Options: articles.Options{CreateObservables: true},
			Interval: 24 * time.Hour, Cursor: articles.UpdatedCursor{}, Logger: testLogger(t),
			Now: func() time.Time { return start },
		})
		if err != nil {
			done <- err
			return
		}
		done <- im.Run(ctx)
	}()
	t.Cleanup(func() { kill(); <-done })
	select {
	case <-reached:
	case err := <-done:
		t.Fatalf("the first run ended before article %d: %v", killed+1, err)
	}
	want := t0.Add((killed - 1) * time.Minute).Format(time.RFC3339Nano)
	waitFor(t, "the cursor of article 85 on the platform", func() bool {
		return p.pushedMap(t)[articles.StateDefenderLastUpdated] == want
	})
	if n := p.bundleCount(); n != killed {
		t.Fatalf("%d reports sent before the kill, want %d", n, killed)
	}

	p.restart()
	r.now = r.now.Add(9 * time.Second)
	if err := r.run(t); err != nil {
		t.Fatalf("Run() after the restart = %v", err)
	}
	if len(p.works) != 2 || p.works[1].InError || !strings.Contains(p.works[1].Message, fmt.Sprintf("%d reports sent", total-killed)) ||
		!p.works[0].InError || !strings.Contains(p.works[0].Message, "interrupted") {
		t.Fatalf("works = %+v", p.works)
	}
	sent := sentArticles(t, p)
	lost, twice := 0, 0
	for _, id := range ids {
		switch n := sent[id]; {
		case n == 0:
			lost++
		case n > 1:
			twice += n - 1
		}
	}
	if lost != 0 || twice != 0 {
		t.Errorf("articles %d: lost %d, sent again %d; want none", total, lost, twice)
	}
	t.Logf("defender import killed at %d/%d then restarted: articles %d, imported %d, lost %d, sent again %d",
		killed, total, total, len(sent), lost, twice)
}
