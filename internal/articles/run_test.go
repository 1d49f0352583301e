package articles_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/riskiq-opencti/connectors/internal/articles"
	"github.com/riskiq-opencti/connectors/internal/passivetotal/passivetotaltest"
	"github.com/riskiq-opencti/connectors/opencti/metrics"
)

const ptKey = "pt-secret-key-0042" // the key newClient uses

// TestRunFailures drives each failure of the article source through a run:
// the work is always closed in error with a reason naming the problem, the
// run returns an error, latest_run_timestamp is recorded (the next run is on
// schedule) and the key never shows. A detail that fails for every article
// skips each of them (one client error each), then fails the run: the
// source looks down.
func TestRunFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		inject       func(s *passivetotaltest.Server)
		reason       string
		clientErrors string // "" is "1"
	}{
		{"401", func(s *passivetotaltest.Server) {
			s.Fail(passivetotaltest.EndpointArticles, http.StatusUnauthorized, 0, "")
		}, "authentication failed", ""},
		{"403", func(s *passivetotaltest.Server) {
			s.Fail(passivetotaltest.EndpointArticles, http.StatusForbidden, 0, "")
		}, "authentication failed", ""},
		{"429 until retries run out", func(s *passivetotaltest.Server) {
			s.Fail(passivetotaltest.EndpointArticles, http.StatusTooManyRequests, 0, "0")
		}, "429", ""},
		{"503 until retries run out", func(s *passivetotaltest.Server) {
			s.Fail(passivetotaltest.EndpointArticles, http.StatusServiceUnavailable, 0, "")
		}, "503", ""},
		{"success false", func(s *passivetotaltest.Server) { s.Unsuccessful(passivetotaltest.EndpointArticles, 0) }, "success", ""},
		{"malformed JSON", func(s *passivetotaltest.Server) { s.Malformed(passivetotaltest.EndpointArticles, 0) }, "decode", ""},
		{"detail 500", func(s *passivetotaltest.Server) {
			s.Fail(passivetotaltest.EndpointArticle, http.StatusInternalServerError, 0, "")
		}, "every new article failed", "5"},
		{"transport", func(s *passivetotaltest.Server) { s.Close() }, "fetch articles", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := loadCase(t, "sample-articles")
			srv, src := c.source(t)
			tt.inject(srv)
			p := newFakePlatform(nil)
			var logs logBuffer
			m := metrics.New("", "")
			im, err := articles.NewImporter(articles.Config{
				Source: src, Platform: p, Lister: &fakeLister{objects: c.DomainObjects},
				Options: articles.Options{CreateObservables: true}, Interval: 24 * time.Hour,
				Logger: bufferLogger(&logs), Metrics: m, Now: c.clock(),
			})
			if err != nil {
				t.Fatal(err)
			}
			runErr := im.Run(t.Context())
			if runErr == nil || !strings.Contains(runErr.Error(), tt.reason) {
				t.Errorf("Run() = %v, want an error naming %q", runErr, tt.reason)
			}
			if len(p.works) != 1 || !p.works[0].InError || !strings.HasPrefix(p.works[0].Message, "RiskIQ run failed: ") ||
				!strings.Contains(p.works[0].Message, tt.reason) {
				t.Errorf("works = %+v, want one closed in error naming %q", p.works, tt.reason)
			}
			st := p.stateMap(t)
			if st[articles.StateLatestRun] == nil {
				t.Errorf("state = %v, want latest_run_timestamp recorded", st)
			}
			for _, text := range []string{logs.String(), runErr.Error(), p.works[0].Message} {
				if strings.Contains(text, ptKey) {
					t.Errorf("the API key leaked: %s", text)
				}
			}
			wantErrors := tt.clientErrors
			if wantErrors == "" {
				wantErrors = "1"
			}
			if got := scrape(t, m, "client_errors_total"); got != wantErrors {
				t.Errorf("client_errors_total = %s, want %s", got, wantErrors)
			}
		})
	}
}

// TestRunRetriesTransientErrors: a 429 honoured with Retry-After and a 500
// are retried by the client and the run succeeds.
func TestRunRetriesTransientErrors(t *testing.T) {
	t.Parallel()
	c := loadCase(t, "sample-articles")
	srv, src := c.source(t)
	srv.Fail(passivetotaltest.EndpointArticles, http.StatusTooManyRequests, 1, "0")
	srv.Fail(passivetotaltest.EndpointArticles, http.StatusInternalServerError, 1, "")
	p := newFakePlatform(nil)
	if err := c.importer(t, src, p, &fakeLister{objects: c.DomainObjects}).Run(t.Context()); err != nil {
		t.Fatalf("Run() = %v", err)
	}
	if n := srv.Calls(passivetotaltest.EndpointArticles); n != 3 {
		t.Errorf("article list calls = %d, want 3 (two retried failures)", n)
	}
	if len(p.bundles) != 4 || p.works[0].InError {
		t.Errorf("%d bundles, work %+v; want 4 and a processed work", len(p.bundles), p.works[0])
	}
}

