package passivetotaltest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
)

const (
	user = "analyst@example.com"
	key  = "test-key"
)

var epoch = time.Date(2025, 6, 15, 12, 0, 0, 0, time.UTC)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

// get sends an authenticated GET of path (with query) to the server.
func get(t *testing.T, s *Server, path string, q url.Values) reply {
	t.Helper()
	return do(t, s, http.MethodGet, s.RootURL()+path, q, true)
}

func do(t *testing.T, s *Server, method, target string, q url.Values, auth bool) reply {
	t.Helper()
	if q != nil {
		target += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(t.Context(), method, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth {
		req.SetBasicAuth(user, key)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{resp.StatusCode, resp.Header, body}
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("answer is not JSON: %v\n%s", err, b)
	}
	return v
}

func TestDefaultData(t *testing.T) {
	d := DefaultData()
	want := []string{"2606:4700::6810:b712", "54.153.123.93", "legacy.passivetotal.org", "nx.passivetotal.org", "passivetotal.org", "www.riskiq.com"}
	if diff := cmp.Diff(want, d.Queries()); diff != "" {
		t.Errorf("queries (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"e86878b1", "3a5fd1c9", "b71c02e4", "0f9e8d7c", "c4d2e6f8"}, d.ArticleGUIDs()); diff != "" {
		t.Errorf("articles, oldest first (-want +got):\n%s", diff)
	}
}

func TestLoadDataErrors(t *testing.T) {
	quota := &fstest.MapFile{Data: []byte(`{"user":{}}`)}
	tests := []struct {
		name string
		fs   fstest.MapFS
		want string
	}{
		{"no quota", fstest.MapFS{}, "load quota: open quota.json: file does not exist"},
		{"bad quota", fstest.MapFS{"quota.json": {Data: []byte(`{`)}}, "load quota: quota.json is not valid JSON"},
		{"dns without query", fstest.MapFS{"quota.json": quota, "dns/a.json": {Data: []byte(`{"results":[]}`)}},
			"load dns/a.json: queryValue missing"},
		{"dns without results", fstest.MapFS{"quota.json": quota, "dns/a.json": {Data: []byte(`{"queryValue":"a"}`)}},
			"load dns/a.json: results: unexpected end of JSON input"},
		{"dns twice", fstest.MapFS{"quota.json": quota,
			"dns/a.json": {Data: []byte(`{"queryValue":"A","results":[]}`)},
			"dns/b.json": {Data: []byte(`{"queryValue":"a","results":[]}`)}},
			`load dns/b.json: second answer for query "a"`},
		{"article without guid", fstest.MapFS{"quota.json": quota, "articles/x.json": {Data: []byte(`{"createdDate":"2024-01-01"}`)}},
			"load articles/x.json: guid missing"},
		{"article bad date", fstest.MapFS{"quota.json": quota, "articles/x.json": {Data: []byte(`{"guid":"x","createdDate":"yesterday"}`)}},
			`load articles/x.json: createdDate "yesterday" not understood`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadData(tt.fs)
			if err == nil || err.Error() != tt.want {
				t.Errorf("LoadData = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestRoutes(t *testing.T) {
	s := NewServer(t, WithClock((&clock{t: epoch}).Now))
	tests := []struct {
		method, path string
		auth         bool
		status       int
		endpoint     string
	}{
		{"GET", "/pt/v2/account/quota", true, 200, EndpointQuota},
		{"GET", "/pt/v2/dns/passive?query=passivetotal.org", true, 200, EndpointPassiveDNS},
		{"GET", "/pt/v2/articles", true, 200, EndpointArticles},
		{"GET", "/pt/v2/articles/e86878b1", true, 200, EndpointArticle},
		{"GET", "/pt/v2/articles/ffffffff", true, 404, EndpointArticle},
		{"GET", "/v2/account/quota", true, 404, ""},
		{"GET", "/pt/account/quota", true, 404, ""},
		{"GET", "/pt/v2/v2/account/quota", true, 404, ""},
		{"GET", "/pt//v2/account/quota", true, 404, ""},
		{"GET", "/pt/v2/account/quota/", true, 404, ""},
		{"GET", "/pt/v2/articles/", true, 404, ""},
		{"GET", "/pt/v2/articles/a/b", true, 404, ""},
		{"GET", "/pt/v2/whois", true, 404, ""},
		{"POST", "/pt/v2/account/quota", true, 405, EndpointQuota},
		{"GET", "/pt/v2/account/quota", false, 401, EndpointQuota},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			before := map[string]int{}
			for _, ep := range []string{EndpointQuota, EndpointPassiveDNS, EndpointArticles, EndpointArticle} {
				before[ep] = s.Calls(ep)
			}
			r := do(t, s, tt.method, s.srv.URL+tt.path, nil, tt.auth)
			if r.status != tt.status {
				t.Errorf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			for ep, n := range before {
				want := n
				if ep == tt.endpoint {
					want++
				}
				if got := s.Calls(ep); got != want {
					t.Errorf("Calls(%s) = %d, want %d", ep, got, want)
				}
			}
		})
	}
}

func TestPrefixOptions(t *testing.T) {
	root := NewServer(t, WithPrefix(""))
	if r := get(t, root, "/v2/account/quota", nil); r.status != 200 {
		t.Errorf("root mount: status %d", r.status)
	}
	if !strings.HasSuffix(root.BaseURL(), "/v2") || strings.Contains(root.BaseURL(), "/pt") {
		t.Errorf("root mount BaseURL = %q", root.BaseURL())
	}
	s := NewServer(t)
	u, err := url.Parse(s.BaseURL())
	if err != nil {
		t.Fatal(err)
	}
	if u.Hostname() != "127.0.0.1" || u.Path != "/pt/v2" || s.RootURL()+"/v2" != s.BaseURL() {
		t.Errorf("BaseURL %q, RootURL %q: want 127.0.0.1 and /pt/v2", s.BaseURL(), s.RootURL())
	}
}

func TestAuthentication(t *testing.T) {
	anyCreds := NewServer(t)
	exact := NewServer(t, WithCredentials(user, "other-key"))
	for _, tc := range []struct {
		name string
		s    *Server
		user string
		key  string
		want int
	}{
		{"any pair", anyCreds, "x@example.com", "k", 200},
		{"empty key", anyCreds, "x@example.com", "", 401},
		{"empty user", anyCreds, "", "k", 401},
		{"exact pair", exact, user, "other-key", 200},
		{"wrong key", exact, user, key, 401},
		{"wrong user", exact, "someone@example.com", "other-key", 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, tc.s.BaseURL()+"/account/quota", nil)
			req.SetBasicAuth(tc.user, tc.key)
			resp, err := tc.s.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.want == 401 {
				want := `{"error":{"message":"Unauthorized","developer_message":"Invalid username or API key"}}`
				if string(body) != want || resp.Header.Get("WWW-Authenticate") == "" {
					t.Errorf("401 body %s, WWW-Authenticate %q", body, resp.Header.Get("WWW-Authenticate"))
				}
			}
		})
	}
}

func TestFaults(t *testing.T) {
	s := NewServer(t, WithClock((&clock{t: epoch}).Now))
	s.Fail(EndpointArticles, 500, 2, "")
	s.Fail(EndpointArticles, 429, 1, "7")
	var got []int
	for range 4 {
		r := get(t, s, "/v2/articles", nil)
		got = append(got, r.status)
		if r.status == 429 && r.header.Get("Retry-After") != "7" {
			t.Errorf("429 without Retry-After: %v", r.header)
		}
	}
	if diff := cmp.Diff([]int{500, 500, 429, 200}, got); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if n := s.Calls(EndpointArticles); n != 4 {
		t.Errorf("Calls = %d, want 4", n)
	}

	s.Fail(EndpointQuota, 503, 0, "")
	for range 3 {
		r := get(t, s, "/v2/account/quota", nil)
		if r.status != 503 || r.header.Get("Content-Type") != "text/html" || !strings.Contains(string(r.body), "503 Service Unavailable") {
			t.Fatalf("unlimited 503: %d %s %s", r.status, r.header.Get("Content-Type"), r.body)
		}
	}
	s.ClearFaults()
	if r := get(t, s, "/v2/account/quota", nil); r.status != 200 {
		t.Errorf("after ClearFaults: %d", r.status)
	}

	// Faults come after authentication.
	s.Fail(EndpointQuota, 500, 1, "")
	if r := do(t, s, http.MethodGet, s.BaseURL()+"/account/quota", nil, false); r.status != 401 {
		t.Errorf("unauthenticated request with a pending fault: %d, want 401", r.status)
	}
	if r := get(t, s, "/v2/account/quota", nil); r.status != 500 {
		t.Errorf("fault consumed by the unauthenticated request: %d", r.status)
	}
}

func TestErrorBodies(t *testing.T) {
	for status, want := range map[int]string{
		400: `{"error":"bad_request","message":"Bad Request"}`,
		402: `{"message":"quota_exceeded: your search quota has been exceeded"}`,
		403: `{"error":{"message":"Forbidden","developer_message":"Your account does not have access to this resource"}}`,
		404: `{"message":"No record(s) found."}`,
		429: `{"error":"too_many_requests","message":"Rate limit reached, slow down"}`,
		500: `{"error":{"message":"Internal Server Error","developer_message":"An unexpected error occurred"}}`,
	} {
		if got := string(errorBody(status)); got != want {
			t.Errorf("errorBody(%d) = %s, want %s", status, got, want)
		}
	}
}

func TestMalformedUnsuccessfulOversized(t *testing.T) {
	s := NewServer(t)
	s.Malformed(EndpointPassiveDNS, 1)
	r := get(t, s, "/v2/dns/passive", url.Values{"query": {"passivetotal.org"}})
	if r.status != 200 || json.Valid(r.body) || !strings.HasPrefix(string(r.body), "{") || r.header.Get("Content-Length") != strconv.Itoa(len(r.body)) {
		t.Errorf("malformed answer: %d, valid %v, %q", r.status, json.Valid(r.body), r.body)
	}
	s.Unsuccessful(EndpointArticles, 1)
	if r := get(t, s, "/v2/articles", nil); string(r.body) != `{"success":false,"totalRecords":0,"articles":[]}` {
		t.Errorf("unsuccessful articles: %s", r.body)
	}
	s.Unsuccessful(EndpointArticle, 1)
	if r := get(t, s, "/v2/articles/e86878b1", nil); string(r.body) != `{"success":false}` {
		t.Errorf("unsuccessful article: %s", r.body)
	}
	s.Oversized(EndpointQuota, 100_000, 1)
	r = get(t, s, "/v2/account/quota", nil)
	if r.status != 200 || r.header.Get("Content-Length") != "" || len(r.body) < 100_000 || !json.Valid(r.body) {
		t.Errorf("oversized: status %d, Content-Length %q, %d bytes, valid %v", r.status, r.header.Get("Content-Length"), len(r.body), json.Valid(r.body))
	}
}

type quotaAnswer struct {
	User struct {
		LicenseCounts struct {
			SearchAPI int `json:"searchApi"`
		} `json:"licenseCounts"`
		LicenseLimits struct {
			SearchAPI int `json:"searchApi"`
		} `json:"licenseLimits"`
		Counts struct {
			SearchAPI int `json:"search_api"`
		} `json:"counts"`
		NextReset string `json:"next_reset"`
		LastReset string `json:"last_reset"`
	} `json:"user"`
}

func TestQuotaMeter(t *testing.T) {
	c := &clock{t: epoch}
	s := NewServer(t, WithClock(c.Now))
	q := decode[quotaAnswer](t, get(t, s, "/v2/account/quota", nil).body)
	if q.User.LicenseCounts.SearchAPI != 37 || q.User.LicenseLimits.SearchAPI != 500 || q.User.NextReset != "2025-07-01 00:00:00" {
		t.Fatalf("recorded quota not served: %+v", q)
	}
	for range 3 {
		get(t, s, "/v2/dns/passive", url.Values{"query": {"unknown.example"}})
	}
	get(t, s, "/v2/articles", nil) // not a search
	q = decode[quotaAnswer](t, get(t, s, "/v2/account/quota", nil).body)
	if q.User.LicenseCounts.SearchAPI != 40 || q.User.Counts.SearchAPI != 40 {
		t.Errorf("after 3 searches: %+v, want 40 used", q.User)
	}

	s.SetQuota(5, 5)
	r := get(t, s, "/v2/dns/passive", url.Values{"query": {"passivetotal.org"}})
	if r.status != 429 || !strings.Contains(string(r.body), "quota exceeded for operation search_api") {
		t.Errorf("exhausted quota: %d %s", r.status, r.body)
	}
	if used, limit := s.QuotaUsage(); used != 5 || limit != 5 {
		t.Errorf("refused search counted: %d/%d", used, limit)
	}

	c.Set(time.Date(2025, 9, 3, 0, 0, 0, 0, time.UTC)) // two resets later
	q = decode[quotaAnswer](t, get(t, s, "/v2/account/quota", nil).body)
	if q.User.LicenseCounts.SearchAPI != 0 || q.User.NextReset != "2025-10-01 00:00:00" || q.User.LastReset != "2025-09-01 00:00:00" {
		t.Errorf("after the reset: %+v", q.User)
	}
	if r := get(t, s, "/v2/dns/passive", url.Values{"query": {"passivetotal.org"}}); r.status != 200 {
		t.Errorf("search after the reset: %d", r.status)
	}
}

type dnsAnswerWire struct {
	QueryValue   string  `json:"queryValue"`
	QueryType    string  `json:"queryType"`
	FirstSeen    *string `json:"firstSeen"`
	LastSeen     *string `json:"lastSeen"`
	TotalRecords int     `json:"totalRecords"`
	Results      []struct {
		Resolve string `json:"resolve"`
	} `json:"results"`
}

func TestPassiveDNS(t *testing.T) {
	s := NewServer(t)
	ignoring := NewServer(t, WithIgnoreStart())
	tests := []struct {
		name          string
		s             *Server
		q             url.Values
		status        int
		n             int
		first, last   string
		wantQueryType string
	}{
		{"all", s, url.Values{"query": {"passivetotal.org"}}, 200, 14, "2015-04-27 11:05:10", "2025-06-12 17:40:02", "domain"},
		{"case-insensitive", s, url.Values{"query": {"PassiveTotal.ORG"}}, 200, 14, "2015-04-27 11:05:10", "2025-06-12 17:40:02", "domain"},
		{"start", s, url.Values{"query": {"passivetotal.org"}, "start": {"2019-01-01 00:00:00"}}, 200, 12, "2016-02-01 09:30:12", "2025-06-12 17:40:02", "domain"},
		{"start date only", s, url.Values{"query": {"passivetotal.org"}, "start": {"2025-06-12"}}, 200, 10, "2016-02-01 09:30:12", "2025-06-12 17:40:02", "domain"},
		{"end", s, url.Values{"query": {"passivetotal.org"}, "end": {"2016-01-01"}}, 200, 2, "2015-04-27 11:05:10", "2018-11-01 23:59:58", "domain"},
		{"start ignored", ignoring, url.Values{"query": {"passivetotal.org"}, "start": {"2025-06-12"}}, 200, 14, "2015-04-27 11:05:10", "2025-06-12 17:40:02", "domain"},
		{"unknown domain", s, url.Values{"query": {"unknown.example"}}, 200, 0, "", "", "domain"},
		{"unknown ip", s, url.Values{"query": {"192.0.2.1"}}, 200, 0, "", "", "ip"},
		{"no query", s, url.Values{}, 400, 0, "", "", ""},
		{"bad start", s, url.Values{"query": {"passivetotal.org"}, "start": {"2019-01-01T00:00:00Z"}}, 400, 0, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, tt.s, "/v2/dns/passive", tt.q)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if r.status != 200 {
				return
			}
			a := decode[dnsAnswerWire](t, r.body)
			deref := func(p *string) string {
				if p == nil {
					return ""
				}
				return *p
			}
			if len(a.Results) != tt.n || a.TotalRecords != tt.n || deref(a.FirstSeen) != tt.first || deref(a.LastSeen) != tt.last || a.QueryType != tt.wantQueryType {
				t.Errorf("got %d results (total %d), span %q..%q, type %q; want %d, %q..%q, %q",
					len(a.Results), a.TotalRecords, deref(a.FirstSeen), deref(a.LastSeen), a.QueryType, tt.n, tt.first, tt.last, tt.wantQueryType)
			}
		})
	}
	if diff := cmp.Diff(url.Values{"query": {"passivetotal.org"}, "start": {"2019-01-01T00:00:00Z"}}, s.LastQuery(EndpointPassiveDNS)); diff != "" {
		t.Errorf("LastQuery (-want +got):\n%s", diff)
	}
	if s.LastQuery(EndpointArticle) != nil {
		t.Error("LastQuery of an endpoint never called is not nil")
	}
}

type articlesAnswer struct {
	Success      bool `json:"success"`
	TotalRecords int  `json:"totalRecords"`
	Articles     []struct {
		GUID    string  `json:"guid"`
		Content *string `json:"content"`
	} `json:"articles"`
}

func TestArticles(t *testing.T) {
	s := NewServer(t, WithPageSize(2))
	tests := []struct {
		name   string
		q      url.Values
		status int
		total  int
		guids  []string
	}{
		{"default order desc, page size 2", url.Values{}, 200, 5, []string{"c4d2e6f8", "0f9e8d7c"}},
		{"asc", url.Values{"sort": {"created"}, "order": {"asc"}}, 200, 5, []string{"e86878b1", "3a5fd1c9"}},
		{"asc page 2", url.Values{"order": {"asc"}, "page": {"2"}}, 200, 5, []string{"c4d2e6f8"}},
		{"past the end", url.Values{"order": {"asc"}, "page": {"3"}}, 200, 5, []string{}},
		{"size", url.Values{"order": {"asc"}, "size": {"4"}}, 200, 5, []string{"e86878b1", "3a5fd1c9", "b71c02e4", "0f9e8d7c"}},
		{"created after, day inclusive", url.Values{"order": {"asc"}, "createdAfter": {"2024-08-14"}, "size": {"10"}}, 200, 4,
			[]string{"3a5fd1c9", "b71c02e4", "0f9e8d7c", "c4d2e6f8"}},
		{"created after everything", url.Values{"createdAfter": {"2030-01-01"}}, 200, 0, []string{}},
		{"bad date", url.Values{"createdAfter": {"2024-08-14T00:00:00"}}, 400, 0, nil},
		{"bad sort", url.Values{"sort": {"title"}}, 400, 0, nil},
		{"bad order", url.Values{"order": {"up"}}, 400, 0, nil},
		{"bad page", url.Values{"page": {"-1"}}, 400, 0, nil},
		{"bad size", url.Values{"size": {"0"}}, 400, 0, nil},
		{"huge size", url.Values{"size": {"1001"}}, 400, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, s, "/v2/articles", tt.q)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if r.status != 200 {
				return
			}
			a := decode[articlesAnswer](t, r.body)
			guids := []string{}
			for _, it := range a.Articles {
				guids = append(guids, it.GUID)
				if it.Content != nil {
					t.Errorf("list item %s carries content", it.GUID)
				}
			}
			if !a.Success || a.TotalRecords != tt.total {
				t.Errorf("success %v, total %d, want true, %d", a.Success, a.TotalRecords, tt.total)
			}
			if diff := cmp.Diff(tt.guids, guids); diff != "" {
				t.Errorf("guids (-want +got):\n%s", diff)
			}
		})
	}
	detail := get(t, s, "/v2/articles/0f9e8d7c", nil)
	if !strings.Contains(string(detail.body), `"content"`) {
		t.Errorf("detail lacks its content: %s", detail.body)
	}
}

