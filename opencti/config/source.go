package config

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// LookupEnv reads one environment variable and reports whether it exists;
// os.LookupEnv fits.
type LookupEnv func(key string) (string, bool)

// DefaultFile is the name of the configuration file ReadSource looks for.
const DefaultFile = "config.yml"

// Source resolves settings the way pycti's get_config_variable does: the
// environment variable when it exists (even empty), else the config.yml value
// at "section.key" with its native YAML type, else the default. Getters never
// fail: they return the default and record a *Problem, so that Validate can
// report every problem at once. A Source is not safe for concurrent use.
type Source struct {
	env      LookupEnv
	path     string
	sections map[string]map[string]*yaml.Node
	keys     []fileKey
	used     map[string]bool
	problems []*Problem
	warnings []string
}

// fileKey is a key found in config.yml, kept in document order for warnings.
type fileKey struct {
	name    string // "section.key", or the top-level name when notSection
	section bool   // true for "section.key"
}

// NewSource builds a Source from an environment and the content of a
// config.yml file (nil or empty for none). The only error is a document that
// is not YAML, or whose top level is not a mapping of sections.
func NewSource(env LookupEnv, yamlDoc []byte) (*Source, error) {
	return newSource(env, yamlDoc, DefaultFile)
}

// ReadSource builds a Source from an environment and a config.yml file. With
// path "" it tries ./config.yml, then config.yml beside the executable, and
// uses no file when neither exists; a path that is given must exist.
func ReadSource(env LookupEnv, path string) (*Source, error) {
	if path != "" {
		data, err := os.ReadFile(path) //nolint:gosec // G304: the operator chooses the config file
		if err != nil {
			return nil, fmt.Errorf("read config file: %w", err)
		}
		return newSource(env, data, path)
	}
	for _, candidate := range defaultPaths() {
		data, err := os.ReadFile(candidate) //nolint:gosec // G304: fixed names, ./config.yml or beside the executable
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read config file: %w", err)
		}
		return newSource(env, data, candidate)
	}
	return newSource(env, nil, "")
}

// defaultPaths lists where ReadSource looks for config.yml when no path is given.
func defaultPaths() []string {
	paths := []string{DefaultFile}
	if exe, err := os.Executable(); err == nil {
		beside := filepath.Join(filepath.Dir(exe), DefaultFile)
		if abs, err := filepath.Abs(DefaultFile); err != nil || abs != beside {
			paths = append(paths, beside)
		}
	}
	return paths
}

func newSource(env LookupEnv, data []byte, name string) (*Source, error) {
	if env == nil {
		env = func(string) (string, bool) { return "", false }
	}
	s := &Source{
		env:      env,
		sections: map[string]map[string]*yaml.Node{},
		used:     map[string]bool{},
	}
	if len(data) > 0 {
		s.path = name
	}
	label := name
	if label == "" {
		label = DefaultFile
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse %s: %w", label, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return s, nil
	}
	root := resolve(doc.Content[0])
	if k, _ := classify(root); k == kindNull {
		return s, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("parse %s: line %d: the top level must be a mapping of sections (opencti:, connector:, ...), not %s", label, root.Line, kindName(root))
	}
	sections, dups := mappingPairs(root)
	for _, d := range dups {
		s.warn(fmt.Sprintf("config.yml: %s is defined more than once; the last one is used", d))
	}
	for _, sec := range sections {
		value := resolve(sec.value)
		if k, _ := classify(value); k == kindNull {
			s.sections[sec.key] = map[string]*yaml.Node{}
			continue
		}
		if value.Kind != yaml.MappingNode {
			s.keys = append(s.keys, fileKey{name: sec.key})
			continue
		}
		entries, dups := mappingPairs(value)
		for _, d := range dups {
			s.warn(fmt.Sprintf("config.yml: %s.%s is defined more than once; the last value is used", sec.key, d))
		}
		m := make(map[string]*yaml.Node, len(entries))
		for _, e := range entries {
			m[e.key] = resolve(e.value)
			s.keys = append(s.keys, fileKey{name: sec.key + "." + e.key, section: true})
		}
		s.sections[sec.key] = m
	}
	return s, nil
}

type pair struct {
	key   string
	value *yaml.Node
}

