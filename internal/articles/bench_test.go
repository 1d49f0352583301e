package articles_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"iter"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/riskiq-opencti/connectors/internal/articles"
	"github.com/riskiq-opencti/connectors/internal/passivetotal/passivetotaltest"
	"github.com/riskiq-opencti/connectors/opencti"
	"github.com/riskiq-opencti/connectors/opencti/stix"
)

// benchArticle returns the PassiveTotal JSON of article i with n indicator
// values of every mapped kind, half of the groups public.
func benchArticle(i, n int, tags []string) map[string]any {
	kinds := []struct {
		typ string
		gen func(i, j int) string
	}{
		{"domain", func(i, j int) string { return fmt.Sprintf("host-%d-%d.example.com", i, j) }},
		{"ip", func(i, j int) string { return fmt.Sprintf("10.%d.%d.%d", i/250, i%250, j) }},
		{"ip", func(i, j int) string { return fmt.Sprintf("2001:db8:%x::%x", i, j) }},
		{"hash_md5", func(i, j int) string { return fmt.Sprintf("%032x", i*1000+j) }},
		{"hash_sha256", func(i, j int) string { return fmt.Sprintf("%064x", i*1000+j) }},
		{"url", func(i, j int) string { return fmt.Sprintf("https://host-%d.example.com/p/%d", i, j) }},
		{"email", func(i, j int) string { return fmt.Sprintf("user%d@host-%d.example.com", j, i) }},
	}
	groups := make([]map[string]any, len(kinds))
	for k, kind := range kinds {
		source := "public"
		if k%2 == 1 {
			source = "riskiq"
		}
		groups[k] = map[string]any{"type": kind.typ, "values": []string{}, "source": source}
	}
	for j := range n {
		g := groups[j%len(kinds)]
		g["values"] = append(g["values"].([]string), kinds[j%len(kinds)].gen(i, j))
	}
	created := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Hour)
	guid := fmt.Sprintf("%08x", 0xbe000000+i)
	return map[string]any{
		"guid": guid, "title": "Benchmark article " + strconv.Itoa(i), "summary": "Generated for the benchmark.",
		"type": "public", "publishedDate": created.Format("2006-01-02T15:04:05.000-0700"),
		"createdDate": created.Format("2006-01-02T15:04:05.000-0700"),
		"link":        "https://community.riskiq.com/article/" + guid, "categories": []string{},
		"tags": tags, "indicators": groups,
	}
}

// benchData is a data set of the fake PassiveTotal with count articles of n
// indicator values each.
func benchData(tb testing.TB, count, n int, tags []string) *passivetotaltest.Data {
	tb.Helper()
	quota, err := fs.ReadFile(passivetotaltest.DataFS(), "quota.json")
	if err != nil {
		tb.Fatal(err)
	}
	m := fstest.MapFS{"quota.json": {Data: quota}}
	for i := range count {
		a := benchArticle(i, n, tags)
		b, err := json.Marshal(a)
		if err != nil {
			tb.Fatal(err)
		}
		m["articles/"+a["guid"].(string)+".json"] = &fstest.MapFile{Data: b}
	}
	d, err := passivetotaltest.LoadData(m)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

var benchTags = []string{"Emotet", "T1566.001 - Spearphishing Attachment", "Finance", "unknown tag"}

var benchObjects = []domainObject{
	{EntityType: "Malware", Name: "Emotet"},
	{EntityType: "Attack-Pattern", Name: "Spearphishing Attachment", XMitreID: "T1566.001"},
	{EntityType: "Sector", Name: "Finance"},
}

// BenchmarkConvert maps one article of 50 indicator values and three tags.
func BenchmarkConvert(b *testing.B) {
	srv := passivetotaltest.NewServer(b, passivetotaltest.WithData(benchData(b, 1, 50, benchTags)))
	src := articles.PassiveTotal{Client: newClient(b, srv.BaseURL())}
	a, err := src.Article(b.Context(), "be000000")
	if err != nil {
		b.Fatal(err)
	}
	entities := resolveTags(a.Tags, benchObjects)
	conv := articles.NewConverter(articles.Options{CreateObservables: true}, clockAt(fixedNow))
	b.ReportAllocs()
	for b.Loop() {
		res, err := conv.Convert(&a, entities)
		if err != nil || len(res.Objects) == 0 {
			b.Fatal(err)
		}
	}
}

// BenchmarkIntegrationImport imports 200 articles of 50 indicator values
// (with observables and three tags each) in one run, end to end: the fake
// PassiveTotal over HTTP, the connector runtime publishing with confirms to
// the real RabbitMQ, the fake platform's worker consuming. One op is one run
// until its work is closed; the worker's completion is awaited outside the
// timer. Tags are resolved through the fake platform's stixDomainObjects
// (four lookups a run). peak-RSS-MB is the whole test process, fakes
// included.
func BenchmarkIntegrationImport(b *testing.B) {
	const articlesPerRun, valuesPerArticle = 200, 50
	c := &testCase{Now: fixedNow, CreateObservables: true, IntervalSec: 86400, DomainObjects: benchObjects}
	ctx, cancel := context.WithTimeout(b.Context(), 10*time.Minute)
	defer cancel()
	p := newPlatform(b, c)
	h := p.start(b, ctx)
	srv := passivetotaltest.NewServer(b, passivetotaltest.WithData(benchData(b, articlesPerRun, valuesPerArticle, benchTags)))
	src := articles.PassiveTotal{Client: newClient(b, srv.BaseURL())}
	im, err := articles.NewImporter(articles.Config{
		Source: src, Platform: h, Lister: p.lister(h), Options: articles.Options{CreateObservables: true},
		Interval: 24 * time.Hour, Now: c.clock(), InFlight: benchInFlight(),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := h.SetState(nil); err != nil {
			b.Fatal(err)
		}
		if err := im.Run(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		works := p.waitWorks(b, ctx, h)
		last := works[len(works)-1]
		if len(last.Errors) != 0 || !strings.HasPrefix(strings.Join(last.Messages, ""), "200 articles read, 200 reports sent") {
			b.Fatalf("work = %+v", last)
		}
		b.ReportMetric(float64(last.Expected), "msgs/op")
		b.StartTimer()
	}
	b.StopTimer()
	if hwm := vmHWM(); hwm > 0 {
		b.ReportMetric(hwm, "peak-RSS-MB")
	}
}

// vmHWM returns the peak resident set size of this process in MB (Linux).
func vmHWM() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err == nil {
				return float64(kb) / 1024
			}
		}
	}
	return 0
}

