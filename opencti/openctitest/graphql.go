package openctitest

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Error codes the platform (Apollo Server and OpenCTI's error helpers) puts in
// errors[].extensions.code.
const (
	codeValidationFailed = "GRAPHQL_VALIDATION_FAILED"
	codeParseFailed      = "GRAPHQL_PARSE_FAILED"
	codeBadUserInput     = "BAD_USER_INPUT"
	codeBadRequest       = "BAD_REQUEST"
	codeOperationFailure = "OPERATION_RESOLUTION_FAILURE"
	codeInternal         = "INTERNAL_SERVER_ERROR"
	codeAuthRequired     = "AUTH_REQUIRED"
	codeFunctional       = "FUNCTIONAL_ERROR"
	codeUnsupported      = "UNSUPPORTED_ERROR"
)

// lazy is a field value computed only when a request selects the field; it
// receives the field's coerced arguments.
type lazy func(args map[string]any) (any, error)

// apiError is an error a resolver returns, rendered like OpenCTI's
// GraphQLError helpers (config/errors.ts).
type apiError struct {
	code string
	msg  string
	data map[string]any
}

func (e *apiError) Error() string { return e.msg }

// functionalError is OpenCTI's FunctionalError.
func functionalError(msg string, data map[string]any) *apiError {
	d := map[string]any{"http_status": 400, "genre": "BUSINESS"}
	for k, v := range data {
		d[k] = v
	}
	return &apiError{code: codeFunctional, msg: msg, data: d}
}

// authRequired is OpenCTI's AuthRequired.
func authRequired() *apiError {
	return &apiError{code: codeAuthRequired, msg: "You must be logged in to do this.",
		data: map[string]any{"http_status": 401, "genre": "TECHNICAL"}}
}

// unsupportedError is OpenCTI's UnsupportedError.
func unsupportedError(msg string, data map[string]any) *apiError {
	d := map[string]any{"http_status": 500, "genre": "BUSINESS"}
	for k, v := range data {
		d[k] = v
	}
	return &apiError{code: codeUnsupported, msg: msg, data: d}
}

// platformMessage is an error whose text reproduces a message of the
// platform (graphql-js, the worker); those start with a capital letter and
// often end with a period.
type platformMessage string

func (m platformMessage) Error() string { return string(m) }

// messagef formats a platformMessage.
func messagef(format string, args ...any) error {
	return platformMessage(fmt.Sprintf(format, args...))
}

// gqlError is one entry of a response's errors array.
type gqlError struct {
	message   string
	locations []gqlerror.Location
	path      []any
	code      string
	data      map[string]any
	named     bool // resolver errors carry "name" = code, as the platform sends them
}

func (e *gqlError) json() *object {
	o := newObject("message", e.message)
	if len(e.locations) > 0 {
		locs := make([]any, 0, len(e.locations))
		for _, l := range e.locations {
			locs = append(locs, newObject("line", l.Line, "column", l.Column))
		}
		o.set("locations", locs)
	}
	if e.path != nil {
		o.set("path", e.path)
	}
	if e.named {
		o.set("name", e.code)
	}
	ext := newObject("code", e.code)
	if len(e.data) > 0 {
		ext.set("data", e.data)
	}
	o.set("extensions", ext)
	return o
}

// fieldLocation returns the location of a field for error messages.
func fieldLocation(f *ast.Field) []gqlerror.Location {
	if f == nil || f.Position == nil {
		return nil
	}
	return []gqlerror.Location{{Line: f.Position.Line, Column: f.Position.Column}}
}

// fieldGroup is the set of fields sharing one response key.
type fieldGroup struct {
	key    string
	fields []*ast.Field
}

// executor runs one operation against resolver maps.
type executor struct {
	schema *ast.Schema
	doc    *ast.QueryDocument
	vars   map[string]any
	errs   []*gqlError
}

// execute runs op against root and returns the data object, or nil when a
// non-null root field failed.
func (e *executor) execute(op *ast.OperationDefinition, root map[string]any) *object {
	rootType := e.schema.Query
	if op.Operation == ast.Mutation {
		rootType = e.schema.Mutation
	}
	groups := e.collect(rootType.Name, []ast.SelectionSet{op.SelectionSet})
	data, ok := e.executeFields(rootType.Name, root, groups, nil)
	if !ok {
		return nil
	}
	return data
}

// collect groups the fields selected on an object of type typeName by
// response key, applying @skip/@include, inline fragments and spreads.
func (e *executor) collect(typeName string, sets []ast.SelectionSet) []*fieldGroup {
	var groups []*fieldGroup
	index := map[string]*fieldGroup{}
	visited := map[string]bool{}
	var walk func(set ast.SelectionSet)
	walk = func(set ast.SelectionSet) {
		for _, sel := range set {
			switch sel := sel.(type) {
			case *ast.Field:
				if !e.included(sel.Directives) {
					continue
				}
				key := sel.Alias
				if key == "" {
					key = sel.Name
				}
				g, ok := index[key]
				if !ok {
					g = &fieldGroup{key: key}
					index[key] = g
					groups = append(groups, g)
				}
				g.fields = append(g.fields, sel)
			case *ast.InlineFragment:
				if !e.included(sel.Directives) {
					continue
				}
				if sel.TypeCondition != "" && !e.typeApplies(typeName, sel.TypeCondition) {
					continue
				}
				walk(sel.SelectionSet)
			case *ast.FragmentSpread:
				if !e.included(sel.Directives) || visited[sel.Name] {
					continue
				}
				visited[sel.Name] = true
				frag := e.doc.Fragments.ForName(sel.Name)
				if frag == nil || !e.typeApplies(typeName, frag.TypeCondition) {
					continue
				}
				walk(frag.SelectionSet)
			}
		}
	}
	for _, set := range sets {
		walk(set)
	}
	return groups
}

// included evaluates @skip and @include.
func (e *executor) included(dirs ast.DirectiveList) bool {
	for _, d := range dirs {
		if d.Name != "skip" && d.Name != "include" {
			continue
		}
		arg := d.Arguments.ForName("if")
		if arg == nil {
			continue
		}
		v, err := arg.Value.Value(e.vars)
		if err != nil {
			continue
		}
		b, _ := v.(bool)
		if d.Name == "skip" && b {
			return false
		}
		if d.Name == "include" && !b {
			return false
		}
	}
	return true
}

// typeApplies reports whether a fragment on cond applies to an object of
// type objType.
func (e *executor) typeApplies(objType, cond string) bool {
	if cond == objType {
		return true
	}
	def := e.schema.Types[cond]
	if def == nil {
		return false
	}
	switch def.Kind {
	case ast.Interface:
		obj := e.schema.Types[objType]
		return obj != nil && slices.Contains(obj.Interfaces, cond)
	case ast.Union:
		return slices.Contains(def.Types, objType)
	}
	return false
}

// executeFields resolves and completes the grouped fields on src, an object
// of concrete type typeName. It reports false when a non-null field is null.
func (e *executor) executeFields(typeName string, src map[string]any, groups []*fieldGroup, path []any) (*object, bool) {
	def := e.schema.Types[typeName]
	out := &object{}
	for _, g := range groups {
		f := g.fields[0]
		if f.Name == "__typename" {
			out.set(g.key, typeName)
			continue
		}
		fd := def.Fields.ForName(f.Name)
		p := append(slices.Clip(path), g.key)
		if fd == nil {
			e.addError(fmt.Errorf("field %s.%s is not implemented", typeName, f.Name), f, p)
			out.set(g.key, nil)
			continue
		}
		raw, err := e.resolve(fd, f, src)
		if err != nil {
			e.addError(err, f, p)
			if fd.Type.NonNull {
				return nil, false
			}
			out.set(g.key, nil)
			continue
		}
		v, ok := e.complete(fd.Type, raw, g.fields, p, typeName+"."+f.Name)
		if !ok {
			return nil, false
		}
		out.set(g.key, v)
	}
	return out, true
}

// resolve returns the raw value of field f on src.
func (e *executor) resolve(fd *ast.FieldDefinition, f *ast.Field, src map[string]any) (any, error) {
	raw := src[fd.Name]
	lz, ok := raw.(lazy)
	if !ok {
		return raw, nil
	}
	args, err := e.arguments(fd, f)
	if err != nil {
		return nil, err
	}
	return lz(args)
}

// arguments coerces the arguments of f; an argument that is absent (or
// bound to an unset variable) is absent from the map unless it has a default.
func (e *executor) arguments(fd *ast.FieldDefinition, f *ast.Field) (map[string]any, error) {
	args := map[string]any{}
	for _, ad := range fd.Arguments {
		a := f.Arguments.ForName(ad.Name)
		var (
			raw  any
			have bool
		)
		switch {
		case a != nil && a.Value.Kind == ast.Variable:
			raw, have = e.vars[a.Value.Raw]
		case a != nil:
			v, err := literalValue(a.Value, e.vars)
			if err != nil {
				return nil, err
			}
			raw, have = v, true
		}
		if !have && ad.DefaultValue != nil {
			v, err := literalValue(ad.DefaultValue, nil)
			if err != nil {
				return nil, err
			}
			raw, have = v, true
		}
		if !have {
			continue
		}
		if a != nil && a.Value.Kind == ast.Variable {
			args[ad.Name] = raw // already coerced with the variables
			continue
		}
		v, err := coerceInput(e.schema, ad.Type, raw)
		if err != nil {
			return nil, &apiError{code: codeBadUserInput, msg: fmt.Sprintf("Argument %q has invalid value: %s", ad.Name, err)}
		}
		args[ad.Name] = v
	}
	return args, nil
}

// literalValue converts a literal, resolving nested variables.
func literalValue(v *ast.Value, vars map[string]any) (any, error) {
	out, err := v.Value(vars)
	if err != nil {
		return nil, fmt.Errorf("read literal %s: %w", v.String(), err)
	}
	return out, nil
}

// addError records a field error.
func (e *executor) addError(err error, f *ast.Field, path []any) {
	ge := &gqlError{message: err.Error(), locations: fieldLocation(f), path: path, code: codeInternal, named: true}
	var ae *apiError
	if errors.As(err, &ae) {
		ge.code, ge.message, ge.data = ae.code, ae.msg, ae.data
	}
	e.errs = append(e.errs, ge)
}

// complete turns a raw value into its response form for type t. It reports
// false when the value is null in a non-null position (the error is recorded
// once, where the null originates).
func (e *executor) complete(t *ast.Type, v any, fields []*ast.Field, path []any, desc string) (any, bool) {
	if t.NonNull {
		inner := *t
		inner.NonNull = false
		r, ok := e.completeNullable(&inner, v, fields, path, desc)
		if !ok {
			return nil, false
		}
		if r == nil {
			e.errs = append(e.errs, &gqlError{
				message:   fmt.Sprintf("Cannot return null for non-nullable field %s.", desc),
				locations: fieldLocation(fields[0]), path: path, code: codeInternal, named: true,
			})
			return nil, false
		}
		return r, true
	}
	r, ok := e.completeNullable(t, v, fields, path, desc)
	if !ok {
		return nil, true
	}
	return r, true
}

func (e *executor) completeNullable(t *ast.Type, v any, fields []*ast.Field, path []any, desc string) (any, bool) {
	if isNil(v) {
		return nil, true
	}
	if t.Elem != nil {
		rv := reflect.ValueOf(v)
		if rv.Kind() != reflect.Slice {
			e.addError(fmt.Errorf("expected a list for %s, got %T", desc, v), fields[0], path)
			return nil, true
		}
		out := make([]any, 0, rv.Len())
		for i := range rv.Len() {
			r, ok := e.complete(t.Elem, rv.Index(i).Interface(), fields, append(slices.Clip(path), i), desc)
			if !ok {
				return nil, false
			}
			out = append(out, r)
		}
		return out, true
	}
	def := e.schema.Types[t.NamedType]
	switch def.Kind {
	case ast.Scalar, ast.Enum:
		r, err := serializeLeaf(def, v)
		if err != nil {
			e.addError(err, fields[0], path)
			return nil, true
		}
		return r, true
	default:
		m, ok := v.(map[string]any)
		if !ok {
			e.addError(fmt.Errorf("expected an object for %s, got %T", desc, v), fields[0], path)
			return nil, true
		}
		typeName := def.Name
		if def.Kind != ast.Object {
			tn, _ := m["__typename"].(string)
			if tn == "" || !e.typeApplies(tn, def.Name) {
				e.addError(fmt.Errorf("cannot resolve the concrete type of %s", desc), fields[0], path)
				return nil, true
			}
			typeName = tn
		}
		var sets []ast.SelectionSet
		for _, f := range fields {
			sets = append(sets, f.SelectionSet)
		}
		return e.executeFields(typeName, m, e.collect(typeName, sets), path)
	}
}

// isNil reports whether v is nil or a nil pointer, map or slice.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface, reflect.Func:
		return rv.IsNil()
	}
	return false
}

