package opencti

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/riskiq-opencti/connectors/opencti/api"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// observableParents are the parent types of an IPv4-Addr.
var observableParents = []string{"Basic-Object", "Stix-Object", "Stix-Core-Object", "Stix-Cyber-Observable"}

// TestRebuildStixObjectsGolden pins what a request without stix_objects
// (enrichment_resolution none) hands the handler: the entity, its author
// identity in the form pycti's generate_export gives it, and its marking
// definitions (testdata/rebuild/<case>.golden.json; refresh with -update).
func TestRebuildStixObjectsGolden(t *testing.T) {
	t.Parallel()
	platformEntity := json.RawMessage(`{"type":"ipv4-addr","spec_version":"2.1","id":"ipv4-addr--2f689bf9-0ff2-545f-aa61-e495eb8cecc7","value":"8.8.8.8","extensions":{"extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba":{"extension_type":"property-extension","created_by_ref_id":"i1"}}}`)
	green := api.Marking{ID: "m1", StandardID: "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb", EntityType: "Marking-Definition",
		DefinitionType: "TLP", Definition: "TLP:GREEN", Order: 2, Color: "#2e7d32", Created: "2024-01-01T00:00:00.000Z", Modified: "2024-01-01T00:00:00.000Z"}
	org := &api.Identity{
		ID: "i1", StandardID: "identity--12206468-7cbe-566d-a9b5-c7b23a2e8818", EntityType: "Organization",
		SpecVersion: "2.1", IdentityClass: "organization", Name: "RiskIQ", Description: "Threat intelligence vendor",
		Roles: []string{""}, Aliases: []string{"PassiveTotal"}, Created: "2024-01-01T00:00:00.000Z", Modified: "2024-01-02T00:00:00.000Z",
		Labels:           []api.Label{{ID: "l1", Value: "vendor", Color: "#000000"}},
		OrganizationType: "vendor", Reliability: "B - Usually reliable",
	}
	person := &api.Identity{
		ID: "i2", StandardID: "identity--b7f0b3b7-5b7a-5a4f-8f3e-5e5f7c6d0a11", EntityType: "Individual",
		SpecVersion: "2.1", IdentityClass: "individual", Name: "Jane Analyst",
		Created: "2024-02-01T00:00:00.000Z", Modified: "2024-02-01T00:00:00.000Z", Firstname: "Jane", Lastname: "Analyst",
	}
	tests := []struct {
		name   string
		entity api.Entity
		stix   json.RawMessage // the platform's stix_entity; nil: rebuilt from the read
	}{
		{"organization", api.Entity{ID: "e1", StandardID: "ipv4-addr--2f689bf9-0ff2-545f-aa61-e495eb8cecc7", EntityType: "IPv4-Addr",
			ParentTypes: observableParents, ObservableValue: "8.8.8.8", Markings: []api.Marking{green}, CreatedBy: org}, platformEntity},
		{"individual-minimal-observable", api.Entity{ID: "e1", StandardID: "ipv4-addr--2f689bf9-0ff2-545f-aa61-e495eb8cecc7", EntityType: "IPv4-Addr",
			ParentTypes: observableParents, ObservableValue: "8.8.8.8", CreatedBy: person}, nil},
		{"minimal-domain-object", api.Entity{ID: "e2", StandardID: "malware--36297121-bf18-56e1-b200-d39c9f9f5cee", EntityType: "Malware",
			ParentTypes: []string{"Basic-Object", "Stix-Object", "Stix-Core-Object", "Stix-Domain-Object"}, CreatedBy: org}, nil},
		{"no-author", api.Entity{ID: "e1", StandardID: "ipv4-addr--2f689bf9-0ff2-545f-aa61-e495eb8cecc7", EntityType: "IPv4-Addr",
			ParentTypes: observableParents, ObservableValue: "8.8.8.8", Markings: []api.Marking{green}}, platformEntity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := tt.entity
			req := &Request{Entity: &e, StixEntity: tt.stix}
			if err := rebuildStixObjects(req); err != nil {
				t.Fatal(err)
			}
			var got []any
			for _, o := range req.StixObjects {
				var v any
				if err := json.Unmarshal(o, &v); err != nil {
					t.Fatal(err)
				}
				got = append(got, v)
			}
			path := filepath.Join("testdata", "rebuild", tt.name+".golden.json")
			if *update {
				var buf bytes.Buffer
				enc := json.NewEncoder(&buf)
				enc.SetIndent("", "  ")
				enc.SetEscapeHTML(false)
				if err := enc.Encode(got); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var want []any
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("rebuilt stix_objects (-want +got):\n%s", d)
			}
		})
	}
}