// TestRunDetailNotFound imports an article whose detail is gone without its
// content, rather than failing.
func TestRunDetailNotFound(t *testing.T) {
	t.Parallel()
	c := loadCase(t, "sample-articles")
	srv, src := c.source(t)
	srv.Fail(passivetotaltest.EndpointArticle, http.StatusNotFound, 0, "")
	p := newFakePlatform(nil)
	if err := c.importer(t, src, p, &fakeLister{objects: c.DomainObjects}).Run(t.Context()); err != nil {
		t.Fatalf("Run() = %v", err)
	}
	for _, b := range p.bundles {
		if strings.Contains(string(b), "x_opencti_content") {
			t.Error("a report has content although no detail was found")
		}
	}
	if len(p.bundles) != 4 {
		t.Errorf("%d bundles, want 4", len(p.bundles))
	}
}

// TestRunSendFailureKeepsState: when publishing fails, the state keeps the
// last published article; the next run resumes after it without importing it
// again.
func TestRunSendFailureKeepsState(t *testing.T) {
	t.Parallel()
	c := loadCase(t, "sample-articles")
	c.InFlight = 1 // one bundle at a time: the second article's fails, no later one is sent
	_, src := c.source(t)
	p := newFakePlatform(nil)
	p.failSendAt, p.sendErr = 2, errors.New("broker unreachable")
	lister := &fakeLister{objects: c.DomainObjects}
	err := c.importer(t, src, p, lister).Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "broker unreachable") {
		t.Fatalf("Run() = %v, want the publication error", err)
	}
	first := time.Date(2021, 3, 5, 15, 31, 2, 0, time.UTC).Unix() // e86878b1, the oldest
	st := p.stateMap(t)
	if got := stateInt(t, st, articles.StateLatestArticle); got != first {
		t.Errorf("state = %v, want latest_article_timestamp %d", st, first)
	}
	if !p.works[0].InError || !strings.Contains(p.works[0].Message, "broker unreachable") || !strings.Contains(p.works[0].Message, "1 reports sent") {
		t.Errorf("work = %+v", p.works[0])
	}

	// The next run, one interval later, imports the three others.
	p.failSendAt = 0
	next := *c
	next.Now = c.Now.Add(24 * time.Hour)
	if err := next.importer(t, src, p, lister).Run(t.Context()); err != nil {
		t.Fatalf("second Run() = %v", err)
	}
	got := p.goldenBundles(t)
	var guids []string
	for _, b := range got {
		guids = append(guids, b.Article)
	}
	if strings.Join(guids, ",") != "e86878b1,3a5fd1c9,b71c02e4,0f9e8d7c" {
		t.Errorf("articles published over the two runs = %v, want each once", guids)
	}
	if len(p.works) != 2 || p.works[1].InError || !strings.Contains(p.works[1].Message, "1 already imported") {
		t.Errorf("second work = %+v", p.works[1:])
	}
}

// stateInt reads a state timestamp as the platform keeps it, -1 when absent.
func stateInt(t *testing.T, st map[string]any, key string) int64 {
	t.Helper()
	n, ok := st[key].(json.Number)
	if !ok {
		return -1
	}
	v, err := n.Int64()
	if err != nil {
		t.Fatalf("state %s = %v: %v", key, n, err)
	}
	return v
}

