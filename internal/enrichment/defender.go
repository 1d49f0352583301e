package enrichment

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/riskiq-opencti/connectors/internal/defenderti"
	"github.com/riskiq-opencti/connectors/opencti/scrub"
	"github.com/riskiq-opencti/connectors/opencti/stix"
)

// Author of the objects found in Microsoft Defender TI (RISKIQ_SOURCE=defender):
// a separate identity, so that OpenCTI shows where a resolution came from
// (docs/decisions/0010). Ids do not depend on the author: a resolution already
// imported from PassiveTotal merges with the same one read from Graph.
const (
	DefenderAuthorName        = "Microsoft Defender Threat Intelligence"
	DefenderAuthorDescription = "Microsoft Defender Threat Intelligence (Microsoft Graph security/threatIntelligence), " +
		"the successor of RiskIQ PassiveTotal, read by the RiskIQ PassiveTotal enrichment connector for passive DNS"
)

// DefenderAuthor returns the author of what Microsoft Defender TI finds,
// created at the given time.
func DefenderAuthor(created time.Time) *stix.Identity {
	a := stix.NewOrganization(DefenderAuthorName)
	a.Description = DefenderAuthorDescription
	a.Created = created
	a.Modified = created
	return a
}

// ipAddr builds an IPv4-Addr or an IPv6-Addr by parsing the value: Graph's
// record type does not decide (spec §2.7).
func ipAddr(v string, c stix.ObservableCommon) observable {
	if a, err := netip.ParseAddr(v); err == nil && a.Is4() {
		return ipv4(v, c)
	}
	return ipv6(v, c)
}

// defenderForward is the record table of a forward lookup (hosts/{name}/
// passiveDns): the entity owns the records, the artifact is their data.
var defenderForward = profile{author: DefenderAuthorName, table: map[recordKey]recordMapping{
	{"A", "ip"}:         {build: ipAddr, relationship: "resolves-to"},
	{"AAAA", "ip"}:      {build: ipAddr, relationship: "resolves-to"},
	{"SOA", "email"}:    {build: email, relationship: "related-to"},
	{"SOA", "domain"}:   {build: domain, relationship: "resolves-to"},
	{"MX", "domain"}:    {build: domain, relationship: "resolves-to"},
	{"CNAME", "domain"}: {build: domain, relationship: "resolves-to"},
	{"NS", "domain"}:    {build: domain, relationship: "resolves-to"},
}}

// defenderReverse is the record table of a reverse lookup of an address
// (hosts/{ip}/passiveDnsReverse): the artifact is a name whose A or AAAA
// record points at the entity, so the new domain resolves-to the entity.
var defenderReverse = profile{author: DefenderAuthorName, table: map[recordKey]recordMapping{
	{"A", "domain"}:    {build: domain, relationship: "resolves-to", reversed: true},
	{"AAAA", "domain"}: {build: domain, relationship: "resolves-to", reversed: true},
}}

// PassiveDNSClient is the Microsoft Defender TI client as the enrichment uses
// it (*defenderti.Client): forward or reverse passive DNS of a host, records
// last seen since a time.
type PassiveDNSClient interface {
	PassiveDNS(ctx context.Context, host string, reverse bool, since time.Time) (defenderti.PassiveDNSResult, error)
}

// DefaultDeniedRecheck is how long the Defender source answers every request
// with the last access-denied error before calling Graph again (spec §6.2:
// a 403 lasts until an administrator acts).
const DefaultDeniedRecheck = 15 * time.Minute

// Defender is the passive DNS source backed by Microsoft Defender Threat
// Intelligence on Microsoft Graph: forward lookups for Domain-Name and
// Hostname, reverse lookups for IPv4-Addr and IPv6-Addr. Build the handler
// with [NewDefenderHandler].
type Defender struct {
	// Client calls Graph.
	Client PassiveDNSClient
	// DeniedRecheck overrides [DefaultDeniedRecheck] (negative: never hold
	// back after an access-denied error).
	DeniedRecheck time.Duration
	// Reputation, when set (DEFENDER_TI_HOST_REPUTATION), also reads the
	// host's reputation: its score and classification label go on the
	// enriched observable (spec §3.3).
	Reputation ReputationClient
}

