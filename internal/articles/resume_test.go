package articles_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskiq-opencti/connectors/internal/articles"
	"github.com/riskiq-opencti/connectors/internal/passivetotal/passivetotaltest"
)

// genData is a data set of count generated articles (benchArticle: n values,
// no tag, article i created i hours after 2024-01-01); edit may change each.
func genData(tb testing.TB, count, n int, edit func(i int, a map[string]any)) *passivetotaltest.Data {
	tb.Helper()
	quota, err := fs.ReadFile(passivetotaltest.DataFS(), "quota.json")
	if err != nil {
		tb.Fatal(err)
	}
	m := fstest.MapFS{"quota.json": {Data: quota}}
	for i := range count {
		a := benchArticle(i, n, []string{})
		if edit != nil {
			edit(i, a)
		}
		b, err := json.Marshal(a)
		if err != nil {
			tb.Fatal(err)
		}
		m[fmt.Sprintf("articles/%04d.json", i)] = &fstest.MapFile{Data: b}
	}
	d, err := passivetotaltest.LoadData(m)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// genCreated is the creation date of generated article i.
func genCreated(i int) int64 {
	return time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Hour).Unix()
}

// genImporter builds an importer of generated articles at the given time.
func genImporter(t testing.TB, src articles.Source, p articles.Platform, now time.Time, log *logBuffer) *articles.Importer {
	t.Helper()
	l := testLogger(t)
	if log != nil {
		l = bufferLogger(log)
	}
	im, err := articles.NewImporter(articles.Config{
		Source: src, Platform: p, Lister: &fakeLister{}, Options: articles.Options{CreateObservables: true},
		Interval: 24 * time.Hour, Logger: l, Now: clockAt(now),
	})
	if err != nil {
		t.Fatal(err)
	}
	return im
}

// blockingSource is a source that hangs on the detail of one article, as a
// process frozen there (then killed) would: it tells reached and waits for
// the run's context.
type blockingSource struct {
	articles.Source
	guid    string
	reached chan struct{}
	once    sync.Once
}

func (s *blockingSource) Article(ctx context.Context, guid string) (articles.Article, error) {
	if guid == s.guid {
		s.once.Do(func() { close(s.reached) })
		<-ctx.Done()
		return articles.Article{}, ctx.Err()
	}
	return s.Source.Article(ctx, guid)
}

// waitFor polls cond until it holds, failing the test after a generous bound.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// sentArticles counts the reports sent for each article guid.
func sentArticles(t *testing.T, p *fakePlatform) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, b := range p.goldenBundles(t) {
		if b.Article != "" {
			out[b.Article]++
		}
	}
	return out
}

