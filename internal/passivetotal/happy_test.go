package passivetotal_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskiq-opencti/connectors/internal/passivetotal"
	"github.com/riskiq-opencti/connectors/internal/passivetotal/passivetotaltest"
)

func TestQuotaGolden(t *testing.T) {
	e := setup(t, nil)
	q, err := e.client.Quota(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "quota", q)
	used, limit, ok := q.SearchAPI()
	if used != 37 || limit != 500 || !ok || q.Exceeded() {
		t.Errorf("SearchAPI() = %d, %d, %v, Exceeded() = %v; want 37, 500, true, false", used, limit, ok, q.Exceeded())
	}
	if !q.Organization.LicenseLimits.Enterprise || q.Organization.LicenseLimits.SearchAPI != 5000 {
		t.Errorf("organization licence limits = %+v, want enterprise 5000", q.Organization.LicenseLimits)
	}
}

func TestPassiveDNSGolden(t *testing.T) {
	for _, query := range []string{
		"passivetotal.org",
		"www.riskiq.com",
		"54.153.123.93",
		"2606:4700::6810:b712",
		"nx.passivetotal.org",
		"legacy.passivetotal.org",
		"unknown.example",
	} {
		t.Run(query, func(t *testing.T) {
			e := setup(t, nil)
			p, err := e.client.PassiveDNS(t.Context(), query, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "dns_"+strings.ReplaceAll(query, ":", "_"), p)
			if got := e.srv.LastQuery(passivetotaltest.EndpointPassiveDNS); !cmp.Equal(got, url.Values{"query": {query}}) {
				t.Errorf("query parameters = %v, want only query", got)
			}
		})
	}
}

// TestPassiveDNSRecordTypes pins the parsed values the enrichment connector
// relies on, beyond the golden file.
func TestPassiveDNSRecordTypes(t *testing.T) {
	e := setup(t, nil)
	p, err := e.client.PassiveDNS(t.Context(), "passivetotal.org", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	type pair struct{ RecordType, ResolveType string }
	counts := map[pair]int{}
	for _, r := range p.Results {
		counts[pair{r.RecordType, r.ResolveType}]++
	}
	want := map[pair]int{
		{"A", "ip"}: 3, {"AAAA", "ip"}: 2, {"CNAME", "domain"}: 1, {"MX", "domain"}: 2, {"NS", "domain"}: 2,
		{"SOA", "domain"}: 1, {"SOA", "email"}: 2, {"TXT (SPF1)", "domain"}: 1,
	}
	if diff := cmp.Diff(want, counts); diff != "" {
		t.Errorf("record kinds (-want +got):\n%s", diff)
	}
	cname := p.Results[5]
	wantCNAME := passivetotal.DNSRecord{
		Value:        "passivetotal.org",
		Resolve:      "passivetotal.org.cdn.cloudflare.net",
		ResolveType:  "domain",
		RecordType:   "CNAME",
		RecordHash:   cname.RecordHash,
		Source:       []string{"riskiq"},
		FirstSeen:    time.Date(2020, 6, 3, 3, 4, 53, 0, time.UTC),
		LastSeen:     time.Date(2020, 6, 3, 3, 4, 53, 0, time.UTC),
		Collected:    time.Date(2025, 6, 13, 10, 4, 22, 0, time.UTC),
		RawFirstSeen: "2020-06-03 03:04:53",
		RawLastSeen:  "2020-06-03 03:04:53",
		RawCollected: "2025-06-13 10:04:22",
	}
	if diff := cmp.Diff(wantCNAME, cname); diff != "" {
		t.Errorf("CNAME record (-want +got):\n%s", diff)
	}
	if len(cname.RecordHash) != 64 {
		t.Errorf("record hash %q is not 64 hex characters", cname.RecordHash)
	}
	if p.FirstSeen.Location() != time.UTC || p.RawFirstSeen != "2015-04-27 11:05:10" {
		t.Errorf("answer first seen = %v (%q), want UTC 2015-04-27 11:05:10", p.FirstSeen, p.RawFirstSeen)
	}
}

func TestPassiveDNSStartParameter(t *testing.T) {
	paris := time.FixedZone("CEST", 2*3600)
	tests := []struct {
		name      string
		start     time.Time
		wantStart string // "" for absent
		wantCount int
	}{
		{"zero start omitted", time.Time{}, "", 14},
		{"utc", time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC), "2019-01-01 00:00:00", 12},
		{"converted to utc, sub-second dropped", time.Date(2019, 1, 1, 2, 30, 15, 999_000_000, paris), "2019-01-01 00:30:15", 12},
		{"recent", time.Date(2025, 6, 12, 0, 0, 0, 0, time.UTC), "2025-06-12 00:00:00", 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, nil)
			p, err := e.client.PassiveDNS(t.Context(), "passivetotal.org", tt.start)
			if err != nil {
				t.Fatal(err)
			}
			q := e.srv.LastQuery(passivetotaltest.EndpointPassiveDNS)
			if got := q.Get("start"); got != tt.wantStart || q.Has("start") != (tt.wantStart != "") {
				t.Errorf("start parameter = %q (present %v), want %q", got, q.Has("start"), tt.wantStart)
			}
			if len(p.Results) != tt.wantCount || p.TotalRecords != tt.wantCount {
				t.Errorf("got %d results, total %d, want %d", len(p.Results), p.TotalRecords, tt.wantCount)
			}
		})
	}
}

