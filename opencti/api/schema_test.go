package api

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
)

// fullSchemaPath is the platform's merged schema, outside the project.
const fullSchemaPath = "../../../shared/opencti/schema-6.9.7.graphql"

// Hand-written schema files under testdata.
const (
	subsetSchemaPath      = "testdata/schema-subset.graphql"
	optionalExtSchemaPath = "testdata/schema-ext-optional.graphql"
)

// embeddedDocuments maps each file under queries/ to the document the client
// sends (registration: its 6.x baseline).
func embeddedDocuments() map[string]string {
	return map[string]string{
		"health_check.graphql":            docHealthCheck,
		"api_compatibility.graphql":       docAPICompatibility,
		"register_connector.graphql":      registerDocument(false, false),
		"ping_connector.graphql":          docPingConnector,
		"get_connector.graphql":           docGetConnector,
		"work_add.graphql":                docWorkAdd,
		"work_to_received.graphql":        docWorkToReceived,
		"work_to_processed.graphql":       docWorkToProcessed,
		"add_expectations.graphql":        docAddExpectations,
		"ping_work.graphql":               docPingWork,
		"work.graphql":                    docWork,
		"stix_core_object.graphql":        docStixCoreObject,
		"stix_domain_objects.graphql":     docDomainObjects,
		"playbook_step_execution.graphql": docPlaybookStep,
	}
}

// registerVariants are the four registration documents.
var registerVariants = []struct {
	name     string
	jwks, s3 bool
}{
	{"baseline", false, false},
	{"jwks", true, false},
	{"s3", false, true},
	{"jwks+s3", true, true},
}

// loadSchema loads and merges SDL files.
func loadSchema(t *testing.T, paths ...string) *ast.Schema {
	t.Helper()
	var sources []*ast.Source
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("read schema: %v", err)
		}
		sources = append(sources, &ast.Source{Name: filepath.Base(p), Input: string(b)})
	}
	schema, err := gqlparser.LoadSchema(sources...)
	if err != nil {
		t.Fatalf("load schema %v: %v", paths, err)
	}
	return schema
}

// validate returns the validation errors of doc against schema.
func validate(schema *ast.Schema, doc string) gqlerror.List {
	_, errs := gqlparser.LoadQueryWithRules(schema, doc, nil)
	return errs
}

// fullSchema loads the 6.9.7 schema or skips.
func fullSchema(t *testing.T) *ast.Schema {
	t.Helper()
	if _, err := os.Stat(fullSchemaPath); err != nil {
		t.Skipf("platform schema not available: %v", err)
	}
	return loadSchema(t, fullSchemaPath)
}

func TestEmbeddedDocumentsAreListed(t *testing.T) {
	entries, err := queryFS.ReadDir("queries")
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		files = append(files, e.Name())
	}
	var listed []string
	for name := range embeddedDocuments() {
		listed = append(listed, name)
	}
	slices.Sort(files)
	slices.Sort(listed)
	if diff := cmp.Diff(files, listed); diff != "" {
		t.Errorf("queries/ files vs embeddedDocuments() (-files +listed):\n%s", diff)
	}
}

func TestEachDocumentIsOneNamedOperation(t *testing.T) {
	for name, doc := range embeddedDocuments() {
		t.Run(name, func(t *testing.T) {
			q, err := parser.ParseQuery(&ast.Source{Name: name, Input: doc})
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if len(q.Operations) != 1 || len(q.Fragments) != 0 {
				t.Fatalf("%d operations and %d fragments, want one operation", len(q.Operations), len(q.Fragments))
			}
			if q.Operations[0].Name == "" {
				t.Errorf("operation has no name")
			}
			if m := operationName.FindStringSubmatch(doc); m == nil || m[1] != q.Operations[0].Name {
				t.Errorf("operationName regexp found %v, want %q", m, q.Operations[0].Name)
			}
		})
	}
}

func TestDocumentsValidateAgainstFullSchema(t *testing.T) {
	schema := fullSchema(t)
	for name, doc := range embeddedDocuments() {
		t.Run(name, func(t *testing.T) {
			if errs := validate(schema, doc); len(errs) > 0 {
				t.Errorf("%s is not valid against 6.9.7: %v", name, errs)
			}
		})
	}
}

// TestRegisterVariantsAgainstFullSchema documents why jwks and s3 are
// optional: 6.9.7 has neither (jwks is 7.x, s3 appeared in 6.9.10), so only
// the baseline validates.
func TestRegisterVariantsAgainstFullSchema(t *testing.T) {
	schema := fullSchema(t)
	for _, v := range registerVariants {
		t.Run(v.name, func(t *testing.T) {
			errs := validate(schema, registerDocument(v.jwks, v.s3))
			var fields []string
			for _, e := range errs {
				for _, f := range []string{"jwks", "s3"} {
					if strings.Contains(e.Message, `"`+f+`"`) {
						fields = append(fields, f)
					}
				}
			}
			var want []string
			if v.jwks {
				want = append(want, "jwks")
			}
			if v.s3 {
				want = append(want, "s3")
			}
			if diff := cmp.Diff(want, fields); diff != "" {
				t.Errorf("fields rejected by 6.9.7 (-want +got):\n%s\nerrors: %v", diff, errs)
			}
			if len(errs) != len(want) {
				t.Errorf("got %d errors, want %d: %v", len(errs), len(want), errs)
			}
		})
	}
}

