package openctitest

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/riskiq-opencti/connectors/opencti/api"
)

// tagTypes are the types the articles connector searches a tag in
// (articles.TagEntityTypes()): Threat-Actor is abstract on the platform.
var tagTypes = []string{
	"Threat-Actor", "Intrusion-Set", "Campaign", "Incident", "Malware",
	"Tool", "Attack-Pattern", "Sector", "Country", "Vulnerability",
}

// wantID computes a STIX id from the canonical JSON text written out by
// hand, independently of the fake's JSON encoder.
func wantID(stixType, canonical string) string {
	return stixType + "--" + uuid.NewSHA1(uuid.MustParse("00abedb4-aa42-466c-9c01-fed23315a9b7"), []byte(canonical)).String()
}

var (
	sdoParents = []string{"Basic-Object", "Stix-Object", "Stix-Core-Object", "Stix-Domain-Object"}
	taParents  = append(slices.Clone(sdoParents), "Threat-Actor")
)

// incidentCreated is the created date of the incident fixture.
var incidentCreated = time.Date(2020, 12, 13, 0, 0, 0, 0, time.UTC)

// tagFixture is a domain object a tag may resolve to, with what the
// platform answers for it.
type tagFixture struct {
	typ, name string
	fields    map[string]any
	// typename is __typename, parents parent_types.
	typename   string
	parents    []string
	standardID string
	// aliasKey is the GraphQL field holding the aliases.
	aliasKey string
	aliases  []string
	mitreID  string
	class    string
}

func tagFixtures() []tagFixture {
	return []tagFixture{
		{typ: "Threat-Actor-Group", name: "Midnight Blizzard", fields: map[string]any{"aliases": []string{"NOBELIUM"}},
			typename: "ThreatActorGroup", parents: taParents, aliasKey: "aliases", aliases: []string{"NOBELIUM"},
			standardID: wantID("threat-actor", `{"name":"midnight blizzard","opencti_type":"Threat-Actor-Group"}`)},
		{typ: "Threat-Actor-Individual", name: "Ivan Petrov", typename: "ThreatActorIndividual", parents: taParents, aliasKey: "aliases",
			standardID: wantID("threat-actor", `{"name":"ivan petrov","opencti_type":"Threat-Actor-Individual"}`)},
		{typ: "Intrusion-Set", name: "APT28", fields: map[string]any{"aliases": []any{"Fancy Bear"}},
			typename: "IntrusionSet", parents: sdoParents, aliasKey: "aliases", aliases: []string{"Fancy Bear"},
			standardID: "intrusion-set--f743ab1d-b2f2-58f8-975f-0993511c0b9d"},
		{typ: "Campaign", name: "Operation Ghost", typename: "Campaign", parents: sdoParents, aliasKey: "aliases",
			standardID: wantID("campaign", `{"name":"operation ghost"}`)},
		{typ: "Incident", name: "SolarWinds compromise", fields: map[string]any{"created": incidentCreated, "aliases": []string{"Sunburst"}},
			typename: "Incident", parents: sdoParents, aliasKey: "aliases", aliases: []string{"Sunburst"},
			standardID: wantID("incident", `{"created":"2020-12-13T00:00:00.000Z","name":"solarwinds compromise"}`)},
		{typ: "Malware", name: "Emotet", typename: "Malware", parents: sdoParents, aliasKey: "aliases",
			standardID: "malware--36297121-bf18-56e1-b200-d39c9f9f5cee"},
		{typ: "Tool", name: "Cobalt Strike", typename: "Tool", parents: sdoParents, aliasKey: "aliases",
			standardID: "tool--d2d17342-7c91-563c-bb85-a51d5b5c30e4"},
		{typ: "Attack-Pattern", name: "Spearphishing Attachment", fields: map[string]any{"x_mitre_id": "T1566.001"},
			typename: "AttackPattern", parents: sdoParents, aliasKey: "aliases", mitreID: "T1566.001",
			standardID: "attack-pattern--6b3d6efe-0d48-5d0d-875a-086b0d02d110"},
		{typ: "Sector", name: "Finance", fields: map[string]any{"x_opencti_aliases": []string{"Banking"}},
			typename: "Sector", parents: append(slices.Clone(sdoParents), "Identity"), aliasKey: "x_opencti_aliases", aliases: []string{"Banking"}, class: "class",
			standardID: wantID("identity", `{"identity_class":"class","name":"finance"}`)},
		{typ: "Country", name: "France", fields: map[string]any{"x_opencti_aliases": []string{"FR"}},
			typename: "Country", parents: append(slices.Clone(sdoParents), "Location"), aliasKey: "x_opencti_aliases", aliases: []string{"FR"},
			standardID: "location--b8d0549f-de06-5ebd-a6e9-d31a581dba5d"},
		{typ: "Vulnerability", name: "CVE-2021-44228", fields: map[string]any{"x_opencti_aliases": []string{"Log4Shell"}},
			typename: "Vulnerability", parents: sdoParents, aliasKey: "x_opencti_aliases", aliases: []string{"Log4Shell"},
			standardID: "vulnerability--693c68fd-9a33-5d6d-b44e-407b6a48b05b"},
	}
}

