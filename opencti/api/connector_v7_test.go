package api

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// forbidden7x is OpenCTI 7.x's answer to a registration asking for jwks and
// config.s3 when the connector user lacks the connector-API permission: both
// fields are non-null, so the refusal of jwks nulls the whole Connector and
// registerConnector (nullable) is null.
const forbidden7x = `{"errors":[
  {"message":"You are not allowed to do this.","name":"FORBIDDEN_ACCESS","path":["registerConnector","jwks"],
   "locations":[{"line":5,"column":5}],"extensions":{"code":"FORBIDDEN_ACCESS","data":{"http_status":403,"genre":"TECHNICAL"}}},
  {"message":"You are not allowed to do this.","name":"FORBIDDEN_ACCESS","path":["registerConnector","config","s3"],
   "locations":[{"line":15,"column":7}],"extensions":{"code":"FORBIDDEN_ACCESS","data":{"http_status":403,"genre":"TECHNICAL"}}}
 ],"data":{"registerConnector":null}}`

// forbiddenS3Only is the answer when only config.s3 is refused: config
// (nullable) is nulled, the connector is returned.
const forbiddenS3Only = `{"errors":[
  {"message":"You are not allowed to do this.","name":"FORBIDDEN_ACCESS","path":["registerConnector","config","s3"],
   "extensions":{"code":"FORBIDDEN_ACCESS"}}
 ],"data":{"registerConnector":{"id":"c1","connector_state":null,"connector_user_id":"u1","config":null}}}`

// baselineAnswer is a registration answer to the 6.x selection.
const baselineAnswer = `{"registerConnector":{"id":"c1","connector_state":"{\"k\":1}","connector_user_id":"u1",
	"config":{"connection":{"host":"h","vhost":"/","use_ssl":false,"port":5672,"user":"u","pass":"p"},
	"listen":"l","listen_routing":"lr","listen_exchange":"le","push":"p","push_routing":"pr","push_exchange":"pe"}}}`

// selects reports whether the active part of a document selects field.
func selects(doc, field string) bool {
	for _, line := range strings.Split(activeQuery(doc), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && f[0] == field {
			return true
		}
	}
	return false
}

func TestRegisterConnectorFallsBackWhenGuardedFieldsRefused(t *testing.T) {
	caps := &Capabilities{VersionSlug: true, JWKS: true, S3: true}
	tests := []struct {
		name  string
		first string
	}{
		{"jwks and s3 refused, registration nulled", forbidden7x},
		{"only s3 refused, config nulled", forbiddenS3Only},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(n int, c call) reply {
				if selects(c.Query, "jwks") || selects(c.Query, "s3") {
					return reply{status: 200, body: tt.first}
				}
				return ok(baselineAnswer)
			})
			logger, logs := debugLogger()
			in := RegisterInput{ID: "c1", Name: "RiskIQ", Type: "INTERNAL_ENRICHMENT", Version: "1.2.3", Slug: "riskiq"}
			reg, err := f.client(WithLogger(logger)).RegisterConnector(t.Context(), in, caps)
			if err != nil {
				t.Fatalf("RegisterConnector() = %v, want success after the fallback", err)
			}
			if reg.ID != "c1" || reg.UserID != "u1" || reg.State == nil || *reg.State != `{"k":1}` ||
				reg.Config.Push != "p" || reg.JWKS != nil || reg.Config.S3 != nil {
				t.Errorf("RegisterConnector() = %+v, want the baseline registration", reg)
			}
			if n := f.count(); n != 2 {
				t.Fatalf("%d registrations sent, want 2", n)
			}
			second := f.last()
			if selects(second.Query, "jwks") || selects(second.Query, "s3") {
				t.Errorf("second registration still asks for jwks or s3:\n%s", activeQuery(second.Query))
			}
			input, _ := second.Variables["input"].(map[string]any)
			if input["version"] != "1.2.3" || input["slug"] != "riskiq" {
				t.Errorf("second registration input = %v, want version and slug kept", input)
			}
			var warns []string
			for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
				var rec struct {
					Level string `json:"level"`
					Msg   string `json:"msg"`
				}
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatalf("log line %q: %v", line, err)
				}
				if rec.Level == "WARN" {
					warns = append(warns, rec.Msg)
				}
			}
			if len(warns) != 1 || !strings.Contains(warns[0], "jwks and s3") {
				t.Errorf("warnings = %q, want exactly one about jwks and s3", warns)
			}
			if strings.Contains(logs.String(), testToken) {
				t.Error("the log shows the token")
			}
		})
	}
}