func TestLatency(t *testing.T) {
	s := NewServer(t)
	s.SetLatency(time.Hour)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.BaseURL()+"/account/quota", nil)
	req.SetBasicAuth(user, key)
	if resp, err := s.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("request through an hour of latency succeeded")
	}
	s.SetLatency(0)
	if r := get(t, s, "/v2/account/quota", nil); r.status != 200 {
		t.Errorf("after removing latency: %d", r.status)
	}
}

// TestHandlerWithoutServer mounts the handler as the simulate command would.
func TestHandlerWithoutServer(t *testing.T) {
	h := NewHandler(Options{Prefix: "/riskiq/", Username: user, APIKey: key})
	req := httptest.NewRequest(http.MethodGet, "/riskiq/v2/articles/e86878b1", nil)
	req.SetBasicAuth(user, key)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
		t.Errorf("status %d, type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	if h.Calls(EndpointArticle) != 1 {
		t.Errorf("Calls = %d", h.Calls(EndpointArticle))
	}
}

func TestHold(t *testing.T) {
	s := NewServer(t)
	release := s.Hold(EndpointQuota)
	got := make(chan int, 1)
	go func() {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, s.BaseURL()+"/account/quota", nil)
		req.SetBasicAuth(user, key)
		resp, err := s.Client().Do(req)
		if err != nil {
			got <- 0
			return
		}
		resp.Body.Close()
		got <- resp.StatusCode
	}()
	waitUntil(t, func() bool { return s.Calls(EndpointQuota) == 1 })
	select {
	case st := <-got:
		t.Fatalf("held request answered %d before release", st)
	default:
	}
	if r := get(t, s, "/v2/dns/passive", url.Values{"query": {"passivetotal.org"}}); r.status != 200 {
		t.Errorf("another endpoint held: %d", r.status)
	}
	release()
	release() // idempotent
	if st := <-got; st != 200 {
		t.Errorf("released request: %d, want 200", st)
	}
	if r := get(t, s, "/v2/account/quota", nil); r.status != 200 {
		t.Errorf("request after release: %d", r.status)
	}
}