// tagServer stores the fixtures (and an organization and an observable that
// no tag lookup may return).
func tagServer(t *testing.T) (*Server, map[string]Entity) {
	t.Helper()
	s := NewServer(t, WithClock(fixedClock), WithStrict())
	stored := map[string]Entity{}
	for _, f := range tagFixtures() {
		e, err := s.AddDomainObject(f.typ, f.name, f.fields)
		if err != nil {
			t.Fatalf("add %s %q: %v", f.typ, f.name, err)
		}
		stored[f.name] = e
	}
	if _, err := s.AddDomainObject("Organization", "Finance", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddEntity(Entity{EntityType: "Domain-Name", Value: "france"}); err != nil {
		t.Fatal(err)
	}
	return s, stored
}

// tagQuery is the connector's lookup written by hand with __typename, a
// fragment per interface and per concrete type.
const tagQuery = `query Tags($types: [String], $filters: FilterGroup, $first: Int) {
  stixDomainObjects(types: $types, filters: $filters, first: $first) {
    edges { node {
      __typename id standard_id entity_type parent_types
      ... on AttackPattern { name aliases x_mitre_id }
      ... on Campaign { name aliases }
      ... on Incident { name aliases }
      ... on IntrusionSet { name aliases }
      ... on Malware { name aliases }
      ... on ThreatActor { name aliases }
      ... on Tool { name aliases }
      ... on Vulnerability { name x_opencti_aliases }
      ... on Identity { name identity_class x_opencti_aliases }
      ... on Location { name x_opencti_aliases }
    } }
    pageInfo { globalCount }
  }
}`

// lookupVars is the filter the connector sends: keys name and x_mitre_id,
// operator eq, the value once.
func lookupVars(types []string, keys []string, values ...string) map[string]any {
	tv := make([]any, 0, len(types))
	for _, t := range types {
		tv = append(tv, t)
	}
	kv := make([]any, 0, len(keys))
	for _, k := range keys {
		kv = append(kv, k)
	}
	vv := make([]any, 0, len(values))
	for _, v := range values {
		vv = append(vv, v)
	}
	return map[string]any{
		"types": tv, "first": 25,
		"filters": map[string]any{"mode": "and", "filterGroups": []any{}, "filters": []any{
			map[string]any{"key": kv, "values": vv, "operator": "eq", "mode": "or"},
		}},
	}
}

// nodes returns the nodes of a stixDomainObjects answer.
func nodes(t *testing.T, d map[string]any) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, e := range path(d, "stixDomainObjects", "edges").([]any) {
		out = append(out, path(e, "node").(map[string]any))
	}
	return out
}