// serializeLeaf renders a scalar or enum value.
func serializeLeaf(def *ast.Definition, v any) (any, error) {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer {
		v = rv.Elem().Interface()
	}
	switch def.Name {
	case "Int":
		switch n := v.(type) {
		case int:
			return n, nil
		case int64:
			return n, nil
		case float64:
			if n == math.Trunc(n) {
				return int64(n), nil
			}
		}
		return nil, messagef("Int cannot represent non-integer value: %v", v)
	case "Float":
		switch n := v.(type) {
		case float64:
			return n, nil
		case int:
			return float64(n), nil
		case int64:
			return float64(n), nil
		}
		return nil, messagef("Float cannot represent non numeric value: %v", v)
	case "String", "ID":
		switch s := v.(type) {
		case string:
			return s, nil
		case int:
			return fmt.Sprint(s), nil
		}
		return nil, fmt.Errorf("%s cannot represent value: %v", def.Name, v)
	case "Boolean":
		if b, ok := v.(bool); ok {
			return b, nil
		}
		return nil, messagef("Boolean cannot represent a non boolean value: %v", v)
	case "DateTime":
		switch t := v.(type) {
		case time.Time:
			return isoTime(t), nil
		case string:
			return t, nil
		}
		return nil, messagef("DateTime cannot represent value: %v", v)
	}
	if def.Kind == ast.Enum {
		s, ok := v.(string)
		if !ok || def.EnumValues.ForName(s) == nil {
			return nil, messagef("Enum %q cannot represent value: %v", def.Name, v)
		}
		return s, nil
	}
	return v, nil
}

