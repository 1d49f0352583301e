package articles_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riskiq-opencti/connectors/internal/articles"
	"github.com/riskiq-opencti/connectors/internal/defenderti"
	"github.com/riskiq-opencti/connectors/internal/defenderti/defendertitest"
	"github.com/riskiq-opencti/connectors/opencti/config"
)

// requestID matches a request id in an error message.
var requestID = regexp.MustCompile(`(request-id|trace-id) [0-9a-fA-F-]{36}`)

// defenderCase is one directory of testdata/defender/: a run of the
// Defender TI import against the fake Graph (its built-in articles) through
// the real client.
type defenderCase struct {
	Name              string         `json:"-"`
	Dir               string         `json:"-"`
	Description       string         `json:"description"`
	Now               time.Time      `json:"now"`
	CreateObservables bool           `json:"create_observables"`
	State             map[string]any `json:"state"`
	ImportFrom        *int64         `json:"import_from_timestamp"`
	WindowDays        int            `json:"window_days"`
	OverlapSec        *int           `json:"overlap_sec"`
	TLPOSINT          string         `json:"tlp_osint"`
	TLPMicrosoft      string         `json:"tlp_microsoft"`
	// PageSize is DEFENDER_TI_PAGE_SIZE; 0 is 2, so that lists page.
	PageSize int                 `json:"page_size"`
	Faults   []defenderCaseFault `json:"faults"`
	// Runs is how many runs are made (0 is one); the goldens hold the last.
	Runs int `json:"runs"`
	// RunFails is set when the run is expected to return an error.
	RunFails      bool           `json:"run_fails"`
	DomainObjects []domainObject `json:"-"`
}

// defenderCaseFault is a fault injected into the fake Graph.
type defenderCaseFault struct {
	Path       string `json:"path"`
	Status     int    `json:"status"`
	Code       string `json:"code"`
	Message    string `json:"message"`
	AADSTS     int    `json:"aadsts"`
	RetryAfter string `json:"retry_after"`
	Times      int    `json:"times"`
	Malformed  bool   `json:"malformed"`
	Paging     string `json:"paging"` // loop, foreign, unsorted, empty
}

// defenderRun is run.golden.json of a Defender case.
type defenderRun struct {
	Works      []goldenWork   `json:"works"`
	State      map[string]any `json:"state"`
	TagLookups int            `json:"tag_lookups"`
	// GraphCalls are the Graph requests, "endpoint target", in order.
	GraphCalls []string `json:"graph_calls"`
}

func defenderCases(t *testing.T) []*defenderCase {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join("testdata", "defender"))
	if err != nil {
		t.Fatal(err)
	}
	var out []*defenderCase
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		c := &defenderCase{Name: e.Name(), Dir: filepath.Join("testdata", "defender", e.Name())}
		readJSON(t, filepath.Join(c.Dir, "case.json"), c)
		if _, err := os.Stat(filepath.Join(c.Dir, "domain_objects.json")); err == nil {
			readJSON(t, filepath.Join(c.Dir, "domain_objects.json"), &c.DomainObjects)
		}
		out = append(out, c)
	}
	return out
}