func TestDocumentsValidateAgainstSubsetSchema(t *testing.T) {
	schema := loadSchema(t, subsetSchemaPath)
	for name, doc := range embeddedDocuments() {
		t.Run(name, func(t *testing.T) {
			if errs := validate(schema, doc); len(errs) > 0 {
				t.Errorf("%s is not valid against the subset: %v", name, errs)
			}
		})
	}
}

func TestRegisterVariantsAgainstSubsetSchema(t *testing.T) {
	subset := loadSchema(t, subsetSchemaPath)
	extended := loadSchema(t, subsetSchemaPath, optionalExtSchemaPath)
	for _, v := range registerVariants {
		t.Run(v.name, func(t *testing.T) {
			doc := registerDocument(v.jwks, v.s3)
			if errs := validate(extended, doc); len(errs) > 0 {
				t.Errorf("not valid against subset + optional extension: %v", errs)
			}
			errs := validate(subset, doc)
			if optional := v.jwks || v.s3; optional != (len(errs) > 0) {
				t.Errorf("against the 6.9.7 subset: errors %v, want errors only for optional selections", errs)
			}
		})
	}
}

// sdlBlock is one definition of an SDL file.
type sdlBlock struct {
	kind, name string
	implements []string
	lines      []string
}

var sdlHead = regexp.MustCompile(`^(type|interface|input|enum|scalar|union) (\w+)(?: implements ([^{]*))?`)

// parseSDLBlocks splits an SDL file into top-level definitions, without
// descriptions or comments.
func parseSDLBlocks(t *testing.T, path string) map[string]sdlBlock {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blocks := map[string]sdlBlock{}
	var cur *sdlBlock
	inDesc := false
	for _, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, `"""`) {
			if !(len(trimmed) > 3 && strings.HasSuffix(trimmed, `"""`)) {
				inDesc = !inDesc
			}
			continue
		}
		if inDesc || trimmed == "" || strings.HasPrefix(trimmed, "#") || strings.HasPrefix(trimmed, `"`) {
			continue
		}
		if cur == nil {
			m := sdlHead.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			blk := sdlBlock{kind: m[1], name: m[2]}
			for _, i := range strings.Split(m[3], "&") {
				if i = strings.TrimSpace(i); i != "" {
					blk.implements = append(blk.implements, i)
				}
			}
			if !strings.HasSuffix(trimmed, "{") {
				blocks[blk.name] = blk
				continue
			}
			cur = &blk
			continue
		}
		if trimmed == "}" {
			blocks[cur.name] = *cur
			cur = nil
			continue
		}
		cur.lines = append(cur.lines, line)
	}
	return blocks
}

// TestSubsetSchemaIsFaithful checks that every definition, field line and
// enum value of the subset is copied verbatim from the 6.9.7 schema.
func TestSubsetSchemaIsFaithful(t *testing.T) {
	if _, err := os.Stat(fullSchemaPath); err != nil {
		t.Skipf("platform schema not available: %v", err)
	}
	full := parseSDLBlocks(t, fullSchemaPath)
	subset := parseSDLBlocks(t, subsetSchemaPath)
	if len(subset) < 20 {
		t.Fatalf("parsed %d subset definitions, parser broken?", len(subset))
	}
	for name, sb := range subset {
		fb, ok := full[name]
		if !ok {
			t.Errorf("%s: not in the 6.9.7 schema", name)
			continue
		}
		if sb.kind != fb.kind {
			t.Errorf("%s: %s in the subset, %s in 6.9.7", name, sb.kind, fb.kind)
		}
		for _, i := range sb.implements {
			if !slices.Contains(fb.implements, i) {
				t.Errorf("%s: implements %s, not in 6.9.7 (%v)", name, i, fb.implements)
			}
		}
		for _, l := range sb.lines {
			if !slices.Contains(fb.lines, l) {
				t.Errorf("%s: line %q is not in the 6.9.7 definition", name, l)
			}
		}
	}
}

// TestValidatorRejectsBrokenDocuments makes sure the validation tests can fail.
func TestValidatorRejectsBrokenDocuments(t *testing.T) {
	schema := loadSchema(t, subsetSchemaPath)
	broken := map[string]string{
		"unknown field":    `query Q { about { versoin } }`,
		"unknown argument": `mutation M($id: ID!) { pingConnector(id: $id, stat: "x") { id } }`,
		"wrong var type":   `query Q($id: Int!) { work(id: $id) { id } }`,
		"unused variable":  `query Q($id: ID!) { about { version } }`,
		"bad fragment":     `query Q($id: String!) { stixCoreObject(id: $id) { ... on Work { id } } }`,
		"missing subfield": `query Q($id: ID!) { work(id: $id) { user } }`,
	}
	for name, doc := range broken {
		t.Run(name, func(t *testing.T) {
			if errs := validate(schema, doc); len(errs) == 0 {
				t.Errorf("%s validated", doc)
			}
		})
	}
}
