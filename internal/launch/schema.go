package launch

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Secret-looking variable names: their schema entry is a write-only password.
var secretSuffixes = []string{"_TOKEN", "_KEY", "_PASSWORD", "_SECRET", "_PASSPHRASE"}

// logLevels are the values CONNECTOR_LOG_LEVEL accepts (opencti/config).
var logLevels = []string{"debug", "info", "warn", "warning", "error"}

// SchemaType returns the JSON-schema type of the variable's value: Type when
// set; else array for CONNECTOR_SCOPE (a comma-separated list, as pycti reads
// it), boolean for a true/false default, integer for an integer default,
// string otherwise.
func (v Variable) SchemaType() string {
	switch {
	case v.Type != "":
		return v.Type
	case v.Env == "CONNECTOR_SCOPE":
		return "array"
	case v.Default == "true" || v.Default == "false":
		return "boolean"
	}
	if _, err := strconv.ParseInt(v.Default, 10, 64); err == nil {
		return "integer"
	}
	return "string"
}

// Secret reports whether the variable holds a secret: marked Sensitive, or
// by its name (…_TOKEN, …_KEY, …_PASSWORD, …_SECRET, …_PASSPHRASE).
func (v Variable) Secret() bool {
	if v.Sensitive {
		return true
	}
	for _, s := range secretSuffixes {
		if strings.HasSuffix(v.Env, s) {
			return true
		}
	}
	return false
}

// ConfigSchema returns connector_config_schema.json, the JSON schema of the
// connector's settings that OpenCTI's connector catalog and manager read, in
// the form of the OpenCTI connectors repository (properties named by
// environment variable, in the order of vars, "required" the mandatory ones,
// additional properties allowed). Each description is the README's
// (readme: the connector README, whose configuration tables have the columns
// Parameter | config.yml | Docker environment variable | Default | Mandatory
// | Description); a variable the README does not describe is an error. The
// type comes from [Variable.SchemaType]; secrets are write-only passwords,
// *_URL variables URIs, CONNECTOR_TYPE a constant.
func ConfigSchema(slug string, vars []Variable, readme []byte) ([]byte, error) {
	descriptions := readmeDescriptions(readme)
	var (
		buf      bytes.Buffer
		required []string
		errs     []error
	)
	buf.WriteString("{\n")
	fmt.Fprintf(&buf, "  \"$schema\": %q,\n", "https://json-schema.org/draft/2020-12/schema")
	fmt.Fprintf(&buf, "  \"$id\": %q,\n", "https://www.filigran.io/connectors/"+slug+"_config.schema.json")
	buf.WriteString("  \"type\": \"object\",\n  \"properties\": {")
	for i, v := range vars {
		desc, ok := descriptions[v.Env]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: no description in the README's configuration tables", v.Env))
			continue
		}
		prop, err := v.schemaProperty(desc)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", v.Env, err))
			continue
		}
		b, err := json.MarshalIndent(prop, "    ", "  ")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", v.Env, err)
		}
		if i > 0 {
			buf.WriteString(",")
		}
		fmt.Fprintf(&buf, "\n    %q: %s", v.Env, b)
		if v.Mandatory {
			required = append(required, v.Env)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("connector config schema: %w", err)
	}
	buf.WriteString("\n  },\n")
	req, err := json.MarshalIndent(required, "  ", "  ")
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(&buf, "  \"required\": %s,\n", req)
	buf.WriteString("  \"additionalProperties\": true\n}\n")
	return buf.Bytes(), nil
}

// schemaProperty is the variable's entry in the schema's properties (keys
// marshalled in alphabetical order, as upstream's files).
func (v Variable) schemaProperty(description string) (map[string]any, error) {
	p := map[string]any{"description": description}
	typ := v.SchemaType()
	p["type"] = typ
	if v.Default != "" {
		def, err := typedDefault(typ, v.Default)
		if err != nil {
			return nil, err
		}
		p["default"] = def
	}
	switch {
	case typ == "array":
		p["items"] = map[string]string{"type": "string"}
	case v.Secret():
		p["format"] = "password"
		p["writeOnly"] = true
	case strings.HasSuffix(v.Env, "_URL"):
		p["format"] = "uri"
	}
	switch {
	case len(v.Enum) > 0:
		p["enum"] = v.Enum
	case v.Env == "CONNECTOR_LOG_LEVEL":
		p["enum"] = logLevels
	case v.Env == "CONNECTOR_TYPE" && v.Default != "":
		p["const"] = v.Default
	}
	return p, nil
}

// typedDefault converts a default as the README writes it to the schema type.
func typedDefault(typ, def string) (any, error) {
	switch typ {
	case "boolean":
		b, err := strconv.ParseBool(def)
		if err != nil {
			return nil, fmt.Errorf("default %q is not a boolean", def)
		}
		return b, nil
	case "integer":
		n, err := strconv.ParseInt(def, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("default %q is not an integer", def)
		}
		return n, nil
	case "array":
		var items []string
		for item := range strings.SplitSeq(def, ",") {
			if item = strings.TrimSpace(item); item != "" {
				items = append(items, item)
			}
		}
		return items, nil
	}
	return def, nil
}

// readmeDescriptions returns the Description column of the README's
// configuration tables by environment variable, without Markdown code marks.
func readmeDescriptions(readme []byte) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(readme))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		cells := strings.Split(sc.Text(), "|")
		if len(cells) != 8 {
			continue
		}
		env := strings.Trim(strings.TrimSpace(cells[3]), "`")
		if env == "" || strings.HasPrefix(env, "-") || env == "Docker environment variable" {
			continue
		}
		out[env] = strings.ReplaceAll(strings.TrimSpace(cells[6]), "`", "")
	}
	return out
}
