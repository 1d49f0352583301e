package openctitest

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/vektah/gqlparser/v2"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
)

// register7Mutation is a registration asking for jwks and s3 as told.
func register7Mutation(jwks, s3 bool) string {
	q := `mutation RegisterConnector($input: RegisterConnectorInput) { registerConnector(input: $input) { id connector_state connector_user_id `
	if jwks {
		q += `jwks `
	}
	q += `config { connection { host } `
	if s3 {
		q += `s3 { endpoint port use_ssl bucket_name bucket_region access_key secret_key } `
	}
	return q + `listen push push_routing push_exchange } } }`
}

// TestIntegrationOpenCTI7Schema: in 7.x mode the fake reports an LTS version
// and its introspection lists the 7.x registration fields.
func TestIntegrationOpenCTI7Schema(t *testing.T) {
	s := NewServer(t, WithOpenCTI7())
	d := mustData(t, post(t, s, `query ApiCompatibility {
  about { version }
  registerConnectorInput: __type(name: "RegisterConnectorInput") { inputFields { name } }
  connector: __type(name: "Connector") { fields { name type { kind } } }
  connectorConfig: __type(name: "ConnectorConfig") { fields { name type { kind } } }
}`, nil))
	if v := d["about"].(map[string]any)["version"]; v != DefaultVersion7 {
		t.Errorf("version = %v, want %s", v, DefaultVersion7)
	}
	names := func(key, list string) map[string]string {
		out := map[string]string{}
		for _, f := range d[key].(map[string]any)[list].([]any) {
			m := f.(map[string]any)
			kind := ""
			if ty, ok := m["type"].(map[string]any); ok {
				kind, _ = ty["kind"].(string)
			}
			out[m["name"].(string)] = kind
		}
		return out
	}
	in := names("registerConnectorInput", "inputFields")
	for _, f := range []string{"version", "slug", "xtm_one_intent"} {
		if _, ok := in[f]; !ok {
			t.Errorf("RegisterConnectorInput lacks %s", f)
		}
	}
	if k := names("connector", "fields")["jwks"]; k != "NON_NULL" {
		t.Errorf("Connector.jwks kind = %q, want NON_NULL", k)
	}
	if k := names("connectorConfig", "fields")["s3"]; k != "NON_NULL" {
		t.Errorf("ConnectorConfig.s3 kind = %q, want NON_NULL", k)
	}

	// WithVersion wins over the 7.x default.
	other := NewServer(t, WithVersion("7.260715.0"), WithOpenCTI7())
	d = mustData(t, post(t, other, `{ about { version } }`, nil))
	if v := d["about"].(map[string]any)["version"]; v != "7.260715.0" {
		t.Errorf("version = %v, want the one given", v)
	}
}

// TestIntegrationOpenCTI7RefusesGuardedFields: without the connector-API
// permission, jwks and s3 fail with FORBIDDEN_ACCESS and the null reaches
// the nearest nullable parent; the 6.x selection registers.
func TestIntegrationOpenCTI7RefusesGuardedFields(t *testing.T) {
	s := NewServer(t, WithOpenCTI7())
	tests := []struct {
		name      string
		jwks, s3  bool
		wantPath  []any
		wantNull  string // "registerConnector", "config" or "" (nothing nulled)
		wantError bool
	}{
		{name: "jwks nulls the registration", jwks: true, wantPath: []any{"registerConnector", "jwks"}, wantNull: "registerConnector", wantError: true},
		{name: "s3 nulls the config", s3: true, wantPath: []any{"registerConnector", "config", "s3"}, wantNull: "config", wantError: true},
		{name: "both null the registration", jwks: true, s3: true, wantPath: []any{"registerConnector", "jwks"}, wantNull: "registerConnector", wantError: true},
		{name: "6.x selection"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := uuid.NewString()
			vars := registerInput(id, "INTERNAL_ENRICHMENT", []any{"IPv4-Addr"}, false)
			vars["input"].(map[string]any)["version"] = "1.0.0"
			vars["input"].(map[string]any)["slug"] = "riskiq"
			res := post(t, s, register7Mutation(tt.jwks, tt.s3), vars)
			if res.Status != 200 {
				t.Fatalf("status %d: %s", res.Status, res.Raw)
			}
			if !tt.wantError {
				if len(res.Errors) != 0 {
					t.Fatalf("errors = %v", res.Errors)
				}
				reg, _ := res.Data["registerConnector"].(map[string]any)
				if reg == nil || reg["config"] == nil {
					t.Fatalf("registerConnector = %v, want the connector with its config", res.Data)
				}
				return
			}
			if len(res.Errors) != 1 || res.errorCode(0) != "FORBIDDEN_ACCESS" || res.Errors[0]["name"] != "FORBIDDEN_ACCESS" {
				t.Fatalf("errors = %v, want one FORBIDDEN_ACCESS", res.Errors)
			}
			if diff := cmp.Diff(tt.wantPath, res.Errors[0]["path"]); diff != "" {
				t.Errorf("error path (-want +got):\n%s", diff)
			}
			reg, present := res.Data["registerConnector"]
			if !present {
				t.Fatalf("data = %v, want registerConnector present", res.Data)
			}
			switch tt.wantNull {
			case "registerConnector":
				if reg != nil {
					t.Errorf("registerConnector = %v, want null", reg)
				}
			case "config":
				m, _ := reg.(map[string]any)
				if m == nil || m["id"] != id {
					t.Fatalf("registerConnector = %v, want the connector", reg)
				}
				if c, present := m["config"]; !present || c != nil {
					t.Errorf("config = %v (present %v), want null", c, present)
				}
			}
			// The mutation itself was applied, as on the platform.
			if c, ok := s.Connector(id); !ok || !c.Registered {
				t.Errorf("connector %s not registered: %+v", id, c)
			}
		})
	}
}

