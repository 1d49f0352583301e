package enrichment

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskiq-opencti/connectors/internal/defenderti"
	"github.com/riskiq-opencti/connectors/opencti"
	"github.com/riskiq-opencti/connectors/opencti/api"
	"github.com/riskiq-opencti/connectors/opencti/stix"
)

// fakeGraph is a hand-written PassiveDNSClient: it answers from a table and
// records the calls.
type fakeGraph struct {
	mu      sync.Mutex
	records map[string][]defenderti.PassiveDNSRecord // "forward:host" / "reverse:ip"
	err     error
	calls   []string
}

func (f *fakeGraph) PassiveDNS(_ context.Context, host string, reverse bool, since time.Time) (defenderti.PassiveDNSResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := "forward:" + host
	if reverse {
		key = "reverse:" + host
	}
	f.calls = append(f.calls, key)
	if f.err != nil {
		return defenderti.PassiveDNSResult{}, f.err
	}
	var out []defenderti.PassiveDNSRecord
	for _, r := range f.records[key] {
		if !r.LastSeenDateTime.Before(since) {
			out = append(out, r)
		}
	}
	return defenderti.PassiveDNSResult{Records: out, Count: len(f.records[key])}, nil
}

func (f *fakeGraph) callList() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func graphTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// rec builds a Graph passive DNS record.
func rec(parent, recordType, artifactType, artifact, first, last string) defenderti.PassiveDNSRecord {
	return defenderti.PassiveDNSRecord{
		ID: parent + "$$" + artifact, RecordType: recordType,
		FirstSeenDateTime: graphTime(first), LastSeenDateTime: graphTime(last), CollectedDateTime: graphTime(last),
		ParentHost: defenderti.Artifact{ID: parent},
		Artifact:   defenderti.Artifact{ODataType: artifactType, ID: artifact},
	}
}

// defenderRequest builds the request the platform sends for an observable of
// any of the four types.
func defenderRequest(t testing.TB, stixType, value, tlp string) *opencti.Request {
	t.Helper()
	var id, entityType string
	switch stixType {
	case "ipv4-addr":
		id, entityType = stix.NewIPv4Addr(value).ID(), "IPv4-Addr"
	case "ipv6-addr":
		id, entityType = stix.NewIPv6Addr(value).ID(), "IPv6-Addr"
	case "domain-name":
		id, entityType = stix.NewDomainName(value).ID(), "Domain-Name"
	case "hostname":
		id, entityType = "hostname--5a0f5b4e-8f3e-5c3c-9b43-5f7f1c0a9d11", "Hostname"
	default:
		id, entityType = stixType+"--00000000-0000-4000-8000-000000000000", "Url"
	}
	entity, _ := json.Marshal(map[string]any{"type": stixType, "spec_version": "2.1", "id": id, "value": value})
	req := &opencti.Request{
		EntityID: id, EntityType: entityType, StixEntity: entity, StixObjects: []json.RawMessage{entity},
		Entity: &api.Entity{ID: "internal-" + value, StandardID: id, EntityType: entityType, ObservableValue: value},
	}
	if tlp != "" {
		req.Entity.Markings = []api.Marking{{DefinitionType: "TLP", Definition: tlp}}
	}
	return req
}

