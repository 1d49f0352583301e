package articles

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/riskiq-opencti/connectors/opencti/stix"
)

// Author of every object the connector creates, as the Python connector
// names and describes it (leading space included).
const (
	AuthorName        = "RiskIQ"
	AuthorDescription = " RiskIQ is a cyber security company based in San Francisco, California." +
		" It provides cloud - based software as a service(SaaS) for organizations" +
		" to detect phishing, fraud, malware, and other online security threats."
	// DefaultReportName names the report of an article without a title.
	DefaultReportName = "RiskIQ Threat Report"
)

// Author returns the connector's author identity, created at the given time.
func Author(created time.Time) *stix.Identity {
	a := stix.NewOrganization(AuthorName)
	a.Description = AuthorDescription
	a.Created = created
	a.Modified = created
	return a
}

// Options are the mapping options.
type Options struct {
	// CreateObservables adds, for each indicator, its observable and a
	// based-on relationship from the indicator (RISKIQ_CREATE_OBSERVABLES).
	CreateObservables bool
}

// Converter maps articles to STIX. It is pure: the clock gives the processing
// time, which stamps what the Python connector's stix2 library stamps when it
// builds an object: the created and modified dates of the objects that have no
// date of their own (the author, the tag objects and the relationships), the
// modified date of the reports and indicators (created is the article's) and
// the indicators' valid_from.
type Converter struct {
	opts Options
	now  func() time.Time
}

// NewConverter returns a converter with the given options and clock.
func NewConverter(opts Options, now func() time.Time) *Converter {
	if now == nil {
		now = time.Now
	}
	return &Converter{opts: opts, now: now}
}

// SkippedValue is an indicator value that was not mapped.
type SkippedValue struct {
	// Type is the indicator type as received.
	Type string
	// Value is the value, trimmed.
	Value string
	// Reason says why it was skipped.
	Reason string
}

// Result is the mapping of one article.
type Result struct {
	// Objects are the objects of the article's bundle, in the Python
	// connector's order (threat objects, indicators, observables,
	// relationships), then the report and the author; empty when the article
	// maps to nothing (no report is created then). Like the Python
	// connector's, the bundle holds no marking definition: the platform knows
	// the TLP ones the objects refer to.
	Objects []stix.Object
	// Report is the article's report, nil when Objects is empty.
	Report *stix.Report
	// Indicators and Observables count the objects of each kind.
	Indicators, Observables int
	// Skipped are the values that were not mapped: invalid or empty.
	Skipped []SkippedValue
	// UnknownTypes are the indicator types (lower-cased, trimmed) with no
	// mapping, once each, in order of appearance.
	UnknownTypes []string
}

// ErrNoDate is returned for an article whose creation date is unknown: it
// dates the indicators and the report.
var ErrNoDate = errors.New("article has no creation date")

// indicatorValue is a mapped value with its TLP.
type indicatorValue struct {
	text  string
	value value
	amber bool
}

// Convert maps an article, with the OpenCTI entities its tags name, to STIX:
// every object at once, in one list. The importer sends big articles in
// slices instead (see [MaxBundleObjects]).
func (c *Converter) Convert(a *Article, entities []Entity) (*Result, error) {
	m, err := c.mapArticle(a, entities)
	if err != nil {
		return nil, err
	}
	res := m.res
	if m.empty() {
		return res, nil
	}
	report, err := m.bundles(0, func(objects []stix.Object) error {
		res.Objects = objects
		return nil
	})
	if err != nil {
		return nil, err
	}
	res.Report = report
	return res, nil
}

// MaxBundleObjects bounds the objects of one bundle the importer builds. An
// article that maps to more (each indicator "indicates" each intrusion set,
// malware and tool its tags name: 2,000 values and 300 such tags make 600,000
// relationships) is sent in several bundles of at most this many objects,
// built one after the other, the report last with every object in its
// object_refs. The platform ends up with the same objects and the same
// report; memory holds one slice at a time instead of the whole article.
const MaxBundleObjects = 5000

