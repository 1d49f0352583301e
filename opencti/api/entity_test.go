package api

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// entityAnswer is an IPv4-Addr as stixCoreObject returns it.
const entityAnswer = `{
  "id":"e1","standard_id":"ipv4-addr--0198f97b-e65d-5025-87e5-58bc39d4bdb4","entity_type":"IPv4-Addr",
  "parent_types":["Basic-Object","Stix-Object","Stix-Core-Object","Stix-Cyber-Observable"],
  "created_at":"2024-01-15T10:30:00.000Z","updated_at":"2024-01-15T10:30:00.000Z",
  "createdBy":{"id":"i1","standard_id":"identity--1","entity_type":"Organization","parent_types":["Identity"],"spec_version":"2.1",
    "identity_class":"organization","name":"ACME","description":"A vendor","roles":["vendor"],"contact_information":null,
    "x_opencti_aliases":["Acme Corp"],"created":"2024-01-01T00:00:00.000Z","modified":"2024-01-02T00:00:00.000Z",
    "objectLabel":[{"id":"l9","value":"trusted","color":"#00ff00"}],"x_opencti_organization_type":"vendor","x_opencti_reliability":"A - Completely reliable"},
  "objectMarking":[
    {"id":"m1","standard_id":"marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9","entity_type":"Marking-Definition",
     "definition_type":"TLP","definition":"TLP:CLEAR","x_opencti_order":1,"x_opencti_color":"#ffffff",
     "created":"2022-10-01T00:00:00.000Z","modified":"2022-10-01T00:00:00.000Z"},
    {"id":"m2","standard_id":"marking-definition--f88d31f6-486f-44da-b317-01333bde0b82","entity_type":"Marking-Definition",
     "definition_type":"TLP","definition":"TLP:AMBER","x_opencti_order":3,"x_opencti_color":"#ffc000",
     "created":null,"modified":null}],
  "objectOrganization":[{"id":"o1","standard_id":"identity--2","entity_type":"Organization","name":"Blue","identity_class":"organization"}],
  "objectLabel":[{"id":"l1","value":"malicious","color":"#ff0000"},{"id":"l2","value":"c2","color":null}],
  "externalReferences":{"edges":[{"node":{"id":"x1","standard_id":"external-reference--1","entity_type":"External-Reference",
     "source_name":"riskiq","description":null,"url":"https://community.riskiq.com/x","hash":null,"external_id":"g1",
     "created":null,"modified":null}}]},
  "observable_value":"1.2.3.4","x_opencti_score":50,"x_opencti_description":"seen"}`

func TestStixCoreObject(t *testing.T) {
	f := newFake(t, func(int, call) reply { return ok(`{"stixCoreObject":` + entityAnswer + `}`) })
	got, err := f.client().StixCoreObject(t.Context(), "e1")
	if err != nil {
		t.Fatal(err)
	}
	checkVars(t, f.last(), `{"id":"e1"}`)
	if f.last().Query != docStixCoreObject {
		t.Error("query is not the embedded StixCoreObject")
	}
	want := &Entity{
		ID: "e1", StandardID: "ipv4-addr--0198f97b-e65d-5025-87e5-58bc39d4bdb4", EntityType: "IPv4-Addr",
		ParentTypes:     []string{"Basic-Object", "Stix-Object", "Stix-Core-Object", "Stix-Cyber-Observable"},
		ObservableValue: "1.2.3.4", Score: ptr(50), Description: "seen",
		Markings: []Marking{
			{ID: "m1", StandardID: "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9", EntityType: "Marking-Definition",
				DefinitionType: "TLP", Definition: "TLP:CLEAR", Color: "#ffffff", Order: 1,
				Created: "2022-10-01T00:00:00.000Z", Modified: "2022-10-01T00:00:00.000Z"},
			{ID: "m2", StandardID: "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82", EntityType: "Marking-Definition",
				DefinitionType: "TLP", Definition: "TLP:AMBER", Color: "#ffc000", Order: 3},
		},
		CreatedBy: &Identity{ID: "i1", StandardID: "identity--1", EntityType: "Organization", Name: "ACME", IdentityClass: "organization",
			SpecVersion: "2.1", Description: "A vendor", Roles: []string{"vendor"}, Aliases: []string{"Acme Corp"},
			Created: "2024-01-01T00:00:00.000Z", Modified: "2024-01-02T00:00:00.000Z",
			Labels:           []Label{{ID: "l9", Value: "trusted", Color: "#00ff00"}},
			OrganizationType: "vendor", Reliability: "A - Completely reliable"},
		Organizations: []Identity{{ID: "o1", StandardID: "identity--2", EntityType: "Organization", Name: "Blue", IdentityClass: "organization"}},
		Labels:        []string{"malicious", "c2"},
		ExternalReferences: []ExternalReference{{ID: "x1", StandardID: "external-reference--1", SourceName: "riskiq",
			URL: "https://community.riskiq.com/x", ExternalID: "g1"}},
	}
	raw := got.Raw
	got.Raw = nil
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("StixCoreObject() (-want +got):\n%s", diff)
	}
	var rawMap, wantMap map[string]any
	if err := json.Unmarshal(raw, &rawMap); err != nil {
		t.Fatalf("Raw is not JSON: %v", err)
	}
	_ = json.Unmarshal([]byte(entityAnswer), &wantMap)
	if diff := cmp.Diff(wantMap, rawMap); diff != "" {
		t.Errorf("Raw (-want +got):\n%s", diff)
	}
}