// coerceVariables coerces the request's variables for op like graphql-js
// (getVariableValues): strict scalar types, exact enum names, no unknown
// input fields.
func coerceVariables(schema *ast.Schema, op *ast.OperationDefinition, raw map[string]any) (map[string]any, error) {
	out := map[string]any{}
	for _, vd := range op.VariableDefinitions {
		val, have := raw[vd.Variable]
		if !have {
			if vd.DefaultValue != nil {
				v, err := literalValue(vd.DefaultValue, nil)
				if err != nil {
					return nil, err
				}
				out[vd.Variable] = v
				continue
			}
			if vd.Type.NonNull {
				return nil, messagef("Variable \"$%s\" of required type \"%s\" was not provided.", vd.Variable, vd.Type.String())
			}
			continue
		}
		if val == nil && vd.Type.NonNull {
			return nil, messagef("Variable \"$%s\" of non-null type \"%s\" must not be null.", vd.Variable, vd.Type.String())
		}
		v, err := coerceInput(schema, vd.Type, val)
		if err != nil {
			shown, _ := compactJSON(val)
			return nil, messagef("Variable \"$%s\" got invalid value %s; %s", vd.Variable, shown, err.Error())
		}
		out[vd.Variable] = v
	}
	return out, nil
}

// coerceInput coerces a JSON-decoded value to input type t.
func coerceInput(schema *ast.Schema, t *ast.Type, v any) (any, error) {
	if v == nil {
		if t.NonNull {
			return nil, messagef("Expected non-nullable type \"%s\" not to be null.", t.String())
		}
		return nil, nil
	}
	if t.Elem != nil {
		list, ok := v.([]any)
		if !ok {
			one, err := coerceInput(schema, t.Elem, v)
			if err != nil {
				return nil, err
			}
			return []any{one}, nil
		}
		out := make([]any, 0, len(list))
		for i, item := range list {
			c, err := coerceInput(schema, t.Elem, item)
			if err != nil {
				return nil, fmt.Errorf("at index %d: %w", i, err)
			}
			out = append(out, c)
		}
		return out, nil
	}
	def := schema.Types[t.NamedType]
	if def == nil {
		return nil, fmt.Errorf("unknown type %q", t.NamedType)
	}
	switch def.Kind {
	case ast.Enum:
		s, ok := v.(string)
		if !ok || def.EnumValues.ForName(s) == nil {
			return nil, messagef("Value %s does not exist in \"%s\" enum.", jsonText(v), def.Name)
		}
		return s, nil
	case ast.InputObject:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, messagef("Expected type \"%s\" to be an object.", def.Name)
		}
		for k := range m {
			if def.Fields.ForName(k) == nil {
				return nil, messagef("Field \"%s\" is not defined by type \"%s\".", k, def.Name)
			}
		}
		out := map[string]any{}
		for _, fd := range def.Fields {
			fv, have := m[fd.Name]
			if !have {
				if fd.DefaultValue != nil {
					dv, err := literalValue(fd.DefaultValue, nil)
					if err != nil {
						return nil, err
					}
					out[fd.Name] = dv
					continue
				}
				if fd.Type.NonNull {
					return nil, messagef("Field \"%s\" of required type \"%s\" was not provided.", fd.Name, fd.Type.String())
				}
				continue
			}
			c, err := coerceInput(schema, fd.Type, fv)
			if err != nil {
				return nil, fmt.Errorf("at %q: %w", fd.Name, err)
			}
			out[fd.Name] = c
		}
		return out, nil
	case ast.Scalar:
		return coerceScalar(def.Name, v)
	}
	return nil, fmt.Errorf("type %q is not an input type", def.Name)
}