// mapping is an article mapped to STIX, without its relationships between the
// tag objects and the indicators, victims and techniques: their number is a
// product, so they are made while the bundles are built.
type mapping struct {
	res     *Result // counts, skipped values and unknown types
	conv    *Converter
	article *Article
	author  *stix.Identity
	now     time.Time
	// articleTLP marks the report, the tag objects (but sectors and
	// countries) and the relationships from the threats.
	articleTLP string
	// base holds the tag objects, the indicators, the observables and the
	// based-on relationships, in bundle order.
	base       []stix.Object
	indicators []stix.Object
	threats    []stix.Object // intrusion sets, malware, tools
	// targets are what each threat targets or uses, in bundle order.
	targets []relTargets
}

// relTargets are the targets of one relationship type from every threat.
type relTargets struct {
	typ     string
	objects []stix.Object
}

// empty reports an article that maps to nothing: no report is created.
func (m *mapping) empty() bool { return len(m.base) == 0 }

// relationships is the number of relationships from the threats.
func (m *mapping) relationships() int {
	per := len(m.indicators)
	for _, t := range m.targets {
		per += len(t.objects)
	}
	return len(m.threats) * per
}

// objects is the number of objects of the article: the report and the
// author included.
func (m *mapping) objects() int {
	return len(m.base) + m.relationships() + 2
}

// bundles makes the article's objects and hands them to send, bundle by
// bundle, in the order of [Converter.Convert]'s list: at most limit objects
// each (limit <= 0: one bundle), the author in the first, the
// report at the end of the last (it refers to every object before it). An
// article that fits in one bundle gives exactly Convert's list. It returns
// the report; send's error stops it.
func (m *mapping) bundles(limit int, send func([]stix.Object) error) (*stix.Report, error) {
	total := len(m.base) + m.relationships()
	size := total
	if limit > 0 {
		size = min(limit, total)
	}
	refs := make([]string, 0, total)
	var buf []stix.Object
	sent := false // a bundle went: the author was in it
	emit := func(last ...stix.Object) error {
		out := append(buf, last...)
		if !sent {
			out = append(out, m.author)
		}
		buf, sent = nil, true
		return send(out)
	}
	add := func(o stix.Object) error {
		if limit > 0 && len(buf) >= limit {
			if err := emit(); err != nil {
				return err
			}
		}
		if buf == nil {
			buf = make([]stix.Object, 0, size+2)
		}
		buf = append(buf, o)
		refs = append(refs, o.ID())
		return nil
	}
	for _, o := range m.base {
		if err := add(o); err != nil {
			return nil, err
		}
	}
	author := m.author.ID()
	for _, threat := range m.threats {
		for _, ind := range m.indicators {
			r, err := m.conv.relationship("indicates", ind.ID(), threat.ID(), author, m.now, m.articleTLP)
			if err != nil {
				return nil, err
			}
			if err := add(r); err != nil {
				return nil, err
			}
		}
		for _, t := range m.targets {
			for _, dst := range t.objects {
				r, err := m.conv.relationship(t.typ, threat.ID(), dst.ID(), author, m.now, m.articleTLP)
				if err != nil {
					return nil, err
				}
				if err := add(r); err != nil {
					return nil, err
				}
			}
		}
	}
	report, err := m.conv.report(m.article, refs, author, m.now, m.articleTLP)
	if err != nil {
		return nil, err
	}
	if err := emit(report); err != nil {
		return nil, err
	}
	return report, nil
}

