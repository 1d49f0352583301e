package articles_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/riskiq-opencti/connectors/internal/articles"
	"github.com/riskiq-opencti/connectors/internal/passivetotal/passivetotaltest"
)

// TestRunGolden runs each case of testdata/ once with the fake PassiveTotal,
// a fake platform and a fake tag lookup, and compares the published bundles
// (bundles.golden.json) and what the run leaves (run.golden.json: the
// createdAfter asked, the works, the state, the tag lookups). Refresh with
// go test -run TestRunGolden -update, then review the diff.
func TestRunGolden(t *testing.T) {
	t.Parallel()
	for _, c := range cases(t) {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			data := c.data(t)
			srv, src := c.source(t, passivetotaltest.WithData(data))
			p := newFakePlatform(c.State)
			l := &fakeLister{objects: c.DomainObjects}
			if err := c.importer(t, src, p, l).Run(t.Context()); err != nil {
				t.Fatalf("Run() = %v", err)
			}
			gotRun := goldenRun{Works: p.works, State: p.stateMap(t), TagLookups: l.calls()}
			if q := srv.LastQuery(passivetotaltest.EndpointArticles); q != nil && q.Has("createdAfter") {
				ca := q.Get("createdAfter")
				gotRun.CreatedAfter = &ca
			}
			gotBundles := p.goldenBundles(t)
			sortBundles(gotBundles, data)
			if *update {
				writeGolden(t, c.goldenPath("bundles.golden.json"), gotBundles)
				writeGolden(t, c.goldenPath("run.golden.json"), gotRun)
			}
			compareGolden(t, c.goldenPath("bundles.golden.json"), gotBundles)
			compareGolden(t, c.goldenPath("run.golden.json"), gotRun)
		})
	}
}

// compareGolden compares got, encoded as JSON, with the golden file.
func compareGolden(t *testing.T, path string, got any) {
	t.Helper()
	var want any
	readJSON(t, path, &want)
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, canonical(t, b)); d != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, d)
	}
}

// TestConvertGolden maps each article of the golden bundles with the pure
// converter alone (tags resolved from domain_objects.json) and compares its
// objects, byte for byte, with the golden bundle.
func TestConvertGolden(t *testing.T) {
	t.Parallel()
	for _, c := range cases(t) {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			var bundles []goldenBundle
			readJSON(t, c.goldenPath("bundles.golden.json"), &bundles)
			_, src := c.source(t)
			conv := articles.NewConverter(articles.Options{CreateObservables: c.CreateObservables}, c.clock())
			for _, gb := range bundles {
				a, err := src.Article(t.Context(), gb.Article)
				if err != nil {
					t.Fatal(err)
				}
				res, err := conv.Convert(&a, resolveTags(a.Tags, c.DomainObjects))
				if err != nil {
					t.Fatalf("Convert(%s) = %v", gb.Article, err)
				}
				if len(res.Objects) != len(gb.Objects) {
					t.Errorf("Convert(%s) = %d objects, want %d", gb.Article, len(res.Objects), len(gb.Objects))
					continue
				}
				for i, o := range res.Objects {
					got, err := json.Marshal(o)
					if err != nil {
						t.Fatal(err)
					}
					if d := cmp.Diff(canonical(t, gb.Objects[i]), canonical(t, got)); d != "" {
						t.Errorf("Convert(%s) object %d (-want +got):\n%s", gb.Article, i, d)
					}
				}
			}
		})
	}
}

// resolveTags is the test's oracle of tag resolution: each tag's lookup
// value matched by name or ATT&CK id, the first match of a mapped type.
func resolveTags(tags []string, objs []domainObject) []articles.Entity {
	var out []articles.Entity
	for _, tag := range tags {
		v := articles.TagLookupValue(tag)
		for _, o := range objs {
			if (o.Name == v || o.XMitreID == v && v != "") && slices.Contains([]string{"Intrusion-Set", "Malware", "Tool", "Attack-Pattern", "Sector", "Country", "Vulnerability"}, o.EntityType) {
				out = append(out, articles.Entity{Type: o.EntityType, Name: o.Name, MitreID: o.XMitreID})
				break
			}
		}
	}
	return out
}
