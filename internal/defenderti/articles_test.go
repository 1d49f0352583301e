package defenderti_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskiq-opencti/connectors/internal/defenderti"
	"github.com/riskiq-opencti/connectors/internal/defenderti/defendertitest"
)

func TestArticles(t *testing.T) {
	e := setup(t, func(s *defenderti.Settings) { s.PageSize = 2 })
	var got []string
	err := e.c.Articles(t.Context(), func(a defenderti.Article) (bool, error) {
		got = append(got, a.ID+" "+a.LastUpdatedDateTime.Format(time.RFC3339Nano)+" "+a.Body.Format)
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"3f9c01ab 2026-11-20T15:40:03.007Z markdown",
		"e86878b1 2026-11-12T08:30:00Z html",
		"a272d5ab 2026-11-05T06:00:00.123456Z unknownFutureValue",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("articles (-want +got):\n%s", diff)
	}
	if n := e.srv.Calls(defendertitest.EndpointArticles); n != 2 {
		t.Errorf("pages = %d, want 2", n)
	}
	reqs := e.srv.Requests()
	for _, r := range reqs {
		if r.Endpoint == defendertitest.EndpointArticles {
			if r.Query != "$count=true&$orderby=lastUpdatedDateTime%20desc&$top=2" {
				t.Errorf("first page query %q", r.Query)
			}
			break
		}
	}

	// fn stops the listing: no second page.
	before := e.srv.Calls(defendertitest.EndpointArticles)
	n := 0
	if err := e.c.Articles(t.Context(), func(defenderti.Article) (bool, error) { n++; return false, nil }); err != nil {
		t.Fatal(err)
	}
	if n != 1 || e.srv.Calls(defendertitest.EndpointArticles)-before != 1 {
		t.Errorf("stop: %d articles, %d pages", n, e.srv.Calls(defendertitest.EndpointArticles)-before)
	}
	// fn's error is returned as is.
	boom := errors.New("boom")
	if err := e.c.Articles(t.Context(), func(defenderti.Article) (bool, error) { return true, boom }); !errors.Is(err, boom) {
		t.Errorf("fn error: %v", err)
	}
}

func TestArticleAndIndicators(t *testing.T) {
	e := setup(t, func(s *defenderti.Settings) { s.PageSize = 4 })
	a, err := e.c.Article(t.Context(), "3f9c01ab")
	if err != nil {
		t.Fatal(err)
	}
	img := "https://example.com/loader.png"
	want := &defenderti.Article{
		ID: "3f9c01ab", Title: "Loader campaign abuses signed installers",
		Summary:             defenderti.FormattedContent{Content: "A loader campaign distributes signed MSI installers from **malicious.example**.", Format: "markdown"},
		Body:                defenderti.FormattedContent{Content: "#### Description\r\nThe campaign uses `malicious.example` and 192.0.2.10.\r\n#### Indicators\r\n- login.phish.example\r\n- 198.51.100.7", Format: "markdown"},
		CreatedDateTime:     date("2026-11-18T09:02:11.120Z"),
		LastUpdatedDateTime: date("2026-11-20T15:40:03.007Z"),
		IsFeatured:          true,
		Tags:                []string{"OSINT", "ExampleLoader", "Storm-0000", "MSI", "PowerShell", "T1204.002"},
		ImageURL:            &img,
	}
	if diff := cmp.Diff(want, a); diff != "" {
		t.Errorf("article (-want +got):\n%s", diff)
	}
	e2, err := e.c.Article(t.Context(), "e86878b1")
	if err != nil {
		t.Fatal(err)
	}
	if e2.ImageURL != nil || len(e2.Tags) != 0 {
		t.Errorf("empty tags / null image: %+v", e2)
	}

	ins, truncated, err := e.c.ArticleIndicators(t.Context(), "3f9c01ab")
	if err != nil || truncated {
		t.Fatal(err, truncated)
	}
	var got []string
	for _, in := range ins {
		got = append(got, fmt.Sprintf("%s %s %s %s", in.Source, in.Artifact.ODataType, in.Artifact.ID, in.Artifact.Value))
	}
	wantIns := []string{
		"microsoft #microsoft.graph.security.hostname login.phish.example ",
		"public #microsoft.graph.security.ipAddress 198.51.100.7 ",
		"osint #microsoft.graph.security.ipAddress 2001:db8::bad ",
		"osint #microsoft.graph.security.unclassifiedArtifact aHlwb3RoZXRpY2Fs http://login.phish.example/a",
		"microsoft #microsoft.graph.security.unclassifiedArtifact c2hhMjU2 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		"osint #microsoft.graph.security.sslCertificate a94a8fe5ccb19ba61c4c0873d391e987982fbbd3 ",
		"unknownfuturevalue #microsoft.graph.security.hostCookie Y29va2ll ",
		"microsoft #microsoft.graph.security.hostTracker dHJhY2tlcg== ",
		"public #microsoft.graph.security.hostComponent Y29tcG9uZW50 ",
	}
	if diff := cmp.Diff(wantIns, got); diff != "" {
		t.Errorf("indicators (-want +got):\n%s", diff)
	}
	if n := e.srv.Calls(defendertitest.EndpointArticleIndicators); n != 3 {
		t.Errorf("indicator pages = %d, want 3", n)
	}

	none, _, err := e.c.ArticleIndicators(t.Context(), "e86878b1")
	if err != nil || len(none) != 0 {
		t.Errorf("no indicators: %v %v", none, err)
	}
	if _, err := e.c.Article(t.Context(), "00000000"); !errors.Is(err, defenderti.ErrNotFound) {
		t.Errorf("unknown article: %v", err)
	}
	if _, _, err := e.c.ArticleIndicators(t.Context(), "00000000"); !errors.Is(err, defenderti.ErrNotFound) {
		t.Errorf("unknown article indicators: %v", err)
	}
}

func TestArticleIndicatorsCap(t *testing.T) {
	e := setup(t, func(s *defenderti.Settings) { s.PageSize = 4; s.MaxRecords = 5 })
	ins, truncated, err := e.c.ArticleIndicators(t.Context(), "3f9c01ab")
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) != 5 || !truncated {
		t.Errorf("got %d truncated %v, want 5 true", len(ins), truncated)
	}
	e = setup(t, func(s *defenderti.Settings) { s.PageSize = 4; s.MaxRecords = 9 })
	ins, truncated, err = e.c.ArticleIndicators(t.Context(), "3f9c01ab")
	if err != nil || len(ins) != 9 || truncated {
		t.Errorf("exactly the cap: %d %v %v", len(ins), truncated, err)
	}
}

