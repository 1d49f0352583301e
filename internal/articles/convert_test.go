package articles_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskiq-opencti/connectors/internal/articles"
	"github.com/riskiq-opencti/connectors/opencti/stix"
)

var fixedNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func clockAt(t time.Time) func() time.Time { return func() time.Time { return t } }

func article(groups ...articles.IndicatorGroup) *articles.Article {
	return &articles.Article{
		GUID: "e86878b1", Title: "Spam Farm Spotted in the Wild", Summary: "summary",
		Link:       "https://community.riskiq.com/article/e86878b1",
		Created:    time.Date(2021, 3, 5, 15, 31, 2, 0, time.UTC),
		CreatedRaw: "2021-03-05T15:31:02.000+0000",
		Published:  time.Date(2021, 3, 5, 8, 0, 0, 0, time.UTC), PublishedRaw: "2021-03-05T08:00:00.000+0000",
		Tags: []string{"spam"}, Indicators: groups,
	}
}

// byType groups a result's objects by STIX type, as JSON objects.
func byType(t *testing.T, res *articles.Result) map[string][]map[string]any {
	t.Helper()
	out := map[string][]map[string]any{}
	for _, o := range res.Objects {
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		out[o.Type()] = append(out[o.Type()], m)
	}
	return out
}

// TestConvertPythonIDs pins ids computed with the Python reference
// implementation (spec Appendix A) for the objects of one article.
func TestConvertPythonIDs(t *testing.T) {
	t.Parallel()
	a := article(articles.IndicatorGroup{Type: "url", Values: []string{"https://example.com/evil.php"}, Source: "riskiq"})
	res, err := articles.NewConverter(articles.Options{CreateObservables: true}, clockAt(fixedNow)).Convert(a, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, o := range res.Objects {
		ids = append(ids, o.ID())
	}
	want := []string{
		"indicator--c76db3f7-3ffd-5287-9f92-616310e4ea24",
		"url--ba69d7d9-eb0d-59d0-8914-44ca30347966",
		"relationship--0bf4f32a-113f-5bd8-b6c1-c9911e26a4b8",
		"report--06f7f4d5-6ebb-5588-ac3d-a2f98d46c36f", // "spam farm spotted in the wild" @ 2021-03-05T08:00:00+00:00
		"identity--12206468-7cbe-566d-a9b5-c7b23a2e8818",
	}
	if d := cmp.Diff(want, ids); d != "" {
		t.Errorf("ids (-want +got):\n%s", d)
	}
}

// TestConvertTLP pins the corrected marking rules (issue 10): each indicator,
// its observable and its based-on relationship carry its group's TLP; the
// report, the tag objects and the relationships from the threats are
// TLP:WHITE for a public article whatever its indicators (as the Python
// connector), TLP:AMBER for an article that is not public; sectors and
// countries carry none; no marking definition is in the bundle.
func TestConvertTLP(t *testing.T) {
	t.Parallel()
	public := articles.IndicatorGroup{Type: "domain", Values: []string{"a.example"}, Source: "public"}
	private := articles.IndicatorGroup{Type: "domain", Values: []string{"b.example"}, Source: "riskiq"}
	entities := []articles.Entity{
		{Type: articles.EntityMalware, Name: "Emotet"}, {Type: articles.EntitySector, Name: "Finance"},
		{Type: articles.EntityAttackPattern, Name: "Spearphishing Attachment", MitreID: "T1566.001"},
	}
	tests := []struct {
		name          string
		privateReport bool
		groups        []articles.IndicatorGroup
		article       string // the report's, the tag objects' and the threat relationships' marking
	}{
		{"all public", false, []articles.IndicatorGroup{public}, stix.TLPWhiteID},
		{"one private", false, []articles.IndicatorGroup{public, private}, stix.TLPWhiteID},
		{"all private", false, []articles.IndicatorGroup{private}, stix.TLPWhiteID},
		{"tags only", false, nil, stix.TLPWhiteID},
		{"private article, public indicators", true, []articles.IndicatorGroup{public}, stix.TLPAmberID},
		{"private article, both", true, []articles.IndicatorGroup{public, private}, stix.TLPAmberID},
	}
	for _, tt := range tests {
		a := article(tt.groups...)
		a.Private = tt.privateReport
		res, err := articles.NewConverter(articles.Options{CreateObservables: true}, clockAt(fixedNow)).Convert(a, entities)
		if err != nil {
			t.Fatal(err)
		}
		objs := byType(t, res)
		refs := func(o map[string]any) []any { r, _ := o["object_marking_refs"].([]any); return r }
		one := func(what string, o map[string]any, want string) {
			t.Helper()
			if got := refs(o); len(got) != 1 || got[0] != want {
				t.Errorf("%s: %s marking %v, want %s", tt.name, what, got, want)
			}
		}
		one("report", objs["report"][0], tt.article)
		one("malware", objs["malware"][0], tt.article)
		one("attack pattern", objs["attack-pattern"][0], tt.article)
		for _, id := range objs["identity"] {
			if id["identity_class"] == "class" && refs(id) != nil {
				t.Errorf("%s: sector marking %v, want none (as the Python connector)", tt.name, refs(id))
			}
		}
		indicatorTLP := map[string]string{}
		for _, ind := range objs["indicator"] {
			want := stix.TLPAmberID
			if strings.Contains(ind["pattern"].(string), "a.example") {
				want = stix.TLPWhiteID
			}
			indicatorTLP[ind["id"].(string)] = want
			one("indicator "+ind["pattern"].(string), ind, want)
		}
		for _, r := range objs["relationship"] {
			want := tt.article
			if r["relationship_type"] == "based-on" {
				want = indicatorTLP[r["source_ref"].(string)]
			}
			one(r["relationship_type"].(string)+" relationship", r, want)
		}
		if got := len(objs["marking-definition"]); got != 0 {
			t.Errorf("%s: %d marking definitions in the bundle, want none (as the Python connector)", tt.name, got)
		}
	}
}

// TestConvertModified pins the dates Python's stix2 library gives: reports
// and indicators are created at the article's creation date and modified at
// the processing time; the tag objects, the relationships and the author
// are created and modified at the processing time. Ids do not depend on it.
func TestConvertModified(t *testing.T) {
	t.Parallel()
	a := article(articles.IndicatorGroup{Type: "url", Values: []string{"https://example.com/evil.php"}, Source: "public"})
	entities := []articles.Entity{{Type: articles.EntityMalware, Name: "Emotet"}}
	var ids [2][]string
	for i, now := range []time.Time{fixedNow, fixedNow.Add(36 * time.Hour)} {
		res, err := articles.NewConverter(articles.Options{CreateObservables: true}, clockAt(now)).Convert(a, entities)
		if err != nil {
			t.Fatal(err)
		}
		wantNow := now.Format("2006-01-02T15:04:05.000Z")
		for typ, objs := range byType(t, res) {
			for _, o := range objs {
				ids[i] = append(ids[i], o["id"].(string))
				if typ == "url" {
					continue
				}
				wantCreated := wantNow
				if typ == "report" || typ == "indicator" {
					wantCreated = "2021-03-05T15:31:02.000Z"
				}
				if o["created"] != wantCreated || o["modified"] != wantNow {
					t.Errorf("now %s: %s created %v modified %v, want %s and %s", wantNow, typ, o["created"], o["modified"], wantCreated, wantNow)
				}
			}
		}
	}
	slices.Sort(ids[0])
	slices.Sort(ids[1])
	if d := cmp.Diff(ids[0], ids[1]); d != "" {
		t.Errorf("ids depend on the processing time (-first +second):\n%s", d)
	}
}

// TestConvertAttackPatternProperties pins an attack pattern found by its
// ATT&CK id as the Python connector echoes it: the id hashes the ATT&CK id,
// the object has no x_mitre_id.
func TestConvertAttackPatternProperties(t *testing.T) {
	t.Parallel()
	entities := []articles.Entity{{Type: articles.EntityAttackPattern, Name: "Spearphishing Attachment", MitreID: "T1566.001"}}
	res, err := articles.NewConverter(articles.Options{}, clockAt(fixedNow)).Convert(article(), entities)
	if err != nil {
		t.Fatal(err)
	}
	ap := byType(t, res)["attack-pattern"][0]
	if ap["id"] != "attack-pattern--6b3d6efe-0d48-5d0d-875a-086b0d02d110" {
		t.Errorf("attack pattern id %v, want pycti's AttackPattern.generate_id(name, x_mitre_id)", ap["id"])
	}
	if _, ok := ap["x_mitre_id"]; ok {
		t.Errorf("attack pattern has x_mitre_id %v, want none (as the Python connector)", ap["x_mitre_id"])
	}
}

func TestConvertObservablesOption(t *testing.T) {
	t.Parallel()
	groups := []articles.IndicatorGroup{
		{Type: "ip", Values: []string{"203.0.113.9", "2001:db8::9"}, Source: "public"},
		{Type: "certificate_subjectcommonname", Values: []string{"ACME"}, Source: "public"},
	}
	for _, create := range []bool{true, false} {
		res, err := articles.NewConverter(articles.Options{CreateObservables: create}, clockAt(fixedNow)).Convert(article(groups...), nil)
		if err != nil {
			t.Fatal(err)
		}
		objs := byType(t, res)
		wantObs := 0
		if create {
			wantObs = 2 // the X.509 subject has no deterministic id: indicator only
		}
		if res.Indicators != 3 || res.Observables != wantObs || len(objs["ipv4-addr"])+len(objs["ipv6-addr"]) != wantObs ||
			len(objs["relationship"]) != wantObs || len(objs["x509-certificate"]) != 0 {
			t.Errorf("create=%v: %d indicators, %d observables, %d relationships, %d certificates", create,
				res.Indicators, res.Observables, len(objs["relationship"]), len(objs["x509-certificate"]))
		}
	}
}

func TestConvertNothingToReport(t *testing.T) {
	t.Parallel()
	a := article(articles.IndicatorGroup{Type: "bitcoin_address", Values: []string{"bc1q"}, Source: "public"},
		articles.IndicatorGroup{Type: "ip", Values: []string{"not an ip"}, Source: "public"})
	res, err := articles.NewConverter(articles.Options{CreateObservables: true}, clockAt(fixedNow)).Convert(a,
		[]articles.Entity{{Type: articles.EntityThreatActor, Name: "Not Mapped"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Report != nil || len(res.Objects) != 0 {
		t.Errorf("Convert = %d objects, want none (no report without objects, as the Python connector)", len(res.Objects))
	}
	if d := cmp.Diff([]string{"bitcoin_address"}, res.UnknownTypes); d != "" {
		t.Errorf("unknown types (-want +got):\n%s", d)
	}
	if len(res.Skipped) != 1 || res.Skipped[0].Value != "not an ip" || res.Skipped[0].Reason == "" {
		t.Errorf("skipped = %+v", res.Skipped)
	}
	if _, err := articles.NewConverter(articles.Options{}, nil).Convert(&articles.Article{GUID: "x"}, nil); !errors.Is(err, articles.ErrNoDate) {
		t.Errorf("Convert(no creation date) = %v, want ErrNoDate", err)
	}
}

func TestConvertReport(t *testing.T) {
	t.Parallel()
	a := article(articles.IndicatorGroup{Type: "domain", Values: []string{"a.example"}, Source: "public"})
	a.Title, a.Content, a.PublishedRaw, a.Published = "  ", "Full text.\n\nSecond paragraph.", "", time.Time{}
	a.Tags = []string{"spam", "", "spam", "NDR"}
	res, err := articles.NewConverter(articles.Options{}, clockAt(fixedNow)).Convert(a, nil)
	if err != nil {
		t.Fatal(err)
	}
	report := byType(t, res)["report"][0]
	want := map[string]any{
		"name":              articles.DefaultReportName,
		"published":         "2021-03-05T15:31:02Z",
		"created":           "2021-03-05T15:31:02.000Z",
		"lang":              "en",
		"labels":            []any{"spam", "NDR"},
		"x_opencti_content": "Full text.\n\nSecond paragraph.",
		"report_types":      []any{"threat-report"},
		"external_references": []any{map[string]any{
			"source_name": "riskiq", "url": "https://community.riskiq.com/article/e86878b1", "external_id": "e86878b1",
		}},
	}
	for k, v := range want {
		if d := cmp.Diff(v, report[k]); d != "" {
			t.Errorf("report %s (-want +got):\n%s", k, d)
		}
	}
	if id := stix.ReportID(articles.DefaultReportName, stix.VerbatimTime("2021-03-05T15:31:02+00:00")); report["id"] != id {
		t.Errorf("report id = %v, want %s (default name, created date as published)", report["id"], id)
	}
}

func TestConvertThreatRelationships(t *testing.T) {
	t.Parallel()
	a := article(articles.IndicatorGroup{Type: "domain", Values: []string{"a.example", "b.example"}, Source: "riskiq"})
	entities := []articles.Entity{
		{Type: articles.EntityIntrusionSet, Name: "APT28"},
		{Type: articles.EntityTool, Name: "Cobalt Strike"},
		{Type: articles.EntityAttackPattern, Name: "Spearphishing Attachment", MitreID: "T1566.001"},
		{Type: articles.EntityVulnerability, Name: "CVE-2021-44228"},
		{Type: articles.EntityCountry, Name: "France"},
		{Type: articles.EntitySector, Name: "Finance"},
		{Type: articles.EntityIntrusionSet, Name: "APT28"}, // twice: once
		{Type: articles.EntityCampaign, Name: "ignored"},
	}
	res, err := articles.NewConverter(articles.Options{}, clockAt(fixedNow)).Convert(a, entities)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, r := range byType(t, res)["relationship"] {
		src, _, _ := strings.Cut(r["source_ref"].(string), "--")
		dst, _, _ := strings.Cut(r["target_ref"].(string), "--")
		count[r["relationship_type"].(string)+" "+src+" "+dst]++
	}
	want := map[string]int{
		"indicates indicator intrusion-set": 2, "indicates indicator tool": 2,
		"targets intrusion-set identity": 1, "targets intrusion-set location": 1, "targets intrusion-set vulnerability": 1,
		"targets tool identity": 1, "targets tool location": 1, "targets tool vulnerability": 1,
		"uses intrusion-set attack-pattern": 1, "uses tool attack-pattern": 1,
	}
	if d := cmp.Diff(want, count); d != "" {
		t.Errorf("relationships (-want +got):\n%s", d)
	}
	objs := byType(t, res)
	if ids := []string{objs["intrusion-set"][0]["id"].(string), objs["attack-pattern"][0]["id"].(string), objs["vulnerability"][0]["id"].(string), objs["location"][0]["id"].(string)}; !cmp.Equal(ids, []string{
		"intrusion-set--f743ab1d-b2f2-58f8-975f-0993511c0b9d", "attack-pattern--6b3d6efe-0d48-5d0d-875a-086b0d02d110",
		"vulnerability--693c68fd-9a33-5d6d-b44e-407b6a48b05b", "location--b8d0549f-de06-5ebd-a6e9-d31a581dba5d",
	}) {
		t.Errorf("threat ids = %v, want pycti's", ids)
	}
	if len(objs["intrusion-set"]) != 1 {
		t.Errorf("%d intrusion sets, want 1", len(objs["intrusion-set"]))
	}
}

func TestTagLookupValue(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"T1566.001 - Spearphishing Attachment": "T1566.001",
		"T1204 - User Execution":               "T1204",
		"T1059":                                "T1059",
		"T1059.001":                            "T1059.001",
		" APT29 ":                              "APT29",
		"T12345 - Not ATT&CK":                  "T12345 - Not ATT&CK",
		"t1059":                                "t1059",
		"T1059-Name":                           "T1059-Name",
	} {
		if got := articles.TagLookupValue(in); got != want {
			t.Errorf("TagLookupValue(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestConvertModifiedNeverBeforeCreated: with a clock behind the article's
// date (a source dated in the future, a skewed host), modified is the
// creation time instead of an invalid earlier time.
func TestConvertModifiedNeverBeforeCreated(t *testing.T) {
	t.Parallel()
	a := article(articles.IndicatorGroup{Type: "url", Values: []string{"https://example.com/evil.php"}, Source: "public"})
	early := a.Created.Add(-48 * time.Hour)
	res, err := articles.NewConverter(articles.Options{CreateObservables: true}, clockAt(early)).Convert(a, nil)
	if err != nil {
		t.Fatalf("Convert() with a clock before the article = %v", err)
	}
	for _, typ := range []string{"report", "indicator"} {
		for _, o := range byType(t, res)[typ] {
			if o["modified"] != o["created"] {
				t.Errorf("%s created %v modified %v, want modified = created", typ, o["created"], o["modified"])
			}
		}
	}
}