func TestPassiveDNSEmptyQuery(t *testing.T) {
	e := setup(t, nil)
	if _, err := e.client.PassiveDNS(t.Context(), " ", time.Time{}); err == nil {
		t.Fatal("PassiveDNS with an empty query succeeded")
	}
	if n := e.srv.Calls(passivetotaltest.EndpointPassiveDNS); n != 0 {
		t.Errorf("fake got %d calls, want 0", n)
	}
}

func TestPassiveDNSNotFoundIsEmpty(t *testing.T) {
	e := setup(t, nil)
	e.srv.Fail(passivetotaltest.EndpointPassiveDNS, 404, 1, "")
	p, err := e.client.PassiveDNS(t.Context(), "passivetotal.org", time.Time{})
	if err != nil {
		t.Fatalf("PassiveDNS on 404 = %v, want an empty answer", err)
	}
	want := &passivetotal.PassiveDNS{QueryValue: "passivetotal.org", Results: []passivetotal.DNSRecord{}}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("answer (-want +got):\n%s", diff)
	}
}

func TestArticlesGolden(t *testing.T) {
	e := setup(t, nil)
	page, err := e.client.Articles(t.Context(), passivetotal.ArticlesQuery{Size: 2})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "articles_page0_size2", page)

	for _, guid := range []string{"e86878b1", "3a5fd1c9", "b71c02e4", "0f9e8d7c", "c4d2e6f8"} {
		a, err := e.client.Article(t.Context(), guid)
		if err != nil {
			t.Fatalf("Article(%q): %v", guid, err)
		}
		golden(t, "article_"+guid, a)
	}
}

func TestArticleDetailCarriesContent(t *testing.T) {
	e := setup(t, nil)
	var listed passivetotal.Article
	for a, err := range e.client.AllArticles(t.Context(), passivetotal.ArticlesQuery{}) {
		if err != nil {
			t.Fatal(err)
		}
		if a.GUID == "0f9e8d7c" {
			listed = a
		}
	}
	detail, err := e.client.Article(t.Context(), "0f9e8d7c")
	if err != nil {
		t.Fatal(err)
	}
	if listed.Content != "" || detail.Content == "" {
		t.Errorf("content: listed %q, detail %q; want only the detail to carry it", listed.Content, detail.Content)
	}
	listed.Content = detail.Content
	if diff := cmp.Diff(&listed, detail); diff != "" {
		t.Errorf("list item and detail differ beyond content (-list +detail):\n%s", diff)
	}
}