// TestIntegrationOpenCTI7PermissionGranted: with the connector-API
// permission, jwks and s3 resolve.
func TestIntegrationOpenCTI7PermissionGranted(t *testing.T) {
	s := NewServer(t, WithOpenCTI7(), WithConnectorAPIPermission())
	res := post(t, s, register7Mutation(true, true), registerInput(uuid.NewString(), "INTERNAL_ENRICHMENT", []any{"IPv4-Addr"}, false))
	if len(res.Errors) != 0 {
		t.Fatalf("errors = %v", res.Errors)
	}
	reg := res.Data["registerConnector"].(map[string]any)
	if reg["jwks"] != fakeJWKS {
		t.Errorf("jwks = %v, want the fake key set", reg["jwks"])
	}
	s3, _ := reg["config"].(map[string]any)["s3"].(map[string]any)
	if s3["bucket_name"] != "opencti-bucket" || s3["secret_key"] != fakeS3Secret {
		t.Errorf("s3 = %v, want the fake S3 configuration", s3)
	}
}

// TestIntegrationOpenCTI6RejectsJWKS: outside 7.x mode the schema has no
// jwks, and asking for it fails validation.
func TestIntegrationOpenCTI6RejectsJWKS(t *testing.T) {
	s := NewServer(t)
	res := post(t, s, register7Mutation(true, false), registerInput(uuid.NewString(), "INTERNAL_ENRICHMENT", nil, false))
	if res.Status != 400 || res.errorCode(0) != codeValidationFailed {
		t.Errorf("status %d, code %q, want 400 %s: %s", res.Status, res.errorCode(0), codeValidationFailed, res.Raw)
	}
	if slices.ContainsFunc(res.Errors, func(e map[string]any) bool { return e["path"] != nil }) {
		t.Errorf("validation errors carry a path: %v", res.Errors)
	}
}

// optionalLine matches the SDK's "# optional(NAME): " placeholders.
var optionalLine = regexp.MustCompile(`(?m)^(\s*)# optional\([a-z0-9]+\): `)

// TestAPIDocumentsValidate7x checks that every document of the SDK's client,
// with the registration's optional jwks and s3 selections turned on,
// validates against the 7.x schema of the fake.
func TestAPIDocumentsValidate7x(t *testing.T) {
	schema, err := loadSchema7x()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(apiQueriesGlob)
	if err != nil || len(files) == 0 {
		t.Fatalf("no document matches %s (%v)", apiQueriesGlob, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if has := optionalLine.Match(raw); has != (filepath.Base(f) == "register_connector.graphql") {
				t.Fatalf("optional placeholders present = %v, expected only in register_connector.graphql", has)
			}
			doc := optionalLine.ReplaceAllString(string(raw), "$1")
			if _, errs := gqlparser.LoadQueryWithRules(schema, doc, nil); len(errs) > 0 {
				t.Fatalf("does not validate against the 7.x schema: %v\n%s", errs, doc)
			}
		})
	}
}