// mappingPairs lists the entries of a mapping node in document order, the last
// of duplicate keys winning as in PyYAML, with "<<" merge keys expanded
// (explicit keys override merged ones). dups names the duplicated keys.
func mappingPairs(n *yaml.Node) (pairs []pair, dups []string) {
	index := map[string]int{}
	explicit := map[string]bool{}
	set := func(k string, v *yaml.Node, fromMerge bool) {
		if i, ok := index[k]; ok {
			if fromMerge && explicit[k] {
				return
			}
			if !fromMerge && explicit[k] && !slices.Contains(dups, k) {
				dups = append(dups, k)
			}
			pairs[i].value = v
		} else {
			index[k] = len(pairs)
			pairs = append(pairs, pair{key: k, value: v})
		}
		if !fromMerge {
			explicit[k] = true
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		if k.ShortTag() == "!!merge" {
			sources := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				sources = v.Content
			}
			for _, src := range sources {
				if src = resolve(src); src.Kind == yaml.MappingNode {
					merged, _ := mappingPairs(src)
					for _, p := range merged {
						set(p.key, p.value, true)
					}
				}
			}
			continue
		}
		set(k.Value, v, false)
	}
	return pairs, dups
}

// resolve follows YAML aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// valueKind is the type a YAML value has for PyYAML.
type valueKind int

const (
	kindNull valueKind = iota
	kindBool
	kindInt
	kindFloat
	kindString
	kindMapping
	kindSequence
)

// classify returns the PyYAML (YAML 1.1) type of a node and, for booleans,
// its value: unquoted yes/no/on/off in any of PyYAML's spellings are booleans.
func classify(n *yaml.Node) (valueKind, bool) {
	switch n.Kind {
	case yaml.MappingNode:
		return kindMapping, false
	case yaml.SequenceNode, yaml.DocumentNode:
		return kindSequence, false
	}
	switch n.ShortTag() {
	case "!!null":
		return kindNull, false
	case "!!bool":
		v, ok := yaml11Bool(n.Value)
		if !ok {
			v = strings.EqualFold(n.Value, "true")
		}
		return kindBool, v
	case "!!int":
		return kindInt, false
	case "!!float":
		return kindFloat, false
	}
	const quoted = yaml.DoubleQuotedStyle | yaml.SingleQuotedStyle | yaml.LiteralStyle | yaml.FoldedStyle | yaml.TaggedStyle
	if n.Style&quoted == 0 {
		if v, ok := yaml11Bool(n.Value); ok {
			return kindBool, v
		}
	}
	return kindString, false
}

func kindName(n *yaml.Node) string {
	switch k, _ := classify(n); k {
	case kindMapping:
		return "a mapping"
	case kindSequence:
		return "a list"
	default:
		return "a single value"
	}
}

// origin says where a value was found.
type origin int

const (
	fromDefault origin = iota
	fromEnv
	fromFile
)

// found is the raw value of one setting.
type found struct {
	origin origin
	text   string     // the environment value or the YAML scalar as written
	node   *yaml.Node // the YAML value when origin is fromFile
}

// find applies the precedence: environment variable (even empty), then
// config.yml, then nothing. It marks the YAML key as known either way.
func (s *Source) find(env, key string) found {
	var node *yaml.Node
	if key != "" {
		node = s.fileNode(key)
	}
	if env != "" {
		if v, ok := s.env(env); ok {
			return found{origin: fromEnv, text: v}
		}
	}
	if node != nil {
		return found{origin: fromFile, text: node.Value, node: node}
	}
	return found{}
}

// fileNode returns the config.yml value at "section.key", nil when absent.
func (s *Source) fileNode(key string) *yaml.Node {
	section, name, ok := strings.Cut(key, ".")
	if !ok || section == "" || name == "" {
		s.AddProblem(&Problem{Key: key, Reason: "invalid config.yml key in the program: want section.key"})
		return nil
	}
	s.used[key] = true
	return s.sections[section][name]
}

// Path returns the config.yml file the Source was read from, "" for none.
func (s *Source) Path() string { return s.path }

// IsSet reports whether the environment variable exists (even empty) or the
// config.yml key exists (even null).
func (s *Source) IsSet(env, key string) bool {
	return s.find(env, key).origin != fromDefault
}

// present reports whether a non-empty value is set, i.e. whether the getters
// would not fall back to their default.
func (s *Source) present(env, key string) bool {
	f := s.find(env, key)
	switch f.origin {
	case fromEnv:
		return f.text != ""
	case fromFile:
		k, _ := classify(f.node)
		return k != kindNull && !(k == kindString && f.text == "")
	}
	return false
}

// AddProblem records a problem; connectors use it for their own checks so
// that Validate reports them with the SDK's. Duplicates are recorded once.
func (s *Source) AddProblem(p *Problem) {
	if p == nil {
		return
	}
	for _, q := range s.problems {
		if *q == *p {
			return
		}
	}
	s.problems = append(s.problems, p)
}

// AddWarning records a non-fatal remark, e.g. a deprecated connector setting.
// Warnings must not contain secret values.
func (s *Source) AddWarning(msg string) { s.warn(msg) }