// benchInFlight reads BENCH_CONCURRENCY (default: the importer's default), to
// explore the publication window.
func benchInFlight() int {
	n, _ := strconv.Atoi(os.Getenv("BENCH_CONCURRENCY"))
	return n
}

// memSource serves articles from memory, oldest first, without HTTP.
type memSource struct{ articles []articles.Article }

func (s memSource) Articles(_ context.Context, _ *time.Time) iter.Seq2[articles.Article, error] {
	return func(yield func(articles.Article, error) bool) {
		for _, a := range s.articles {
			if !yield(a, nil) {
				return
			}
		}
	}
}

func (s memSource) Article(_ context.Context, guid string) (articles.Article, error) {
	for _, a := range s.articles {
		if a.GUID == guid {
			return a, nil
		}
	}
	return articles.Article{}, articles.ErrNotFound
}

// splitPlatform is a platform that splits each bundle as the SDK does
// (stix.Split, one message per object) and keeps only the counts: what a
// run costs without a broker.
type splitPlatform struct {
	mu             sync.Mutex
	state          []byte
	bundles, parts int
	message        string
	inError        bool
}

func (p *splitPlatform) InitiateWork(context.Context, string) (string, error) { return "work", nil }

func (p *splitPlatform) SendBundle(_ context.Context, bundle []byte, _ opencti.SendOptions) (int, error) {
	res, err := stix.Split(bundle, stix.SplitOptions{})
	if err != nil {
		return 0, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bundles++
	p.parts += len(res.Parts)
	return len(res.Parts), nil
}

func (p *splitPlatform) WorkToProcessed(_ context.Context, _, message string, inError bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.message, p.inError = message, inError
	return nil
}

func (p *splitPlatform) State(v any) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == nil {
		return false, nil
	}
	return true, json.Unmarshal(p.state, v)
}

func (p *splitPlatform) SetState(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state = b
	if v == nil {
		p.state = nil
	}
	return nil
}

func (p *splitPlatform) PushState(context.Context) error { return nil }

// BenchmarkPathologicalArticle imports one article of 2,000 indicator values
// whose 300 tags all name existing malware (issue 9, item 11): 600,000
// "indicates" relationships, 606,303 objects and messages with the
// observables. The platform splits each bundle as the SDK does; nothing is
// published. B/op is the figure to watch; peak-RSS-MB is the whole process
// (meaningful when the benchmark runs alone, -run '^$').
func BenchmarkPathologicalArticle(b *testing.B) {
	const tagCount, valueCount = 300, 2000
	tags := make([]string, tagCount)
	objects := make([]domainObject, tagCount)
	for i := range tagCount {
		tags[i] = fmt.Sprintf("Malware %03d", i)
		objects[i] = domainObject{EntityType: "Malware", Name: tags[i]}
	}
	values := make([]string, valueCount)
	for j := range valueCount {
		values[j] = fmt.Sprintf("host-%d.example.com", j)
	}
	created := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	a := articles.Article{
		GUID: "be000000", Title: "Pathological article", Link: "https://community.riskiq.com/article/be000000",
		Created: created, CreatedRaw: "2024-01-01T00:00:00.000+0000", Published: created, PublishedRaw: "2024-01-01T00:00:00.000+0000",
		Tags: tags, Indicators: []articles.IndicatorGroup{{Type: "domain", Values: values, Source: "riskiq"}},
	}
	p := &splitPlatform{}
	im, err := articles.NewImporter(articles.Config{
		Source: memSource{articles: []articles.Article{a}}, Platform: p, Lister: &fakeLister{objects: objects},
		Options: articles.Options{CreateObservables: true}, Interval: 24 * time.Hour, Now: clockAt(fixedNow),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := p.SetState(nil); err != nil {
			b.Fatal(err)
		}
		p.bundles, p.parts = 0, 0
		if err := im.Run(b.Context()); err != nil {
			b.Fatal(err)
		}
		if p.inError || p.parts != 606303 {
			b.Fatalf("%d messages in %d bundles, work %q", p.parts, p.bundles, p.message)
		}
	}
	b.ReportMetric(float64(p.parts), "msgs/op")
	b.ReportMetric(float64(p.bundles), "bundles/op")
	if hwm := vmHWM(); hwm > 0 {
		b.ReportMetric(hwm, "peak-RSS-MB")
	}
}
