package articles

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/riskiq-opencti/connectors/internal/defenderti"
)

// DefenderReferenceSource is the source_name of the external reference of a
// report made from a Microsoft Defender TI article (the API gives no article
// URL, so the reference holds the article id only).
const DefenderReferenceSource = "Microsoft Defender Threat Intelligence"

// DefenderTLP says which indicator sources are TLP:AMBER (spec §4.5); the
// others, and "public" always, are TLP:CLEAR (the TLP:WHITE definition the
// PassiveTotal importer uses). Sources outside the enum (unknownFutureValue)
// are always TLP:AMBER.
type DefenderTLP struct {
	// OSINTAmber marks "osint" indicators TLP:AMBER (DEFENDER_TI_TLP_OSINT
	// = amber; default clear: open-source intelligence is public).
	OSINTAmber bool
	// MicrosoftAmber marks "microsoft" indicators TLP:AMBER
	// (DEFENDER_TI_TLP_MICROSOFT, default amber: Microsoft's own licensed
	// intelligence).
	MicrosoftAmber bool
}

// DefaultDefenderTLP is the table of spec §4.5: public and osint clear,
// microsoft and anything else amber.
var DefaultDefenderTLP = DefenderTLP{OSINTAmber: false, MicrosoftAmber: true}

// groupSource returns the IndicatorGroup source of an indicator source:
// "public" for a TLP:CLEAR one, else the source itself (TLP:AMBER).
func (t DefenderTLP) groupSource(source string) string {
	s := defenderti.NormalizeSource(source)
	switch {
	case s == defenderti.SourcePublic,
		s == defenderti.SourceOSINT && !t.OSINTAmber,
		s == defenderti.SourceMicrosoft && !t.MicrosoftAmber:
		return "public"
	case s == "":
		return "unknown"
	}
	return s
}

// fromDefender maps a Defender TI article, without its indicators, to an
// article. The report's publication date is createdDateTime (the API has no
// publication date; createdDateTime does not move on updates, so neither
// does the report id, name + published); the summary becomes the
// description and the body the content, both as received (markdown, HTML or
// text: see docs/decisions/0009).
func fromDefender(a *defenderti.Article) Article {
	updated := a.LastUpdatedDateTime.UTC()
	if updated.IsZero() {
		updated = a.CreatedDateTime.UTC()
	}
	return Article{
		GUID: a.ID, Title: a.Title,
		Summary: a.Summary.Content, Content: a.Body.Content,
		Created: a.CreatedDateTime.UTC(), Published: a.CreatedDateTime.UTC(),
		Updated:         updated,
		ReferenceSource: DefenderReferenceSource,
		Tags:            a.Tags,
		// Licensed content: the report, the tag objects and the
		// relationships from the threats are TLP:AMBER (spec §4.5).
		Private: true,
	}
}

// Indicator types of the converter (indicator.go) the Defender artifacts map
// to.
const (
	ptDomain   = "domain"
	ptIP       = "ip"
	ptCertSHA1 = "certificate_sha1"
)

// unclassifiedKinds maps the kinds of unclassifiedArtifact (vocabulary
// undocumented, spec §8.6) to the converter's indicator types; the
// converter's own type names (hash_md5, url, email…) are accepted too.
var unclassifiedKinds = map[string]string{
	"hostname": ptDomain, "domainname": ptDomain, "domain_name": ptDomain, "fqdn": ptDomain,
	"ipaddress": ptIP, "ip_address": ptIP, "ipv4": ptIP, "ipv6": ptIP, "ipv4address": ptIP, "ipv6address": ptIP,
	"uri": "url",
	"md5": "hash_md5", "filehashmd5": "hash_md5",
	"sha-1": "hash_sha1", "filehashsha1": "hash_sha1",
	"sha-256": "hash_sha256", "filehashsha256": "hash_sha256",
	"emailaddress": "email", "email_address": "email", "mail": "email",
	"file": "filename", "file_name": "filename", "file_path": "filepath",
	"mutexname": "mutex",
}

// sha1Hex is a SHA-1 in hex: the id of a certificate artifact is used as its
// SHA-1 only in that form (whether it is one is unverified, spec §8.6).
var sha1Hex = regexp.MustCompile(`^[0-9a-fA-F]{40}$`)

// artifactType returns the last segment of an @odata.type, lower-cased:
// "#microsoft.graph.security.hostname" → "hostname".
func artifactType(odataType string) string {
	t := strings.TrimPrefix(strings.TrimSpace(odataType), "#")
	if i := strings.LastIndexByte(t, '.'); i >= 0 {
		t = t[i+1:]
	}
	return strings.ToLower(t)
}

// indicatorOf maps one article indicator to the converter's indicator type
// and value; ok is false for an artifact with no STIX mapping (host
// components, cookies, trackers, passive DNS records, unknown kinds or
// types), reason says why.
func indicatorOf(ind *defenderti.ArticleIndicator) (typ, value string, ok bool, reason string) {
	art := &ind.Artifact
	switch t := artifactType(art.ODataType); t {
	case "hostname":
		return ptDomain, strings.TrimSuffix(strings.TrimSpace(art.ID), "."), true, ""
	case "ipaddress":
		return ptIP, strings.TrimSpace(art.ID), true, ""
	case "unclassifiedartifact":
		kind := normalizeType(art.Kind)
		typ, known := unclassifiedKinds[kind]
		if !known {
			if _, direct := indicatorTypes[kind]; direct {
				typ, known = kind, true
			}
		}
		switch {
		case !known:
			return "", "", false, "unclassifiedArtifact kind " + fmt.Sprintf("%q", art.Kind) + " has no mapping"
		case strings.TrimSpace(art.Value) == "":
			return "", "", false, "unclassifiedArtifact without a value"
		}
		value = strings.TrimSpace(art.Value)
		if typ == ptDomain {
			value = strings.TrimSuffix(value, ".")
		}
		return typ, value, true, ""
	case "sslcertificate", "hostsslcertificate":
		if id := strings.TrimSpace(art.ID); sha1Hex.MatchString(id) {
			return ptCertSHA1, strings.ToLower(id), true, ""
		}
		return "", "", false, t + " id is not a SHA-1"
	case "":
		return "", "", false, "artifact without @odata.type"
	default:
		return "", "", false, t + " artifacts have no STIX mapping"
	}
}

// skippedIndicator is an article indicator with no STIX mapping.
type skippedIndicator struct {
	Type, Kind, Value, Reason string
}

// defenderIndicators groups an article's indicators by converter type and
// TLP, in order of first appearance; the indicators with no mapping are
// returned apart.
func defenderIndicators(inds []defenderti.ArticleIndicator, tlp DefenderTLP) ([]IndicatorGroup, []skippedIndicator) {
	type key struct{ typ, source string }
	var (
		groups  []IndicatorGroup
		skipped []skippedIndicator
		index   = map[key]int{}
	)
	for i := range inds {
		typ, value, ok, reason := indicatorOf(&inds[i])
		if !ok {
			art := inds[i].Artifact
			v := art.Value
			if v == "" {
				v = art.ID
			}
			skipped = append(skipped, skippedIndicator{Type: artifactType(art.ODataType), Kind: art.Kind, Value: v, Reason: reason})
			continue
		}
		k := key{typ, tlp.groupSource(inds[i].Source)}
		n, seen := index[k]
		if !seen {
			n = len(groups)
			index[k] = n
			groups = append(groups, IndicatorGroup{Type: typ, Source: k.source})
		}
		groups[n].Values = append(groups[n].Values, value)
	}
	return groups, skipped
}
