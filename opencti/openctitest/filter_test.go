package openctitest

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestIntegrationStixDomainObjects(t *testing.T) {
	s := NewServer(t, WithClock(fixedClock))
	for _, e := range []struct {
		typ, name string
		fields    map[string]any
	}{
		{"Attack-Pattern", "Spearphishing Attachment", map[string]any{"x_mitre_id": "T1566.001"}},
		{"Attack-Pattern", "Phishing", map[string]any{"x_mitre_id": "T1566"}},
		{"Intrusion-Set", "APT28", map[string]any{"aliases": []string{"Fancy Bear", "Sofacy"}}},
		{"Malware", "Émotet", nil},
		{"Organization", "RiskIQ", nil},
		{"Tool", "Cobalt Strike", nil},
	} {
		if _, err := s.AddDomainObject(e.typ, e.name, e.fields); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.AddEntity(Entity{EntityType: "Domain-Name", Value: "example.com"}); err != nil {
		t.Fatal(err)
	}
	q := `query SDOs($types: [String], $filters: FilterGroup, $first: Int, $search: String, $after: ID) {
  stixDomainObjects(types: $types, filters: $filters, first: $first, search: $search, after: $after) {
    edges { node { entity_type standard_id ... on AttackPattern { name x_mitre_id } ... on IntrusionSet { name } ... on Malware { name } ... on Organization { name } ... on Tool { name } } }
    pageInfo { globalCount hasNextPage endCursor }
  }
}`
	eq := func(key string, values ...any) map[string]any {
		return map[string]any{"key": []any{key}, "values": values, "operator": "eq", "mode": "or"}
	}
	group := func(mode string, filters ...any) map[string]any {
		return map[string]any{"mode": mode, "filters": filters, "filterGroups": []any{}}
	}
	tests := []struct {
		name string
		vars map[string]any
		want []string
	}{
		{name: "all domain objects", vars: map[string]any{}, want: []string{"Spearphishing Attachment", "Phishing", "APT28", "Émotet", "RiskIQ", "Cobalt Strike"}},
		{name: "types", vars: map[string]any{"types": []any{"Attack-Pattern"}}, want: []string{"Spearphishing Attachment", "Phishing"}},
		{name: "parent type", vars: map[string]any{"types": []any{"Identity"}}, want: []string{"RiskIQ"}},
		{name: "x_mitre_id eq", vars: map[string]any{"filters": group("and", eq("x_mitre_id", "T1566.001"))}, want: []string{"Spearphishing Attachment"}},
		{name: "name eq is case-insensitive", vars: map[string]any{"filters": group("and", eq("name", "apt28"))}, want: []string{"APT28"}},
		{name: "name eq folds accents", vars: map[string]any{"filters": group("and", eq("name", "EMOTET"))}, want: []string{"Émotet"}},
		{name: "name eq is not a substring match", vars: map[string]any{"filters": group("and", eq("name", "APT"))}, want: nil},
		{name: "values are or-ed", vars: map[string]any{"filters": group("and", eq("name", "apt28", "cobalt strike"))}, want: []string{"APT28", "Cobalt Strike"}},
		{name: "keys are or-ed", vars: map[string]any{"filters": group("and", map[string]any{"key": []any{"name", "aliases"}, "values": []any{"sofacy"}})}, want: []string{"APT28"}},
		{name: "and group", vars: map[string]any{"filters": group("and", eq("entity_type", "Attack-Pattern"), eq("x_mitre_id", "T1566"))}, want: []string{"Phishing"}},
		{name: "or group", vars: map[string]any{"filters": group("or", eq("name", "RiskIQ"), eq("x_mitre_id", "T1566"))}, want: []string{"Phishing", "RiskIQ"}},
		{name: "nested groups", vars: map[string]any{"filters": map[string]any{
			"mode": "and", "filters": []any{eq("entity_type", "Stix-Domain-Object")},
			"filterGroups": []any{group("or", eq("name", "Tool"), eq("name", "cobalt strike"))},
		}}, want: []string{"Cobalt Strike"}},
		{name: "not_eq", vars: map[string]any{"types": []any{"Attack-Pattern"}, "filters": group("and", map[string]any{"key": []any{"x_mitre_id"}, "values": []any{"T1566"}, "operator": "not_eq"})}, want: []string{"Spearphishing Attachment"}},
		{name: "types and filters", vars: map[string]any{"types": []any{"Malware"}, "filters": group("and", eq("name", "APT28"))}, want: nil},
		{name: "search", vars: map[string]any{"search": "bear"}, want: []string{"APT28"}},
		{name: "first", vars: map[string]any{"first": 2}, want: []string{"Spearphishing Attachment", "Phishing"}},
		{name: "after", vars: map[string]any{"first": 2, "after": "fake-cursor-1"}, want: []string{"APT28", "Émotet"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := mustData(t, post(t, s, q, tt.vars))
			var got []string
			for _, e := range path(d, "stixDomainObjects", "edges").([]any) {
				got = append(got, path(e, "node", "name").(string))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("names (-want +got):\n%s", diff)
			}
		})
	}
	d := mustData(t, post(t, s, q, map[string]any{"first": 1}))
	if diff := cmp.Diff(map[string]any{"globalCount": 6.0, "hasNextPage": true, "endCursor": "fake-cursor-0"}, path(d, "stixDomainObjects", "pageInfo")); diff != "" {
		t.Errorf("pageInfo (-want +got):\n%s", diff)
	}
	node := path(mustData(t, post(t, s, q, map[string]any{"filters": group("and", eq("x_mitre_id", "T1566.001"))})), "stixDomainObjects", "edges").([]any)[0]
	if got := path(node, "node", "standard_id"); got != "attack-pattern--6b3d6efe-0d48-5d0d-875a-086b0d02d110" {
		t.Errorf("standard_id = %v, want the pycti id of T1566.001", got)
	}

	r := post(t, s, q, map[string]any{"filters": group("and", eq("description", "x"))})
	if r.errorCode(0) != "UNSUPPORTED_ERROR" {
		t.Errorf("unsupported key: %s", r.Raw)
	}
}

func TestStandardIDs(t *testing.T) {
	tests := []struct {
		e    Entity
		want string
	}{
		{Entity{EntityType: "IPv4-Addr", Value: "8.8.8.8"}, "ipv4-addr--2f689bf9-0ff2-545f-aa61-e495eb8cecc7"},
		{Entity{EntityType: "Domain-Name", Value: "example.com"}, "domain-name--bedb4899-d24b-5401-bc86-8f6b4cc18ec7"},
		{Entity{EntityType: "IPv6-Addr", Value: "2001:db8::1"}, "ipv6-addr--6469e3a9-b053-5e34-a025-9396ae051d26"},
		{Entity{EntityType: "Email-Addr", Value: "hostmaster@example.com"}, "email-addr--e937172e-79fe-5ff9-bf1d-b2a57ad138d2"},
		{Entity{EntityType: "Url", Value: "https://example.com/a"}, "url--6ccd10ff-4c3f-5062-a19f-b6bd987c6637"},
		{Entity{EntityType: "Autonomous-System", Number: 15169}, "autonomous-system--7afc7bdf-d070-5add-90ff-f93503b1654d"},
		{Entity{EntityType: "Organization", Name: "  riskiq "}, "identity--12206468-7cbe-566d-a9b5-c7b23a2e8818"},
		{Entity{EntityType: "Malware", Name: "Emotet"}, "malware--36297121-bf18-56e1-b200-d39c9f9f5cee"},
		{Entity{EntityType: "Intrusion-Set", Name: "APT28"}, "intrusion-set--f743ab1d-b2f2-58f8-975f-0993511c0b9d"},
		{Entity{EntityType: "Attack-Pattern", Name: "Spearphishing Attachment"}, "attack-pattern--70166673-00f0-5946-a641-b0b502ea6f5b"},
		{Entity{EntityType: "Vulnerability", Name: "CVE-2021-44228"}, "vulnerability--693c68fd-9a33-5d6d-b44e-407b6a48b05b"},
		{Entity{EntityType: "Indicator", Name: "x", Pattern: "[ipv4-addr:value = '8.8.8.8']"}, "indicator--7ad3d74b-c761-522d-9359-5e7565a3abb4"},
	}
	for _, tt := range tests {
		e := tt.e
		if err := e.normalize(fixedTime); err != nil {
			t.Fatalf("normalize %+v: %v", tt.e, err)
		}
		if e.StandardID != tt.want {
			t.Errorf("standard id of %s %q = %s, want %s", tt.e.EntityType, tt.e.Value+tt.e.Name, e.StandardID, tt.want)
		}
	}
	if got := MustTLP("white").StandardID; got != "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9" {
		t.Errorf("TLP:WHITE id = %s", got)
	}
	m := Entity{EntityType: "IPv4-Addr", Value: "1.1.1.1", Markings: []Marking{{DefinitionType: "statement", Definition: "custom"}}}
	if err := m.normalize(fixedTime); err != nil {
		t.Fatal(err)
	}
	if got := m.Markings[0].StandardID; got != "marking-definition--624ceec7-626d-5808-a4b1-ec4447860f6c" {
		t.Errorf("custom marking id = %s", got)
	}
}
