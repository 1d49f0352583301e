package enrichment

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"

	"github.com/riskiq-opencti/connectors/opencti/scrub"
	"github.com/riskiq-opencti/connectors/opencti/stix"
)

// Author of every object the connector creates, as the Python connector names it.
const (
	AuthorName        = "RiskIQ PassiveTotal"
	AuthorDescription = "RiskIQ Passive Total enrichment connector can be used to enrich ipv4-address " +
		"and domain-name observables with Passive DNS"
)

// Resolution is one passive DNS record, independent of the provider.
type Resolution struct {
	// RecordType is the DNS record type: A, AAAA, SOA, MX, CNAME, NS, "TXT (SPF1)"...
	RecordType string
	// ResolveType is what Resolve holds: ip, domain or email.
	ResolveType string
	// Resolve is the other side of the record (the queried side is the entity).
	Resolve string
	// FirstSeen and LastSeen are the zone-less UTC times of the record.
	FirstSeen, LastSeen time.Time
}

// Entity is the observable being enriched.
type Entity struct {
	// ID is its STIX id, the source or target of the relationships.
	ID string
	// Value is the IP address or domain name looked up.
	Value string
}

// Author returns the connector's author identity, created at the given time.
func Author(created time.Time) *stix.Identity {
	a := stix.NewOrganization(AuthorName)
	a.Description = AuthorDescription
	a.Created = created
	a.Modified = created
	return a
}

// observable is what a record resolves to.
type observable interface {
	stix.Object
}

// recordMapping says what a (record type, resolve type) pair becomes.
type recordMapping struct {
	// build creates the observable for the resolved value.
	build func(value string, common stix.ObservableCommon) observable
	// relationship is the relationship type.
	relationship string
	// reversed makes the new observable the source (an IP's reverse resolution).
	reversed bool
}

type recordKey struct{ recordType, resolveType string }

func ipv4(v string, c stix.ObservableCommon) observable {
	o := stix.NewIPv4Addr(v)
	o.ObservableCommon = c
	o.Extra = mainType(c, "IPv4-Addr")
	return o
}

func ipv6(v string, c stix.ObservableCommon) observable {
	o := stix.NewIPv6Addr(v)
	o.ObservableCommon = c
	o.Extra = mainType(c, "IPv6-Addr")
	return o
}

func domain(v string, c stix.ObservableCommon) observable {
	o := stix.NewDomainName(v)
	o.ObservableCommon = c
	o.Extra = mainType(c, "Domain-Name")
	return o
}

func email(v string, c stix.ObservableCommon) observable {
	o := stix.NewEmailAddr(v)
	o.ObservableCommon = c
	o.Extra = mainType(c, "Email-Addr")
	return o
}

// mainType returns the custom properties the Python converter puts on observables.
func mainType(c stix.ObservableCommon, entityType string) map[string]any {
	return map[string]any{
		"x_opencti_created_by_ref":       c.Extra["x_opencti_created_by_ref"],
		"x_opencti_main_observable_type": entityType,
	}
}

// Mappings is the record-type table of the Python connector (connector.py).
// Pairs absent from it are skipped.
var mappings = map[recordKey]recordMapping{
	{"A", "ip"}:         {build: ipv4, relationship: "resolves-to"},
	{"AAAA", "ip"}:      {build: ipv6, relationship: "resolves-to"},
	{"SOA", "email"}:    {build: email, relationship: "related-to"},
	{"SOA", "domain"}:   {build: domain, relationship: "resolves-to"},
	{"MX", "domain"}:    {build: domain, relationship: "resolves-to"},
	{"CNAME", "domain"}: {build: domain, relationship: "resolves-to"},
	{"NS", "domain"}:    {build: domain, relationship: "resolves-to"},
	{"A", "domain"}:     {build: domain, relationship: "resolves-to", reversed: true},
}

// errControl is why a record whose value holds a control character is
// skipped (the import's reason for indicator values).
var errControl = errors.New("value contains control characters")

// maxLoggedValue bounds the cleaned value a skipped record logs.
const maxLoggedValue = 256

// hasControl reports whether v holds a control character (C0, DEL, C1) or a
// bidirectional formatting character.
func hasControl(v string) bool {
	return strings.IndexFunc(v, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) }) >= 0
}

// profile is how one source's resolutions become STIX: its record table and
// the author of what it finds.
type profile struct {
	table  map[recordKey]recordMapping
	author string
}

