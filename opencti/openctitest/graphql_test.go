package openctitest

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestIntegrationHealthCheck(t *testing.T) {
	s := NewServer(t, WithVersion("6.9.7"), WithBasePath("/opencti"))
	if !strings.HasSuffix(s.URL, "/opencti") {
		t.Fatalf("URL = %s, want the base path", s.URL)
	}
	r := post(t, s, `query healthCheck { about { version } }`, map[string]any{})
	if diff := cmp.Diff(map[string]any{"about": map[string]any{"version": "6.9.7"}}, mustData(t, r)); diff != "" {
		t.Errorf("healthCheck (-want +got):\n%s", diff)
	}
	if got := s.Calls("about"); got != 1 {
		t.Errorf("Calls(about) = %d, want 1", got)
	}
	if got := `{"data":{"about":{"version":"6.9.7"}}}`; r.Raw != got {
		t.Errorf("body = %s, want %s", r.Raw, got)
	}
}

func TestIntegrationAuthRequired(t *testing.T) {
	s := NewServer(t, WithToken("good-token"))
	for _, tok := range []string{"", "bad-token"} {
		r := postWith(t, s, tok, map[string]any{"query": `query { about { version } }`})
		if r.Status != http.StatusOK || r.errorCode(0) != "AUTH_REQUIRED" {
			t.Errorf("token %q: status %d, body %s; want 200 with AUTH_REQUIRED", tok, r.Status, r.Raw)
		}
		if r.Errors[0]["name"] != "AUTH_REQUIRED" || r.Errors[0]["message"] != "You must be logged in to do this." {
			t.Errorf("token %q: error %v", tok, r.Errors[0])
		}
	}
	r := postWith(t, s, "good-token", map[string]any{"query": `query { about { version } }`})
	mustData(t, r)
	if len(s.Errors()) != 0 {
		t.Errorf("auth failures are not protocol errors, got %v", s.Errors())
	}
}

func TestIntegrationInvalidDocuments(t *testing.T) {
	s := NewServer(t)
	tests := []struct {
		name  string
		body  map[string]any
		code  string
		inMsg string
	}{
		{
			name: "unknown field", code: "GRAPHQL_VALIDATION_FAILED", inMsg: `Cannot query field "nope" on type "AppInfo"`,
			body: map[string]any{"query": `query { about { version nope } }`},
		},
		{
			name: "s3 does not exist in 6.9.7", code: "GRAPHQL_VALIDATION_FAILED", inMsg: `Cannot query field "s3"`,
			body: map[string]any{"query": `mutation R($input: RegisterConnectorInput) { registerConnector(input: $input) { id config { s3 { bucket_name } } } }`},
		},
		{
			name: "misspelt argument", code: "GRAPHQL_VALIDATION_FAILED", inMsg: `Unknown argument "stat"`,
			body: map[string]any{"query": `mutation { pingConnector(id: "x", stat: "{}") { id } }`},
		},
		{
			name: "syntax error", code: "GRAPHQL_PARSE_FAILED", inMsg: "Syntax Error",
			body: map[string]any{"query": `query { about { version }`},
		},
		{
			name: "missing required variable", code: "BAD_USER_INPUT", inMsg: `"$id" of required type "ID!" was not provided`,
			body: map[string]any{"query": `query W($id: ID!) { work(id: $id) { id } }`, "variables": map[string]any{}},
		},
		{
			name: "enum case matters", code: "BAD_USER_INPUT", inMsg: `does not exist in "ConnectorType" enum`,
			body: map[string]any{"query": registerMutation, "variables": map[string]any{"input": map[string]any{"id": "x", "name": "ab", "type": "internal_enrichment"}}},
		},
		{
			name: "unknown input field", code: "BAD_USER_INPUT", inMsg: `Field "version" is not defined by type "RegisterConnectorInput"`,
			body: map[string]any{"query": registerMutation, "variables": map[string]any{"input": map[string]any{"id": "x", "name": "ab", "type": "STREAM", "version": "1.0"}}},
		},
		{
			name: "float for Int", code: "BAD_USER_INPUT", inMsg: "Int cannot represent non-integer value",
			body: map[string]any{"query": `mutation A($id: ID!, $n: Int) { workEdit(id: $id) { addExpectations(expectations: $n) } }`, "variables": map[string]any{"id": "w", "n": 1.5}},
		},
		{
			name: "unknown operation", code: "OPERATION_RESOLUTION_FAILURE", inMsg: `Unknown operation named "Other"`,
			body: map[string]any{"query": `query A { about { version } }`, "operationName": "Other"},
		},
		{
			name: "no query", code: "BAD_REQUEST", inMsg: "non-empty `query`",
			body: map[string]any{"variables": map[string]any{}},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := postWith(t, s, s.Token(), tt.body)
			if r.Status != http.StatusBadRequest {
				t.Fatalf("status = %d, want 400; body %s", r.Status, r.Raw)
			}
			if got := r.errorCode(0); got != tt.code {
				t.Errorf("code = %q, want %q; body %s", got, tt.code, r.Raw)
			}
			if msg, _ := r.Errors[0]["message"].(string); !strings.Contains(msg, tt.inMsg) {
				t.Errorf("message = %q, want it to contain %q", msg, tt.inMsg)
			}
			if _, ok := r.Errors[0]["name"]; ok {
				t.Errorf("request errors carry no name, got %v", r.Errors[0])
			}
			errs := s.Errors()
			if len(errs) != i+1 {
				t.Fatalf("Errors() has %d entries, want %d", len(errs), i+1)
			}
			if errs[i].Kind != ErrorGraphQL || errs[i].Code != tt.code {
				t.Errorf("recorded %+v, want kind graphql code %s", errs[i], tt.code)
			}
		})
	}
}

