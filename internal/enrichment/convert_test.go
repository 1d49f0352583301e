package enrichment

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskiq-opencti/connectors/opencti/stix"
)

var fixedNow = time.Date(2025, 7, 1, 12, 0, 0, 0, time.UTC)

func seen(s string) time.Time {
	t, err := time.Parse(time.DateTime, s)
	if err != nil {
		panic(err)
	}
	return t
}

// TestConvertMatchesPythonIDs checks the worked example of the protocol spec
// (§10.4): the Python connector's id for a PassiveTotal A record.
func TestConvertMatchesPythonIDs(t *testing.T) {
	t.Parallel()
	c := NewConverter(func() time.Time { return fixedNow }, nil)
	e := Entity{ID: stix.NewDomainName("example.com").ID(), Value: "example.com"}
	got, err := c.Convert(e, []Resolution{{RecordType: "A", ResolveType: "ip", Resolve: "93.184.216.34", FirstSeen: seen("2023-05-01 10:20:30"), LastSeen: seen("2024-01-01 00:00:00")}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("Convert() returned %d objects, want 2", len(got))
	}
	if want := "relationship--a555fd6e-b2fb-5d94-97e5-9e4edb3d443f"; got[1].ID() != want {
		t.Errorf("relationship id = %s, want %s", got[1].ID(), want)
	}
	if want := "identity--3dd5005e-308b-57f5-b865-ba1f5e230b13"; Author(fixedNow).ID() != want {
		t.Errorf("author id = %s, want %s", Author(fixedNow).ID(), want)
	}
}

func TestConvertRecordTypes(t *testing.T) {
	t.Parallel()
	entity := Entity{ID: stix.NewDomainName("example.com").ID(), Value: "example.com"}
	first, last := seen("2024-02-03 04:05:06"), seen("2024-03-04 05:06:07")
	type rel struct {
		Type, Source, Target, Description, Start, Stop string
	}
	tests := []struct {
		name                string
		recordType, resolve string
		resolveType         string
		firstSeen, lastSeen time.Time
		wantObservable      string // STIX type of the new observable, "" = record skipped
		wantRel             rel
	}{
		{name: "A ip", recordType: "A", resolveType: "ip", resolve: "192.0.2.1", wantObservable: "ipv4-addr",
			wantRel: rel{Type: "resolves-to", Source: "entity", Target: "new", Description: "A record"}},
		{name: "AAAA ip", recordType: "AAAA", resolveType: "ip", resolve: "2001:db8::1", wantObservable: "ipv6-addr",
			wantRel: rel{Type: "resolves-to", Source: "entity", Target: "new", Description: "AAAA record"}},
		{name: "SOA email", recordType: "SOA", resolveType: "email", resolve: "hostmaster@example.com", wantObservable: "email-addr",
			wantRel: rel{Type: "related-to", Source: "entity", Target: "new", Description: "SOA record"}},
		{name: "SOA domain", recordType: "SOA", resolveType: "domain", resolve: "ns1.example.net", wantObservable: "domain-name",
			wantRel: rel{Type: "resolves-to", Source: "entity", Target: "new", Description: "SOA record"}},
		{name: "MX domain", recordType: "MX", resolveType: "domain", resolve: "mx.example.net", wantObservable: "domain-name",
			wantRel: rel{Type: "resolves-to", Source: "entity", Target: "new", Description: "MX record"}},
		{name: "CNAME domain", recordType: "CNAME", resolveType: "domain", resolve: "Alias.Example.NET.", wantObservable: "domain-name",
			wantRel: rel{Type: "resolves-to", Source: "entity", Target: "new", Description: "CNAME record"}},
		{name: "NS domain", recordType: "NS", resolveType: "domain", resolve: "ns2.example.net", wantObservable: "domain-name",
			wantRel: rel{Type: "resolves-to", Source: "entity", Target: "new", Description: "NS record"}},
		{name: "A domain is reversed", recordType: "A", resolveType: "domain", resolve: "host.example.org", wantObservable: "domain-name",
			wantRel: rel{Type: "resolves-to", Source: "new", Target: "entity", Description: "A record"}},
		{name: "TXT skipped", recordType: "TXT (SPF1)", resolveType: "domain", resolve: "v=spf1 -all"},
		{name: "AAAA domain skipped", recordType: "AAAA", resolveType: "domain", resolve: "x.example"},
		{name: "no record type skipped", resolveType: "ip", resolve: "192.0.2.9"},
		{name: "equal times get one second", recordType: "A", resolveType: "ip", resolve: "192.0.2.2", firstSeen: first, lastSeen: first,
			wantObservable: "ipv4-addr", wantRel: rel{Type: "resolves-to", Source: "entity", Target: "new", Description: "A record", Stop: "2024-02-03T04:05:07Z"}},
		{name: "last seen before first seen skipped", recordType: "A", resolveType: "ip", resolve: "192.0.2.3", firstSeen: last, lastSeen: first},
		{name: "missing times skipped", recordType: "A", resolveType: "ip", resolve: "192.0.2.4", firstSeen: time.Time{}, lastSeen: time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := Resolution{RecordType: tt.recordType, ResolveType: tt.resolveType, Resolve: tt.resolve, FirstSeen: first, LastSeen: last}
			if tt.name == "equal times get one second" || tt.name == "last seen before first seen skipped" || tt.name == "missing times skipped" {
				r.FirstSeen, r.LastSeen = tt.firstSeen, tt.lastSeen
			}
			got, err := NewConverter(func() time.Time { return fixedNow }, nil).Convert(entity, []Resolution{r})
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantObservable == "" {
				if len(got) != 0 {
					t.Fatalf("Convert(%s/%s) = %d objects, want the record skipped", tt.recordType, tt.resolveType, len(got))
				}
				return
			}
			if len(got) != 2 || got[0].Type() != tt.wantObservable || got[1].Type() != "relationship" {
				t.Fatalf("Convert(%s/%s) = %v, want a %s and a relationship", tt.recordType, tt.resolveType, got, tt.wantObservable)
			}
			var obs struct {
				Value   string   `json:"value"`
				Marking []string `json:"object_marking_refs"`
				By      string   `json:"x_opencti_created_by_ref"`
				Main    string   `json:"x_opencti_main_observable_type"`
			}
			mustDecode(t, got[0], &obs)
			if obs.Value != tt.resolve {
				t.Errorf("observable value = %q, want %q verbatim", obs.Value, tt.resolve)
			}
			if len(obs.Marking) != 1 || obs.Marking[0] != stix.TLPWhiteID || obs.By != Author(fixedNow).ID() || obs.Main == "" {
				t.Errorf("observable extras = %+v, want TLP:WHITE, the author and the main observable type", obs)
			}
			var gotRel struct {
				Type        string   `json:"relationship_type"`
				Source      string   `json:"source_ref"`
				Target      string   `json:"target_ref"`
				Description string   `json:"description"`
				Start       string   `json:"start_time"`
				Stop        string   `json:"stop_time"`
				By          string   `json:"created_by_ref"`
				Marking     []string `json:"object_marking_refs"`
			}
			mustDecode(t, got[1], &gotRel)
			names := map[string]string{entity.ID: "entity", got[0].ID(): "new"}
			want := tt.wantRel
			if want.Start == "" {
				want.Start = "2024-02-03T04:05:06Z"
			}
			if want.Stop == "" {
				want.Stop = "2024-03-04T05:06:07Z"
			}
			gr := rel{Type: gotRel.Type, Source: names[gotRel.Source], Target: names[gotRel.Target], Description: gotRel.Description, Start: gotRel.Start, Stop: gotRel.Stop}
			if diff := cmp.Diff(want, gr); diff != "" {
				t.Errorf("relationship mismatch (-want +got):\n%s", diff)
			}
			start := stix.NaiveTime(r.FirstSeen)
			wantID := stix.RelationshipID(gotRel.Type, gotRel.Source, gotRel.Target, &start, nil)
			if got[1].ID() != wantID {
				t.Errorf("relationship id = %s, want pycti's generate_id over start_time only: %s", got[1].ID(), wantID)
			}
		})
	}
}