// passiveTotal is the PassiveTotal profile, the Python connector's.
var passiveTotal = profile{table: mappings, author: AuthorName}

// Converter maps resolutions to STIX. It is pure: the clock only stamps the
// created/modified times of the relationships and the author.
type Converter struct {
	now func() time.Time
	log *slog.Logger
}

// NewConverter returns a converter using the given clock and logger (skipped
// records are logged at debug level, unusable ones at warn).
func NewConverter(now func() time.Time, log *slog.Logger) *Converter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Converter{now: now, log: log}
}

// Convert returns the observables and relationships for the records, in
// record order, each observable once. Values are kept verbatim so ids match
// the Python connector's. A record that resolves to the entity itself is
// skipped (the platform refuses a relationship from an object to itself). The
// author and TLP:WHITE are not included.
func (c *Converter) Convert(e Entity, records []Resolution) ([]stix.Object, error) {
	out, _, err := c.convert(e, records, passiveTotal)
	return out, err
}

// convert is Convert for a source's profile; it also returns how many
// records were skipped, whatever the reason.
func (c *Converter) convert(e Entity, records []Resolution, p profile) ([]stix.Object, int, error) {
	now := c.now().UTC().Truncate(time.Millisecond)
	author := stix.IdentityID(p.author, stix.IdentityClassOrganization)
	common := stix.ObservableCommon{
		ObjectMarkingRefs: []string{stix.TLPWhiteID},
		Extra:             map[string]any{"x_opencti_created_by_ref": author},
	}
	seen := make(map[string]bool)
	var out []stix.Object
	skipped := 0
	for i, r := range records {
		m, ok := p.table[recordKey{r.RecordType, r.ResolveType}]
		if !ok {
			c.log.Debug("Record type skipped", "record_type", r.RecordType, "resolve_type", r.ResolveType, "resolve", r.Resolve)
			skipped++
			continue
		}
		if r.Resolve == "" || r.FirstSeen.IsZero() || r.LastSeen.IsZero() {
			c.log.Warn("Record without value or times skipped", "index", i, "record_type", r.RecordType)
			skipped++
			continue
		}
		if hasControl(r.Resolve) {
			// As the import does for indicator values: no DNS name, address
			// or e-mail holds one, and it would reach OpenCTI and terminals.
			c.log.Warn("Record value skipped", "index", i, "record_type", r.RecordType,
				"resolve", scrub.Text(r.Resolve, maxLoggedValue), "reason", errControl.Error())
			skipped++
			continue
		}
		stop := r.LastSeen
		if stop.Equal(r.FirstSeen) {
			stop = stop.Add(time.Second)
		}
		if !stop.After(r.FirstSeen) {
			c.log.Warn("Record last seen before first seen skipped", "index", i, "resolve", r.Resolve)
			skipped++
			continue
		}
		obs := m.build(r.Resolve, common)
		if obs.ID() == e.ID {
			// The platform refuses a relationship whose source is its target ("Relation
			// cant be created with the same source and target"): the work would count an
			// error for a record that says nothing.
			c.log.Warn("Record resolving to the entity itself skipped", "index", i, "record_type", r.RecordType)
			skipped++
			continue
		}
		src, dst := e.ID, obs.ID()
		if m.reversed {
			src, dst = dst, src
		}
		relType := m.relationship
		if relType == "resolves-to" && strings.HasPrefix(src, "hostname--") {
			// The platform accepts resolves-to from a Domain-Name, never from
			// a Hostname (only communicates-with, related-to): a Hostname's
			// records are related-to.
			relType = "related-to"
		}
		start := stix.NaiveTime(r.FirstSeen)
		// pycti's generate_id gets start_time only; stop_time is written, not hashed.
		rel, err := stix.NewRelationship(relType, src, dst, &start, nil)
		if err != nil {
			return nil, skipped, fmt.Errorf("record %d (%s %s): %w", i, r.RecordType, r.Resolve, err)
		}
		rel.StopTime = stop
		rel.Description = r.RecordType + " record"
		rel.CreatedByRef = author
		rel.ObjectMarkingRefs = []string{stix.TLPWhiteID}
		rel.Created, rel.Modified = now, now
		if !seen[obs.ID()] {
			seen[obs.ID()] = true
			out = append(out, obs)
		}
		if !seen[rel.ID()] {
			seen[rel.ID()] = true
			out = append(out, rel)
		}
	}
	return out, skipped, nil
}