// TestRunTwice: the second run, one interval later, asks from the day of the
// latest article, imports nothing again and moves latest_run_timestamp.
func TestRunTwice(t *testing.T) {
	t.Parallel()
	c := loadCase(t, "sample-articles")
	srv, src := c.source(t)
	p := newFakePlatform(nil)
	lister := &fakeLister{objects: c.DomainObjects}
	if err := c.importer(t, src, p, lister).Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	lookups := lister.calls()

	// Within the interval nothing happens.
	early := *c
	early.Now = c.Now.Add(24*time.Hour - time.Second)
	if err := early.importer(t, src, p, lister).Run(t.Context()); err != nil || len(p.works) != 1 {
		t.Fatalf("Run() before the interval = %v with %d works, want nothing done", err, len(p.works))
	}

	next := *c
	next.Now = c.Now.Add(24 * time.Hour)
	if err := next.importer(t, src, p, lister).Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := srv.LastQuery(passivetotaltest.EndpointArticles).Get("createdAfter"); got != "2025-03-02" {
		t.Errorf("createdAfter = %q, want the day of the latest article", got)
	}
	if len(p.bundles) != 4 || len(p.works) != 2 || p.works[1].Message != "1 articles read, 0 reports sent (0 objects), 1 already imported" {
		t.Errorf("%d bundles, works %+v", len(p.bundles), p.works)
	}
	if lister.calls() != lookups {
		t.Errorf("tag lookups in the second run = %d, want none (no article imported)", lister.calls()-lookups)
	}
	if got := stateInt(t, p.stateMap(t), articles.StateLatestRun); got != next.Now.Unix() {
		t.Errorf("latest_run_timestamp = %v, want %d", got, next.Now.Unix())
	}
}

// TestRunTagsOncePerRun: each distinct tag is looked up once per run, and
// again in the next run.
func TestRunTagsOncePerRun(t *testing.T) {
	t.Parallel()
	c := loadCase(t, "values-and-tlp") // two articles sharing "Cobalt Strike" and "Finance"
	_, src := c.source(t)
	lister := &fakeLister{objects: c.DomainObjects}
	p := newFakePlatform(nil)
	if err := c.importer(t, src, p, lister).Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	var values []string
	for _, q := range lister.queries {
		values = append(values, q.Values...)
		if strings.Join(q.Keys, ",") != "name,x_mitre_id" || len(q.Types) != 10 {
			t.Errorf("query = %+v", q)
		}
	}
	if strings.Join(values, ",") != "Cobalt Strike,France,Finance,Operation Ghost" {
		t.Errorf("looked up %v, want each distinct tag once", values)
	}
}

// TestRunTagLookupFailure: an OpenCTI error while resolving tags fails the
// run before anything of the article is sent.
func TestRunTagLookupFailure(t *testing.T) {
	t.Parallel()
	c := loadCase(t, "sample-articles")
	_, src := c.source(t)
	p := newFakePlatform(nil)
	lister := &fakeLister{objects: c.DomainObjects, fail: errors.New("opencti down")}
	err := c.importer(t, src, p, lister).Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "opencti down") || len(p.bundles) != 0 || !p.works[0].InError {
		t.Errorf("Run() = %v, %d bundles, work %+v", err, len(p.bundles), p.works)
	}
}