func newDefenderHandler(client PassiveDNSClient, maxTLP string, logs *bytes.Buffer) *Handler {
	c := Config{MaxTLP: maxTLP, Window: 3650 * 24 * time.Hour, Now: func() time.Time { return fixedNow }}
	if logs != nil {
		c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return NewDefenderHandler(Defender{Client: client}, c)
}

func TestNormalizeRecords(t *testing.T) {
	t.Parallel()
	since := graphTime("2024-01-01T00:00:00Z")
	recs := []defenderti.PassiveDNSRecord{
		rec("example.com", "a", defenderti.TypeIPAddress, "192.0.2.10", "2024-02-03T04:05:06.735Z", "2024-03-04T05:06:07Z"),
		rec("Example.COM.", "AAAA", defenderti.TypeIPAddress, "2001:db8::10", "2024-02-03T06:05:06+02:00", "2024-03-04T05:06:07.999999Z"),
		rec("example.com", " cname ", defenderti.TypeHostname, "alias.example.net", "2024-02-03T04:05:06Z", "2024-03-04T05:06:07Z"),
		rec("example.com", "SOA", "", "hostmaster@example.com", "2024-02-03T04:05:06Z", "2024-03-04T05:06:07Z"),
		rec("other.example", "A", defenderti.TypeIPAddress, "192.0.2.11", "2024-02-03T04:05:06Z", "2024-03-04T05:06:07Z"),
		rec("", "NS", defenderti.TypeHostname, "ns1.example.net", "2024-02-03T04:05:06Z", "2024-03-04T05:06:07Z"),
		rec("example.com", "A", defenderti.TypeIPAddress, "192.0.2.12", "2023-02-03T04:05:06Z", "2023-12-31T23:59:59Z"),
	}
	got, skipped := normalizeRecords("example.com", recs, since, slog.New(slog.DiscardHandler))
	first, last := graphTime("2024-02-03T04:05:06Z"), graphTime("2024-03-04T05:06:07Z")
	want := []Resolution{
		{RecordType: "A", ResolveType: "ip", Resolve: "192.0.2.10", FirstSeen: first, LastSeen: last},
		{RecordType: "AAAA", ResolveType: "ip", Resolve: "2001:db8::10", FirstSeen: first, LastSeen: last},
		{RecordType: "CNAME", ResolveType: "domain", Resolve: "alias.example.net", FirstSeen: first, LastSeen: last},
		{RecordType: "SOA", ResolveType: "email", Resolve: "hostmaster@example.com", FirstSeen: first, LastSeen: last},
		{RecordType: "NS", ResolveType: "domain", Resolve: "ns1.example.net", FirstSeen: first, LastSeen: last},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("normalizeRecords() mismatch (-want +got):\n%s", diff)
	}
	// other.example's record is skipped and counted; the one last seen
	// before the window is left out without being counted.
	if skipped != 1 {
		t.Errorf("skipped = %d, want 1 (the other parent host)", skipped)
	}
	for _, r := range got {
		if r.FirstSeen.Location() != time.UTC || r.LastSeen.Location() != time.UTC {
			t.Errorf("%s: times not in UTC: %v %v", r.Resolve, r.FirstSeen, r.LastSeen)
		}
	}
}

// relView is a relationship as the tests compare it.
type relView struct {
	Type, Source, Target, Description, Start, Stop, By string
}

// objectsOf splits a result into observables (id -> value) and relationships.
func objectsOf(t *testing.T, res opencti.Result) (map[string]string, []relView) {
	t.Helper()
	values := map[string]string{}
	var rels []relView
	for _, o := range res.Objects {
		raw, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		var v struct {
			ID, Type, Value      string
			RelationshipType     string `json:"relationship_type"`
			SourceRef            string `json:"source_ref"`
			TargetRef            string `json:"target_ref"`
			Description          string
			StartTime            string `json:"start_time"`
			StopTime             string `json:"stop_time"`
			CreatedByRef         string `json:"created_by_ref"`
			XOpenCTICreatedByRef string `json:"x_opencti_created_by_ref"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatal(err)
		}
		switch {
		case v.Type == "relationship":
			rels = append(rels, relView{v.RelationshipType, v.SourceRef, v.TargetRef, v.Description, v.StartTime, v.StopTime, v.CreatedByRef})
		case v.Value != "":
			values[v.ID] = v.Value
		}
	}
	return values, rels
}

// TestDefenderDirections follows the table of spec §2.7: forward lookups for
// names, reverse for addresses (the new domain resolves-to the address),
// TXT/PTR/unknown record types skipped and counted in the work message.
func TestDefenderDirections(t *testing.T) {
	t.Parallel()
	const first, last = "2024-02-03T04:05:06Z", "2024-03-04T05:06:07Z"
	graph := &fakeGraph{records: map[string][]defenderti.PassiveDNSRecord{
		"forward:example.com": {
			rec("example.com", "A", defenderti.TypeIPAddress, "192.0.2.10", first, last),
			rec("example.com", "AAAA", defenderti.TypeIPAddress, "2001:db8::10", first, last),
			rec("example.com", "NS", defenderti.TypeHostname, "ns1.example.net", first, last),
			rec("example.com", "MX", defenderti.TypeHostname, "mx.example.net", first, last),
			rec("example.com", "CNAME", defenderti.TypeHostname, "alias.example.net", first, last),
			rec("example.com", "SOA", defenderti.TypeHostname, "hostmaster@example.com", first, last),
			rec("example.com", "TXT", defenderti.TypeHostname, "v=spf1 -all", first, last),
			rec("example.com", "PTR", defenderti.TypeHostname, "ptr.example.net", first, last),
			rec("example.com", "HINFO", defenderti.TypeHostname, "weird.example.net", first, last),
			rec("example.com", "A", defenderti.TypeHostname, "not-an-address.example.net", first, last),
		},
		"reverse:192.0.2.10": {
			rec("192.0.2.10", "A", defenderti.TypeHostname, "example.com", first, last),
			rec("192.0.2.10", "A", defenderti.TypeHostname, "login.phish.example", "2026-03-01T12:00:00Z", "2026-03-01T12:00:00Z"),
			rec("192.0.2.10", "PTR", defenderti.TypeHostname, "host-10.example.net", first, last),
		},
		"reverse:2001:db8::10": {
			rec("2001:db8::10", "AAAA", defenderti.TypeHostname, "v6.example.com", first, last),
		},
		"forward:www.example.com": {
			rec("www.example.com", "A", defenderti.TypeIPAddress, "192.0.2.20", first, last),
			rec("www.example.com", "CNAME", defenderti.TypeHostname, "cdn.example.net", first, last),
		},
	}}
	tests := []struct {
		name, stixType, value string
		wantCall              string
		want                  []relView // Source/Target: "entity" or the new value
		wantMsg               string
	}{
		{name: "forward domain", stixType: "domain-name", value: "example.com", wantCall: "forward:example.com",
			want: []relView{
				{Type: "resolves-to", Source: "entity", Target: "192.0.2.10", Description: "A record"},
				{Type: "resolves-to", Source: "entity", Target: "2001:db8::10", Description: "AAAA record"},
				{Type: "resolves-to", Source: "entity", Target: "ns1.example.net", Description: "NS record"},
				{Type: "resolves-to", Source: "entity", Target: "mx.example.net", Description: "MX record"},
				{Type: "resolves-to", Source: "entity", Target: "alias.example.net", Description: "CNAME record"},
				{Type: "related-to", Source: "entity", Target: "hostmaster@example.com", Description: "SOA record"},
			},
			wantMsg: "Passive DNS of example.com (Microsoft Defender TI, forward): 10 records, 12 new objects, 4 skipped"},
		{name: "reverse ipv4", stixType: "ipv4-addr", value: "192.0.2.10", wantCall: "reverse:192.0.2.10",
			want: []relView{
				{Type: "resolves-to", Source: "example.com", Target: "entity", Description: "A record"},
				{Type: "resolves-to", Source: "login.phish.example", Target: "entity", Description: "A record", Start: "2026-03-01T12:00:00Z", Stop: "2026-03-01T12:00:01Z"},
			},
			wantMsg: "Passive DNS of 192.0.2.10 (Microsoft Defender TI, reverse): 3 records, 4 new objects, 1 skipped"},
		{name: "reverse ipv6", stixType: "ipv6-addr", value: "2001:db8::10", wantCall: "reverse:2001:db8::10",
			want:    []relView{{Type: "resolves-to", Source: "v6.example.com", Target: "entity", Description: "AAAA record"}},
			wantMsg: "Passive DNS of 2001:db8::10 (Microsoft Defender TI, reverse): 1 records, 2 new objects"},
		{name: "forward hostname is related-to", stixType: "hostname", value: "www.example.com", wantCall: "forward:www.example.com",
			want: []relView{
				{Type: "related-to", Source: "entity", Target: "192.0.2.20", Description: "A record"},
				{Type: "related-to", Source: "entity", Target: "cdn.example.net", Description: "CNAME record"},
			},
			wantMsg: "Passive DNS of www.example.com (Microsoft Defender TI, forward): 2 records, 4 new objects"},
	}
	t.Cleanup(func() {
		if calls := graph.callList(); len(calls) != len(tests) {
			t.Errorf("calls = %v, want one per request", calls)
		}
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := defenderRequest(t, tt.stixType, tt.value, "TLP:GREEN")
			res, err := newDefenderHandler(graph, "TLP:AMBER", nil).Enrich(t.Context(), req)
			if err != nil {
				t.Fatalf("Enrich(%s) = %v", tt.value, err)
			}
			if !slices.Contains(graph.callList(), tt.wantCall) {
				t.Errorf("calls = %v, want %s", graph.callList(), tt.wantCall)
			}
			if !strings.HasPrefix(res.Message, tt.wantMsg) {
				t.Errorf("message = %q, want prefix %q", res.Message, tt.wantMsg)
			}
			if strings.Contains(tt.wantMsg, "skipped") != strings.Contains(res.Message, "skipped") {
				t.Errorf("message = %q, want skipped counted only when records were skipped", res.Message)
			}
			values, rels := objectsOf(t, res)
			values[req.EntityID] = "entity"
			author := stix.IdentityID(DefenderAuthorName, stix.IdentityClassOrganization)
			var got []relView
			for _, r := range rels {
				if r.By != author {
					t.Errorf("relationship created by %s, want the Defender TI author %s", r.By, author)
				}
				r.Source, r.Target, r.By = values[r.Source], values[r.Target], ""
				got = append(got, r)
			}
			want := make([]relView, len(tt.want))
			for i, w := range tt.want {
				if w.Start == "" {
					w.Start, w.Stop = first, last
				}
				want[i] = w
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("relationships mismatch (-want +got):\n%s", diff)
			}
			if n := len(res.Objects); n < 2 {
				t.Fatalf("%d objects", n)
			}
			var a struct{ ID, Name string }
			raw, _ := json.Marshal(res.Objects[len(res.Objects)-2])
			_ = json.Unmarshal(raw, &a)
			if a.ID != author || a.Name != DefenderAuthorName {
				t.Errorf("author object = %+v, want %s", a, DefenderAuthorName)
			}
		})
	}
}

// TestDefenderMergesWithPassiveTotal: a resolution Microsoft kept with
// RiskIQ's first-seen time gets the relationship id PassiveTotal gave it
// (protocol spec §10.4 worked example), whatever Graph's fraction of a second.
func TestDefenderMergesWithPassiveTotal(t *testing.T) {
	t.Parallel()
	graph := &fakeGraph{records: map[string][]defenderti.PassiveDNSRecord{"forward:example.com": {
		rec("example.com", "A", defenderti.TypeIPAddress, "93.184.216.34", "2023-05-01T10:20:30.735Z", "2024-01-01T00:00:00Z"),
	}}}
	res, err := newDefenderHandler(graph, "", nil).Enrich(t.Context(), defenderRequest(t, "domain-name", "example.com", ""))
	if err != nil {
		t.Fatal(err)
	}
	pt, err := NewConverter(func() time.Time { return fixedNow }, nil).Convert(Entity{ID: stix.NewDomainName("example.com").ID(), Value: "example.com"},
		[]Resolution{{RecordType: "A", ResolveType: "ip", Resolve: "93.184.216.34", FirstSeen: seen("2023-05-01 10:20:30"), LastSeen: seen("2024-01-01 00:00:00")}})
	if err != nil {
		t.Fatal(err)
	}
	const want = "relationship--a555fd6e-b2fb-5d94-97e5-9e4edb3d443f"
	ids := map[string]bool{}
	for _, o := range res.Objects {
		if so, ok := o.(stix.Object); ok {
			ids[so.ID()] = true
		}
	}
	if !ids[want] || pt[1].ID() != want || !ids[pt[0].ID()] {
		t.Errorf("Graph objects %v, want the PassiveTotal relationship %s and observable %s", ids, want, pt[0].ID())
	}
}

// TestDefenderGuarantees: TLP gate before any call, out-of-scope and
// unsupported types answered without a call, an API failure is an error on the
// work (never "No information found"), nothing found is said so.
func TestDefenderGuarantees(t *testing.T) {
	t.Parallel()
	failure := errors.New("HTTP 503 from graph")
	tests := []struct {
		name             string
		maxTLP, tlp      string
		stixType, value  string
		err              error
		inScope          bool
		wantIs           error
		wantErr, wantMsg string
		wantCalls        int
	}{
		{name: "tlp above max: no call", maxTLP: "TLP:GREEN", tlp: "TLP:AMBER", stixType: "domain-name", value: "example.com", inScope: true, wantIs: ErrTLPTooHigh, wantErr: "RISKIQ_MAX_TLP is TLP:GREEN"},
		{name: "red refused under amber+strict", maxTLP: "TLP:AMBER+STRICT", tlp: "TLP:RED", stixType: "ipv6-addr", value: "2001:db8::1", inScope: true, wantIs: ErrTLPTooHigh},
		{name: "out of scope", stixType: "hostname", value: "www.example.com", wantMsg: "not in the connector scope"},
		{name: "unsupported type", stixType: "url", value: "https://example.com/", inScope: true, wantMsg: "only IPv4-Addr, IPv6-Addr, Domain-Name and Hostname"},
		{name: "api failure is an error", stixType: "domain-name", value: "example.com", inScope: true, err: failure, wantIs: failure, wantErr: "defender ti", wantCalls: 1},
		{name: "nothing found", stixType: "domain-name", value: "nx.example.com", inScope: true, wantMsg: "No information found", wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			graph := &fakeGraph{err: tt.err}
			h := NewDefenderHandler(Defender{Client: graph}, Config{MaxTLP: tt.maxTLP, Window: time.Hour, Now: func() time.Time { return fixedNow },
				InScope: func(string) bool { return tt.inScope }})
			res, err := h.Enrich(t.Context(), defenderRequest(t, tt.stixType, tt.value, tt.tlp))
			if tt.wantIs != nil || tt.wantErr != "" {
				if err == nil || !errors.Is(err, tt.wantIs) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("Enrich() = %+v, %v; want error %v / %q", res, err, tt.wantIs, tt.wantErr)
				}
				if err != nil && strings.Contains(err.Error(), "No information found") {
					t.Errorf("an error reads %q", err)
				}
			} else if err != nil || !strings.Contains(res.Message, tt.wantMsg) {
				t.Errorf("Enrich() = %q, %v; want %q", res.Message, err, tt.wantMsg)
			}
			if got := len(graph.callList()); got != tt.wantCalls {
				t.Errorf("Graph calls = %d, want %d", got, tt.wantCalls)
			}
		})
	}
}

// fakeReputation is a hand-written ReputationClient.
type fakeReputation struct {
	rep   *defenderti.HostReputation
	err   error
	mu    sync.Mutex
	calls int
}

func (f *fakeReputation) HostReputation(context.Context, string) (*defenderti.HostReputation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.rep, f.err
}

// TestDefenderHostReputation: with DEFENDER_TI_HOST_REPUTATION the entity
// sent back carries the score and a defender-ti:<classification> label
// (spec §3.3); an unknown classification sets nothing; a failure is an error
// on the work; a host without passive DNS still gets its reputation.
func TestDefenderHostReputation(t *testing.T) {
	t.Parallel()
	const first, last = "2024-02-03T04:05:06Z", "2024-03-04T05:06:07Z"
	graph := &fakeGraph{records: map[string][]defenderti.PassiveDNSRecord{"forward:example.com": {
		rec("example.com", "A", defenderti.TypeIPAddress, "192.0.2.10", first, last),
	}}}
	tests := []struct {
		name       string
		value      string
		rep        *defenderti.HostReputation
		err        error
		wantScore  any // nil = no x_opencti_score
		wantLabels []any
		wantMsg    string
		wantErr    bool
	}{
		{name: "suspicious", value: "example.com", rep: &defenderti.HostReputation{Classification: "suspicious", Score: 62},
			wantScore: float64(62), wantLabels: []any{"existing", "defender-ti:suspicious"}, wantMsg: "reputation suspicious (score 62)"},
		{name: "unknown sets nothing", value: "example.com", rep: &defenderti.HostReputation{Classification: "unknownFutureValue", Score: 10},
			wantLabels: []any{"existing"}, wantMsg: "1 records, 2 new objects"},
		{name: "no passive dns, reputation only", value: "nx.example.com", rep: &defenderti.HostReputation{Classification: "Malicious", Score: 90},
			wantScore: float64(90), wantLabels: []any{"existing", "defender-ti:malicious"}, wantMsg: "reputation malicious (score 90)"},
		{name: "failure is an error", value: "example.com", err: errors.New("HTTP 500 from graph"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			repu := &fakeReputation{rep: tt.rep, err: tt.err}
			h := NewDefenderHandler(Defender{Client: graph, Reputation: repu}, Config{Window: 3650 * 24 * time.Hour, Now: func() time.Time { return fixedNow }})
			req := defenderRequest(t, "domain-name", tt.value, "")
			entity := map[string]any{"type": "domain-name", "id": req.EntityID, "value": tt.value, "x_opencti_labels": []any{"existing"},
				"extensions": map[string]any{"extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba": map[string]any{"score": 5, "labels": []any{"existing"}}}}
			raw, _ := json.Marshal(entity)
			req.StixEntity, req.StixObjects = raw, []json.RawMessage{raw}
			res, err := h.Enrich(t.Context(), req)
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "host reputation") {
					t.Errorf("Enrich() = %q, %v; want the reputation error", res.Message, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(res.Message, tt.wantMsg) {
				t.Errorf("message = %q, want %q", res.Message, tt.wantMsg)
			}
			if len(res.Objects) == 0 {
				t.Fatal("no objects")
			}
			b, _ := json.Marshal(res.Objects[0])
			var got map[string]any
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			ext := got["extensions"].(map[string]any)["extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba"].(map[string]any)
			if got["id"] != req.EntityID || got["x_opencti_score"] != tt.wantScore {
				t.Errorf("entity = %v, want score %v", got, tt.wantScore)
			}
			if diff := cmp.Diff(tt.wantLabels, got["x_opencti_labels"]); diff != "" {
				t.Errorf("labels (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantLabels, ext["labels"]); diff != "" {
				t.Errorf("extension labels (-want +got):\n%s", diff)
			}
			if tt.wantScore != nil && ext["score"] != tt.wantScore {
				t.Errorf("extension score = %v, want %v", ext["score"], tt.wantScore)
			}
		})
	}
	// Off by default: no reputation call.
	repu := &fakeReputation{rep: &defenderti.HostReputation{Classification: "malicious", Score: 90}}
	if _, err := newDefenderHandler(graph, "", nil).Enrich(t.Context(), defenderRequest(t, "domain-name", "example.com", "")); err != nil || repu.calls != 0 {
		t.Errorf("without Reputation: %v, %d calls", err, repu.calls)
	}
}
