package stix

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

func BenchmarkIDs(b *testing.B) {
	start := NaiveTime(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	published := UTCTime(time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC))
	lat, lon := 48.8566, 2.3522
	hashes := map[string]any{"hashes": map[string]string{"MD5": "d41d8cd98f00b204e9800998ecf8427e"}, "name": "a.exe"}
	cases := map[string]func(){
		"identity":      func() { IdentityID("RiskIQ PassiveTotal", "organization") },
		"relationship":  func() { RelationshipID("resolves-to", "domain-name--a", "ipv4-addr--b", &start, nil) },
		"indicator":     func() { IndicatorID("[ipv4-addr:value = '8.8.8.8']") },
		"report":        func() { ReportID("RiskIQ Weekly", published) },
		"malware":       func() { MalwareID("Emotet") },
		"attackPattern": func() { AttackPatternID("Spearphishing Attachment", "T1566.001") },
		"location":      func() { LocationID("France", "Country") },
		"position":      func() { _, _ = LocationPositionID("Paris", &lat, &lon) },
		"marking":       func() { MarkingDefinitionID("statement", "custom") },
		"externalRef":   func() { ExternalReferenceID("https://community.riskiq.com/article/abc", "", "") },
		"killChain":     func() { KillChainPhaseID("mitre-attack", "initial-access") },
		"ipv4":          func() { _, _ = ObservableID("ipv4-addr", map[string]any{"value": "8.8.8.8"}) },
		"file":          func() { _, _ = ObservableID("file", hashes) },
		"unicodeName":   func() { IdentityID("  ΣΑΣ Ünïcödé İstanbul ", "organization") },
	}
	for name, f := range cases {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				f()
			}
		})
	}
}

// largeBundle returns a bundle like an enrichment or import run produces: n observables with
// their author and marking, one relationship per observable and a report over them all.
func largeBundle(b *testing.B, n int) []byte {
	b.Helper()
	now := time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC)
	author := NewOrganization("RiskIQ PassiveTotal")
	author.Created = now
	tlp, err := TLPMarking(TLPAmber)
	if err != nil {
		b.Fatal(err)
	}
	domain := NewDomainName("example.com")
	domain.ObjectMarkingRefs = []string{tlp.ID()}
	objs := []any{author, tlp, domain}
	refs := []string{domain.ID()}
	for i := range n {
		ip := NewIPv4Addr(fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
		ip.ObjectMarkingRefs = []string{tlp.ID()}
		ip.CreatedByRef = author.ID()
		start := NaiveTime(now.Add(-time.Duration(i) * time.Hour))
		rel, err := NewRelationship("resolves-to", domain.ID(), ip.ID(), &start, nil)
		if err != nil {
			b.Fatal(err)
		}
		rel.Created = now
		rel.CreatedByRef = author.ID()
		rel.ObjectMarkingRefs = []string{tlp.ID()}
		objs = append(objs, ip, rel)
		refs = append(refs, ip.ID(), rel.ID())
	}
	report, err := NewReport("Weekly", UTCTime(now))
	if err != nil {
		b.Fatal(err)
	}
	report.Created = now
	report.ObjectRefs = refs
	report.ExternalReferences = []ExternalReference{{SourceName: "riskiq", URL: "https://example.com/a"}}
	objs = append(objs, report)
	data, err := json.Marshal(NewBundle(objs...))
	if err != nil {
		b.Fatal(err)
	}
	return data
}

func BenchmarkSplit(b *testing.B) {
	data := largeBundle(b, 1000) // 2,004 objects
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		res, err := Split(data, SplitOptions{})
		if err != nil || len(res.Parts) != 2004 {
			b.Fatalf("%d parts, %v", len(res.Parts), err)
		}
	}
}

func BenchmarkMarshalBundle(b *testing.B) {
	objs := sampleObjects(b)
	all := make([]any, len(objs))
	for i, o := range objs {
		all[i] = o
	}
	bundle := NewBundle(all...)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := bundle.MarshalJSON(); err != nil {
			b.Fatal(err)
		}
	}
}