func TestConvertDeduplicatesObservables(t *testing.T) {
	t.Parallel()
	e := Entity{ID: stix.NewDomainName("example.com").ID(), Value: "example.com"}
	recs := []Resolution{
		{RecordType: "MX", ResolveType: "domain", Resolve: "mail.example.com", FirstSeen: seen("2024-01-01 00:00:00"), LastSeen: seen("2024-02-01 00:00:00")},
		{RecordType: "NS", ResolveType: "domain", Resolve: "mail.example.com", FirstSeen: seen("2024-01-01 00:00:00"), LastSeen: seen("2024-02-01 00:00:00")},
	}
	got, err := NewConverter(func() time.Time { return fixedNow }, nil).Convert(e, recs)
	if err != nil {
		t.Fatal(err)
	}
	// One domain; the two relationships share type, ends and start time, hence one id.
	if len(got) != 2 {
		t.Errorf("Convert() = %d objects, want the domain once and one relationship: %v", len(got), got)
	}
}

// TestConvertSkipsRecordsOfTheEntityItself: a record resolving to the queried value
// (a CNAME to itself, an IP whose reverse record is the IP) would make a relationship from
// the entity to itself, which the platform refuses; the other records are kept.
func TestConvertSkipsRecordsOfTheEntityItself(t *testing.T) {
	t.Parallel()
	first, last := seen("2024-01-01 00:00:00"), seen("2024-02-01 00:00:00")
	tests := []struct {
		name   string
		entity stix.Object
		value  string
		recs   []Resolution
	}{
		{name: "domain CNAME to itself", entity: stix.NewDomainName("example.com"), value: "example.com", recs: []Resolution{
			{RecordType: "CNAME", ResolveType: "domain", Resolve: "example.com", FirstSeen: first, LastSeen: last},
			{RecordType: "A", ResolveType: "ip", Resolve: "192.0.2.1", FirstSeen: first, LastSeen: last},
		}},
		{name: "domain reverse record to itself", entity: stix.NewDomainName("example.com"), value: "example.com", recs: []Resolution{
			{RecordType: "A", ResolveType: "domain", Resolve: "example.com", FirstSeen: first, LastSeen: last},
			{RecordType: "A", ResolveType: "ip", Resolve: "192.0.2.1", FirstSeen: first, LastSeen: last},
		}},
		{name: "ip A record to itself", entity: stix.NewIPv4Addr("192.0.2.9"), value: "192.0.2.9", recs: []Resolution{
			{RecordType: "A", ResolveType: "ip", Resolve: "192.0.2.9", FirstSeen: first, LastSeen: last},
			{RecordType: "A", ResolveType: "domain", Resolve: "host.example.com", FirstSeen: first, LastSeen: last},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NewConverter(func() time.Time { return fixedNow }, nil).Convert(Entity{ID: tt.entity.ID(), Value: tt.value}, tt.recs)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 {
				t.Fatalf("Convert() = %d objects, want the other record's observable and relationship: %v", len(got), got)
			}
			for _, o := range got {
				var v struct {
					ID        string `json:"id"`
					SourceRef string `json:"source_ref"`
					TargetRef string `json:"target_ref"`
				}
				mustDecode(t, o, &v)
				if v.ID == tt.entity.ID() || (v.SourceRef != "" && v.SourceRef == v.TargetRef) {
					t.Errorf("Convert() returned %s (%s -> %s): the entity or a relationship to itself", v.ID, v.SourceRef, v.TargetRef)
				}
			}
		})
	}
}

func mustDecode(t *testing.T, o stix.Object, v any) {
	t.Helper()
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}