func (s *Source) warn(msg string) {
	if !slices.Contains(s.warnings, msg) {
		s.warnings = append(s.warnings, msg)
	}
}

// Problems returns the problems recorded so far, in order.
func (s *Source) Problems() []*Problem { return slices.Clone(s.problems) }

// Validate returns every problem recorded so far, joined with errors.Join in
// the order they were found (each one a *Problem), or nil.
func (s *Source) Validate() error {
	errs := make([]error, len(s.problems))
	for i, p := range s.problems {
		errs[i] = p
	}
	return errors.Join(errs...)
}

// Warnings returns non-fatal remarks: booleans written in a form pycti would
// not read as a boolean, deprecated names, duplicated keys, and config.yml
// keys that no getter has read. Call it after every setting has been read.
func (s *Source) Warnings() []string {
	out := slices.Clone(s.warnings)
	for _, k := range s.keys {
		switch {
		case !k.section:
			out = append(out, fmt.Sprintf("config.yml: %s is not a section of settings (ignored)", k.name))
		case !s.used[k.name]:
			out = append(out, fmt.Sprintf("config.yml: %s is not a setting this connector reads (ignored)", k.name))
		}
	}
	return out
}

func (s *Source) problem(env, key, value string, secret bool, reason string) {
	s.AddProblem(&Problem{Env: env, Key: key, Value: value, Secret: secret, Reason: reason})
}

const notSingle = "must be a single value, not a mapping or a list"

// String returns the setting as a string, or def when it is not set or empty
// (pycti: an empty string falls back to the default). YAML scalars are
// returned as written; a YAML mapping or list is a problem.
func (s *Source) String(env, key, def string) string {
	v, ok, _ := s.text(env, key, false)
	if !ok || v == "" {
		return def
	}
	return v
}

// text returns the value as a string; ok is false when it is unset, null or
// invalid (a mapping or a list, recorded as a problem: invalid is then true).
func (s *Source) text(env, key string, secret bool) (value string, ok, invalid bool) {
	f := s.find(env, key)
	switch f.origin {
	case fromEnv:
		return f.text, true, false
	case fromFile:
		switch k, _ := classify(f.node); k {
		case kindNull:
			return "", false, false
		case kindMapping, kindSequence:
			s.problem(env, key, "", secret, notSingle)
			return "", false, true
		}
		return f.text, true, false
	}
	return "", false, false
}

// Required returns the setting as a string and records the problem
// "is required" when it is missing or empty.
func (s *Source) Required(env, key string) string {
	v, _, invalid := s.text(env, key, false)
	if v == "" && !invalid {
		s.problem(env, key, "", false, "is required")
	}
	return v
}

// Secret returns the setting as a Secret. When required, a missing or empty
// value is a problem. Problems never show the value.
func (s *Source) Secret(env, key string, required bool) Secret {
	v, _, invalid := s.text(env, key, true)
	if v == "" && required && !invalid {
		s.problem(env, key, "", true, "is required")
	}
	return Secret(v)
}

const boolReason = "must be a boolean: true or false (also accepted: yes, no, on, off, 1, 0, in any case)"

// Bool returns the setting as a boolean, def when unset or empty. pycti reads
// yes/true/True and no/false/False (and YAML's unquoted booleans); this SDK
// also accepts on/off/1/0 in any case, with a warning since pycti would not
// read them as booleans. Anything else is a problem.
func (s *Source) Bool(env, key string, def bool) bool {
	v, ok := s.boolValue(env, key)
	if !ok {
		return def
	}
	return v
}

// boolValue returns the boolean, false when unset, empty or invalid.
func (s *Source) boolValue(env, key string) (bool, bool) {
	f := s.find(env, key)
	switch f.origin {
	case fromDefault:
		return false, false
	case fromFile:
		switch k, b := classify(f.node); k {
		case kindNull:
			return false, false
		case kindBool:
			return b, true
		case kindMapping, kindSequence:
			s.problem(env, key, "", false, boolReason)
			return false, false
		}
	}
	if f.text == "" {
		return false, false
	}
	b, pycti, ok := boolForm(f.text)
	if !ok {
		s.problem(env, key, f.text, false, boolReason)
		return false, false
	}
	if !pycti {
		s.warn(fmt.Sprintf("%s = %q: read as %t, but pycti reads only yes/true/True and no/false/False as booleans", subject(env, key), f.text, b))
	}
	return b, true
}

const intReason = "must be an integer"