// TestRunUnknownTypeWarnedOncePerRun logs an unsupported type once per run
// however many articles carry it.
func TestRunUnknownTypeWarnedOncePerRun(t *testing.T) {
	t.Parallel()
	c := loadCase(t, "values-and-tlp")
	_, src := c.source(t)
	var logs logBuffer
	im, err := articles.NewImporter(articles.Config{
		Source: src, Platform: newFakePlatform(nil), Lister: &fakeLister{},
		Interval: time.Hour, Logger: bufferLogger(&logs), Now: c.clock(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := im.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), `"indicator_type":"yara_rule"`); n != 1 {
		t.Errorf("yara_rule warned %d times, want once:\n%s", n, logs.String())
	}
	for _, skipped := range []string{"not-a-hash", "999.1.1.1", "bad domain.example", "not-an-address"} {
		if !strings.Contains(logs.String(), skipped) {
			t.Errorf("skipped value %q not logged", skipped)
		}
	}
}

// TestRunRemoteReset: when a ping finds the state reset in the UI, the run
// stops, leaves the state empty, and the next run starts from scratch.
func TestRunRemoteReset(t *testing.T) {
	t.Parallel()
	c := loadCase(t, "sample-articles")
	_, src := c.source(t)
	p := newFakePlatform(nil)
	p.resetAtPush = 2 // the first push records the run in progress, the second the first article
	lister := &fakeLister{objects: c.DomainObjects}
	if err := c.importer(t, src, p, lister).Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if p.stateMap(t) != nil || p.works[0].InError || !strings.Contains(p.works[0].Message, "reset remotely") {
		t.Fatalf("state %v, work %+v; want the state left empty and the run stopped", p.stateMap(t), p.works[0])
	}
	sent := len(p.bundles)
	if err := c.importer(t, src, p, lister).Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(p.bundles) != sent+4 || len(p.works) != 2 || p.works[1].Message != "5 articles read, 4 reports sent (109 objects), 1 without indicators or known entities" {
		t.Errorf("after the reset: %d bundles, works %+v; want every article imported again", len(p.bundles)-sent, p.works)
	}
}

// TestRunConcurrentFailure: with several bundles in flight, a failure
// leaves the state at the last article whose older ones were all published;
// the next run resumes from there.
func TestRunConcurrentFailure(t *testing.T) {
	t.Parallel()
	c := loadCase(t, "sample-articles")
	c.InFlight = 4
	_, src := c.source(t)
	p := newFakePlatform(nil)
	p.failGUID, p.sendErr = "b71c02e4", errors.New("broker unreachable")
	lister := &fakeLister{objects: c.DomainObjects}
	if err := c.importer(t, src, p, lister).Run(t.Context()); err == nil || !strings.Contains(err.Error(), "b71c02e4") {
		t.Fatalf("Run() = %v, want the failure of b71c02e4", err)
	}
	second := time.Date(2024, 8, 14, 16, 2, 11, 0, time.UTC).Unix() // 3a5fd1c9, just before b71c02e4
	if got := stateInt(t, p.stateMap(t), articles.StateLatestArticle); got != second {
		t.Errorf("latest_article_timestamp = %d, want %d", got, second)
	}
	p.failGUID = ""
	next := *c
	next.Now = c.Now.Add(24 * time.Hour)
	if err := next.importer(t, src, p, lister).Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if p.works[1].Message != "4 articles read, 2 reports sent (53 objects), 1 already imported, 1 without indicators or known entities" {
		t.Errorf("second work = %+v", p.works[1])
	}
}

// TestRunInterrupted: a shutdown during a run closes the work in error and
// keeps what was published in the state.
func TestRunInterrupted(t *testing.T) {
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
	err := c.importer(t, src, p, &fakeLister{objects: c.DomainObjects}).Run(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Run() = %v, want context.Canceled", err)
	}
	if !p.works[0].InError || !strings.Contains(p.works[0].Message, "interrupted") {
		t.Errorf("work = %+v, want closed in error as interrupted", p.works[0])
	}
	if p.stateMap(t)[articles.StateLatestArticle] == nil {
		t.Error("state lost the published articles")
	}
}

func TestRunPlatformFailures(t *testing.T) {
	t.Parallel()
	c := loadCase(t, "sample-articles")
	_, src := c.source(t)
	p := newFakePlatform(nil)
	p.failInitiate = errors.New("no platform")
	if err := c.importer(t, src, p, &fakeLister{}).Run(t.Context()); err == nil || p.stateMap(t) != nil {
		t.Errorf("Run() without a work = %v, state %v; want an error and no state (retried at the next tick)", err, p.stateMap(t))
	}
	p = newFakePlatform(nil)
	p.failClose = errors.New("close refused")
	if err := c.importer(t, src, p, &fakeLister{}).Run(t.Context()); err == nil || !strings.Contains(err.Error(), "close refused") {
		t.Errorf("Run() with a failing close = %v", err)
	}
}

// TestRunPages reads every page of the list.
func TestRunPages(t *testing.T) {
	t.Parallel()
	c := loadCase(t, "sample-articles")
	srv, src := c.source(t, passivetotaltest.WithPageSize(2))
	p := newFakePlatform(nil)
	if err := c.importer(t, src, p, &fakeLister{}).Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := srv.Calls(passivetotaltest.EndpointArticles); n != 3 || len(p.bundles) != 4 {
		t.Errorf("%d list calls and %d bundles, want 3 pages and 4 reports", n, len(p.bundles))
	}
}

func TestRunMetrics(t *testing.T) {
	t.Parallel()
	c := loadCase(t, "sample-articles")
	_, src := c.source(t)
	m := metrics.New("", "")
	im, err := articles.NewImporter(articles.Config{
		Source: src, Platform: newFakePlatform(nil), Lister: &fakeLister{objects: c.DomainObjects},
		Options: articles.Options{CreateObservables: true}, Interval: time.Hour, Metrics: m, Now: c.clock(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := im.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"runs_total": "1", "records_sent_total": "109", `state{state="idle"}`: "1", `state{state="running"}`: "0"} {
		if got := scrape(t, m, name); got != want {
			t.Errorf("%s = %s, want %s", name, got, want)
		}
	}
}

func TestNewImporterChecks(t *testing.T) {
	t.Parallel()
	_, err := articles.NewImporter(articles.Config{Interval: time.Millisecond})
	for _, want := range []string{"source", "platform", "lister", "interval"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("NewImporter(empty) = %v, want a problem with the %s", err, want)
		}
	}
}

// scrape returns the value of a metric series from the metrics handler.
func scrape(t testing.TB, m *metrics.Metrics, series string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for line := range strings.SplitSeq(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return ""
}
