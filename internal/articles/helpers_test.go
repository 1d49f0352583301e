package articles_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/riskiq-opencti/connectors/internal/articles"
	"github.com/riskiq-opencti/connectors/internal/passivetotal"
	"github.com/riskiq-opencti/connectors/internal/passivetotal/passivetotaltest"
	"github.com/riskiq-opencti/connectors/opencti"
	"github.com/riskiq-opencti/connectors/opencti/api"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/<case>/")

// testCase is one directory of testdata/.
type testCase struct {
	Name              string         `json:"-"`
	Dir               string         `json:"-"`
	Description       string         `json:"description"`
	Now               time.Time      `json:"now"`
	CreateObservables bool           `json:"create_observables"`
	IntervalSec       int            `json:"interval_sec"`
	ImportFrom        *int64         `json:"import_from_timestamp"`
	State             map[string]any `json:"state"`
	DomainObjects     []domainObject `json:"-"`
	// InFlight is Config.InFlight (0: the default).
	InFlight int `json:"-"`
}

// domainObject is an entry of domain_objects.json: what stixDomainObjects
// answers hold.
type domainObject struct {
	EntityType string `json:"entity_type"`
	Name       string `json:"name"`
	XMitreID   string `json:"x_mitre_id,omitempty"`
}

// goldenBundle is one published bundle in bundles.golden.json.
type goldenBundle struct {
	Article string            `json:"article"`
	Objects []json.RawMessage `json:"objects"`
}

// goldenRun is run.golden.json: what a run leaves behind.
type goldenRun struct {
	CreatedAfter *string        `json:"created_after"`
	Works        []goldenWork   `json:"works"`
	State        map[string]any `json:"state"`
	TagLookups   int            `json:"tag_lookups"`
}

type goldenWork struct {
	Name    string `json:"name"`
	Message string `json:"message"`
	InError bool   `json:"in_error"`
}

func cases(t testing.TB) []*testCase {
	t.Helper()
	entries, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	var out []*testCase
	for _, e := range entries {
		if !e.IsDir() || e.Name() == "fuzz" || e.Name() == "defender" { // fuzz: the fuzzers' corpus; defender: defender_golden_test.go
			continue
		}
		out = append(out, loadCase(t, e.Name()))
	}
	return out
}

func loadCase(t testing.TB, name string) *testCase {
	t.Helper()
	dir := filepath.Join("testdata", name)
	c := &testCase{Name: name, Dir: dir}
	readJSON(t, filepath.Join(dir, "case.json"), c)
	readJSON(t, filepath.Join(dir, "domain_objects.json"), &c.DomainObjects)
	return c
}

func readJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func (c *testCase) clock() func() time.Time { return func() time.Time { return c.Now } }

func (c *testCase) importFrom() *time.Time {
	if c.ImportFrom == nil {
		return nil
	}
	t := time.Unix(*c.ImportFrom, 0).UTC()
	return &t
}