// Int returns the setting as an integer parsed like Python's int() (optional
// sign, surrounding whitespace, digits with single underscores), def when it
// is unset or the environment variable is empty. A YAML null or empty string,
// a fraction ("1.5") or text is a problem, as it makes pycti fail. A YAML
// float with no fractional part (8.0) is accepted.
func (s *Source) Int(env, key string, def int) int {
	f := s.find(env, key)
	switch f.origin {
	case fromDefault:
		return def
	case fromEnv:
		if f.text == "" {
			return def
		}
	case fromFile:
		switch k, _ := classify(f.node); k {
		case kindInt, kindFloat:
			var n any
			if err := f.node.Decode(&n); err == nil {
				switch x := n.(type) {
				case int:
					return x
				case int64:
					return int(x)
				case uint64:
					if x <= math.MaxInt64 {
						return int(x)
					}
				case float64:
					if x == math.Trunc(x) && math.Abs(x) < 1<<62 {
						return int(x)
					}
				}
			}
			s.problem(env, key, f.text, false, intReason)
			return def
		case kindString:
		case kindMapping, kindSequence:
			s.problem(env, key, "", false, intReason)
			return def
		default:
			s.problem(env, key, f.text, false, intReason)
			return def
		}
	}
	n, err := parsePyInt(f.text)
	if err != nil {
		s.problem(env, key, f.text, false, intReason)
		return def
	}
	return int(n)
}

const floatReason = "must be a number"

// Float returns the setting as a number parsed like Python's float(), def when
// it is unset or the environment variable is empty. A YAML null or empty
// string, or text, is a problem.
func (s *Source) Float(env, key string, def float64) float64 {
	f := s.find(env, key)
	switch f.origin {
	case fromDefault:
		return def
	case fromEnv:
		if f.text == "" {
			return def
		}
	case fromFile:
		switch k, _ := classify(f.node); k {
		case kindInt, kindFloat:
			var x float64
			if err := f.node.Decode(&x); err == nil {
				return x
			}
			s.problem(env, key, f.text, false, floatReason)
			return def
		case kindString:
		case kindMapping, kindSequence:
			s.problem(env, key, "", false, floatReason)
			return def
		default:
			s.problem(env, key, f.text, false, floatReason)
			return def
		}
	}
	x, err := parsePyFloat(f.text)
	if err != nil {
		s.problem(env, key, f.text, false, floatReason)
		return def
	}
	return x
}

const durationReason = "must be an ISO-8601 duration such as PT30S, PT1H or P1D"

// Duration returns the setting as a duration: an ISO-8601 string read by
// ParseDuration, "0" meaning zero (pycti's schedule_iso), or a YAML number of
// seconds (pydantic reads numbers as seconds). Unset, empty or null gives def.
func (s *Source) Duration(env, key string, def time.Duration) time.Duration {
	f := s.find(env, key)
	switch f.origin {
	case fromDefault:
		return def
	case fromFile:
		switch k, _ := classify(f.node); k {
		case kindNull:
			return def
		case kindInt, kindFloat:
			var x float64
			if err := f.node.Decode(&x); err == nil {
				// pydantic: seconds, at microsecond resolution.
				micros := math.Round(x * 1e6)
				if !math.IsNaN(micros) && math.Abs(micros) < float64(math.MaxInt64/int64(time.Microsecond)) {
					return time.Duration(micros) * time.Microsecond
				}
			}
			s.problem(env, key, f.text, false, durationReason+" or a number of seconds, within about 292 years")
			return def
		case kindString:
		default:
			s.problem(env, key, f.text, false, durationReason)
			return def
		}
	}
	switch f.text {
	case "":
		return def
	case "0":
		return 0
	}
	d, detail := parseISODuration(f.text)
	if detail != "" {
		s.problem(env, key, f.text, false, durationReason+" ("+detail+")")
		return def
	}
	return d
}

// List returns the setting split on commas, items trimmed and empty items
// dropped (pycti 7; pycti 6 did not trim); a YAML list is also accepted.
// Unset, empty or null gives a copy of def.
func (s *Source) List(env, key string, def []string) []string {
	f := s.find(env, key)
	var items []string
	switch f.origin {
	case fromDefault:
		return slices.Clone(def)
	case fromEnv:
		items = strings.Split(f.text, ",")
	case fromFile:
		switch k, _ := classify(f.node); k {
		case kindNull:
			return slices.Clone(def)
		case kindMapping:
			s.problem(env, key, "", false, "must be a comma-separated list")
			return slices.Clone(def)
		case kindSequence:
			for _, item := range f.node.Content {
				item = resolve(item)
				if item.Kind != yaml.ScalarNode {
					s.problem(env, key, "", false, "must be a comma-separated list")
					return slices.Clone(def)
				}
				items = append(items, strings.Split(item.Value, ",")...)
			}
		default:
			items = strings.Split(f.text, ",")
		}
	}
	out := make([]string, 0, len(items))
	for _, item := range items {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	if len(out) == 0 {
		return slices.Clone(def)
	}
	return out
}