func TestStixCoreObjectNotFound(t *testing.T) {
	f := newFake(t, func(int, call) reply { return ok(`{"stixCoreObject":null}`) })
	_, err := f.client().StixCoreObject(t.Context(), "e1")
	if !errors.Is(err, ErrEntityNotFound) {
		t.Fatalf("error = %v, want ErrEntityNotFound", err)
	}
	if !strings.Contains(err.Error(), "unable to read/access the entity, check the connector permissions") {
		t.Errorf("error text = %q", err)
	}
}

func TestStixDomainObjects(t *testing.T) {
	answer := `{"stixDomainObjects":{"edges":[
	  {"node":{"id":"a1","standard_id":"attack-pattern--1","entity_type":"Attack-Pattern","parent_types":["Stix-Domain-Object"],
	    "name":"Phishing","aliases":null,"x_mitre_id":"T1566"}},
	  {"node":{"id":"s1","standard_id":"identity--3","entity_type":"Sector","parent_types":["Identity"],
	    "name":"Finance","identity_class":"class","x_opencti_aliases":["Banking"]}},
	  {"node":{"id":"i1","standard_id":"intrusion-set--1","entity_type":"Intrusion-Set","parent_types":[],
	    "name":"APT28","aliases":["Fancy Bear"]}},
	  {"node":null}]}}`
	tests := []struct {
		name     string
		q        DomainObjectQuery
		wantVars string
	}{
		{
			name: "defaults",
			q:    DomainObjectQuery{Values: []string{"Phishing", "Finance"}},
			wantVars: `{"types":null,"first":100,"filters":{"mode":"and","filterGroups":[],
				"filters":[{"key":["name"],"values":["Phishing","Finance"],"operator":"eq","mode":"or"}]}}`,
		},
		{
			name: "types, keys, first",
			q:    DomainObjectQuery{Types: []string{"Attack-Pattern"}, Keys: []string{"x_mitre_id"}, Values: []string{"T1566"}, First: 5},
			wantVars: `{"types":["Attack-Pattern"],"first":5,"filters":{"mode":"and","filterGroups":[],
				"filters":[{"key":["x_mitre_id"],"values":["T1566"],"operator":"eq","mode":"or"}]}}`,
		},
	}
	want := []DomainObject{
		{ID: "a1", StandardID: "attack-pattern--1", EntityType: "Attack-Pattern", ParentTypes: []string{"Stix-Domain-Object"}, Name: "Phishing", XMitreID: "T1566"},
		{ID: "s1", StandardID: "identity--3", EntityType: "Sector", ParentTypes: []string{"Identity"}, Name: "Finance", IdentityClass: "class", Aliases: []string{"Banking"}},
		{ID: "i1", StandardID: "intrusion-set--1", EntityType: "Intrusion-Set", ParentTypes: []string{}, Name: "APT28", Aliases: []string{"Fancy Bear"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(int, call) reply { return ok(answer) })
			got, err := f.client().StixDomainObjects(t.Context(), tt.q)
			if err != nil {
				t.Fatal(err)
			}
			checkVars(t, f.last(), tt.wantVars)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("StixDomainObjects() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStixDomainObjectsInvalid(t *testing.T) {
	f := newFake(t, func(int, call) reply { return ok(`{"stixDomainObjects":null}`) })
	c := f.client()
	for _, q := range []DomainObjectQuery{{}, {Values: []string{"x"}, First: -1}} {
		if _, err := c.StixDomainObjects(t.Context(), q); err == nil {
			t.Errorf("StixDomainObjects(%+v): want an error", q)
		}
	}
	if f.count() != 0 {
		t.Errorf("invalid queries sent %d requests", f.count())
	}
	got, err := c.StixDomainObjects(t.Context(), DomainObjectQuery{Values: []string{"x"}})
	if err != nil || got != nil {
		t.Errorf("null answer = %v, %v; want nil, nil", got, err)
	}
}

func TestPlaybookStepExecution(t *testing.T) {
	f := newFake(t, func(int, call) reply { return ok(`{"playbookStepExecution":true}`) })
	step := PlaybookStep{
		ExecutionID: "x1", EventID: "ev1", ExecutionStart: "2024-01-15T10:30:00+00:00", DataInstanceID: "d1",
		PlaybookID: "p1", PreviousStepID: "s0", StepID: "s1",
		PreviousBundle: `{"type":"bundle","objects":[]}`, Bundle: `{"type":"bundle","objects":[{"a":"<&>"}]}`,
	}
	if err := f.client().PlaybookStepExecution(t.Context(), step); err != nil {
		t.Fatal(err)
	}
	checkVars(t, f.last(), `{"execution_id":"x1","event_id":"ev1","execution_start":"2024-01-15T10:30:00+00:00",
		"data_instance_id":"d1","playbook_id":"p1","previous_step_id":"s0","step_id":"s1",
		"previous_bundle":"{\"type\":\"bundle\",\"objects\":[]}","bundle":"{\"type\":\"bundle\",\"objects\":[{\"a\":\"<&>\"}]}"}`)
	if f.last().Query != docPlaybookStep {
		t.Error("query is not the embedded PlaybookStepExecution")
	}
}