func TestArticleFields(t *testing.T) {
	e := setup(t, nil)
	a, err := e.client.Article(t.Context(), "b71c02e4")
	if err != nil {
		t.Fatal(err)
	}
	if !a.PublishedDate.IsZero() || a.RawPublishedDate != "" {
		t.Errorf("null publishedDate parsed as %v / %q, want zero and empty", a.PublishedDate, a.RawPublishedDate)
	}
	if want := time.Date(2024, 8, 14, 21, 45, 0, 0, time.UTC); !a.CreatedDate.Equal(want) || a.RawCreatedDate != "2024-08-14T21:45:00.000+0000" {
		t.Errorf("createdDate = %v (%q), want %v", a.CreatedDate, a.RawCreatedDate, want)
	}
	types := map[string]string{}
	for _, g := range a.Indicators {
		types[g.Type] = g.Source
		if g.Count != len(g.Values) {
			t.Errorf("group %q count %d, %d values", g.Type, g.Count, len(g.Values))
		}
	}
	for typ, src := range map[string]string{
		"certificate_sha1": "riskiq", "certificate_issuercommonname": "public", "ip_port": "riskiq",
		"bitcoin_address": "riskiq", " Domain ": "public", "proces_mutex": "riskiq",
	} {
		if got, ok := types[typ]; !ok || got != src {
			t.Errorf("indicator group %q: source %q (present %v), want %q", typ, got, ok, src)
		}
	}
}

func TestArticlesQueryParameters(t *testing.T) {
	after := time.Date(2024, 8, 14, 23, 30, 0, 0, time.FixedZone("X", -2*3600)) // 2024-08-15 01:30 UTC
	tests := []struct {
		name string
		q    passivetotal.ArticlesQuery
		want url.Values
		n    int
	}{
		{"all", passivetotal.ArticlesQuery{}, url.Values{"sort": {"created"}, "order": {"asc"}}, 5},
		{"created after, utc date", passivetotal.ArticlesQuery{CreatedAfter: &after},
			url.Values{"createdAfter": {"2024-08-15"}, "sort": {"created"}, "order": {"asc"}}, 2},
		{"page and size", passivetotal.ArticlesQuery{Page: 1, Size: 3},
			url.Values{"sort": {"created"}, "order": {"asc"}, "page": {"1"}, "size": {"3"}}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, nil)
			page, err := e.client.Articles(t.Context(), tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, e.srv.LastQuery(passivetotaltest.EndpointArticles)); diff != "" {
				t.Errorf("query parameters (-want +got):\n%s", diff)
			}
			if len(page.Articles) != tt.n || page.Page != tt.q.Page {
				t.Errorf("page %d with %d articles, want page %d with %d", page.Page, len(page.Articles), tt.q.Page, tt.n)
			}
		})
	}
}

func TestArticlesRejectsNegativePage(t *testing.T) {
	e := setup(t, nil)
	if _, err := e.client.Articles(t.Context(), passivetotal.ArticlesQuery{Page: -1}); err == nil {
		t.Error("Articles with page -1 succeeded")
	}
}

func TestAllArticlesPagination(t *testing.T) {
	tests := []struct {
		name      string
		q         passivetotal.ArticlesQuery
		wantGUIDs []string
		wantCalls int
		lastPage  string
	}{
		{"size 2, three pages", passivetotal.ArticlesQuery{Size: 2},
			[]string{"e86878b1", "3a5fd1c9", "b71c02e4", "0f9e8d7c", "c4d2e6f8"}, 3, "2"},
		{"size 5, one full page", passivetotal.ArticlesQuery{Size: 5},
			[]string{"e86878b1", "3a5fd1c9", "b71c02e4", "0f9e8d7c", "c4d2e6f8"}, 1, ""},
		{"created after", passivetotal.ArticlesQuery{Size: 3, CreatedAfter: ptr(time.Date(2024, 8, 14, 0, 0, 0, 0, time.UTC))},
			[]string{"3a5fd1c9", "b71c02e4", "0f9e8d7c", "c4d2e6f8"}, 2, "1"},
		{"from page 1", passivetotal.ArticlesQuery{Page: 1, Size: 2},
			[]string{"b71c02e4", "0f9e8d7c", "c4d2e6f8"}, 3, "3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, nil)
			var guids []string
			for a, err := range e.client.AllArticles(t.Context(), tt.q) {
				if err != nil {
					t.Fatal(err)
				}
				guids = append(guids, a.GUID)
			}
			if diff := cmp.Diff(tt.wantGUIDs, guids); diff != "" {
				t.Errorf("guids (-want +got):\n%s", diff)
			}
			if n := e.srv.Calls(passivetotaltest.EndpointArticles); n != tt.wantCalls {
				t.Errorf("%d list calls, want %d", n, tt.wantCalls)
			}
			if got := e.srv.LastQuery(passivetotaltest.EndpointArticles).Get("page"); got != tt.lastPage {
				t.Errorf("last page parameter %q, want %q", got, tt.lastPage)
			}
		})
	}
}