// settings reads the case's import settings as the connector does, from the
// environment it would be given.
func (c *defenderCase) settings(t *testing.T, srv *defendertitest.Server) articles.Settings {
	t.Helper()
	env := map[string]string{
		"RISKIQ_SOURCE": "defender", "DEFENDER_TI_TENANT_ID": srv.TenantID(), "DEFENDER_TI_CLIENT_ID": srv.ClientID(),
		"DEFENDER_TI_CLIENT_SECRET": srv.ClientSecret(), "DEFENDER_TI_BASE_URL": srv.URL(),
		"DEFENDER_TI_AUTHORITY_URL": srv.AuthorityURL(),
		"RISKIQ_CREATE_OBSERVABLES": map[bool]string{true: "true", false: "false"}[c.CreateObservables],
	}
	set := func(k string, v any) {
		b, _ := json.Marshal(v)
		env[k] = strings.Trim(string(b), `"`)
	}
	if c.ImportFrom != nil {
		set("RISKIQ_IMPORT_FROM_TIMESTAMP", *c.ImportFrom)
	}
	if c.WindowDays != 0 {
		set("DEFENDER_TI_IMPORT_WINDOW_DAYS", c.WindowDays)
	}
	if c.OverlapSec != nil {
		set("DEFENDER_TI_IMPORT_OVERLAP_SEC", *c.OverlapSec)
	}
	if c.TLPOSINT != "" {
		env["DEFENDER_TI_TLP_OSINT"] = c.TLPOSINT
	}
	if c.TLPMicrosoft != "" {
		env["DEFENDER_TI_TLP_MICROSOFT"] = c.TLPMicrosoft
	}
	env["DEFENDER_TI_PAGE_SIZE"] = "2"
	if c.PageSize != 0 {
		set("DEFENDER_TI_PAGE_SIZE", c.PageSize)
	}
	src, err := config.NewSource(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := articles.LoadSettings(src)
	if err := src.Validate(); err != nil {
		t.Fatalf("settings: %v", err)
	}
	return s
}

// inject adds the case's faults to the fake.
func (c *defenderCase) inject(srv *defendertitest.Server) {
	for _, f := range c.Faults {
		fault := defendertitest.Fault{Status: f.Status, Code: f.Code, Message: f.Message, AADSTS: f.AADSTS,
			RetryAfter: f.RetryAfter, Times: f.Times}
		if f.Malformed {
			fault.Body = []byte(`{"@odata.context":"x","value":[{"id":"trunc`)
		}
		switch f.Paging {
		case "loop":
			fault.Paging = defendertitest.PagingLoop
		case "foreign":
			fault.Paging, fault.ForeignURL = defendertitest.PagingForeign, "https://graph.attacker.example"
		case "unsorted":
			fault.Paging = defendertitest.PagingUnsorted
		case "empty":
			fault.Paging = defendertitest.PagingEmpty
		}
		srv.Inject(f.Path, fault)
	}
}

// newDefenderClient is the real client against the fake, with instant
// retry waits.
func newDefenderClient(t testing.TB, srv *defendertitest.Server, s defenderti.Settings) *defenderti.Client {
	t.Helper()
	cl, err := defenderti.New(s, defenderti.WithHTTPClient(srv.Client()), defenderti.WithLogger(testLogger(t)),
		defenderti.WithRetry(3, time.Minute), defenderti.WithBackoff(time.Millisecond, 5*time.Millisecond),
		defenderti.WithSleep(func(ctx context.Context, _ time.Duration) error { return ctx.Err() }))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// TestDefenderGolden runs each case of testdata/defender/ against the fake
// Graph through the real client, a fake platform and a fake tag lookup, and
// compares the published bundles (bundles.golden.json, in article order)
// and what the run leaves (run.golden.json: works, state, tag lookups and
// the Graph calls). Refresh with go test -run TestDefenderGolden -update,
// then review the diff.
func TestDefenderGolden(t *testing.T) {
	t.Parallel()
	for _, c := range defenderCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			srv := defendertitest.NewServer(t)
			s := c.settings(t, srv)
			c.inject(srv)
			var logs logBuffer
			p := newFakePlatform(c.State)
			l := &fakeLister{objects: c.DomainObjects}
			now := c.Now
			runs := max(c.Runs, 1)
			var runErr error
			for i := range runs {
				if i == runs-1 {
					p.mu.Lock()
					p.bundles = nil
					p.mu.Unlock()
				}
				im, err := articles.NewImporter(articles.Config{
					Source: &articles.Defender{Client: newDefenderClient(t, srv, s.Defender.Client), TLP: s.Defender.TLP,
						Logger: bufferLogger(&logs)},
					Platform: p, Lister: l,
					Options:  articles.Options{CreateObservables: s.CreateObservables},
					Interval: time.Hour, Cursor: s.Cursor(),
					Logger: bufferLogger(&logs), Now: func() time.Time { return now }, InFlight: 2,
				})
				if err != nil {
					t.Fatal(err)
				}
				runErr = im.Run(t.Context())
				now = now.Add(2 * time.Hour)
			}
			if (runErr != nil) != c.RunFails {
				t.Errorf("Run() = %v, want failing %v", runErr, c.RunFails)
			}
			got := defenderRun{Works: slices.Clone(p.works), State: p.stateMap(t), TagLookups: l.calls(), GraphCalls: []string{}}
			for i, w := range got.Works {
				// The fake's request ids and port change from run to run.
				w.Message = requestID.ReplaceAllString(strings.ReplaceAll(w.Message, srv.AuthorityURL(), "https://graph.fake"), "$1 <id>")
				got.Works[i] = w
			}
			for _, r := range srv.Requests() {
				if r.Endpoint != defendertitest.EndpointToken && r.Endpoint != defendertitest.EndpointDiscovery {
					got.GraphCalls = append(got.GraphCalls, r.Endpoint+" "+r.Target)
				}
			}
			bundles := p.goldenBundles(t)
			// Bundles of several articles are published at once: order them
			// by article.
			slices.SortStableFunc(bundles, func(a, b goldenBundle) int { return strings.Compare(a.Article, b.Article) })
			if *update {
				writeGolden(t, filepath.Join(c.Dir, "bundles.golden.json"), bundles)
				writeGolden(t, filepath.Join(c.Dir, "run.golden.json"), got)
			}
			compareGolden(t, filepath.Join(c.Dir, "bundles.golden.json"), bundles)
			compareGolden(t, filepath.Join(c.Dir, "run.golden.json"), got)
			for _, secret := range []string{srv.ClientSecret()} {
				if strings.Contains(logs.String(), secret) || runErr != nil && strings.Contains(runErr.Error(), secret) {
					t.Error("the client secret leaked")
				}
			}
			if strings.Contains(logs.String(), "Bearer ") {
				t.Error("a token leaked into the logs")
			}
		})
	}
}
