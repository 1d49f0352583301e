package launch

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const schemaReadme = `
| Parameter | config.yml | Docker environment variable | Default | Mandatory | Description |
|---|---|---|---|---|---|
| URL | url | ` + "`OPENCTI_URL`" + ` | | Yes | The URL of the platform. |
| Token | token | ` + "`OPENCTI_TOKEN`" + ` | | Yes | The token. Never logged. |
| Type | type | ` + "`CONNECTOR_TYPE`" + ` | EXTERNAL_IMPORT | No | Must be ` + "`EXTERNAL_IMPORT`" + `. |
| Scope | scope | ` + "`CONNECTOR_SCOPE`" + ` | a, b | No | Scope. |
| Auto | auto | ` + "`CONNECTOR_AUTO`" + ` | false | No | Auto. |
| Port | port | ` + "`X_PORT`" + ` | 9095 | No | Port. |
| From | from | ` + "`X_FROM`" + ` | | No | Unix seconds. |
| Level | level | ` + "`CONNECTOR_LOG_LEVEL`" + ` | error | No | Level. |
| Colour | colour | ` + "`X_COLOUR`" + ` | red | No | Colour. |
`

func TestConfigSchema(t *testing.T) {
	t.Parallel()
	vars := []Variable{
		{Env: "OPENCTI_URL", Key: "opencti.url", Mandatory: true},
		{Env: "OPENCTI_TOKEN", Key: "opencti.token", Mandatory: true},
		{Env: "CONNECTOR_TYPE", Key: "connector.type", Default: "EXTERNAL_IMPORT"},
		{Env: "CONNECTOR_SCOPE", Key: "connector.scope", Default: "a, b"},
		{Env: "CONNECTOR_AUTO", Key: "connector.auto", Default: "false"},
		{Env: "X_PORT", Key: "x.port", Default: "9095"},
		{Env: "X_FROM", Key: "x.from", Type: "integer"},
		{Env: "CONNECTOR_LOG_LEVEL", Key: "connector.log_level", Default: "error"},
		{Env: "X_COLOUR", Key: "x.colour", Default: "red", Enum: []string{"red", "blue"}},
	}
	b, err := ConfigSchema("demo", vars, []byte(schemaReadme))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("ConfigSchema() is not JSON: %v\n%s", err, b)
	}
	want := map[string]any{
		"$schema": "https://json-schema.org/draft/2020-12/schema",
		"$id":     "https://www.filigran.io/connectors/demo_config.schema.json",
		"type":    "object",
		"properties": map[string]any{
			"OPENCTI_URL":    map[string]any{"description": "The URL of the platform.", "format": "uri", "type": "string"},
			"OPENCTI_TOKEN":  map[string]any{"description": "The token. Never logged.", "format": "password", "type": "string", "writeOnly": true},
			"CONNECTOR_TYPE": map[string]any{"description": "Must be EXTERNAL_IMPORT.", "type": "string", "const": "EXTERNAL_IMPORT", "default": "EXTERNAL_IMPORT"},
			"CONNECTOR_SCOPE": map[string]any{"description": "Scope.", "type": "array", "default": []any{"a", "b"},
				"items": map[string]any{"type": "string"}},
			"CONNECTOR_AUTO": map[string]any{"description": "Auto.", "type": "boolean", "default": false},
			"X_PORT":         map[string]any{"description": "Port.", "type": "integer", "default": float64(9095)},
			"X_FROM":         map[string]any{"description": "Unix seconds.", "type": "integer"},
			"CONNECTOR_LOG_LEVEL": map[string]any{"description": "Level.", "type": "string", "default": "error",
				"enum": []any{"debug", "info", "warn", "warning", "error"}},
			"X_COLOUR": map[string]any{"description": "Colour.", "type": "string", "default": "red", "enum": []any{"red", "blue"}},
		},
		"required":             []any{"OPENCTI_URL", "OPENCTI_TOKEN"},
		"additionalProperties": true,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("ConfigSchema() (-want +got):\n%s", d)
	}
	// Properties keep the order of the Variables table.
	if i, j := strings.Index(string(b), `"OPENCTI_URL"`), strings.Index(string(b), `"X_COLOUR"`); i < 0 || j < i {
		t.Errorf("properties not in table order:\n%s", b)
	}
}

func TestConfigSchemaErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		v    Variable
		want string
	}{
		{"undocumented", Variable{Env: "X_NEW", Key: "x.new"}, "X_NEW: no description in the README"},
		{"bad typed default", Variable{Env: "X_PORT", Key: "x.port", Default: "many", Type: "integer"}, `X_PORT: default "many" is not an integer`},
	}
	for _, tt := range tests {
		_, err := ConfigSchema("demo", []Variable{tt.v}, []byte(schemaReadme))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: ConfigSchema() = %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}