func TestHostReputation(t *testing.T) {
	e := setup(t, nil)
	rep, err := e.c.HostReputation(t.Context(), "Malicious.Example")
	if err != nil {
		t.Fatal(err)
	}
	details := "https://example.com/details"
	want := &defenderti.HostReputation{
		ID: "5f1c2d7e-0000-4000-8000-0a1b2c3d4e5f", Classification: "suspicious", Score: 62,
		Rules: []defenderti.HostReputationRule{
			{Name: "Registrar", Description: "Registrar often used for abuse", Severity: "medium"},
			{Name: "Resolving IP Address", Description: "192.0.2.10", Severity: "low", RelatedDetailsURL: &details},
		},
	}
	if diff := cmp.Diff(want, rep); diff != "" {
		t.Errorf("reputation (-want +got):\n%s", diff)
	}
	rep6, err := e.c.HostReputation(t.Context(), "2001:db8::10")
	if err != nil || rep6.Classification != "unknown" {
		t.Errorf("unknownFutureValue: %+v %v", rep6, err)
	}
	if _, err := e.c.HostReputation(t.Context(), "nowhere.example"); !errors.Is(err, defenderti.ErrNotFound) {
		t.Errorf("unknown host: %v", err)
	}
}

func TestNormalizeSource(t *testing.T) {
	for in, want := range map[string]string{
		"microsoft": "microsoft", "microsoftDefenderThreatIntelligence": "microsoft", "OSINT": "osint",
		"openSourceIntelligence": "osint", "public": "public", " Public ": "public", "unknownFutureValue": "unknownfuturevalue", "": "",
	} {
		if got := defenderti.NormalizeSource(in); got != want {
			t.Errorf("NormalizeSource(%q) = %q, want %q", in, got, want)
		}
	}
}
