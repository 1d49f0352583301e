package defendertitest

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riskiq-opencti/connectors/internal/defenderti"
)

//go:embed testdata
var embedded embed.FS

// DataFS returns the built-in data set as a file system, laid out as
// [LoadData] expects: hosts/*.json ({"host", "reputation", "passiveDns",
// "passiveDnsReverse"}) and articles/*.json ({"article", "indicators"}).
func DataFS() fs.FS {
	sub, err := fs.Sub(embedded, "testdata")
	if err != nil { // cannot happen: "testdata" is a valid path
		panic(err)
	}
	return sub
}

// DefaultData returns the built-in data set: passive DNS for
// malicious.example (A, AAAA, NS, MX, CNAME with equal first and last seen,
// SOA with a host name and with an e-mail, TXT, PTR, an unknown type with an
// unknown artifact type and extra fields, one record last seen in 2023) and
// its reverse CNAME, reverse records of 192.0.2.10 and 2001:db8::10, an empty
// quiet.example, reputations, and three articles (markdown, html, text
// bodies; one without indicators and tags; indicators in every source
// spelling and artifact subtype). Records are dated up to [Anchor]. It
// panics only if the embedded files are broken, which the package tests rule
// out.
func DefaultData() *Data {
	d, err := LoadData(DataFS())
	if err != nil {
		panic(fmt.Sprintf("defendertitest: embedded data: %v", err))
	}
	return d
}

// Anchor is the newest date of the built-in data set (records, articles):
// [Options.Shift] of now minus Anchor makes the data recent.
var Anchor = time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)

// object is a JSON object as served, with unknown fields kept.
type object = map[string]any

// hostData is what the fake knows of one host id.
type hostData struct {
	host       object
	reputation object
	forward    []object
	reverse    []object
}

type articleData struct {
	article    object
	indicators []object
}

// Data is a data set the fake serves. It is safe for concurrent use; the
// Add methods may be called while a handler serves it.
type Data struct {
	mu       sync.RWMutex
	hosts    map[string]*hostData    // by lower-case host id
	articles map[string]*articleData // by id
	// version grows with every change, so that rendered pages can be kept
	// until the data they show changes.
	version atomic.Int64
}

// NewData returns an empty data set.
func NewData() *Data {
	return &Data{hosts: map[string]*hostData{}, articles: map[string]*articleData{}}
}

// LoadData reads a data set laid out as [DataFS].
func LoadData(fsys fs.FS) (*Data, error) {
	d := NewData()
	hosts, _ := fs.Glob(fsys, "hosts/*.json")
	for _, name := range hosts {
		var f struct {
			Host              object   `json:"host"`
			Reputation        object   `json:"reputation"`
			PassiveDNS        []object `json:"passiveDns"`
			PassiveDNSReverse []object `json:"passiveDnsReverse"`
		}
		if err := readJSON(fsys, name, &f); err != nil {
			return nil, err
		}
		id, _ := f.Host["id"].(string)
		if id == "" {
			return nil, fmt.Errorf("%s: host without id", name)
		}
		d.hosts[strings.ToLower(id)] = &hostData{host: f.Host, reputation: f.Reputation, forward: f.PassiveDNS, reverse: f.PassiveDNSReverse}
	}
	articles, _ := fs.Glob(fsys, "articles/*.json")
	for _, name := range articles {
		var f struct {
			Article    object   `json:"article"`
			Indicators []object `json:"indicators"`
		}
		if err := readJSON(fsys, name, &f); err != nil {
			return nil, err
		}
		id, _ := f.Article["id"].(string)
		if id == "" || id != strings.TrimSuffix(path.Base(name), ".json") {
			return nil, fmt.Errorf("%s: article id %q does not match the file name", name, id)
		}
		d.articles[id] = &articleData{article: f.Article, indicators: f.Indicators}
	}
	return d, nil
}

func readJSON(fsys fs.FS, name string, v any) error {
	raw, err := fs.ReadFile(fsys, name)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// toObject converts a typed value to the JSON object served.
func toObject(v any) object {
	raw, err := json.Marshal(v)
	if err != nil {
		panic(err) // the defenderti types always marshal
	}
	var o object
	if err := json.Unmarshal(raw, &o); err != nil {
		panic(err)
	}
	return o
}

// host returns the entry of id, created when missing. d.mu must be held.
func (d *Data) host(id string) *hostData {
	key := strings.ToLower(id)
	h := d.hosts[key]
	if h == nil {
		typ := defenderti.TypeHostname
		if isIP(id) {
			typ = defenderti.TypeIPAddress
		}
		h = &hostData{host: object{"@odata.type": typ, "id": id}}
		d.hosts[key] = h
	}
	return h
}

// AddPassiveDNS adds records to the forward (passiveDns) or reverse
// (passiveDnsReverse) answer of host; they are served in the order the
// request's $orderby asks, else in insertion order.
func (d *Data) AddPassiveDNS(host string, reverse bool, recs ...defenderti.PassiveDNSRecord) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.version.Add(1)
	h := d.host(host)
	for _, r := range recs {
		o := toObject(r)
		o["@odata.type"] = "#microsoft.graph.security.passiveDnsRecord"
		if reverse {
			h.reverse = append(h.reverse, o)
		} else {
			h.forward = append(h.forward, o)
		}
	}
}

// SetReputation sets the reputation of host.
func (d *Data) SetReputation(host string, rep defenderti.HostReputation) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.version.Add(1)
	o := toObject(rep)
	o["@odata.type"] = "#microsoft.graph.security.hostReputation"
	d.host(host).reputation = o
}

// AddArticle adds (or replaces) an article and its indicators.
func (d *Data) AddArticle(a defenderti.Article, indicators ...defenderti.ArticleIndicator) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.version.Add(1)
	o := toObject(a)
	o["@odata.type"] = "#microsoft.graph.security.article"
	ad := &articleData{article: o, indicators: []object{}}
	for _, in := range indicators {
		io := toObject(in)
		io["@odata.type"] = "#microsoft.graph.security.articleIndicator"
		ad.indicators = append(ad.indicators, io)
	}
	d.articles[a.ID] = ad
}

// Hosts returns the host ids that have passive DNS records, sorted.
func (d *Data) Hosts() []string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	var out []string
	for _, h := range d.hosts {
		if len(h.forward)+len(h.reverse) > 0 {
			out = append(out, h.host["id"].(string))
		}
	}
	slices.Sort(out)
	return out
}

// ArticleIDs returns the article ids, sorted.
func (d *Data) ArticleIDs() []string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := make([]string, 0, len(d.articles))
	for id := range d.articles {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// lookupHost returns copies of what is known of id.
func (d *Data) lookupHost(id string) (hostData, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	h, ok := d.hosts[strings.ToLower(id)]
	if !ok {
		return hostData{}, false
	}
	return hostData{host: h.host, reputation: h.reputation, forward: slices.Clone(h.forward), reverse: slices.Clone(h.reverse)}, true
}

func (d *Data) lookupArticle(id string) (articleData, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	a, ok := d.articles[id]
	if !ok {
		return articleData{}, false
	}
	return articleData{article: a.article, indicators: slices.Clone(a.indicators)}, true
}

func (d *Data) articleList() []object {
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := make([]object, 0, len(d.articles))
	for _, id := range slices.Sorted(maps.Keys(d.articles)) {
		out = append(out, d.articles[id].article)
	}
	return out
}