// mapArticle maps an article, except the relationships from its threats.
func (c *Converter) mapArticle(a *Article, entities []Entity) (*mapping, error) {
	if a.Created.IsZero() {
		return nil, ErrNoDate
	}
	now := c.now().UTC().Truncate(time.Millisecond)
	created := a.Created.UTC()
	author := Author(now)
	res := &Result{}

	values := c.indicatorValues(a, res)
	// The report, the tag objects and the relationships from the threats are
	// TLP:WHITE whatever their indicators' marking, as the Python connector's
	// (its "any indicator TLP:AMBER" test compared a marking object with ids
	// and never matched); TLP:AMBER for an article that is not public, which
	// Python did not look at.
	articleTLP := tlpID(a.Private)

	// Threat and victim objects, from the tags.
	var (
		attackPatterns, vulnerabilities, intrusionSets, malwares, tools, sectors, countries []stix.Object
		seen                                                                                = map[string]bool{}
	)
	common := func(marked bool) stix.Common {
		cm := stix.Common{CreatedByRef: author.ID(), Created: now, Modified: now}
		if marked {
			cm.ObjectMarkingRefs = []string{articleTLP}
		}
		return cm
	}
	for _, e := range entities {
		if strings.TrimSpace(e.Name) == "" {
			continue // no name, no id
		}
		var o stix.Object
		switch e.Type {
		case EntitySector:
			s := stix.NewSector(e.Name)
			s.Common = common(false)
			o = s
		case EntityCountry:
			l := stix.NewCountry(e.Name)
			l.Common = common(false)
			o = l
		case EntityIntrusionSet:
			is := stix.NewIntrusionSet(e.Name)
			is.Common = common(true)
			o = is
		case EntityMalware:
			m := stix.NewMalware(e.Name, true)
			m.Common = common(true)
			o = m
		case EntityTool:
			t := stix.NewTool(e.Name)
			t.Common = common(true)
			o = t
		case EntityAttackPattern:
			// The id hashes the ATT&CK id, which Python did not write.
			ap := stix.NewAttackPattern(e.Name, e.MitreID)
			ap.OmitMitreID = true
			ap.Common = common(true)
			o = ap
		case EntityVulnerability:
			v := stix.NewVulnerability(e.Name)
			v.Common = common(true)
			o = v
		default:
			continue
		}
		if seen[o.ID()] {
			continue
		}
		seen[o.ID()] = true
		switch e.Type {
		case EntitySector:
			sectors = append(sectors, o)
		case EntityCountry:
			countries = append(countries, o)
		case EntityIntrusionSet:
			intrusionSets = append(intrusionSets, o)
		case EntityMalware:
			malwares = append(malwares, o)
		case EntityTool:
			tools = append(tools, o)
		case EntityAttackPattern:
			attackPatterns = append(attackPatterns, o)
		case EntityVulnerability:
			vulnerabilities = append(vulnerabilities, o)
		}
	}

	// Indicators, observables and based-on relationships.
	indicators := make([]stix.Object, 0, len(values))
	var observables, basedOn []stix.Object
	for _, v := range values {
		tlp := tlpID(v.amber)
		ind := stix.NewIndicator(v.value.pattern, "stix", now)
		ind.Name = v.text
		ind.PatternVersion = "2.1"
		ind.MainObservableType = v.value.mainType
		ind.Common = stix.Common{
			CreatedByRef: author.ID(), Created: created, Modified: modifiedAt(created, now),
			Labels: a.labels(), ObjectMarkingRefs: []string{tlp},
		}
		indicators = append(indicators, ind)
		if !c.opts.CreateObservables || v.value.observable == nil {
			continue
		}
		obs := v.value.observable(stix.ObservableCommon{ObjectMarkingRefs: []string{tlp}, CreatedByRef: author.ID()})
		if seen[obs.ID()] {
			continue
		}
		seen[obs.ID()] = true
		observables = append(observables, obs)
		rel, err := c.relationship("based-on", ind.ID(), obs.ID(), author.ID(), now, tlp)
		if err != nil {
			return nil, err
		}
		basedOn = append(basedOn, rel)
	}
	res.Indicators, res.Observables = len(indicators), len(observables)

	// The relationships from the threats are unique without a check: the
	// threats, the indicators (by pattern) and the targets are, and a
	// relationship's id hashes its type, source and target.
	m := &mapping{
		res: res, conv: c, article: a, author: author, now: now, articleTLP: articleTLP,
		base: concat(attackPatterns, vulnerabilities, intrusionSets, malwares, tools, sectors, countries,
			indicators, observables, basedOn),
		indicators: indicators,
		threats:    concat(intrusionSets, malwares, tools),
		targets: []relTargets{
			{"targets", concat(sectors, countries)},
			{"targets", vulnerabilities},
			{"uses", attackPatterns},
		},
	}
	return m, nil
}

