package articles_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/riskiq-opencti/connectors/internal/articles"
	"github.com/riskiq-opencti/connectors/internal/passivetotal/passivetotaltest"
	"github.com/riskiq-opencti/connectors/opencti"
	"github.com/riskiq-opencti/connectors/opencti/config"
	"github.com/riskiq-opencti/connectors/opencti/openctitest"
)

// platform is a fake OpenCTI with the real RabbitMQ and a connector config
// pointing at it; the case's domain objects are stored on it, so tags are
// resolved through its stixDomainObjects with the SDK's query document.
type platform struct {
	srv *openctitest.Server
	cfg config.Config
}

// lister returns what resolves tags in a run: the platform's GraphQL API.
func (p *platform) lister(h *opencti.Helper) articles.DomainObjectLister {
	return h.API()
}

// newPlatform starts a strict fake platform holding the case's domain
// objects (none for a nil case). The entity types are OpenCTI's concrete
// types (Threat-Actor-Group, Sector, Country…), as domain_objects.json
// names them.
func newPlatform(t testing.TB, c *testCase) *platform {
	t.Helper()
	srv := openctitest.NewServer(t, openctitest.WithStrict())
	var cfg config.Config
	cfg.OpenCTI.URL = srv.URL
	cfg.OpenCTI.Token = config.Secret(srv.Token())
	cfg.OpenCTI.JSONLogging = true
	cfg.Connector.ID = uuid.NewString()
	cfg.Connector.Type = config.TypeExternalImport
	cfg.Connector.Name = articles.DefaultName
	cfg.Connector.Scope = []string{articles.DefaultScope}
	cfg.Connector.SendToQueue = true
	cfg.Connector.QueueThreshold = 500
	cfg.Connector.Concurrency = 1
	cfg.Connector.ShutdownTimeout = 5 * time.Second
	if c != nil {
		for _, o := range c.DomainObjects {
			var fields map[string]any
			if o.XMitreID != "" {
				fields = map[string]any{"x_mitre_id": o.XMitreID}
			}
			if _, err := srv.AddDomainObject(o.EntityType, o.Name, fields); err != nil {
				t.Fatalf("add %s %s: %v", o.EntityType, o.Name, err)
			}
		}
	}
	return &platform{srv: srv, cfg: cfg}
}