func TestIntegrationIntrospection(t *testing.T) {
	s := NewServer(t)
	q := `query ApiCompatibility {
  about { version }
  registerConnectorInput: __type(name: "RegisterConnectorInput") { inputFields { name } }
  connector: __type(name: "Connector") { kind fields { name type { kind name ofType { kind name } } } }
  config: __type(name: "ConnectorConfig") { fields { name } }
  missing: __type(name: "Nope") { name }
}`
	d := mustData(t, post(t, s, q, nil))
	var inputs []string
	for _, f := range path(d, "registerConnectorInput", "inputFields").([]any) {
		inputs = append(inputs, f.(map[string]any)["name"].(string))
	}
	want := []string{"id", "name", "type", "scope", "auto", "auto_update", "enrichment_resolution", "only_contextual", "playbook_compatible", "listen_callback_uri"}
	if diff := cmp.Diff(want, inputs); diff != "" {
		t.Errorf("RegisterConnectorInput input fields (-want +got):\n%s", diff)
	}
	var configFields []string
	for _, f := range path(d, "config", "fields").([]any) {
		configFields = append(configFields, f.(map[string]any)["name"].(string))
	}
	wantConfig := []string{"connection", "listen", "listen_routing", "listen_exchange", "listen_callback_uri", "push", "push_routing", "push_exchange", "dead_letter_routing"}
	if diff := cmp.Diff(wantConfig, configFields); diff != "" {
		t.Errorf("ConnectorConfig fields (-want +got):\n%s", diff)
	}
	if d["missing"] != nil {
		t.Errorf("__type(Nope) = %v, want null", d["missing"])
	}
	var details any
	for _, f := range path(d, "connector", "fields").([]any) {
		if f.(map[string]any)["name"] == "connector_queue_details" {
			details = f.(map[string]any)["type"]
		}
	}
	wantType := map[string]any{"kind": "NON_NULL", "name": nil, "ofType": map[string]any{"kind": "OBJECT", "name": "ConnectorQueueDetails"}}
	if diff := cmp.Diff(wantType, details); diff != "" {
		t.Errorf("Connector.connector_queue_details type (-want +got):\n%s", diff)
	}
}