// TestRunResumesAfterKill: a run killed at article 85 of 200, after the
// state of article 85 reached the platform, is resumed by the restarted
// connector at once (9 s later, not one interval later): the 115 others are
// imported, none is lost and none is sent twice; the killed run's work is
// closed.
func TestRunResumesAfterKill(t *testing.T) {
	t.Parallel()
	const total, killed = 200, 85
	data := genData(t, total, 2, nil)
	srv := passivetotaltest.NewServer(t, passivetotaltest.WithData(data))
	src := articles.PassiveTotal{Client: newClient(t, srv.BaseURL())}
	guids := data.ArticleGUIDs()
	p := newFakePlatform(nil)

	// The first process: frozen while reading article 86, then killed.
	ctx1, kill := context.WithCancel(t.Context())
	blocked := &blockingSource{Source: src, guid: guids[killed], reached: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- genImporter(t, blocked, p, fixedNow, nil).Run(ctx1) }()
	t.Cleanup(func() { kill(); <-done })
	select {
	case <-blocked.reached:
	case err := <-done:
		t.Fatalf("the first run ended before article %d: %v", killed+1, err)
	}
	waitFor(t, "the state of article 85 on the platform", func() bool {
		return stateInt(t, p.pushedMap(t), articles.StateLatestArticle) == genCreated(killed-1)
	})
	if n := p.bundleCount(); n != killed {
		t.Fatalf("%d reports sent before the kill, want %d", n, killed)
	}

	// The restarted process finds the state the platform kept.
	p.restart()
	restart := fixedNow.Add(9 * time.Second)
	if err := genImporter(t, src, p, restart, nil).Run(t.Context()); err != nil {
		t.Fatalf("Run() after the restart = %v", err)
	}
	if len(p.works) != 2 {
		t.Fatalf("works = %+v, want the killed run's and a second one at once", p.works)
	}
	if w := p.works[1]; w.InError || !strings.Contains(w.Message, fmt.Sprintf("%d reports sent", total-killed)) {
		t.Errorf("second work = %+v, want %d reports", w, total-killed)
	}
	if w := p.works[0]; !w.InError || !strings.Contains(w.Message, "interrupted") {
		t.Errorf("killed run's work = %+v, want closed as interrupted by the next run", w)
	}
	sent := sentArticles(t, p)
	lost, twice := 0, 0
	for _, g := range guids {
		switch n := sent[g]; {
		case n == 0:
			lost++
		case n > 1:
			twice += n - 1
		}
	}
	if lost != 0 || twice != 0 {
		t.Errorf("articles %d: lost %d, sent again %d; want none", total, lost, twice)
	}
	st := p.stateMap(t)
	if stateInt(t, st, articles.StateLatestArticle) != genCreated(total-1) || stateInt(t, st, articles.StateLatestRun) != restart.Unix() ||
		st[articles.StateCurrentRun] != nil || st[articles.StateCurrentWork] != nil {
		t.Errorf("state after the resumed run = %v", st)
	}
	t.Logf("import killed at %d/%d then restarted: articles %d, imported %d, lost %d, sent again %d",
		killed, total, total, len(sent), lost, twice)
}