func TestAllArticlesStopsEarly(t *testing.T) {
	e := setup(t, nil)
	for range e.client.AllArticles(t.Context(), passivetotal.ArticlesQuery{Size: 2}) {
		break
	}
	if n := e.srv.Calls(passivetotaltest.EndpointArticles); n != 1 {
		t.Errorf("%d list calls after breaking on the first article, want 1", n)
	}
}

func TestAllArticlesErrorMidway(t *testing.T) {
	e := setup(t, nil, passivetotal.WithRetry(1, time.Minute))
	var n int
	var gotErr error
	for a, err := range e.client.AllArticles(t.Context(), passivetotal.ArticlesQuery{Size: 2}) {
		if err != nil {
			gotErr = err
			if a.GUID != "" {
				t.Errorf("error yielded with article %q", a.GUID)
			}
			continue
		}
		n++
		if n == 1 {
			e.srv.Fail(passivetotaltest.EndpointArticles, 500, 1, "")
		}
	}
	var ae *passivetotal.APIError
	if n != 2 || !errors.As(gotErr, &ae) || ae.Status != 500 {
		t.Errorf("got %d articles then %v, want 2 then a 500 APIError", n, gotErr)
	}
}

// TestAllArticlesRepeatedPage guards against a server that ignores the page
// parameter: the iteration stops when a page brings nothing new.
func TestAllArticlesRepeatedPage(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"success":true,"totalRecords":50,"articles":[{"guid":"aaaaaaaa","title":"A"},{"guid":"bbbbbbbb","title":"B"}]}`))
	}))
	t.Cleanup(srv.Close)
	c, err := passivetotal.New(srv.URL+"/v2", testUser, testKey)
	if err != nil {
		t.Fatal(err)
	}
	var guids []string
	for a, err := range c.AllArticles(t.Context(), passivetotal.ArticlesQuery{}) {
		if err != nil {
			t.Fatal(err)
		}
		guids = append(guids, a.GUID)
	}
	if diff := cmp.Diff([]string{"aaaaaaaa", "bbbbbbbb"}, guids); diff != "" {
		t.Errorf("guids (-want +got):\n%s", diff)
	}
}

func TestArticleNotFoundAndEscaping(t *testing.T) {
	e := setup(t, nil)
	for _, guid := range []string{"ffffffff", "a/b", "a?b", "a b"} {
		_, err := e.client.Article(t.Context(), guid)
		var ae *passivetotal.APIError
		if !errors.Is(err, passivetotal.ErrNotFound) || !errors.As(err, &ae) || ae.Message != "Article not found" {
			t.Errorf("Article(%q) = %v, want the API's 404", guid, err)
		}
	}
	if n := e.srv.Calls(passivetotaltest.EndpointArticle); n != 4 {
		t.Errorf("detail endpoint got %d calls, want 4 (each guid one path segment)", n)
	}
	for _, guid := range []string{"", ".", ".."} {
		if _, err := e.client.Article(t.Context(), guid); err == nil {
			t.Errorf("Article(%q) succeeded", guid)
		}
	}
}

func ptr[T any](v T) *T { return &v }