func TestRegisterConnectorOtherErrorsNotRetriedWithoutGuardedFields(t *testing.T) {
	caps := &Capabilities{JWKS: true, S3: true}
	tests := []struct {
		name string
		body string
		code string
	}{
		{
			name: "authentication",
			body: `{"errors":[{"message":"You must be logged in to do this.","name":"AUTH_REQUIRED","path":["registerConnector"],"extensions":{"code":"AUTH_REQUIRED"}}],"data":{"registerConnector":null}}`,
			code: "AUTH_REQUIRED",
		},
		{
			name: "error without a path",
			body: `{"errors":[{"message":"You must be logged in to do this.","extensions":{"code":"AUTH_REQUIRED"}}],"data":null}`,
			code: "AUTH_REQUIRED",
		},
		{
			name: "guarded field refused together with another error",
			body: `{"errors":[{"message":"You are not allowed to do this.","path":["registerConnector","jwks"],"extensions":{"code":"FORBIDDEN_ACCESS"}},` +
				`{"message":"Connector name must be at least 2 characters","path":["registerConnector"],"extensions":{"code":"FUNCTIONAL_ERROR"}}],"data":{"registerConnector":null}}`,
			code: "FORBIDDEN_ACCESS",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(int, call) reply { return reply{status: 200, body: tt.body} })
			logger, logs := debugLogger()
			_, err := f.client(WithLogger(logger)).RegisterConnector(t.Context(),
				RegisterInput{ID: "c1", Name: "RiskIQ", Type: "INTERNAL_ENRICHMENT"}, caps)
			var ge *GraphQLError
			if !errors.As(err, &ge) || ge.Name != tt.code || !strings.HasPrefix(err.Error(), "register connector: ") {
				t.Fatalf("RegisterConnector() error = %v, want the platform's %s error, wrapped", err, tt.code)
			}
			if n := f.count(); n != 1 {
				t.Errorf("%d registrations sent, want 1 (no fallback)", n)
			}
			if strings.Contains(logs.String(), `"level":"WARN"`) {
				t.Errorf("a warning was logged: %s", logs.String())
			}
		})
	}
}

// TestRegisterConnectorNoFallbackWithoutGuardedFields: a registration that
// did not ask for jwks or s3 is never sent again, whatever the error says.
func TestRegisterConnectorNoFallbackWithoutGuardedFields(t *testing.T) {
	f := newFake(t, func(int, call) reply { return reply{status: 200, body: forbidden7x} })
	_, err := f.client().RegisterConnector(t.Context(), RegisterInput{ID: "c1", Name: "RiskIQ", Type: "INTERNAL_ENRICHMENT"}, nil)
	if err == nil {
		t.Fatal("RegisterConnector() succeeded, want the platform's error")
	}
	if n := f.count(); n != 1 {
		t.Errorf("%d registrations sent, want 1", n)
	}
}

// TestRegisterConnectorFallbackFails: when the registration without jwks and
// s3 fails too, its error is returned.
func TestRegisterConnectorFallbackFails(t *testing.T) {
	f := newFake(t, func(n int, _ call) reply {
		if n == 1 {
			return reply{status: 200, body: forbidden7x}
		}
		return reply{status: 200, body: `{"errors":[{"message":"You must be logged in to do this.","extensions":{"code":"AUTH_REQUIRED"}}],"data":null}`}
	})
	_, err := f.client().RegisterConnector(t.Context(), RegisterInput{ID: "c1", Name: "RiskIQ", Type: "INTERNAL_ENRICHMENT"}, &Capabilities{JWKS: true})
	var ge *GraphQLError
	if !errors.As(err, &ge) || ge.Name != "AUTH_REQUIRED" {
		t.Fatalf("RegisterConnector() error = %v, want the second registration's AUTH_REQUIRED", err)
	}
	if n := f.count(); n != 2 {
		t.Errorf("%d registrations sent, want 2", n)
	}
}