// wantNode is the node the platform answers tagQuery with for a fixture:
// only the fields of the fragments that apply to its type.
func (f tagFixture) wantNode(id string) map[string]any {
	parents := make([]any, 0, len(f.parents))
	for _, p := range f.parents {
		parents = append(parents, p)
	}
	aliases := make([]any, 0, len(f.aliases))
	for _, a := range f.aliases {
		aliases = append(aliases, a)
	}
	n := map[string]any{
		"__typename": f.typename, "id": id, "standard_id": f.standardID, "entity_type": f.typ,
		"parent_types": parents, "name": f.name, f.aliasKey: aliases,
	}
	switch f.typ {
	case "Attack-Pattern":
		n["x_mitre_id"] = f.mitreID
	case "Sector":
		n["identity_class"] = f.class
	}
	return n
}

func TestIntegrationTagLookupsRawGraphQL(t *testing.T) {
	s, stored := tagServer(t)
	for _, f := range tagFixtures() {
		t.Run(f.typ, func(t *testing.T) {
			want := []map[string]any{f.wantNode(stored[f.name].ID)}
			by := map[string]string{"name": f.name, "lower-case name": strings.ToLower(f.name)}
			if f.mitreID != "" {
				by["x_mitre_id"] = f.mitreID
			}
			for what, v := range by {
				r := post(t, s, tagQuery, lookupVars(tagTypes, []string{"name", "x_mitre_id"}, v))
				if r.Status != http.StatusOK {
					t.Fatalf("status %d: %s", r.Status, r.Raw)
				}
				if diff := cmp.Diff(want, nodes(t, mustData(t, r))); diff != "" {
					t.Errorf("lookup by %s %q (-want +got):\n%s", what, v, diff)
				}
			}
			// Only the type's own key matches: the name is no ATT&CK id.
			got := nodes(t, mustData(t, post(t, s, tagQuery, lookupVars(tagTypes, []string{"x_mitre_id"}, f.name))))
			if len(got) != 0 {
				t.Errorf("x_mitre_id %q matched %v", f.name, got)
			}
			if len(f.aliases) > 0 {
				got := nodes(t, mustData(t, post(t, s, tagQuery, lookupVars(tagTypes, []string{f.aliasKey}, f.aliases[0]))))
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("lookup by %s (-want +got):\n%s", f.aliasKey, diff)
				}
			}
		})
	}

	names := func(types []string, keys []string, values ...string) []string {
		var out []string
		for _, n := range nodes(t, mustData(t, post(t, s, tagQuery, lookupVars(types, keys, values...)))) {
			out = append(out, n["entity_type"].(string)+":"+n["name"].(string))
		}
		return out
	}
	all := []string{"Midnight Blizzard", "Ivan Petrov", "APT28", "Operation Ghost", "SolarWinds compromise", "Emotet", "Cobalt Strike", "Spearphishing Attachment", "Finance", "France", "CVE-2021-44228"}
	tests := []struct {
		name   string
		types  []string
		values []string
		want   []string
	}{
		{"abstract Threat-Actor", []string{"Threat-Actor"}, all, []string{"Threat-Actor-Group:Midnight Blizzard", "Threat-Actor-Individual:Ivan Petrov"}},
		{"abstract Location", []string{"Location"}, all, []string{"Country:France"}},
		{"abstract Identity", []string{"Identity"}, all, []string{"Sector:Finance", "Organization:Finance"}},
		{"tag types leave the organization out", tagTypes, []string{"Finance"}, []string{"Sector:Finance"}},
		{"no type: every domain object, no observable", nil, []string{"Finance", "France"}, []string{"Sector:Finance", "Country:France", "Organization:Finance"}},
		{"concrete types", []string{"Incident", "Campaign"}, all, []string{"Campaign:Operation Ghost", "Incident:SolarWinds compromise"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, names(tt.types, []string{"name"}, tt.values...)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestIntegrationTagEntitiesByID reads the new types through stixCoreObject
// and stixDomainObject, with fragments on their interfaces, and checks
// their STIX export.
func TestIntegrationTagEntitiesByID(t *testing.T) {
	s, stored := tagServer(t)
	q := `query E($id: String!) {
  stixCoreObject(id: $id) {
    __typename entity_type
    ... on StixDomainObject { created }
    ... on ThreatActor { name threat_actor_types }
    ... on Identity { name identity_class }
    ... on Location { name latitude }
    ... on Incident { name incident_type }
    ... on Sector { isSubSector }
    toStix
  }
  stixDomainObject(id: $id) { id }
}`
	tests := []struct {
		name     string
		fixture  string
		want     map[string]any
		wantStix map[string]any
	}{
		{
			name: "sector", fixture: "Finance",
			want:     map[string]any{"__typename": "Sector", "entity_type": "Sector", "name": "Finance", "identity_class": "class", "isSubSector": false},
			wantStix: map[string]any{"type": "identity", "identity_class": "class", "name": "Finance"},
		},
		{
			name: "country", fixture: "France",
			want:     map[string]any{"__typename": "Country", "entity_type": "Country", "name": "France", "latitude": nil},
			wantStix: map[string]any{"type": "location", "country": "France", "name": "France"},
		},
		{
			name: "incident", fixture: "SolarWinds compromise",
			want:     map[string]any{"__typename": "Incident", "entity_type": "Incident", "name": "SolarWinds compromise", "incident_type": nil, "created": "2020-12-13T00:00:00.000Z"},
			wantStix: map[string]any{"type": "incident", "aliases": []any{"Sunburst"}, "name": "SolarWinds compromise"},
		},
		{
			name: "threat actor individual", fixture: "Ivan Petrov",
			want:     map[string]any{"__typename": "ThreatActorIndividual", "entity_type": "Threat-Actor-Individual", "name": "Ivan Petrov", "threat_actor_types": nil},
			wantStix: map[string]any{"type": "threat-actor", "name": "Ivan Petrov"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := stored[tt.fixture]
			for _, id := range []string{e.ID, e.StandardID} {
				d := mustData(t, post(t, s, q, map[string]any{"id": id}))
				got := path(d, "stixCoreObject").(map[string]any)
				raw, _ := got["toStix"].(string)
				delete(got, "toStix")
				if _, ok := tt.want["created"]; !ok {
					delete(got, "created")
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("stixCoreObject(%s) (-want +got):\n%s", id, diff)
				}
				if path(d, "stixDomainObject", "id") != e.ID {
					t.Errorf("stixDomainObject(%s) = %v", id, path(d, "stixDomainObject"))
				}
				var stix map[string]any
				if err := json.Unmarshal([]byte(raw), &stix); err != nil {
					t.Fatalf("toStix %q: %v", raw, err)
				}
				if stix["id"] != e.StandardID {
					t.Errorf("toStix id = %v, want %s", stix["id"], e.StandardID)
				}
				for k, v := range tt.wantStix {
					if diff := cmp.Diff(v, stix[k]); diff != "" {
						t.Errorf("toStix %s (-want +got):\n%s", k, diff)
					}
				}
			}
		})
	}

	octi := func(name string) map[string]any {
		raw := path(mustData(t, post(t, s, q, map[string]any{"id": stored[name].ID})), "stixCoreObject", "toStix").(string)
		var stix map[string]any
		if err := json.Unmarshal([]byte(raw), &stix); err != nil {
			t.Fatal(err)
		}
		return path(stix, "extensions", extOpenCTI).(map[string]any)
	}
	if got := octi("France"); got["location_type"] != "Country" || !cmp.Equal(got["aliases"], []any{"FR"}) {
		t.Errorf("country extension = %v, want location_type Country and aliases", got)
	}
	if got := octi("SolarWinds compromise"); got["extension_type"] != "new-sdo" || got["type"] != "Incident" {
		t.Errorf("incident extension = %v, want a new-sdo", got)
	}
	if got := octi("CVE-2021-44228"); !cmp.Equal(got["aliases"], []any{"Log4Shell"}) {
		t.Errorf("vulnerability extension = %v, want its x_opencti_aliases", got)
	}
}

// TestIntegrationAPIClientStixDomainObjects resolves every tag type with the
// SDK's own document and client.
func TestIntegrationAPIClientStixDomainObjects(t *testing.T) {
	s, stored := tagServer(t)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	c, err := api.New(s.URL, s.Token(), api.WithHTTPClient(&http.Client{Transport: tr}))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range tagFixtures() {
		t.Run(f.typ, func(t *testing.T) {
			want := []api.DomainObject{{
				ID: stored[f.name].ID, StandardID: f.standardID, EntityType: f.typ, ParentTypes: f.parents,
				Name: f.name, Aliases: f.aliases, XMitreID: f.mitreID, IdentityClass: f.class,
			}}
			values := []string{f.name}
			if f.mitreID != "" {
				values = append(values, f.mitreID)
			}
			for _, v := range values {
				got, err := c.StixDomainObjects(t.Context(), api.DomainObjectQuery{
					Types: tagTypes, Keys: []string{"name", "x_mitre_id"}, Values: []string{v}, First: 25,
				})
				if err != nil {
					t.Fatalf("StixDomainObjects(%q) = %v", v, err)
				}
				if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b []string) bool { return len(a) == 0 && len(b) == 0 || slices.Equal(a, b) })); diff != "" {
					t.Errorf("StixDomainObjects(%q) (-want +got):\n%s", v, diff)
				}
			}
		})
	}
	if n := s.Calls("stixDomainObjects"); n != 12 {
		t.Errorf("Calls(stixDomainObjects) = %d, want 12", n)
	}
	if errs := s.Errors(); len(errs) != 0 {
		t.Errorf("protocol errors: %v", errs)
	}
}

