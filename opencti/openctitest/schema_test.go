package openctitest

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// fullSchemaPath is the platform's merged 6.9.7 schema, kept outside the module.
const fullSchemaPath = "../../../shared/opencti/schema-6.9.7.graphql"

func loadFullSchema(t *testing.T) *ast.Schema {
	t.Helper()
	raw, err := os.ReadFile(fullSchemaPath)
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("full platform schema %s is absent", fullSchemaPath)
	}
	if err != nil {
		t.Fatalf("read full schema: %v", err)
	}
	full, err := gqlparser.LoadSchema(&ast.Source{Name: "schema-6.9.7.graphql", Input: string(raw)})
	if err != nil {
		t.Fatalf("load full schema: %v", err)
	}
	return full
}

// TestSubsetSchemaMatchesPlatform checks that every type, field, argument,
// input field and enum value of testdata/schema.graphql exists with the same
// type in the platform schema.
func TestSubsetSchemaMatchesPlatform(t *testing.T) {
	subset, err := loadSchema()
	if err != nil {
		t.Fatal(err)
	}
	full := loadFullSchema(t)
	for name, def := range subset.Types {
		if def.BuiltIn {
			continue
		}
		t.Run(name, func(t *testing.T) {
			want, ok := full.Types[name]
			if !ok {
				t.Fatalf("type %s does not exist in the platform schema", name)
			}
			if def.Kind != want.Kind {
				t.Fatalf("type %s is %s, platform has %s", name, def.Kind, want.Kind)
			}
			for _, in := range def.Interfaces {
				if !slices.Contains(want.Interfaces, in) {
					t.Errorf("%s implements %s, the platform type does not", name, in)
				}
			}
			for _, v := range def.EnumValues {
				if want.EnumValues.ForName(v.Name) == nil {
					t.Errorf("enum value %s.%s does not exist in the platform schema", name, v.Name)
				}
			}
			for _, f := range def.Fields {
				if name == "Query" && (f.Name == "__schema" || f.Name == "__type") {
					continue
				}
				wf := want.Fields.ForName(f.Name)
				if wf == nil {
					t.Errorf("field %s.%s does not exist in the platform schema", name, f.Name)
					continue
				}
				if got, exp := f.Type.String(), wf.Type.String(); got != exp {
					t.Errorf("field %s.%s has type %s, platform has %s", name, f.Name, got, exp)
				}
				if len(f.Arguments) != len(wf.Arguments) {
					t.Errorf("field %s.%s has %d arguments, platform has %d", name, f.Name, len(f.Arguments), len(wf.Arguments))
				}
				for _, a := range f.Arguments {
					wa := wf.Arguments.ForName(a.Name)
					if wa == nil {
						t.Errorf("argument %s.%s(%s) does not exist in the platform schema", name, f.Name, a.Name)
						continue
					}
					if got, exp := a.Type.String(), wa.Type.String(); got != exp {
						t.Errorf("argument %s.%s(%s) has type %s, platform has %s", name, f.Name, a.Name, got, exp)
					}
				}
			}
		})
	}
}

// TestSubsetSchemaCompleteTypes checks that the types the fake answers
// introspection for carry every field of the platform type, so that
// __type(name:) lists them as 6.9.7 does.
func TestSubsetSchemaCompleteTypes(t *testing.T) {
	subset, err := loadSchema()
	if err != nil {
		t.Fatal(err)
	}
	full := loadFullSchema(t)
	for _, name := range []string{"RegisterConnectorInput", "Connector", "ConnectorConfig", "ConnectorInfoInput", "ConnectorInfo", "RabbitMQConnection", "Work", "WorkEditMutations", "WorkErrorInput"} {
		var got, want []string
		for _, f := range subset.Types[name].Fields {
			got = append(got, f.Name)
		}
		for _, f := range full.Types[name].Fields {
			want = append(want, f.Name)
		}
		if !slices.Equal(got, want) {
			t.Errorf("fields of %s = %v, want %v", name, got, want)
		}
	}
}

// apiQueriesGlob names the documents the SDK's GraphQL client sends
// (package opencti/api embeds them).
const apiQueriesGlob = "../api/queries/*.graphql"

// TestAPIDocumentsValidate checks that every document of the SDK's client
// validates against the subset schema the fake serves, so that the fake
// keeps up with what the client asks. (The registration document's optional
// jwks and s3 selections are comments there: 6.9.7 has neither field.)
func TestAPIDocumentsValidate(t *testing.T) {
	subset, err := loadSchema()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(apiQueriesGlob)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no document matches %s", apiQueriesGlob)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			doc, errs := gqlparser.LoadQueryWithRules(subset, string(raw), nil)
			if len(errs) > 0 {
				t.Fatalf("does not validate against testdata/schema.graphql: %v", errs)
			}
			if len(doc.Operations) != 1 {
				t.Errorf("%d operations, want 1", len(doc.Operations))
			}
		})
	}
}
