package passivetotaltest

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"
)

//go:embed testdata
var embedded embed.FS

// DataFS returns the built-in data set as a file system, laid out as
// [LoadData] expects. Tests use its files as fuzz seeds or as a base for their
// own data sets.
func DataFS() fs.FS {
	sub, err := fs.Sub(embedded, "testdata")
	if err != nil { // cannot happen: "testdata" is a valid path
		panic(err)
	}
	return sub
}

// DefaultData returns the built-in data set: a recorded-style quota answer,
// passive DNS answers for a few domains and IPs (A, AAAA, CNAME, MX, NS, SOA
// with domain and e-mail, "TXT (SPF1)", an empty answer and a legacy answer
// without record types) and five articles whose indicator groups cover many
// types. It panics only if the embedded files are broken, which the package
// tests rule out.
func DefaultData() *Data {
	d, err := LoadData(DataFS())
	if err != nil {
		panic(fmt.Sprintf("passivetotaltest: embedded data: %v", err))
	}
	return d
}

// Data is a data set the fake serves. It is read-only once loaded and may be
// shared by several handlers.
type Data struct {
	quota    []byte                // the quota answer as recorded
	dns      map[string]*dnsAnswer // by lower-case query value
	articles []*article            // sorted by creation date, then guid
	byGUID   map[string]*article
}

type dnsAnswer struct {
	raw     []byte                     // as recorded
	head    map[string]json.RawMessage // top-level members
	records []dnsRecord
}

type dnsRecord struct {
	raw                 json.RawMessage
	rawFirst, rawLast   string
	firstSeen, lastSeen time.Time
	known               bool // both dates parsed
}

type article struct {
	guid    string
	created time.Time
	detail  []byte          // GET /articles/{guid} answer, as recorded
	item    json.RawMessage // list item: the detail without "content"/"body"
}

// LoadData reads a data set from fsys:
//
//	quota.json           the GET /v2/account/quota answer
//	dns/*.json           GET /v2/dns/passive answers, keyed by their queryValue
//	articles/*.json      article detail objects (GET /v2/articles/{guid}),
//	                     listed by GET /v2/articles without "content"/"body"
//
// The dns and articles directories may be absent. Articles need a guid and a
// createdDate ("YYYY-MM-DD[ HH:MM:SS]" or ISO 8601).
func LoadData(fsys fs.FS) (*Data, error) {
	d := &Data{dns: map[string]*dnsAnswer{}, byGUID: map[string]*article{}}
	q, err := fs.ReadFile(fsys, "quota.json")
	if err != nil {
		return nil, fmt.Errorf("load quota: %w", err)
	}
	if !json.Valid(q) {
		return nil, errors.New("load quota: quota.json is not valid JSON")
	}
	d.quota = q

	dnsFiles, err := jsonFiles(fsys, "dns")
	if err != nil {
		return nil, err
	}
	for _, name := range dnsFiles {
		a, err := loadDNS(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", name, err)
		}
		var qv string
		_ = json.Unmarshal(a.head["queryValue"], &qv)
		key := strings.ToLower(qv)
		if _, dup := d.dns[key]; dup {
			return nil, fmt.Errorf("load %s: second answer for query %q", name, qv)
		}
		d.dns[key] = a
	}

	articleFiles, err := jsonFiles(fsys, "articles")
	if err != nil {
		return nil, err
	}
	for _, name := range articleFiles {
		a, err := loadArticle(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", name, err)
		}
		if _, dup := d.byGUID[a.guid]; dup {
			return nil, fmt.Errorf("load %s: second article with guid %q", name, a.guid)
		}
		d.byGUID[a.guid] = a
		d.articles = append(d.articles, a)
	}
	slices.SortFunc(d.articles, func(a, b *article) int {
		if c := a.created.Compare(b.created); c != 0 {
			return c
		}
		return strings.Compare(a.guid, b.guid)
	})
	return d, nil
}

// Queries returns the passive DNS queries the data set answers, sorted.
func (d *Data) Queries() []string {
	out := make([]string, 0, len(d.dns))
	for k := range d.dns {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// ArticleGUIDs returns the guids of the data set's articles, oldest first.
func (d *Data) ArticleGUIDs() []string {
	out := make([]string, 0, len(d.articles))
	for _, a := range d.articles {
		out = append(out, a.guid)
	}
	return out
}

func jsonFiles(fsys fs.FS, dir string) ([]string, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", dir, err)
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".json") {
			out = append(out, path.Join(dir, e.Name()))
		}
	}
	return out, nil
}

func loadDNS(fsys fs.FS, name string) (*dnsAnswer, error) {
	raw, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, err
	}
	a := &dnsAnswer{raw: raw}
	if err := json.Unmarshal(raw, &a.head); err != nil {
		return nil, err
	}
	var qv string
	if err := json.Unmarshal(a.head["queryValue"], &qv); err != nil || qv == "" {
		return nil, errors.New("queryValue missing")
	}
	var results []json.RawMessage
	if err := json.Unmarshal(a.head["results"], &results); err != nil {
		return nil, fmt.Errorf("results: %w", err)
	}
	delete(a.head, "results")
	for _, r := range results {
		var dates struct {
			FirstSeen string `json:"firstSeen"`
			LastSeen  string `json:"lastSeen"`
		}
		if err := json.Unmarshal(r, &dates); err != nil {
			return nil, fmt.Errorf("result: %w", err)
		}
		rec := dnsRecord{raw: r, rawFirst: dates.FirstSeen, rawLast: dates.LastSeen}
		var ok1, ok2 bool
		rec.firstSeen, ok1 = parseDate(dates.FirstSeen)
		rec.lastSeen, ok2 = parseDate(dates.LastSeen)
		rec.known = ok1 && ok2
		a.records = append(a.records, rec)
	}
	return a, nil
}

func loadArticle(fsys fs.FS, name string) (*article, error) {
	raw, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	var fields struct {
		GUID        string `json:"guid"`
		CreatedDate string `json:"createdDate"`
	}
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, err
	}
	if fields.GUID == "" {
		return nil, errors.New("guid missing")
	}
	created, ok := parseDate(fields.CreatedDate)
	if !ok {
		return nil, fmt.Errorf("createdDate %q not understood", fields.CreatedDate)
	}
	delete(m, "content")
	delete(m, "body")
	item, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return &article{guid: fields.GUID, created: created, detail: bytes.TrimSpace(raw), item: item}, nil
}

// parseDate reads the date formats of the data set and of request
// parameters; a missing zone means UTC.
func parseDate(s string) (time.Time, bool) {
	for _, layout := range []string{
		"2006-01-02 15:04:05",
		"2006-01-02T15:04:05Z07:00",
		"2006-01-02T15:04:05-0700",
		"2006-01-02T15:04:05",
		"2006-01-02",
	} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}
