package openctitest

import (
	"slices"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
)

// introspection answers __type and __schema from the subset schema. The
// types connectors introspect (RegisterConnectorInput, Connector,
// ConnectorConfig) are complete in the subset, so their field lists are those
// of platform 6.9.7.
type introspection struct {
	schema *ast.Schema
}

// typeByName returns the __Type object of a named type, or nil.
func (in introspection) typeByName(name string) any {
	def := in.schema.Types[name]
	if def == nil {
		return nil
	}
	return in.named(def)
}

// typeRef returns the __Type object of a type reference (wrappers included).
func (in introspection) typeRef(t *ast.Type) map[string]any {
	if t.NonNull {
		inner := *t
		inner.NonNull = false
		return in.wrapper("NON_NULL", in.typeRef(&inner))
	}
	if t.Elem != nil {
		return in.wrapper("LIST", in.typeRef(t.Elem))
	}
	return in.named(in.schema.Types[t.NamedType])
}

func (in introspection) wrapper(kind string, of map[string]any) map[string]any {
	none := lazy(func(map[string]any) (any, error) { return nil, nil })
	return map[string]any{
		"kind": kind, "name": nil, "description": nil, "specifiedByURL": nil,
		"fields": none, "interfaces": none, "possibleTypes": none,
		"enumValues": none, "inputFields": none, "ofType": of, "isOneOf": nil,
	}
}

// named builds the __Type of a named definition; lists are lazy so that
// mutually referencing types are expanded only as deep as a query asks.
func (in introspection) named(def *ast.Definition) map[string]any {
	kind := map[ast.DefinitionKind]string{
		ast.Scalar: "SCALAR", ast.Object: "OBJECT", ast.Interface: "INTERFACE",
		ast.Union: "UNION", ast.Enum: "ENUM", ast.InputObject: "INPUT_OBJECT",
	}[def.Kind]
	var oneOf any
	if def.Kind == ast.InputObject {
		oneOf = def.Directives.ForName("oneOf") != nil
	}
	return map[string]any{
		"kind":           kind,
		"name":           def.Name,
		"description":    nonEmpty(def.Description),
		"specifiedByURL": nil,
		"fields": lazy(func(args map[string]any) (any, error) {
			if def.Kind != ast.Object && def.Kind != ast.Interface {
				return nil, nil
			}
			withDeprecated, _ := args["includeDeprecated"].(bool)
			var out []any
			for _, f := range def.Fields {
				if strings.HasPrefix(f.Name, "__") {
					continue
				}
				if deprecated(f.Directives) && !withDeprecated {
					continue
				}
				out = append(out, in.field(f))
			}
			return orEmpty(out), nil
		}),
		"interfaces": lazy(func(map[string]any) (any, error) {
			if def.Kind != ast.Object && def.Kind != ast.Interface {
				return nil, nil
			}
			var out []any
			for _, name := range def.Interfaces {
				if d := in.schema.Types[name]; d != nil {
					out = append(out, in.named(d))
				}
			}
			return orEmpty(out), nil
		}),
		"possibleTypes": lazy(func(map[string]any) (any, error) {
			if def.Kind != ast.Interface && def.Kind != ast.Union {
				return nil, nil
			}
			var out []any
			possible := slices.Clone(in.schema.PossibleTypes[def.Name])
			slices.SortFunc(possible, func(a, b *ast.Definition) int { return strings.Compare(a.Name, b.Name) })
			for _, d := range possible {
				out = append(out, in.named(d))
			}
			return orEmpty(out), nil
		}),
		"enumValues": lazy(func(args map[string]any) (any, error) {
			if def.Kind != ast.Enum {
				return nil, nil
			}
			withDeprecated, _ := args["includeDeprecated"].(bool)
			var out []any
			for _, v := range def.EnumValues {
				if deprecated(v.Directives) && !withDeprecated {
					continue
				}
				out = append(out, map[string]any{
					"name": v.Name, "description": nonEmpty(v.Description),
					"isDeprecated": deprecated(v.Directives), "deprecationReason": deprecationReason(v.Directives),
				})
			}
			return orEmpty(out), nil
		}),
		"inputFields": lazy(func(args map[string]any) (any, error) {
			if def.Kind != ast.InputObject {
				return nil, nil
			}
			withDeprecated, _ := args["includeDeprecated"].(bool)
			var out []any
			for _, f := range def.Fields {
				if deprecated(f.Directives) && !withDeprecated {
					continue
				}
				out = append(out, in.inputValue(f.Name, f.Description, f.Type, f.DefaultValue, f.Directives))
			}
			return orEmpty(out), nil
		}),
		"ofType":  nil,
		"isOneOf": oneOf,
	}
}