// coerceScalar applies graphql-js parseValue rules for the built-in scalars
// and graphql-scalars' DateTime; the platform's other custom scalars accept
// any JSON value.
func coerceScalar(name string, v any) (any, error) {
	num := func() (float64, bool) {
		switch n := v.(type) {
		case json.Number:
			f, err := n.Float64()
			return f, err == nil
		case float64:
			return n, true
		case int:
			return float64(n), true
		case int64:
			return float64(n), true
		}
		return 0, false
	}
	switch name {
	case "Int":
		f, ok := num()
		if !ok || f != math.Trunc(f) {
			return nil, messagef("Int cannot represent non-integer value: %s", jsonText(v))
		}
		if f > math.MaxInt32 || f < math.MinInt32 {
			return nil, messagef("Int cannot represent non 32-bit signed integer value: %s", jsonText(v))
		}
		return int(f), nil
	case "Float":
		f, ok := num()
		if !ok {
			return nil, messagef("Float cannot represent non numeric value: %s", jsonText(v))
		}
		return f, nil
	case "String":
		s, ok := v.(string)
		if !ok {
			return nil, messagef("String cannot represent a non string value: %s", jsonText(v))
		}
		return s, nil
	case "Boolean":
		b, ok := v.(bool)
		if !ok {
			return nil, messagef("Boolean cannot represent a non boolean value: %s", jsonText(v))
		}
		return b, nil
	case "ID":
		switch x := v.(type) {
		case string:
			return x, nil
		case json.Number:
			if _, err := x.Int64(); err == nil {
				return x.String(), nil
			}
		case int, int64:
			return fmt.Sprint(x), nil
		}
		return nil, messagef("ID cannot represent value: %s", jsonText(v))
	case "DateTime":
		if t, ok := v.(time.Time); ok {
			return t, nil
		}
		s, ok := v.(string)
		if !ok {
			return nil, messagef("DateTime cannot represent non string value: %s", jsonText(v))
		}
		t, err := parseDateTime(s)
		if err != nil {
			return nil, messagef("DateTime cannot represent an invalid date-time-string %s.", s)
		}
		return t, nil
	}
	return plainJSON(v), nil
}

// parseDateTime accepts RFC 3339 date-times, with or without fractional
// seconds, as graphql-scalars does.
func parseDateTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse date-time %q: %w", s, err)
	}
	return t, nil
}

// plainJSON turns json.Number values into float64 or int64 recursively.
func plainJSON(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = plainJSON(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = plainJSON(e)
		}
		return out
	}
	return v
}

// jsonText renders v compactly for error messages.
func jsonText(v any) string {
	b, err := compactJSON(plainJSON(v))
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// errorList converts gqlparser errors to response errors with code.
func errorList(list gqlerror.List, code string) []*gqlError {
	out := make([]*gqlError, 0, len(list))
	for _, e := range list {
		out = append(out, &gqlError{message: e.Message, locations: e.Locations, code: code})
	}
	return out
}

// messages joins the messages of errs.
func messages(errs []*gqlError) string {
	parts := make([]string, 0, len(errs))
	for _, e := range errs {
		parts = append(parts, e.message)
	}
	return strings.Join(parts, "; ")
}