// data returns the case's articles as a data set of the fake PassiveTotal.
func (c *testCase) data(t testing.TB) *passivetotaltest.Data {
	t.Helper()
	quota, err := fs.ReadFile(passivetotaltest.DataFS(), "quota.json")
	if err != nil {
		t.Fatal(err)
	}
	m := fstest.MapFS{"quota.json": {Data: quota}}
	files, err := filepath.Glob(filepath.Join(c.Dir, "articles", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m["articles/"+filepath.Base(f)] = &fstest.MapFile{Data: b}
	}
	d, err := passivetotaltest.LoadData(m)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// source starts a fake PassiveTotal serving the case's articles.
func (c *testCase) source(t testing.TB, opts ...passivetotaltest.Option) (*passivetotaltest.Server, articles.PassiveTotal) {
	t.Helper()
	srv := passivetotaltest.NewServer(t, append([]passivetotaltest.Option{passivetotaltest.WithData(c.data(t))}, opts...)...)
	return srv, articles.PassiveTotal{Client: newClient(t, srv.BaseURL())}
}

func newClient(t testing.TB, base string) *passivetotal.Client {
	t.Helper()
	cl, err := passivetotal.New(base, "analyst@example.com", "pt-secret-key-0042",
		passivetotal.WithRetry(3, 2*time.Second), passivetotal.WithBackoff(5*time.Millisecond, 20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func (c *testCase) goldenPath(name string) string { return filepath.Join(c.Dir, name) }

// writeGolden writes v as indented JSON.
func writeGolden(t testing.TB, path string, v any) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// canonical decodes JSON into generic values, for comparisons.
func canonical(t testing.TB, raw []byte) any {
	t.Helper()
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return v
}

// fakeLister answers stixDomainObjects from a list, matching the filter
// values against name or x_mitre_id, exactly as the platform's eq filter.
type fakeLister struct {
	objects []domainObject
	mu      sync.Mutex
	queries []api.DomainObjectQuery
	fail    error
}

func (f *fakeLister) StixDomainObjects(_ context.Context, q api.DomainObjectQuery) ([]api.DomainObject, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, q)
	if f.fail != nil {
		return nil, f.fail
	}
	var out []api.DomainObject
	for _, o := range f.objects {
		if len(q.Types) > 0 && !slices.Contains(q.Types, o.EntityType) {
			continue
		}
		match := false
		for _, k := range q.Keys {
			for _, v := range q.Values {
				match = match || k == "name" && o.Name == v || k == "x_mitre_id" && o.XMitreID != "" && o.XMitreID == v
			}
		}
		if match {
			out = append(out, api.DomainObject{EntityType: o.EntityType, Name: o.Name, XMitreID: o.XMitreID})
		}
	}
	return out, nil
}

func (f *fakeLister) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.queries)
}

// fakePlatform records what a run does with the connector runtime, keeping
// the state as JSON text like the SDK.
type fakePlatform struct {
	mu      sync.Mutex
	state   []byte
	works   []goldenWork
	open    map[string]int // work id → index in works
	bundles [][]byte
	pushes  int
	// pushed is the state as the platform last received it (PushState): what
	// a restarted connector finds.
	pushed []byte

	failInitiate error
	failSendAt   int    // 1-based bundle number whose send fails; 0 never
	failGUID     string // the article whose bundle fails to send
	sendErr      error
	failClose    error
	resetAtPush  int // the n-th push clears the state (a remote reset); 0 never
	onSend       func(n int)
}

func newFakePlatform(st map[string]any) *fakePlatform {
	p := &fakePlatform{open: map[string]int{}, works: []goldenWork{}}
	if st != nil {
		if err := p.SetState(st); err != nil {
			panic(err)
		}
	}
	return p
}

func (p *fakePlatform) InitiateWork(_ context.Context, name string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failInitiate != nil {
		return "", p.failInitiate
	}
	id := "work-" + string(rune('a'+len(p.works)))
	p.open[id] = len(p.works)
	p.works = append(p.works, goldenWork{Name: name})
	return id, nil
}

func (p *fakePlatform) SendBundle(_ context.Context, bundle []byte, o opencti.SendOptions) (int, error) {
	p.mu.Lock()
	n := len(p.bundles) + 1
	cb := p.onSend
	if _, ok := p.open[o.WorkID]; !ok {
		p.mu.Unlock()
		return 0, errors.New("send: unknown work " + o.WorkID)
	}
	if p.failSendAt == n || p.failGUID != "" && bytes.Contains(bundle, []byte(`"external_id":"`+p.failGUID+`"`)) {
		p.mu.Unlock()
		return 0, p.sendErr
	}
	p.bundles = append(p.bundles, bytes.Clone(bundle))
	p.mu.Unlock()
	if cb != nil {
		cb(n)
	}
	var b struct {
		Objects []json.RawMessage `json:"objects"`
	}
	if err := json.Unmarshal(bundle, &b); err != nil {
		return 0, err
	}
	return len(b.Objects), nil
}

func (p *fakePlatform) WorkToProcessed(_ context.Context, workID, message string, inError bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failClose != nil {
		return p.failClose
	}
	i, ok := p.open[workID]
	if !ok {
		return errors.New("close: unknown work " + workID)
	}
	delete(p.open, workID)
	p.works[i].Message, p.works[i].InError = message, inError
	return nil
}

func (p *fakePlatform) State(v any) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == nil {
		return false, nil
	}
	return true, json.Unmarshal(p.state, v)
}

func (p *fakePlatform) SetState(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if string(b) == "{}" || string(b) == "null" {
		p.state = nil
		return nil
	}
	p.state = b
	return nil
}

func (p *fakePlatform) PushState(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pushes++
	if p.pushes == p.resetAtPush {
		p.state = nil
	}
	p.pushed = bytes.Clone(p.state)
	return nil
}

// restart replaces the state with the one the platform last received, as a
// connector restarted after a SIGKILL finds it.
func (p *fakePlatform) restart() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state = bytes.Clone(p.pushed)
}

