package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// envOf turns a map into a LookupEnv.
func envOf(m map[string]string) LookupEnv {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// problemStrings returns the messages of the problems recorded in s.
func problemStrings(s *Source) []string {
	var out []string
	for _, p := range s.Problems() {
		out = append(out, p.Error())
	}
	return out
}

func TestGetters(t *testing.T) {
	const env, key = "X_VAR", "sec.key"
	const subj = `X_VAR (config.yml: sec.key)`
	tests := []struct {
		name     string
		env      map[string]string // X_VAR only
		yaml     string            // the value of sec.key; "-" for no key
		get      func(*Source) any
		want     any
		problems []string
		warnings []string
	}{
		// Precedence.
		{name: "string/env wins", env: map[string]string{env: "from-env"}, yaml: "from-yaml",
			get: func(s *Source) any { return s.String(env, key, "def") }, want: "from-env"},
		{name: "string/empty env gives the default, not YAML", env: map[string]string{env: ""}, yaml: "from-yaml",
			get: func(s *Source) any { return s.String(env, key, "def") }, want: "def"},
		{name: "string/yaml", yaml: "from-yaml",
			get: func(s *Source) any { return s.String(env, key, "def") }, want: "from-yaml"},
		{name: "string/default", yaml: "-",
			get: func(s *Source) any { return s.String(env, key, "def") }, want: "def"},
		{name: "string/yaml null", yaml: "",
			get: func(s *Source) any { return s.String(env, key, "def") }, want: "def"},
		{name: "string/yaml empty string", yaml: `""`,
			get: func(s *Source) any { return s.String(env, key, "def") }, want: "def"},
		{name: "string/yaml int as written", yaml: "0755",
			get: func(s *Source) any { return s.String(env, key, "def") }, want: "0755"},
		{name: "string/yaml mapping", yaml: "{a: 1}",
			get:      func(s *Source) any { return s.String(env, key, "def") },
			want:     "def",
			problems: []string{subj + ": must be a single value, not a mapping or a list"}},
		{name: "string/no env name reads yaml only", env: map[string]string{"": "x"}, yaml: "y",
			get: func(s *Source) any { return s.String("", key, "def") }, want: "y"},

		// Required and Secret.
		{name: "required/missing", yaml: "-",
			get: func(s *Source) any { return s.Required(env, key) }, want: "",
			problems: []string{subj + ": is required"}},
		{name: "required/empty env hides yaml", env: map[string]string{env: ""}, yaml: "y",
			get: func(s *Source) any { return s.Required(env, key) }, want: "",
			problems: []string{subj + ": is required"}},
		{name: "required/yaml null", yaml: "~",
			get: func(s *Source) any { return s.Required(env, key) }, want: "",
			problems: []string{subj + ": is required"}},
		{name: "secret/required missing", yaml: "-",
			get: func(s *Source) any { return s.Secret(env, key, true).Reveal() }, want: "",
			problems: []string{subj + ": is required"}},
		{name: "secret/optional missing", yaml: "-",
			get: func(s *Source) any { return s.Secret(env, key, false).Reveal() }, want: ""},
		{name: "secret/yaml", yaml: "hunter2",
			get: func(s *Source) any { return s.Secret(env, key, true).Reveal() }, want: "hunter2"},

		// Booleans: pycti forms, YAML 1.1 natives, accepted extras with a warning.
		{name: "bool/env true", env: map[string]string{env: "true"}, yaml: "-",
			get: func(s *Source) any { return s.Bool(env, key, false) }, want: true},
		{name: "bool/env True", env: map[string]string{env: "True"}, yaml: "-",
			get: func(s *Source) any { return s.Bool(env, key, false) }, want: true},
		{name: "bool/env yes", env: map[string]string{env: "yes"}, yaml: "-",
			get: func(s *Source) any { return s.Bool(env, key, false) }, want: true},
		{name: "bool/env no", env: map[string]string{env: "no"}, yaml: "-",
			get: func(s *Source) any { return s.Bool(env, key, true) }, want: false},
		{name: "bool/env False", env: map[string]string{env: "False"}, yaml: "-",
			get: func(s *Source) any { return s.Bool(env, key, true) }, want: false},
		{name: "bool/env TRUE warns", env: map[string]string{env: "TRUE"}, yaml: "-",
			get: func(s *Source) any { return s.Bool(env, key, false) }, want: true,
			warnings: []string{subj + ` = "TRUE": read as true, but pycti reads only yes/true/True and no/false/False as booleans`}},
		{name: "bool/env 1 warns", env: map[string]string{env: "1"}, yaml: "-",
			get: func(s *Source) any { return s.Bool(env, key, false) }, want: true,
			warnings: []string{subj + ` = "1": read as true, but pycti reads only yes/true/True and no/false/False as booleans`}},
		{name: "bool/env off warns", env: map[string]string{env: "off"}, yaml: "-",
			get: func(s *Source) any { return s.Bool(env, key, true) }, want: false,
			warnings: []string{subj + ` = "off": read as false, but pycti reads only yes/true/True and no/false/False as booleans`}},
		{name: "bool/env Yes warns", env: map[string]string{env: "Yes"}, yaml: "-",
			get: func(s *Source) any { return s.Bool(env, key, false) }, want: true,
			warnings: []string{subj + ` = "Yes": read as true, but pycti reads only yes/true/True and no/false/False as booleans`}},
		{name: "bool/env invalid", env: map[string]string{env: "maybe"}, yaml: "-",
			get: func(s *Source) any { return s.Bool(env, key, true) }, want: true,
			problems: []string{subj + ` = "maybe": must be a boolean: true or false (also accepted: yes, no, on, off, 1, 0, in any case)`}},
		{name: "bool/env with spaces is invalid", env: map[string]string{env: " true"}, yaml: "-",
			get: func(s *Source) any { return s.Bool(env, key, false) }, want: false,
			problems: []string{subj + ` = " true": must be a boolean: true or false (also accepted: yes, no, on, off, 1, 0, in any case)`}},
		{name: "bool/empty env gives the default", env: map[string]string{env: ""}, yaml: "false",
			get: func(s *Source) any { return s.Bool(env, key, true) }, want: true},
		{name: "bool/yaml native true", yaml: "true",
			get: func(s *Source) any { return s.Bool(env, key, false) }, want: true},
		{name: "bool/yaml plain TRUE is native", yaml: "TRUE",
			get: func(s *Source) any { return s.Bool(env, key, false) }, want: true},
		{name: "bool/yaml plain yes is native (YAML 1.1)", yaml: "yes",
			get: func(s *Source) any { return s.Bool(env, key, false) }, want: true},
		{name: "bool/yaml plain off is native (YAML 1.1)", yaml: "Off",
			get: func(s *Source) any { return s.Bool(env, key, true) }, want: false},
		{name: "bool/yaml quoted false is pycti falsy", yaml: "'false'",
			get: func(s *Source) any { return s.Bool(env, key, true) }, want: false},
		{name: "bool/yaml quoted TRUE warns", yaml: `"TRUE"`,
			get: func(s *Source) any { return s.Bool(env, key, false) }, want: true,
			warnings: []string{subj + ` = "TRUE": read as true, but pycti reads only yes/true/True and no/false/False as booleans`}},
		{name: "bool/yaml 1 warns", yaml: "1",
			get: func(s *Source) any { return s.Bool(env, key, false) }, want: true,
			warnings: []string{subj + ` = "1": read as true, but pycti reads only yes/true/True and no/false/False as booleans`}},
		{name: "bool/yaml 2 invalid", yaml: "2",
			get: func(s *Source) any { return s.Bool(env, key, false) }, want: false,
			problems: []string{subj + ` = "2": must be a boolean: true or false (also accepted: yes, no, on, off, 1, 0, in any case)`}},
		{name: "bool/yaml null gives the default", yaml: "null",
			get: func(s *Source) any { return s.Bool(env, key, true) }, want: true},
		{name: "bool/yaml list", yaml: "[true]",
			get: func(s *Source) any { return s.Bool(env, key, false) }, want: false,
			problems: []string{subj + `: must be a boolean: true or false (also accepted: yes, no, on, off, 1, 0, in any case)`}},

		// Integers: Python int().
		{name: "int/env", env: map[string]string{env: "42"}, yaml: "-",
			get: func(s *Source) any { return s.Int(env, key, 7) }, want: 42},
		{name: "int/env spaces and sign", env: map[string]string{env: " +42\n"}, yaml: "-",
			get: func(s *Source) any { return s.Int(env, key, 7) }, want: 42},
		{name: "int/env negative", env: map[string]string{env: "-3"}, yaml: "-",
			get: func(s *Source) any { return s.Int(env, key, 7) }, want: -3},
		{name: "int/env underscores", env: map[string]string{env: "1_000"}, yaml: "-",
			get: func(s *Source) any { return s.Int(env, key, 7) }, want: 1000},
		{name: "int/env leading zeros", env: map[string]string{env: "0080"}, yaml: "-",
			get: func(s *Source) any { return s.Int(env, key, 7) }, want: 80},
		{name: "int/env fraction", env: map[string]string{env: "1.5"}, yaml: "-",
			get: func(s *Source) any { return s.Int(env, key, 7) }, want: 7,
			problems: []string{subj + ` = "1.5": must be an integer`}},
		{name: "int/env text", env: map[string]string{env: "abc"}, yaml: "-",
			get: func(s *Source) any { return s.Int(env, key, 7) }, want: 7,
			problems: []string{subj + ` = "abc": must be an integer`}},
		{name: "int/env double underscore", env: map[string]string{env: "1__0"}, yaml: "-",
			get: func(s *Source) any { return s.Int(env, key, 7) }, want: 7,
			problems: []string{subj + ` = "1__0": must be an integer`}},
		{name: "int/env overflow", env: map[string]string{env: "99999999999999999999"}, yaml: "-",
			get: func(s *Source) any { return s.Int(env, key, 7) }, want: 7,
			problems: []string{subj + ` = "99999999999999999999": must be an integer`}},
		{name: "int/empty env gives the default", env: map[string]string{env: ""}, yaml: "5",
			get: func(s *Source) any { return s.Int(env, key, 7) }, want: 7},
		{name: "int/yaml native", yaml: "9095",
			get: func(s *Source) any { return s.Int(env, key, 7) }, want: 9095},
		{name: "int/yaml hex", yaml: "0x1F",
			get: func(s *Source) any { return s.Int(env, key, 7) }, want: 31},
		{name: "int/yaml string", yaml: `"9095"`,
			get: func(s *Source) any { return s.Int(env, key, 7) }, want: 9095},
		{name: "int/yaml whole float", yaml: "8.0",
			get: func(s *Source) any { return s.Int(env, key, 7) }, want: 8},
		{name: "int/yaml fraction", yaml: "8.5",
			get: func(s *Source) any { return s.Int(env, key, 7) }, want: 7,
			problems: []string{subj + ` = "8.5": must be an integer`}},
		{name: "int/yaml null", yaml: "",
			get: func(s *Source) any { return s.Int(env, key, 7) }, want: 7,
			problems: []string{subj + `: must be an integer`}},
		{name: "int/yaml empty string", yaml: `''`,
			get: func(s *Source) any { return s.Int(env, key, 7) }, want: 7,
			problems: []string{subj + `: must be an integer`}},
		{name: "int/yaml bool", yaml: "true",
			get: func(s *Source) any { return s.Int(env, key, 7) }, want: 7,
			problems: []string{subj + ` = "true": must be an integer`}},

		// Floats: Python float().
		{name: "float/env", env: map[string]string{env: "1.5"}, yaml: "-",
			get: func(s *Source) any { return s.Float(env, key, 500) }, want: 1.5},
		{name: "float/env exponent and spaces", env: map[string]string{env: " 1e3 "}, yaml: "-",
			get: func(s *Source) any { return s.Float(env, key, 500) }, want: 1000.0},
		{name: "float/env leading dot", env: map[string]string{env: ".5"}, yaml: "-",
			get: func(s *Source) any { return s.Float(env, key, 500) }, want: 0.5},
		{name: "float/env hex rejected", env: map[string]string{env: "0x10"}, yaml: "-",
			get: func(s *Source) any { return s.Float(env, key, 500) }, want: 500.0,
			problems: []string{subj + ` = "0x10": must be a number`}},
		{name: "float/env text", env: map[string]string{env: "lots"}, yaml: "-",
			get: func(s *Source) any { return s.Float(env, key, 500) }, want: 500.0,
			problems: []string{subj + ` = "lots": must be a number`}},
		{name: "float/empty env", env: map[string]string{env: ""}, yaml: "3",
			get: func(s *Source) any { return s.Float(env, key, 500) }, want: 500.0},
		{name: "float/yaml int", yaml: "3",
			get: func(s *Source) any { return s.Float(env, key, 500) }, want: 3.0},
		{name: "float/yaml string", yaml: `"2.5"`,
			get: func(s *Source) any { return s.Float(env, key, 500) }, want: 2.5},

		// Durations.
		{name: "duration/env iso", env: map[string]string{env: "PT1H"}, yaml: "-",
			get: func(s *Source) any { return s.Duration(env, key, time.Minute) }, want: time.Hour},
		{name: "duration/env 0", env: map[string]string{env: "0"}, yaml: "-",
			get: func(s *Source) any { return s.Duration(env, key, time.Minute) }, want: time.Duration(0)},
		{name: "duration/empty env", env: map[string]string{env: ""}, yaml: "P1D",
			get: func(s *Source) any { return s.Duration(env, key, time.Minute) }, want: time.Minute},
		{name: "duration/yaml iso", yaml: "P1D",
			get: func(s *Source) any { return s.Duration(env, key, time.Minute) }, want: 24 * time.Hour},
		{name: "duration/yaml int is seconds", yaml: "86400",
			get: func(s *Source) any { return s.Duration(env, key, time.Minute) }, want: 24 * time.Hour},
		{name: "duration/yaml float is seconds", yaml: "1.5",
			get: func(s *Source) any { return s.Duration(env, key, time.Minute) }, want: 1500 * time.Millisecond},
		{name: "duration/yaml 0", yaml: "0",
			get: func(s *Source) any { return s.Duration(env, key, time.Minute) }, want: time.Duration(0)},
		{name: "duration/yaml null", yaml: "~",
			get: func(s *Source) any { return s.Duration(env, key, time.Minute) }, want: time.Minute},
		{name: "duration/env seconds string rejected", env: map[string]string{env: "3600"}, yaml: "-",
			get: func(s *Source) any { return s.Duration(env, key, time.Minute) }, want: time.Minute,
			problems: []string{subj + ` = "3600": must be an ISO-8601 duration such as PT30S, PT1H or P1D (must start with "P" (upper case), e.g. PT1H or P1D)`}},
		{name: "duration/env lower case rejected", env: map[string]string{env: "pt1h"}, yaml: "-",
			get: func(s *Source) any { return s.Duration(env, key, time.Minute) }, want: time.Minute,
			problems: []string{subj + ` = "pt1h": must be an ISO-8601 duration such as PT30S, PT1H or P1D (must start with "P" (upper case), e.g. PT1H or P1D)`}},
		{name: "duration/yaml bool", yaml: "yes",
			get: func(s *Source) any { return s.Duration(env, key, time.Minute) }, want: time.Minute,
			problems: []string{subj + ` = "yes": must be an ISO-8601 duration such as PT30S, PT1H or P1D`}},

		// Lists.
		{name: "list/env trimmed, empty items dropped", env: map[string]string{env: " IPv4-Addr, Domain-Name,, "}, yaml: "-",
			get: func(s *Source) any { return s.List(env, key, []string{"d"}) }, want: []string{"IPv4-Addr", "Domain-Name"}},
		{name: "list/yaml string", yaml: "a,b",
			get: func(s *Source) any { return s.List(env, key, []string{"d"}) }, want: []string{"a", "b"}},
		{name: "list/yaml list", yaml: "[a, ' b']",
			get: func(s *Source) any { return s.List(env, key, []string{"d"}) }, want: []string{"a", "b"}},
		{name: "list/empty env", env: map[string]string{env: ""}, yaml: "a",
			get: func(s *Source) any { return s.List(env, key, []string{"d"}) }, want: []string{"d"}},
		{name: "list/only commas", env: map[string]string{env: " , ,"}, yaml: "-",
			get: func(s *Source) any { return s.List(env, key, []string{"d"}) }, want: []string{"d"}},
		{name: "list/yaml mapping", yaml: "{a: b}",
			get: func(s *Source) any { return s.List(env, key, []string{"d"}) }, want: []string{"d"},
			problems: []string{subj + `: must be a comma-separated list`}},

		// IsSet.
		{name: "isset/empty env", env: map[string]string{env: ""}, yaml: "-",
			get: func(s *Source) any { return s.IsSet(env, key) }, want: true},
		{name: "isset/yaml null", yaml: "",
			get: func(s *Source) any { return s.IsSet(env, key) }, want: true},
		{name: "isset/nothing", yaml: "-",
			get: func(s *Source) any { return s.IsSet(env, key) }, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := "sec:\n  other: 1\n"
			if tt.yaml != "-" {
				doc = "sec:\n  key: " + tt.yaml + "\n"
			}
			s, err := NewSource(envOf(tt.env), []byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			got := tt.get(s)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("value (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.problems, problemStrings(s)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
			warnings := s.Warnings()
			if tt.yaml == "-" {
				warnings = warnings[:len(warnings)-1] // sec.other is never read
			}
			if diff := cmp.Diff(tt.warnings, warnings, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateJoinsProblemsInOrder(t *testing.T) {
	s, err := NewSource(envOf(map[string]string{"A": "x", "B": "y"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(); err != nil {
		t.Fatalf("Validate() = %v before any problem", err)
	}
	s.Int("A", "", 0)
	s.Int("B", "", 0)
	s.Int("A", "", 0) // the same problem again is recorded once
	s.AddProblem(&Problem{Env: "C", Reason: "custom check"})
	err = s.Validate()
	want := "A = \"x\": must be an integer\nB = \"y\": must be an integer\nC: custom check"
	if err == nil || err.Error() != want {
		t.Fatalf("Validate() = %v, want %q", err, want)
	}
	var p *Problem
	if !errors.As(err, &p) || p.Env != "A" {
		t.Errorf("errors.As(Validate(), *Problem) = %v, want the first problem", p)
	}
}

func TestProblemError(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{Env: "E", Key: "s.k", Value: "v", Reason: "r"}, `E (config.yml: s.k) = "v": r`},
		{Problem{Env: "E", Key: "s.k", Value: "hunter2", Secret: true, Reason: "r"}, `E (config.yml: s.k) = REDACTED: r`},
		{Problem{Env: "E", Reason: "r"}, `E: r`},
		{Problem{Key: "s.k", Value: "v\n", Reason: "r"}, `config.yml: s.k = "v\n": r`},
		{Problem{Reason: "r"}, `configuration: r`},
		{Problem{Env: "E", Value: strings.Repeat("x", 130), Reason: "r"}, `E = "` + strings.Repeat("x", 120) + `...": r`},
	}
	for _, tt := range tests {
		if got := tt.p.Error(); got != tt.want {
			t.Errorf("%+v.Error() = %q, want %q", tt.p, got, tt.want)
		}
	}
}

func TestWarningsListUnreadKeys(t *testing.T) {
	doc := `
opencti:
  url: http://x
connector:
  id: a
  confidence_levl: 10
  id: b
riskiq:
  api_key: k
  max_tlp: TLP:AMBER
debug: true
empty:
`
	s, err := NewSource(nil, []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.String("CONNECTOR_ID", "connector.id", ""); got != "b" {
		t.Errorf("duplicate key: got %q, want the last value b", got)
	}
	s.String("OPENCTI_URL", "opencti.url", "")
	s.Secret("RISKIQ_API_KEY", "riskiq.api_key", true)
	want := []string{
		"config.yml: connector.id is defined more than once; the last value is used",
		"config.yml: connector.confidence_levl is not a setting this connector reads (ignored)",
		"config.yml: riskiq.max_tlp is not a setting this connector reads (ignored)",
		"config.yml: debug is not a section of settings (ignored)",
	}
	if diff := cmp.Diff(want, s.Warnings()); diff != "" {
		t.Errorf("Warnings() (-want +got):\n%s", diff)
	}
}

func TestYAMLAnchorsAndMerge(t *testing.T) {
	doc := `
base: &base
  name: from-anchor
  scope: a,b
connector:
  <<: *base
  name: explicit
  type: &t EXTERNAL_IMPORT
other:
  type: *t
`
	s, err := NewSource(nil, []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	got := []string{
		s.String("", "connector.name", ""),
		strings.Join(s.List("", "connector.scope", nil), "|"),
		s.String("", "connector.type", ""),
		s.String("", "other.type", ""),
	}
	want := []string{"explicit", "a|b", "EXTERNAL_IMPORT", "EXTERNAL_IMPORT"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestNewSourceErrors(t *testing.T) {
	tests := []struct{ doc, want string }{
		{"opencti: [1", "parse config.yml: yaml: line 1: did not find expected ',' or ']'"},
		{"- a\n- b\n", "parse config.yml: line 1: the top level must be a mapping of sections (opencti:, connector:, ...), not a list"},
		{"just text", "parse config.yml: line 1: the top level must be a mapping of sections (opencti:, connector:, ...), not a single value"},
	}
	for _, tt := range tests {
		_, err := NewSource(nil, []byte(tt.doc))
		if err == nil || err.Error() != tt.want {
			t.Errorf("NewSource(%q) error = %v, want %q", tt.doc, err, tt.want)
		}
	}
	for _, doc := range []string{"", "# only a comment\n", "~\n", "---\n"} {
		s, err := NewSource(nil, []byte(doc))
		if err != nil || len(s.Warnings()) != 0 {
			t.Errorf("NewSource(%q) = %v, %v; want an empty source", doc, s, err)
		}
	}
}

func TestReadSource(t *testing.T) {
	env := envOf(nil)
	t.Run("given path", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "custom.yml")
		if err := os.WriteFile(path, []byte("connector:\n  name: From File\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := ReadSource(env, path)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.String("CONNECTOR_NAME", "connector.name", ""); got != "From File" || s.Path() != path {
			t.Errorf("name %q, path %q; want From File, %q", got, s.Path(), path)
		}
	})
	t.Run("given path missing", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "nope.yml")
		_, err := ReadSource(env, path)
		if err == nil || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), path) {
			t.Errorf("ReadSource(missing) error = %v, want a not-exist error naming the path", err)
		}
	})
	t.Run("given path unparsable", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "bad.yml")
		if err := os.WriteFile(path, []byte("connector: [\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := ReadSource(env, path)
		if err == nil || !strings.HasPrefix(err.Error(), "parse "+path+": yaml: ") {
			t.Errorf("ReadSource(bad) error = %v, want it to name the file", err)
		}
	})
	t.Run("working directory", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "config.yml"), []byte("connector:\n  name: From CWD\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Chdir(dir)
		s, err := ReadSource(env, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := s.String("CONNECTOR_NAME", "connector.name", ""); got != "From CWD" || s.Path() != "config.yml" {
			t.Errorf("name %q, path %q; want From CWD, config.yml", got, s.Path())
		}
	})
	t.Run("no file anywhere", func(t *testing.T) {
		t.Chdir(t.TempDir())
		s, err := ReadSource(env, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := s.String("CONNECTOR_NAME", "connector.name", "def"); got != "def" || s.Path() != "" {
			t.Errorf("name %q, path %q; want def and no file", got, s.Path())
		}
	})
}

func TestPyFloat(t *testing.T) {
	ok := map[string]float64{"1": 1, "-1.5": -1.5, "+.5": 0.5, "1.": 1, "1_0.0_1": 10.01, "1e-2": 0.01, "1E+2": 100, "  3  ": 3}
	for in, want := range ok {
		if got, err := parsePyFloat(in); err != nil || got != want {
			t.Errorf("parsePyFloat(%q) = %v, %v, want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", ".", "e1", "1e", "1_", "_1", "1__0", "0x1p3", "1.2.3", "--1", "1e1.5", "inf inity"} {
		if got, err := parsePyFloat(in); err == nil {
			t.Errorf("parsePyFloat(%q) = %v, want an error", in, got)
		}
	}
	for _, in := range []string{"inf", "-Infinity", "NaN", "1e400"} {
		if _, err := parsePyFloat(in); err != nil {
			t.Errorf("parsePyFloat(%q) error %v, want Python's acceptance", in, err)
		}
	}
}

func TestAddWarningAndBadKey(t *testing.T) {
	s, err := NewSource(nil, []byte("sec:\n  key: 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	s.AddWarning("RISKIQ_INTERVAL_SEC is deprecated: use CONNECTOR_DURATION_PERIOD")
	s.AddWarning("RISKIQ_INTERVAL_SEC is deprecated: use CONNECTOR_DURATION_PERIOD")
	s.String("", "sec.key", "")
	if got := s.String("X", "nodot", "def"); got != "def" {
		t.Errorf("String with a bad key = %q, want the default", got)
	}
	if diff := cmp.Diff([]string{"RISKIQ_INTERVAL_SEC is deprecated: use CONNECTOR_DURATION_PERIOD"}, s.Warnings()); diff != "" {
		t.Errorf("Warnings() (-want +got):\n%s", diff)
	}
	want := []string{"config.yml: nodot: invalid config.yml key in the program: want section.key"}
	if diff := cmp.Diff(want, problemStrings(s)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}