// indicatorValues maps the article's indicator values, once each: a value
// given twice keeps its first form, TLP:AMBER if either occurrence is.
func (c *Converter) indicatorValues(a *Article, res *Result) []indicatorValue {
	var out []indicatorValue
	index := map[string]int{}
	unknown := map[string]bool{}
	for _, g := range a.Indicators {
		typ := normalizeType(g.Type)
		fn, ok := indicatorTypes[typ]
		if !ok {
			if !unknown[typ] {
				unknown[typ] = true
				res.UnknownTypes = append(res.UnknownTypes, typ)
			}
			continue
		}
		amber := g.Source != "public"
		for _, raw := range g.Values {
			text, v, err := mapValue(fn, raw)
			if err != nil {
				res.Skipped = append(res.Skipped, SkippedValue{Type: g.Type, Value: text, Reason: err.Error()})
				continue
			}
			if i, dup := index[v.pattern]; dup {
				out[i].amber = out[i].amber || amber
				continue
			}
			index[v.pattern] = len(out)
			out = append(out, indicatorValue{text: text, value: v, amber: amber})
		}
	}
	return out
}

func (c *Converter) relationship(typ, src, dst, author string, now time.Time, tlp string) (*stix.Relationship, error) {
	r, err := stix.NewRelationship(typ, src, dst, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("%s relationship: %w", typ, err)
	}
	r.Common = stix.Common{CreatedByRef: author, Created: now, Modified: now, ObjectMarkingRefs: []string{tlp}}
	return r, nil
}

func (c *Converter) report(a *Article, refs []string, author string, now time.Time, tlp string) (*stix.Report, error) {
	published, ok := reportPublished(a)
	if !ok {
		return nil, ErrNoDate
	}
	name := a.Title
	if strings.TrimSpace(name) == "" {
		name = DefaultReportName
	}
	r, err := stix.NewReport(name, published)
	if err != nil {
		return nil, fmt.Errorf("report of article %s: %w", a.GUID, err)
	}
	created := a.Created.UTC()
	r.ReportTypes = []string{"threat-report"}
	r.ObjectRefs = refs
	r.Common = stix.Common{
		CreatedByRef: author, Created: created, Modified: modifiedAt(created, now), Description: a.Summary,
		Labels: a.labels(), Lang: "en", ObjectMarkingRefs: []string{tlp},
		ExternalReferences: []stix.ExternalReference{{SourceName: a.referenceSource(), URL: a.Link, ExternalID: a.GUID}},
	}
	if a.Content != "" {
		r.Extra = map[string]any{"x_opencti_content": a.Content}
	}
	return r, nil
}

// referenceSource is the source_name of the report's external reference.
func (a *Article) referenceSource() string {
	if a.ReferenceSource == "" {
		return "riskiq"
	}
	return a.ReferenceSource
}

// labels returns the article's non-empty tags, once each.
func (a *Article) labels() []string {
	out := make([]string, 0, len(a.Tags))
	for _, t := range a.Tags {
		if strings.TrimSpace(t) != "" && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

func tlpID(amber bool) string {
	if amber {
		return stix.TLPAmberID
	}
	return stix.TLPWhiteID
}

func concat(lists ...[]stix.Object) []stix.Object {
	n := 0
	for _, l := range lists {
		n += len(l)
	}
	out := make([]stix.Object, 0, n+3)
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// modifiedAt is the modified time of an object created at created and built
// at now: the processing time, as the stix2 library sets it, but never before
// created (STIX requires modified >= created; an article dated in the future
// or a clock behind the source's would otherwise give an invalid object).
func modifiedAt(created, now time.Time) time.Time {
	if now.Before(created) {
		return created
	}
	return now
}