// pushedMap returns the state the platform last received.
func (p *fakePlatform) pushedMap(t testing.TB) map[string]any {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pushed == nil {
		return nil
	}
	m, _ := canonical(t, p.pushed).(map[string]any)
	return m
}

// bundleCount returns the number of bundles sent.
func (p *fakePlatform) bundleCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.bundles)
}

func (p *fakePlatform) stateMap(t testing.TB) map[string]any {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == nil {
		return nil
	}
	m, _ := canonical(t, p.state).(map[string]any)
	return m
}

func (p *fakePlatform) goldenBundles(t testing.TB) []goldenBundle {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]goldenBundle, 0, len(p.bundles))
	for _, raw := range p.bundles {
		var b struct {
			Type    string            `json:"type"`
			ID      string            `json:"id"`
			Objects []json.RawMessage `json:"objects"`
		}
		if err := json.Unmarshal(raw, &b); err != nil {
			t.Fatal(err)
		}
		if b.Type != "bundle" || !strings.HasPrefix(b.ID, "bundle--") {
			t.Errorf("bundle envelope: type %q id %q", b.Type, b.ID)
		}
		gb := goldenBundle{Objects: b.Objects}
		for _, o := range b.Objects {
			var r struct {
				Type string `json:"type"`
				Ext  []struct {
					ExternalID string `json:"external_id"`
				} `json:"external_references"`
			}
			_ = json.Unmarshal(o, &r)
			if r.Type == "report" && len(r.Ext) > 0 {
				gb.Article = r.Ext[0].ExternalID
			}
		}
		out = append(out, gb)
	}
	return out
}

// sortBundles orders bundles as the articles of the data set (oldest
// first): bundles of several articles are published at once, so they arrive
// in any order.
func sortBundles(bundles []goldenBundle, d *passivetotaltest.Data) {
	pos := map[string]int{}
	for i, g := range d.ArticleGUIDs() {
		pos[g] = i
	}
	sort.SliceStable(bundles, func(i, j int) bool { return pos[bundles[i].Article] < pos[bundles[j].Article] })
}

// sortVariants orders the variants of each object (an object sent by
// several articles with different markings) by their JSON text.
func sortVariants(t testing.TB, m map[string][]any) {
	t.Helper()
	for _, vs := range m {
		sort.Slice(vs, func(i, j int) bool {
			a, _ := json.Marshal(vs[i])
			b, _ := json.Marshal(vs[j])
			return string(a) < string(b)
		})
	}
}

// importer builds an importer for a case over the given source and fakes.
func (c *testCase) importer(t testing.TB, src articles.Source, p articles.Platform, l articles.DomainObjectLister) *articles.Importer {
	t.Helper()
	im, err := articles.NewImporter(articles.Config{
		Source: src, Platform: p, Lister: l,
		Options:    articles.Options{CreateObservables: c.CreateObservables},
		Interval:   time.Duration(c.IntervalSec) * time.Second,
		ImportFrom: c.importFrom(),
		Logger:     testLogger(t),
		Now:        c.clock(),
		InFlight:   c.InFlight,
	})
	if err != nil {
		t.Fatal(err)
	}
	return im
}

// objectIDs returns the sorted ids of a list of JSON objects.
func objectIDs(t testing.TB, objs []json.RawMessage) []string {
	t.Helper()
	ids := make([]string, 0, len(objs))
	for _, o := range objs {
		var v struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(o, &v); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, v.ID)
	}
	sort.Strings(ids)
	return ids
}