func (in introspection) field(f *ast.FieldDefinition) map[string]any {
	return map[string]any{
		"name":        f.Name,
		"description": nonEmpty(f.Description),
		"args": lazy(func(args map[string]any) (any, error) {
			withDeprecated, _ := args["includeDeprecated"].(bool)
			out := []any{}
			for _, a := range f.Arguments {
				if deprecated(a.Directives) && !withDeprecated {
					continue
				}
				out = append(out, in.inputValue(a.Name, a.Description, a.Type, a.DefaultValue, a.Directives))
			}
			return out, nil
		}),
		"type":              in.typeRef(f.Type),
		"isDeprecated":      deprecated(f.Directives),
		"deprecationReason": deprecationReason(f.Directives),
	}
}

func (in introspection) inputValue(name, desc string, t *ast.Type, def *ast.Value, dirs ast.DirectiveList) map[string]any {
	var dv any
	if def != nil {
		dv = def.String()
	}
	return map[string]any{
		"name": name, "description": nonEmpty(desc), "type": in.typeRef(t), "defaultValue": dv,
		"isDeprecated": deprecated(dirs), "deprecationReason": deprecationReason(dirs),
	}
}

// schemaObject builds the __Schema object.
func (in introspection) schemaObject() map[string]any {
	var mutation any
	if in.schema.Mutation != nil {
		mutation = in.named(in.schema.Mutation)
	}
	return map[string]any{
		"description": nil,
		"types": lazy(func(map[string]any) (any, error) {
			names := make([]string, 0, len(in.schema.Types))
			for n := range in.schema.Types {
				names = append(names, n)
			}
			slices.Sort(names)
			out := make([]any, 0, len(names))
			for _, n := range names {
				out = append(out, in.named(in.schema.Types[n]))
			}
			return out, nil
		}),
		"queryType":        in.named(in.schema.Query),
		"mutationType":     mutation,
		"subscriptionType": nil,
		"directives": lazy(func(map[string]any) (any, error) {
			names := make([]string, 0, len(in.schema.Directives))
			for n := range in.schema.Directives {
				names = append(names, n)
			}
			slices.Sort(names)
			out := make([]any, 0, len(names))
			for _, n := range names {
				d := in.schema.Directives[n]
				locs := make([]any, 0, len(d.Locations))
				for _, l := range d.Locations {
					locs = append(locs, string(l))
				}
				args := []any{}
				for _, a := range d.Arguments {
					args = append(args, in.inputValue(a.Name, a.Description, a.Type, a.DefaultValue, a.Directives))
				}
				out = append(out, map[string]any{
					"name": d.Name, "description": nonEmpty(d.Description), "isRepeatable": d.IsRepeatable,
					"locations": locs, "args": lazy(func(map[string]any) (any, error) { return args, nil }),
				})
			}
			return out, nil
		}),
	}
}

func deprecated(dirs ast.DirectiveList) bool { return dirs.ForName("deprecated") != nil }

func deprecationReason(dirs ast.DirectiveList) any {
	d := dirs.ForName("deprecated")
	if d == nil {
		return nil
	}
	if a := d.Arguments.ForName("reason"); a != nil {
		return a.Value.Raw
	}
	return "No longer supported"
}

func nonEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// orEmpty returns an empty (non-nil) list for nil.
func orEmpty(l []any) []any {
	if l == nil {
		return []any{}
	}
	return l
}