// start registers a connector runtime and waits until the platform has
// handled its first ping; its ping loop stops with ctx. That ping carries
// the state the registration returned: still in flight, it could reach the
// platform after a state the run pushes and overwrite it with the older one.
func (p *platform) start(t testing.TB, ctx context.Context) *opencti.Helper {
	t.Helper()
	pings := 0
	if c, ok := p.srv.Connector(p.cfg.Connector.ID); ok {
		pings = c.Pings
	}
	h, err := opencti.New(p.cfg, opencti.WithLogger(testLogger(t)), opencti.WithStartBackoff(50*time.Millisecond, 200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(ctx); err != nil {
		t.Fatalf("Start() = %v", err)
	}
	for {
		if c, ok := p.srv.Connector(p.cfg.Connector.ID); ok && c.Pings > pings {
			return h
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the platform never received the first ping: %v", ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// waitWorks waits until every work of the connector is closed and complete
// and the worker has handled the messages the runtimes published (a work may
// look complete for a moment while bundles of later articles are still
// arriving, as on the real platform).
func (p *platform) waitWorks(t testing.TB, ctx context.Context, helpers ...*opencti.Helper) []openctitest.Work {
	t.Helper()
	sent := 0
	for _, h := range helpers {
		n, err := strconv.Atoi(scrape(t, h.Metrics(), "bundles_sent_total"))
		if err != nil {
			t.Fatalf("bundles_sent_total: %v", err)
		}
		sent += n
	}
	for {
		var works []openctitest.Work
		done := true
		for _, w := range p.srv.Works() {
			if w.ConnectorID != p.cfg.Connector.ID {
				continue
			}
			works = append(works, w)
			done = done && w.Status == openctitest.StatusComplete && len(w.Messages)+len(w.Errors) > 0
		}
		handled := 0
		for _, d := range p.srv.Deliveries() {
			if d.ConnectorID == p.cfg.Connector.ID {
				handled++
			}
		}
		if done && handled >= sent {
			return works
		}
		select {
		case <-ctx.Done():
			t.Fatalf("works not complete (%d of %d messages handled): %+v", handled, sent, works)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// platformState returns the connector state the platform stores.
func (p *platform) platformState(t testing.TB) map[string]any {
	t.Helper()
	c, ok := p.srv.Connector(p.cfg.Connector.ID)
	if !ok || c.State == nil || *c.State == "" || *c.State == "null" {
		return nil
	}
	m, _ := canonical(t, []byte(*c.State)).(map[string]any)
	return m
}

// importedObjects returns what the worker imported, without the splitter's
// nb_deps, as canonical JSON values keyed by id (each variant once).
func (p *platform) importedObjects(t testing.TB) map[string][]any {
	t.Helper()
	out := map[string][]any{}
	for _, o := range p.srv.Objects() {
		delete(o, "nb_deps")
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		v := canonical(t, b)
		id, _ := o["id"].(string)
		if !slices.ContainsFunc(out[id], func(x any) bool { return cmp.Equal(x, v) }) {
			out[id] = append(out[id], v)
		}
	}
	return out
}

// TestIntegrationImportGolden runs each golden case end to end: the fake
// PassiveTotal, the connector runtime, the real RabbitMQ and the fake
// platform's worker and GraphQL (tag lookups through stixDomainObjects).
// What the worker imports must be the golden bundles' objects, and the works
// and the state the platform keeps must be the golden ones.
func TestIntegrationImportGolden(t *testing.T) {
	t.Parallel()
	for _, c := range cases(t) {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			p := newPlatform(t, c)
			h := p.start(t, ctx)
			if c.State != nil {
				if err := h.SetState(c.State); err != nil {
					t.Fatal(err)
				}
			}
			_, src := c.source(t)
			if err := c.importer(t, src, h, p.lister(h)).Run(ctx); err != nil {
				t.Fatalf("Run() = %v", err)
			}
			if err := h.PushState(ctx); err != nil {
				t.Fatal(err)
			}
			works := p.waitWorks(t, ctx, h)

			var want goldenRun
			readJSON(t, c.goldenPath("run.golden.json"), &want)
			var got []goldenWork
			for _, w := range works {
				gw := goldenWork{Name: w.Name}
				if len(w.Errors) > 0 {
					gw.Message, gw.InError = strings.Join(w.Errors, "; "), true
				} else {
					gw.Message = strings.Join(w.Messages, "; ")
				}
				got = append(got, gw)
			}
			if d := cmp.Diff(want.Works, got, cmp.Comparer(func(a, b []goldenWork) bool { return len(a) == 0 && len(b) == 0 || cmp.Equal(a, b) })); d != "" {
				t.Errorf("works (-want +got):\n%s", d)
			}
			if d := cmp.Diff(want.State, p.platformState(t)); d != "" {
				t.Errorf("platform state (-want +got):\n%s", d)
			}
			if n := p.srv.Calls("stixDomainObjects"); n != want.TagLookups {
				t.Errorf("the platform answered %d tag lookups, want %d", n, want.TagLookups)
			}

			var bundles []goldenBundle
			readJSON(t, c.goldenPath("bundles.golden.json"), &bundles)
			wantObjs := map[string][]any{}
			for _, b := range bundles {
				for _, o := range b.Objects {
					v := canonical(t, o)
					id := v.(map[string]any)["id"].(string)
					if !slices.ContainsFunc(wantObjs[id], func(x any) bool { return cmp.Equal(x, v) }) {
						wantObjs[id] = append(wantObjs[id], v)
					}
				}
			}
			gotObjs := p.importedObjects(t)
			sortVariants(t, wantObjs)
			sortVariants(t, gotObjs)
			if d := cmp.Diff(wantObjs, gotObjs); d != "" {
				t.Errorf("imported objects (-want +got):\n%s", d)
			}
			for _, w := range works {
				if w.Expected != w.Processed && w.Expected > 1 {
					t.Errorf("work %s: %d expected, %d processed", w.Name, w.Expected, w.Processed)
				}
			}
		})
	}
}

// TestIntegrationTwoRuns: a second process (a new registration) finds the
// state on the platform, runs one interval later, imports nothing again.
func TestIntegrationTwoRuns(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	c := loadCase(t, "sample-articles")
	p := newPlatform(t, c)
	srv, src := c.source(t)

	ctx1, stop1 := context.WithCancel(ctx)
	h1 := p.start(t, ctx1)
	if err := c.importer(t, src, h1, p.lister(h1)).Run(ctx); err != nil {
		t.Fatal(err)
	}
	p.waitWorks(t, ctx, h1)
	imported := len(p.srv.Objects())
	stop1()

	next := *c
	next.Now = c.Now.Add(24 * time.Hour)
	h2 := p.start(t, ctx)
	if err := next.importer(t, src, h2, p.lister(h2)).Run(ctx); err != nil {
		t.Fatal(err)
	}
	works := p.waitWorks(t, ctx, h1, h2)
	if len(works) != 2 || strings.Join(works[1].Messages, "") != "1 articles read, 0 reports sent (0 objects), 1 already imported" {
		t.Errorf("works = %+v", works)
	}
	if got := srv.LastQuery(passivetotaltest.EndpointArticles).Get("createdAfter"); got != "2025-03-02" {
		t.Errorf("second run asked createdAfter=%q, want 2025-03-02", got)
	}
	if n := len(p.srv.Objects()); n != imported {
		t.Errorf("the second run imported %d more objects", n-imported)
	}
	st := p.platformState(t)
	if stateInt(t, st, articles.StateLatestRun) != next.Now.Unix() || stateInt(t, st, articles.StateLatestArticle) != 1740916800 {
		t.Errorf("state = %v", st)
	}
}

// TestIntegrationFailingRun: a run refused by PassiveTotal ends its work in
// error on the platform; the state records the run but no article, and the
// next run, once the credentials work, imports everything.
func TestIntegrationFailingRun(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	c := loadCase(t, "sample-articles")
	p := newPlatform(t, c)
	srv, src := c.source(t)
	srv.Fail(passivetotaltest.EndpointArticles, http.StatusUnauthorized, 0, "")
	h := p.start(t, ctx)
	if err := c.importer(t, src, h, p.lister(h)).Run(ctx); err == nil {
		t.Fatal("Run() = nil, want the authentication failure")
	}
	works := p.waitWorks(t, ctx, h)
	if len(works) != 1 || len(works[0].Errors) != 1 || !strings.Contains(works[0].Errors[0], "authentication failed") {
		t.Fatalf("works = %+v, want one closed in error", works)
	}
	if err := h.PushState(ctx); err != nil {
		t.Fatal(err)
	}
	st := p.platformState(t)
	if stateInt(t, st, articles.StateLatestRun) != c.Now.Unix() || stateInt(t, st, articles.StateLatestArticle) != -1 {
		t.Errorf("state after the failed run = %v", st)
	}

	srv.ClearFaults()
	next := *c
	next.Now = c.Now.Add(24 * time.Hour)
	if err := next.importer(t, src, h, p.lister(h)).Run(ctx); err != nil {
		t.Fatal(err)
	}
	works = p.waitWorks(t, ctx, h)
	if len(works) != 2 || len(works[1].Errors) != 0 || !strings.Contains(strings.Join(works[1].Messages, ""), "4 reports sent") {
		t.Errorf("works = %+v", works)
	}
}