// TestRunInterruptedResumes: a run stopped by SIGTERM (its context done)
// leaves the run in progress in the state, without latest_run_timestamp; the
// next start, seconds later, resumes it at once and imports the rest.
func TestRunInterruptedResumes(t *testing.T) {
	t.Parallel()
	c := loadCase(t, "sample-articles")
	_, src := c.source(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	p := newFakePlatform(nil)
	p.onSend = func(n int) {
		if n == 2 {
			cancel()
		}
	}
	lister := &fakeLister{objects: c.DomainObjects}
	if err := c.importer(t, src, p, lister).Run(ctx); err == nil {
		t.Fatal("Run() = nil, want the interruption")
	}
	st := p.stateMap(t)
	if stateInt(t, st, articles.StateCurrentRun) != c.Now.Unix() || st[articles.StateLatestRun] != nil || st[articles.StateCurrentWork] != nil {
		t.Errorf("state after SIGTERM = %v, want the run in progress and no finished run", st)
	}
	p.onSend = nil
	next := *c
	next.Now = c.Now.Add(9 * time.Second)
	if err := next.importer(t, src, p, lister).Run(t.Context()); err != nil {
		t.Fatalf("Run() after the restart = %v", err)
	}
	if len(p.works) != 2 || p.works[1].InError {
		t.Fatalf("works = %+v, want a second run at once", p.works)
	}
	sent := sentArticles(t, p)
	for _, g := range []string{"e86878b1", "3a5fd1c9", "b71c02e4", "0f9e8d7c"} {
		if sent[g] == 0 {
			t.Errorf("article %s never sent", g)
		}
	}
	st = p.stateMap(t)
	if stateInt(t, st, articles.StateLatestRun) != next.Now.Unix() || st[articles.StateCurrentRun] != nil {
		t.Errorf("state after the resumed run = %v", st)
	}
}

// failingDetail serves a data set and answers 500 to the detail of one
// article while fail is set.
func failingDetail(t *testing.T, d *passivetotaltest.Data, guid string, fail *atomic.Bool) string {
	t.Helper()
	return failingDetailStatus(t, d, guid, fail, http.StatusInternalServerError)
}

// failingDetailStatus is failingDetail answering status instead of 500.
func failingDetailStatus(t *testing.T, d *passivetotaltest.Data, guid string, fail *atomic.Bool, status int) string {
	t.Helper()
	h := passivetotaltest.NewHandler(passivetotaltest.Options{Prefix: "/pt", Data: d})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fail.Load() && strings.HasSuffix(r.URL.Path, "/articles/"+guid) {
			http.Error(w, `{"message": "refused"}`, status)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/pt/v2"
}

// TestRunBadArticle: an article that fails (a guid the client refuses, or a
// detail answering 500) is skipped and named in the work message, and the
// later articles are imported. The state stays before it, so the next runs
// try it again (sending the later ones again); after MaxArticleAttempts
// failed runs it is given up with an error log and the state passes it. An
// article that recovers is imported and its count forgotten.
func TestRunBadArticle(t *testing.T) {
	t.Parallel()
	const total, bad = 10, 3
	tests := []struct {
		name    string
		guid    string
		recover bool // the article works from the second run on
	}{
		{"guid refused by the client", "..", false},
		{"detail 500", "be000003", false},
		{"detail 500 once", "be000003", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data := genData(t, total, 2, func(i int, a map[string]any) {
				if i == bad {
					a["guid"] = tt.guid
				}
			})
			var fail atomic.Bool
			fail.Store(true)
			src := articles.PassiveTotal{Client: newClient(t, failingDetail(t, data, tt.guid, &fail))}
			p := newFakePlatform(nil)
			var logs logBuffer
			run := func(day int) {
				t.Helper()
				if err := genImporter(t, src, p, fixedNow.Add(time.Duration(day)*24*time.Hour), &logs).Run(t.Context()); err != nil {
					t.Fatalf("run %d: Run() = %v", day+1, err)
				}
			}
			failures := func() any {
				return p.stateMap(t)[articles.StateFailedArticles]
			}

			run(0)
			w := p.works[0]
			if w.InError || !strings.Contains(w.Message, fmt.Sprintf("%d reports sent", total-1)) ||
				!strings.Contains(w.Message, fmt.Sprintf("1 failed, tried again at the next run: %q", tt.guid)) {
				t.Errorf("first work = %+v, want the later articles imported and the bad one named", w)
			}
			if sent := sentArticles(t, p); len(sent) != total-1 || sent[tt.guid] != 0 {
				t.Errorf("sent = %v, want every article but %q", sent, tt.guid)
			}
			st := p.stateMap(t)
			if stateInt(t, st, articles.StateLatestArticle) != genCreated(bad-1) || stateInt(t, st, articles.StateLatestRun) != fixedNow.Unix() {
				t.Errorf("state after run 1 = %v, want latest_article_timestamp before the bad article", st)
			}
			if d := cmp.Diff(map[string]any{tt.guid: json.Number("1")}, failures()); d != "" {
				t.Errorf("failed_articles after run 1 (-want +got):\n%s", d)
			}

			if tt.recover {
				fail.Store(false)
				run(1)
				if st := p.stateMap(t); stateInt(t, st, articles.StateLatestArticle) != genCreated(total-1) || failures() != nil {
					t.Errorf("state after the recovery = %v, want every article passed and no failure kept", st)
				}
				if sent := sentArticles(t, p); sent[tt.guid] != 1 {
					t.Errorf("the recovered article was sent %d times", sent[tt.guid])
				}
				return
			}

			for n := 2; n <= articles.MaxArticleAttempts; n++ {
				run(n - 1)
				if n < articles.MaxArticleAttempts {
					if d := cmp.Diff(map[string]any{tt.guid: json.Number(fmt.Sprint(n))}, failures()); d != "" {
						t.Errorf("failed_articles after run %d (-want +got):\n%s", n, d)
					}
					if got := stateInt(t, p.stateMap(t), articles.StateLatestArticle); got != genCreated(bad-1) {
						t.Errorf("latest_article_timestamp after run %d = %d, want still before the bad article", n, got)
					}
				}
			}
			w = p.works[articles.MaxArticleAttempts-1]
			if w.InError || !strings.Contains(w.Message, fmt.Sprintf("1 given up after failing in %d runs: %q", articles.MaxArticleAttempts, tt.guid)) {
				t.Errorf("work of run %d = %+v, want the article given up", articles.MaxArticleAttempts, w)
			}
			st = p.stateMap(t)
			if stateInt(t, st, articles.StateLatestArticle) != genCreated(total-1) || failures() != nil {
				t.Errorf("state after the article was given up = %v", st)
			}
			if !strings.Contains(logs.String(), `"level":"ERROR","msg":"Article given up`) || !strings.Contains(logs.String(), fmt.Sprintf(`"article_guid":%q`, tt.guid)) {
				t.Errorf("no error log naming the given-up article:\n%s", logs.String())
			}
			sent := sentArticles(t, p)
			resent := 0
			for _, n := range sent {
				resent += n - 1
			}
			t.Logf("bad article %q among %d: imported %d, given up after %d runs, sent again %d", tt.guid, total, len(sent), articles.MaxArticleAttempts, resent)

			// The next run does not try it again.
			run(articles.MaxArticleAttempts)
			if w := p.works[len(p.works)-1]; w.InError || !strings.Contains(w.Message, "0 reports sent") || strings.Contains(w.Message, "failed") {
				t.Errorf("work after the article was given up = %+v", w)
			}
		})
	}
}

// TestRunOutageCountsNothing: when every article's detail fails, the run
// fails (the source looks down) and counts no failure, so an outage never
// makes articles given up.
func TestRunOutageCountsNothing(t *testing.T) {
	t.Parallel()
	c := loadCase(t, "sample-articles")
	srv, src := c.source(t)
	srv.Fail(passivetotaltest.EndpointArticle, http.StatusBadGateway, 0, "")
	p := newFakePlatform(nil)
	lister := &fakeLister{objects: c.DomainObjects}
	for day := range articles.MaxArticleAttempts + 1 {
		next := *c
		next.Now = c.Now.Add(time.Duration(day) * 24 * time.Hour)
		if err := next.importer(t, src, p, lister).Run(t.Context()); err == nil || !strings.Contains(err.Error(), "source looks unavailable") {
			t.Fatalf("run %d: Run() = %v, want the source unavailable", day+1, err)
		}
	}
	st := p.stateMap(t)
	if st[articles.StateFailedArticles] != nil || st[articles.StateLatestArticle] != nil {
		t.Errorf("state after %d failing runs = %v, want no failure counted and no article passed", articles.MaxArticleAttempts+1, st)
	}
}

// TestRunBigArticleInSlices: an article of more than MaxBundleObjects
// objects (100 values, 60 malware tags: 6,000 "indicates" relationships) is
// sent in several bundles whose objects are exactly Convert's, the report,
// with every object in its object_refs, in the last one.
func TestRunBigArticleInSlices(t *testing.T) {
	t.Parallel()
	const tags, values = 60, 100
	names := make([]string, tags)
	objs := make([]domainObject, tags)
	for i := range tags {
		names[i] = fmt.Sprintf("Malware %02d", i)
		objs[i] = domainObject{EntityType: "Malware", Name: names[i]}
	}
	data := genData(t, 1, values, func(_ int, a map[string]any) { a["tags"] = names })
	srv := passivetotaltest.NewServer(t, passivetotaltest.WithData(data))
	src := articles.PassiveTotal{Client: newClient(t, srv.BaseURL())}
	p := newFakePlatform(nil)
	im, err := articles.NewImporter(articles.Config{
		Source: src, Platform: p, Lister: &fakeLister{objects: objs}, Options: articles.Options{CreateObservables: true},
		Interval: time.Hour, Logger: testLogger(t), Now: clockAt(fixedNow),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := im.Run(t.Context()); err != nil {
		t.Fatal(err)
	}

	a, err := src.Article(t.Context(), "be000000")
	if err != nil {
		t.Fatal(err)
	}
	res, err := articles.NewConverter(articles.Options{CreateObservables: true}, clockAt(fixedNow)).Convert(&a, resolveTags(a.Tags, objs))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Objects) <= articles.MaxBundleObjects {
		t.Fatalf("%d objects: the article fits in one bundle", len(res.Objects))
	}
	want := map[string]any{}
	for _, o := range res.Objects {
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		want[o.ID()] = canonical(t, b)
	}
	bundles := p.goldenBundles(t)
	if len(bundles) < 2 {
		t.Fatalf("%d bundle, want the article in slices", len(bundles))
	}
	got := map[string]any{}
	for i, b := range bundles {
		if len(b.Objects) > articles.MaxBundleObjects+2 { // the author and the report
			t.Errorf("bundle %d holds %d objects, want at most %d and the author and the report", i+1, len(b.Objects), articles.MaxBundleObjects)
		}
		if (b.Article != "") != (i == len(bundles)-1) {
			t.Errorf("bundle %d of %d: report %q, want the report in the last one only", i+1, len(bundles), b.Article)
		}
		for _, o := range b.Objects {
			v := canonical(t, o)
			id := v.(map[string]any)["id"].(string)
			if _, dup := got[id]; dup {
				t.Errorf("object %s sent twice", id)
			}
			got[id] = v
		}
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("objects sent in slices differ from the article's (-want +got):\n%s", d)
	}
}

// TestRunBadArticleAlone: when the only new article fails for a reason of
// its own (a guid the client refuses, a 400 on its detail), the run is not
// taken for an outage: it succeeds, names the article, counts the failure,
// and gives the article up after MaxArticleAttempts runs. A 500 in the same
// place is taken for an outage and counts nothing (TestRunOutageCountsNothing).
func TestRunBadArticleAlone(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		guid   string
		status int
	}{
		{"guid refused by the client", "..", http.StatusInternalServerError},
		{"detail 400", "be000000", http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data := genData(t, 1, 2, func(_ int, a map[string]any) { a["guid"] = tt.guid })
			var fail atomic.Bool
			fail.Store(true)
			src := articles.PassiveTotal{Client: newClient(t, failingDetailStatus(t, data, tt.guid, &fail, tt.status))}
			p := newFakePlatform(nil)
			var logs logBuffer
			for n := 1; n <= articles.MaxArticleAttempts; n++ {
				if err := genImporter(t, src, p, fixedNow.Add(time.Duration(n-1)*24*time.Hour), &logs).Run(t.Context()); err != nil {
					t.Fatalf("run %d: Run() = %v, want the run to succeed without the article", n, err)
				}
				w := p.works[n-1]
				if w.InError {
					t.Errorf("work of run %d in error: %+v", n, w)
				}
				failures := p.stateMap(t)[articles.StateFailedArticles]
				if n < articles.MaxArticleAttempts {
					if d := cmp.Diff(map[string]any{tt.guid: json.Number(fmt.Sprint(n))}, failures); d != "" {
						t.Errorf("failed_articles after run %d (-want +got):\n%s", n, d)
					}
					if !strings.Contains(w.Message, fmt.Sprintf("1 failed, tried again at the next run: %q", tt.guid)) {
						t.Errorf("work of run %d = %+v, want the article named", n, w)
					}
					continue
				}
				if failures != nil || !strings.Contains(w.Message, fmt.Sprintf("1 given up after failing in %d runs: %q", articles.MaxArticleAttempts, tt.guid)) {
					t.Errorf("run %d: work %+v, failed_articles %v, want the article given up", n, w, failures)
				}
			}
			if !strings.Contains(logs.String(), `"level":"ERROR","msg":"Article given up`) {
				t.Errorf("no error log for the given-up article:\n%s", logs.String())
			}
		})
	}
}