func TestThrottle(t *testing.T) {
	c := &clock{t: epoch}
	s := NewServer(t, WithClock(c.Now))
	s.Throttle(EndpointPassiveDNS, 2*time.Second, 3)
	q := url.Values{"query": {"passivetotal.org"}}
	wantRA := "2"
	at := func(d time.Duration) int {
		c.Set(epoch.Add(d))
		r := get(t, s, "/v2/dns/passive", q)
		if r.status == 429 && (r.header.Get("Retry-After") != wantRA || !strings.Contains(string(r.body), "Rate limit reached")) {
			t.Errorf("429 at %v: Retry-After %q, body %s", d, r.header.Get("Retry-After"), r.body)
		}
		return r.status
	}
	var got []int
	// Refused at 0 and again at 1.5 s (too early: the wait restarts), then
	// served 2 s after the last refusal.
	for _, d := range []time.Duration{0, 1500 * time.Millisecond, 3400 * time.Millisecond, 3500 * time.Millisecond} {
		got = append(got, at(d))
	}
	if diff := cmp.Diff([]int{429, 429, 429, 200}, got); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if n := s.Throttled(EndpointPassiveDNS); n != 3 {
		t.Errorf("Throttled = %d, want 3", n)
	}
	if r := get(t, s, "/v2/account/quota", nil); r.status != 200 {
		t.Errorf("other endpoint throttled: %d", r.status)
	}

	// The burst is bounded by times.
	s.Throttle(EndpointPassiveDNS, time.Minute, 2)
	wantRA = "60"
	got = []int{at(4 * time.Second), at(4 * time.Second), at(4 * time.Second)}
	if diff := cmp.Diff([]int{429, 429, 200}, got); diff != "" {
		t.Errorf("statuses of a burst of 2 (-want +got):\n%s", diff)
	}
	s.Throttle(EndpointPassiveDNS, time.Minute, 0)
	s.ClearFaults()
	if st := at(4 * time.Second); st != 200 {
		t.Errorf("after ClearFaults: %d", st)
	}
}

// waitUntil polls cond for up to 10 s.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10 s")
		}
		time.Sleep(time.Millisecond)
	}
}