// defenderSource is a Defender with the state it keeps between requests.
type defenderSource struct {
	Defender
	now func() time.Time
	log *slog.Logger

	mu          sync.Mutex
	denied      error
	deniedUntil time.Time
}

// reverseTypes are the STIX types looked up in reverse.
var reverseTypes = map[string]bool{"ipv4-addr": true, "ipv6-addr": true}

// lookup asks Graph for the entity's passive DNS and normalises the records.
func (d *defenderSource) lookup(ctx context.Context, e Entity, since time.Time) (found, error) {
	stixType, _, _ := strings.Cut(e.ID, "--")
	reverse := reverseTypes[stixType]
	if err := d.held(); err != nil {
		return found{}, err
	}
	f := found{profile: defenderForward, reverse: reverse}
	if reverse {
		f.profile = defenderReverse
	}
	res, err := d.Client.PassiveDNS(ctx, e.Value, reverse, since)
	switch {
	case isNotFound(err):
		d.log.Info("Host unknown to Microsoft Defender TI", "host", scrub.Text(e.Value, maxLoggedValue))
		f.notFound = true
	case err != nil:
		err = describeDefender(err)
		d.hold(err)
		return found{}, err
	default:
		f.received, f.truncated = len(res.Records), res.Truncated
		f.records, f.skipped = normalizeRecords(e.Value, res.Records, since, d.log)
	}
	if d.Reputation != nil {
		if f.reputation, err = d.reputation(ctx, e.Value); err != nil {
			return found{}, err
		}
	}
	return f, nil
}

// held returns the access-denied error still held back, if any.
func (d *defenderSource) held() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.denied == nil || !d.now().Before(d.deniedUntil) {
		d.denied = nil
		return nil
	}
	return fmt.Errorf("%w (not asked again until %s)", d.denied, d.deniedUntil.UTC().Format(time.RFC3339))
}

// hold keeps an access-denied error for the re-check period.
func (d *defenderSource) hold(err error) {
	recheck := d.DeniedRecheck
	if recheck == 0 {
		recheck = DefaultDeniedRecheck
	}
	if recheck < 0 || !isAccessDenied(err) {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.denied, d.deniedUntil = err, d.now().Add(recheck)
}

// normalizeRecords turns Graph passive DNS records into the PassiveTotal
// result shape the converter reads (spec §2.7): resolve = artifact.id,
// resolveType ip (parsed), email (holds '@') or domain, record type
// upper-cased, first/last seen in UTC to the second (the PassiveTotal
// precision, so relationship ids match). Records of another parent host are
// skipped and counted, records last seen before since are left out (the
// client already filters them).
func normalizeRecords(host string, recs []defenderti.PassiveDNSRecord, since time.Time, log *slog.Logger) ([]Resolution, int) {
	want := canonicalHost(host)
	out := make([]Resolution, 0, len(recs))
	skipped := 0
	for _, r := range recs {
		if r.LastSeenDateTime.Before(since) {
			continue
		}
		if p := canonicalHost(r.ParentHost.ID); p != "" && p != want {
			log.Debug("defender ti value skipped", "kind", "parentHost", "value", scrub.Text(r.ParentHost.ID, maxLoggedValue))
			skipped++
			continue
		}
		resolve := strings.TrimSpace(r.Artifact.ID)
		out = append(out, Resolution{
			RecordType:  strings.ToUpper(strings.TrimSpace(r.RecordType)),
			ResolveType: resolveType(resolve),
			Resolve:     resolve,
			FirstSeen:   seenTime(r.FirstSeenDateTime),
			LastSeen:    seenTime(r.LastSeenDateTime),
		})
	}
	return out, skipped
}

// resolveType classifies an artifact value as PassiveTotal did.
func resolveType(v string) string {
	if _, err := netip.ParseAddr(v); err == nil {
		return "ip"
	}
	if strings.Contains(v, "@") {
		return "email"
	}
	return "domain"
}

// seenTime is a Graph time as the converter wants it: UTC, whole seconds.
func seenTime(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Second)
}

// canonicalHost is a host as Graph names it: trimmed, lower-case, without
// one trailing dot, an address in canonical form.
func canonicalHost(h string) string {
	h = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(h), "."))
	if a, err := netip.ParseAddr(h); err == nil {
		return a.String()
	}
	return h
}