func TestAbstractTypesAreRefused(t *testing.T) {
	for _, typ := range []string{"Threat-Actor", "Identity", "Location"} {
		e := Entity{EntityType: typ, Name: "x"}
		err := e.normalize(fixedTime)
		if err == nil || !strings.Contains(err.Error(), "abstract") {
			t.Errorf("normalize(%s) = %v, want an abstract-type error", typ, err)
		}
	}
}

func TestStandardIDsOfTagTypes(t *testing.T) {
	tests := []struct {
		e    Entity
		want string
	}{
		{Entity{EntityType: "Sector", Name: " Finance "}, wantID("identity", `{"identity_class":"class","name":"finance"}`)},
		{Entity{EntityType: "Country", Name: "France"}, "location--b8d0549f-de06-5ebd-a6e9-d31a581dba5d"},
		{Entity{EntityType: "Threat-Actor-Group", Name: "APT28"}, wantID("threat-actor", `{"name":"apt28","opencti_type":"Threat-Actor-Group"}`)},
		{Entity{EntityType: "Threat-Actor-Individual", Name: "APT28"}, wantID("threat-actor", `{"name":"apt28","opencti_type":"Threat-Actor-Individual"}`)},
		{Entity{EntityType: "Campaign", Name: "Operation Ghost"}, wantID("campaign", `{"name":"operation ghost"}`)},
		{Entity{EntityType: "Incident", Name: "Breach", Created: time.Date(2024, 1, 15, 10, 30, 0, 123456789, time.UTC)},
			wantID("incident", `{"created":"2024-01-15T10:30:00.123Z","name":"breach"}`)},
		{Entity{EntityType: "Incident", Name: "Breach"}, wantID("incident", `{"created":"2024-01-15T10:30:00.000Z","name":"breach"}`)},
		{Entity{EntityType: "Attack-Pattern", Name: "Phishing", XMitreID: " T1566 "}, wantID("attack-pattern", `{"x_mitre_id":"T1566"}`)},
	}
	for _, tt := range tests {
		e := tt.e
		if err := e.normalize(fixedTime); err != nil {
			t.Fatalf("normalize %+v: %v", tt.e, err)
		}
		if e.StandardID != tt.want {
			t.Errorf("standard id of %s %q = %s, want %s", tt.e.EntityType, tt.e.Name, e.StandardID, tt.want)
		}
	}
}