func TestIntegrationFaults(t *testing.T) {
	s := NewServer(t)
	q := `query { about { version } }`
	s.SetDown(true)
	if r := post(t, s, q, nil); r.Status != http.StatusServiceUnavailable {
		t.Errorf("down: status %d, want 503", r.Status)
	}
	s.SetDown(false)
	s.FailNext("about", 2, http.StatusBadGateway)
	for i := range 2 {
		if r := post(t, s, q, nil); r.Status != http.StatusBadGateway {
			t.Errorf("failure %d: status %d, want 502", i, r.Status)
		}
	}
	mustData(t, post(t, s, q, nil))
	if got := s.Calls("about"); got != 3 {
		t.Errorf("Calls(about) = %d, want 3 (the refusal while down does not count)", got)
	}
	s.FailNext("workEdit.toProcessed", 1, http.StatusInternalServerError)
	ping := `mutation P($id: ID!) { workEdit(id: $id) { ping } }`
	mustData(t, post(t, s, ping, map[string]any{"id": "w"}))
	done := `mutation T($id: ID!) { workEdit(id: $id) { toProcessed(message: "done") } }`
	if r := post(t, s, done, map[string]any{"id": "w"}); r.Status != http.StatusInternalServerError {
		t.Errorf("toProcessed: status %d, want 500", r.Status)
	}
	if got := s.Calls("workEdit"); got != 2 {
		t.Errorf("Calls(workEdit) = %d, want 2", got)
	}
	if got := s.Calls("workEdit.toProcessed"); got != 1 {
		t.Errorf("Calls(workEdit.toProcessed) = %d, want 1", got)
	}
}

func TestIntegrationSelectionShape(t *testing.T) {
	s := NewServer(t, WithClock(fixedClock))
	amber := MustTLP("amber")
	ip, err := s.AddEntity(Entity{
		EntityType: "IPv4-Addr", Value: "8.8.8.8", Markings: []Marking{amber}, Score: new(int),
		Labels:             []Label{{Value: "dns", Color: "#000000"}},
		ExternalReferences: []ExternalReference{{SourceName: "riskiq", URL: "https://example.com/a"}},
		CreatedBy:          &Entity{EntityType: "Organization", Name: "RiskIQ"},
	})
	if err != nil {
		t.Fatal(err)
	}
	q := `query StixCyberObservable($id: String!) {
  obs: stixCyberObservable(id: $id) {
    __typename
    id standard_id entity_type parent_types observable_value x_opencti_score
    objectMarking { definition_type definition x_opencti_order }
    objectLabel { value color }
    createdBy { ... on Identity { name identity_class } ... on Organization { x_opencti_organization_type } }
    externalReferences { edges { node { source_name url } } }
    ... on IPv4Addr { value }
    ...domain
    alsoId: id @include(if: false)
  }
  none: stixCoreObject(id: "ipv4-addr--00000000-0000-5000-8000-000000000000") { id }
}
fragment domain on DomainName { value }`
	d := mustData(t, post(t, s, q, map[string]any{"id": ip.StandardID}))
	want := map[string]any{
		"obs": map[string]any{
			"__typename": "IPv4Addr", "id": ip.ID, "standard_id": "ipv4-addr--2f689bf9-0ff2-545f-aa61-e495eb8cecc7",
			"entity_type": "IPv4-Addr", "parent_types": []any{"Basic-Object", "Stix-Object", "Stix-Core-Object", "Stix-Cyber-Observable"},
			"observable_value": "8.8.8.8", "x_opencti_score": float64(0),
			"objectMarking":      []any{map[string]any{"definition_type": "TLP", "definition": "TLP:AMBER", "x_opencti_order": float64(3)}},
			"objectLabel":        []any{map[string]any{"value": "dns", "color": "#000000"}},
			"createdBy":          map[string]any{"name": "RiskIQ", "identity_class": "organization", "x_opencti_organization_type": nil},
			"externalReferences": map[string]any{"edges": []any{map[string]any{"node": map[string]any{"source_name": "riskiq", "url": "https://example.com/a"}}}},
			"value":              "8.8.8.8",
		},
		"none": nil,
	}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("selection (-want +got):\n%s", diff)
	}
	// Keys come back in selection order.
	r := post(t, s, `query { about { version } b: about { version } a: about { v2: version } }`, nil)
	if want := `{"data":{"about":{"version":"6.9.7"},"b":{"version":"6.9.7"},"a":{"v2":"6.9.7"}}}`; r.Raw != want {
		t.Errorf("body = %s, want %s", r.Raw, want)
	}
}
