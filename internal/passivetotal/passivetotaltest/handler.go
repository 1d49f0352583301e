// Package passivetotaltest is a fake RiskIQ PassiveTotal v2 API for tests and
// for the simulate command.
//
// [Handler] serves GET /v2/account/quota, /v2/dns/passive, /v2/articles and
// /v2/articles/{guid} under a configurable mount prefix, with the shapes and
// quirks of the real API (spec/passivetotal-api.md): HTTP Basic auth answered
// with 401 and the API's error body, zone-less dates, a search quota that each
// passive DNS query consumes and that resets on the quota interval, articles
// paginated by page and size. Data come from a [Data] set, by default the
// recorded-style files embedded from testdata/. Faults can be injected per
// endpoint ([Handler.Fail], [Handler.Malformed], [Handler.Unsuccessful],
// [Handler.Oversized], [Handler.Throttle]), requests can be held in flight
// ([Handler.Hold]); calls and the last query parameters are recorded.
//
// [NewServer] wraps the handler in an httptest server on 127.0.0.1 mounted
// under "/pt", so [Server.BaseURL] ends in "/pt/v2" and URL-joining bugs show.
// The package does not import package testing ([TB] stands for it), so the
// simulate command can link it.
package passivetotaltest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Endpoints, as paths below the version root; the keys of fault injection
// and call counting.
const (
	EndpointQuota      = "/account/quota"
	EndpointPassiveDNS = "/dns/passive"
	EndpointArticles   = "/articles"
	EndpointArticle    = "/articles/{guid}"
)

// DefaultPageSize is the articles page size when the request has no size.
const DefaultPageSize = 100

// maxPageSize is the largest size parameter accepted.
const maxPageSize = 1000

// Options configures a [Handler].
type Options struct {
	// Prefix is the path the API root is mounted under, before "/v2", e.g.
	// "/pt"; "" serves "/v2/...". Requests outside Prefix+"/v2/" get 404.
	Prefix string
	// Username and APIKey, when APIKey is set, are the only accepted
	// credentials; otherwise any non-empty username and key are accepted.
	Username, APIKey string
	// Latency delays every answer (interrupted when the client gives up).
	Latency time.Duration
	// Now is the clock of the quota resets; default time.Now.
	Now func() time.Time
	// Data is the data set; nil serves [DefaultData].
	Data *Data
	// PageSize is the articles page size without a size parameter; default
	// [DefaultPageSize].
	PageSize int
	// IgnoreStart serves all passive DNS records whatever the start and end
	// parameters. By default records last seen before start, or first seen
	// after end, are left out (the inferred API semantics).
	IgnoreStart bool
}

// Handler is the fake API. It is safe for concurrent use.
type Handler struct {
	prefix      string
	username    string
	apiKey      string
	now         func() time.Time
	data        *Data
	pageSize    int
	ignoreStart bool

	mu        sync.Mutex
	latency   time.Duration
	faults    map[string][]*fault
	holds     map[string]chan struct{}
	throttles map[string]*throttle
	calls     map[string]int
	last      map[string]url.Values
	quota     quotaMeter
}

type faultKind int

const (
	faultStatus faultKind = iota
	faultMalformed
	faultUnsuccessful
	faultOversized
)

type fault struct {
	kind       faultKind
	status     int
	retryAfter string
	size       int64
	times      int // answers left; negative: unlimited
}

// throttle is a rate limit on one endpoint (see [Handler.Throttle]).
type throttle struct {
	retryAfter time.Duration
	until      time.Time // refuse requests arriving before then
	left       int       // refusals left; negative: unlimited
	refused    int       // 429 answers sent
}

// quotaMeter is the user's search quota.
type quotaMeter struct {
	enforced  bool // the data has licence meters, or SetQuota was called
	used      int
	limit     int
	interval  string
	nextReset time.Time
	lastReset time.Time
	rawNext   string
	rawLast   string
	hasResets bool
}

// NewHandler returns a fake API serving opts.Data.
func NewHandler(opts Options) *Handler {
	h := &Handler{
		prefix:      strings.TrimSuffix(opts.Prefix, "/"),
		username:    opts.Username,
		apiKey:      opts.APIKey,
		now:         opts.Now,
		data:        opts.Data,
		pageSize:    opts.PageSize,
		ignoreStart: opts.IgnoreStart,
		latency:     opts.Latency,
		faults:      map[string][]*fault{},
		holds:       map[string]chan struct{}{},
		throttles:   map[string]*throttle{},
		calls:       map[string]int{},
		last:        map[string]url.Values{},
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.data == nil {
		h.data = DefaultData()
	}
	if h.pageSize <= 0 {
		h.pageSize = DefaultPageSize
	}
	h.quota = meterFrom(h.data.quota)
	h.quota.rollover(h.now())
	return h
}

// meterFrom reads the user's quota figures from a quota answer.
func meterFrom(raw []byte) quotaMeter {
	var q struct {
		User *struct {
			QuotaInterval string `json:"quotaInterval"`
			LicenseCounts *struct {
				SearchAPI *int `json:"searchApi"`
			} `json:"licenseCounts"`
			LicenseLimits *struct {
				SearchAPI *int `json:"searchApi"`
			} `json:"licenseLimits"`
			NextReset string `json:"next_reset"`
			LastReset string `json:"last_reset"`
		} `json:"user"`
	}
	var m quotaMeter
	if json.Unmarshal(raw, &q) != nil || q.User == nil {
		return m
	}
	u := q.User
	m.interval = u.QuotaInterval
	if u.LicenseCounts != nil && u.LicenseCounts.SearchAPI != nil && u.LicenseLimits != nil && u.LicenseLimits.SearchAPI != nil {
		m.enforced = true
		m.used, m.limit = *u.LicenseCounts.SearchAPI, *u.LicenseLimits.SearchAPI
	}
	var ok1, ok2 bool
	m.nextReset, ok1 = parseDate(u.NextReset)
	m.lastReset, ok2 = parseDate(u.LastReset)
	m.hasResets = ok1 && ok2
	m.rawNext, m.rawLast = u.NextReset, u.LastReset
	return m
}

// rollover resets the meter when the clock passed the next reset, moving the
// reset times on by the quota interval.
func (m *quotaMeter) rollover(now time.Time) {
	if !m.hasResets || now.Before(m.nextReset) {
		return
	}
	for i := 0; !now.Before(m.nextReset) && i < 100000; i++ {
		m.lastReset = m.nextReset
		if m.interval == "daily" {
			m.nextReset = m.nextReset.AddDate(0, 0, 1)
		} else {
			m.nextReset = m.nextReset.AddDate(0, 1, 0)
		}
	}
	m.used = 0
	m.rawNext = m.nextReset.Format(dateTimeLayout)
	m.rawLast = m.lastReset.Format(dateTimeLayout)
}

const dateTimeLayout = "2006-01-02 15:04:05"

// Fail makes the next times answers of endpoint fail with status and the
// API's error body for it (times <= 0: every answer until [Handler.ClearFaults]).
// retryAfter, when not empty, is sent as the Retry-After header. Faults of an
// endpoint are served in the order they were added, after authentication.
func (h *Handler) Fail(endpoint string, status int, times int, retryAfter string) {
	h.addFault(endpoint, &fault{kind: faultStatus, status: status, retryAfter: retryAfter, times: times})
}

// Malformed makes the next times answers of endpoint 200 with the normal
// answer's JSON cut in half (times <= 0: every answer).
func (h *Handler) Malformed(endpoint string, times int) {
	h.addFault(endpoint, &fault{kind: faultMalformed, times: times})
}

// Unsuccessful makes the next times answers of endpoint 200 with
// "success": false and no data (times <= 0: every answer).
func (h *Handler) Unsuccessful(endpoint string, times int) {
	h.addFault(endpoint, &fault{kind: faultUnsuccessful, times: times})
}

// Oversized makes the next times answers of endpoint 200 with a JSON body of
// about size bytes, streamed without Content-Length (times <= 0: every
// answer).
func (h *Handler) Oversized(endpoint string, size int64, times int) {
	h.addFault(endpoint, &fault{kind: faultOversized, size: size, times: times})
}

func (h *Handler) addFault(endpoint string, f *fault) {
	if f.times <= 0 {
		f.times = -1
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.faults[endpoint] = append(h.faults[endpoint], f)
}

// ClearFaults removes every pending fault and throttle.
func (h *Handler) ClearFaults() {
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.faults)
	clear(h.throttles)
}

// Hold makes the requests to endpoint wait, once counted by [Handler.Calls],
// until release is called (or the client gives up), so that tests can keep
// a request in flight as long as they need. release is safe to call more
// than once; later requests are not held.
func (h *Handler) Hold(endpoint string) (release func()) {
	ch := make(chan struct{})
	h.mu.Lock()
	h.holds[endpoint] = ch
	h.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			h.mu.Lock()
			if h.holds[endpoint] == ch {
				delete(h.holds, endpoint)
			}
			h.mu.Unlock()
			close(ch)
		})
	}
}

// Throttle rate-limits endpoint from now on, as a limiter that counts the
// requests it refuses: a request arriving while throttled is answered 429
// with "Retry-After: <retryAfter in whole seconds>" and the API's rate-limit
// body (not a quota message), and keeps the endpoint throttled until
// retryAfter after its arrival. A client that comes back before the delay it
// was given, or whose other requests keep calling, is refused again. The
// throttle lifts once retryAfter passes without a request, or after times
// refusals (times <= 0: no such limit): a burst of at most times 429.
func (h *Handler) Throttle(endpoint string, retryAfter time.Duration, times int) {
	if times <= 0 {
		times = -1
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.throttles[endpoint] = &throttle{retryAfter: retryAfter, until: h.now().Add(retryAfter), left: times}
}

// Throttled returns how many requests to endpoint the current throttle
// refused with 429.
func (h *Handler) Throttled(endpoint string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t := h.throttles[endpoint]; t != nil {
		return t.refused
	}
	return 0
}

// throttled reports whether the request to endpoint arriving now is refused,
// with the Retry-After value to send.
func (h *Handler) throttled(endpoint string) (retryAfter string, refused bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.throttles[endpoint]
	now := h.now()
	if t == nil || t.left == 0 || !now.Before(t.until) {
		return "", false
	}
	t.until = now.Add(t.retryAfter)
	t.refused++
	if t.left > 0 {
		t.left--
	}
	secs := (t.retryAfter + time.Second - 1) / time.Second
	return strconv.FormatInt(int64(secs), 10), true
}

// SetQuota sets the user's API searches used and their limit; from then on
// passive DNS queries are refused with the API's quota answer once used
// reaches limit.
func (h *Handler) SetQuota(used, limit int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.quota.rollover(h.now())
	h.quota.used, h.quota.limit = used, limit
	h.quota.enforced = true
}

// QuotaUsage returns the user's API searches used and their limit.
func (h *Handler) QuotaUsage() (used, limit int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.quota.rollover(h.now())
	return h.quota.used, h.quota.limit
}

// SetLatency sets the delay before every answer.
func (h *Handler) SetLatency(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.latency = d
}

// Calls returns how many requests endpoint received, failed ones included.
func (h *Handler) Calls(endpoint string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls[endpoint]
}

// LastQuery returns a copy of the query parameters of the last request to
// endpoint, nil before the first.
func (h *Handler) LastQuery(endpoint string) url.Values {
	h.mu.Lock()
	defer h.mu.Unlock()
	if q, ok := h.last[endpoint]; ok {
		return cloneValues(q)
	}
	return nil
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

// ServeHTTP answers one request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	endpoint, guid, ok := h.route(r.URL)
	if !ok {
		http.NotFound(w, r)
		return
	}
	h.mu.Lock()
	h.calls[endpoint]++
	h.last[endpoint] = cloneValues(r.URL.Query())
	latency := h.latency
	hold := h.holds[endpoint]
	h.mu.Unlock()

	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
			return
		}
	}

	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSON(w, http.StatusMethodNotAllowed, errorBody(http.StatusMethodNotAllowed))
		return
	}
	if !h.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="PassiveTotal"`)
		writeJSON(w, http.StatusUnauthorized, errorBody(http.StatusUnauthorized))
		return
	}
	if ra, refused := h.throttled(endpoint); refused {
		w.Header().Set("Retry-After", ra)
		writeJSON(w, http.StatusTooManyRequests, errorBody(http.StatusTooManyRequests))
		return
	}
	if f := h.takeFault(endpoint); f != nil {
		h.serveFault(w, r, endpoint, guid, f)
		return
	}
	status, body := h.answer(endpoint, guid, r.URL.Query())
	writeJSON(w, status, body)
}

// route maps a request path to an endpoint; guid is the unescaped guid of
// /articles/{guid}.
func (h *Handler) route(u *url.URL) (endpoint, guid string, ok bool) {
	p := u.EscapedPath()
	root := h.prefix + "/v2/"
	if !strings.HasPrefix(p, root) {
		return "", "", false
	}
	rest := p[len(root):]
	switch rest {
	case "account/quota":
		return EndpointQuota, "", true
	case "dns/passive":
		return EndpointPassiveDNS, "", true
	case "articles":
		return EndpointArticles, "", true
	}
	seg, found := strings.CutPrefix(rest, "articles/")
	if !found || seg == "" || strings.Contains(seg, "/") {
		return "", "", false
	}
	g, err := url.PathUnescape(seg)
	if err != nil {
		return "", "", false
	}
	return EndpointArticle, g, true
}

func (h *Handler) authorized(r *http.Request) bool {
	user, key, ok := r.BasicAuth()
	if !ok || user == "" || key == "" {
		return false
	}
	if h.apiKey == "" {
		return true
	}
	return user == h.username && key == h.apiKey
}

func (h *Handler) takeFault(endpoint string) *fault {
	h.mu.Lock()
	defer h.mu.Unlock()
	q := h.faults[endpoint]
	if len(q) == 0 {
		return nil
	}
	f := *q[0]
	if q[0].times > 0 {
		q[0].times--
		if q[0].times == 0 {
			h.faults[endpoint] = q[1:]
		}
	}
	return &f
}

func (h *Handler) serveFault(w http.ResponseWriter, r *http.Request, endpoint, guid string, f *fault) {
	switch f.kind {
	case faultStatus:
		if f.retryAfter != "" {
			w.Header().Set("Retry-After", f.retryAfter)
		}
		if f.status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Basic realm="PassiveTotal"`)
		}
		if f.status == http.StatusNotFound && endpoint == EndpointArticle {
			writeJSON(w, f.status, articleNotFound)
			return
		}
		writeJSON(w, f.status, errorBody(f.status))
	case faultMalformed:
		_, body := h.answer(endpoint, guid, r.URL.Query())
		writeJSON(w, http.StatusOK, body[:len(body)/2])
	case faultUnsuccessful:
		if endpoint == EndpointArticles {
			writeJSON(w, http.StatusOK, []byte(`{"success":false,"totalRecords":0,"articles":[]}`))
			return
		}
		writeJSON(w, http.StatusOK, []byte(`{"success":false}`))
	case faultOversized:
		streamOversized(w, r, f.size)
	}
}

// streamOversized writes a valid JSON answer of about size bytes in flushed
// chunks, so that it has no Content-Length.
func streamOversized(w http.ResponseWriter, r *http.Request, size int64) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	chunk := []byte(`"` + strings.Repeat("x", 1022) + `",`)
	_, _ = w.Write([]byte(`{"success":true,"results":[`))
	for written := int64(0); written < size; written += int64(len(chunk)) {
		if r.Context().Err() != nil {
			return
		}
		if _, err := w.Write(chunk); err != nil {
			return
		}
		if fl != nil {
			fl.Flush()
		}
	}
	_, _ = w.Write([]byte(`""]}`))
}

// answer builds the normal answer of a request.
func (h *Handler) answer(endpoint, guid string, q url.Values) (int, []byte) {
	switch endpoint {
	case EndpointQuota:
		return h.quotaAnswer()
	case EndpointPassiveDNS:
		return h.passiveDNSAnswer(q)
	case EndpointArticles:
		return h.articlesAnswer(q)
	case EndpointArticle:
		a, ok := h.data.byGUID[guid]
		if !ok {
			return http.StatusNotFound, articleNotFound
		}
		return http.StatusOK, a.detail
	}
	return http.StatusNotFound, errorBody(http.StatusNotFound)
}

var articleNotFound = []byte(`{"message":"Article not found"}`)

func (h *Handler) quotaAnswer() (int, []byte) {
	h.mu.Lock()
	h.quota.rollover(h.now())
	m := h.quota
	h.mu.Unlock()

	var doc map[string]json.RawMessage
	if err := json.Unmarshal(h.data.quota, &doc); err != nil {
		return http.StatusOK, h.data.quota
	}
	var user map[string]json.RawMessage
	if json.Unmarshal(doc["user"], &user) != nil || user == nil {
		return http.StatusOK, h.data.quota
	}
	if m.enforced {
		user["licenseCounts"] = setMember(user["licenseCounts"], "searchApi", m.used)
		user["licenseLimits"] = setMember(user["licenseLimits"], "searchApi", m.limit)
		user["counts"] = setMember(user["counts"], "search_api", m.used)
		user["limits"] = setMember(user["limits"], "search_api", m.limit)
	}
	if m.hasResets {
		user["next_reset"] = mustJSON(m.rawNext)
		user["last_reset"] = mustJSON(m.rawLast)
	}
	doc["user"] = mustJSON(user)
	return http.StatusOK, mustJSON(doc)
}

// setMember sets key to v in the JSON object obj (a new object when obj is
// not one).
func setMember(obj json.RawMessage, key string, v any) json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(obj, &m) != nil || m == nil {
		m = map[string]json.RawMessage{}
	}
	m[key] = mustJSON(v)
	return mustJSON(m)
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil { // only maps of raw messages, strings and ints are marshalled
		panic(err)
	}
	return b
}

var quotaExceededBody = []byte(`{"error":{"message":"Quota has been exceeded!","developer_message":"quota exceeded for operation search_api"}}`)

func (h *Handler) passiveDNSAnswer(q url.Values) (int, []byte) {
	query := strings.TrimSpace(q.Get("query"))
	if query == "" {
		return http.StatusBadRequest, badRequest("query is required")
	}
	var start, end time.Time
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"start", &start}, {"end", &end}} {
		v := q.Get(p.name)
		if v == "" {
			continue
		}
		t, ok := parseParamDate(v)
		if !ok {
			return http.StatusBadRequest, badRequest(p.name + " must be YYYY-MM-DD or YYYY-MM-DD HH:MM:SS")
		}
		*p.dst = t
	}

	h.mu.Lock()
	h.quota.rollover(h.now())
	if h.quota.enforced && h.quota.used >= h.quota.limit {
		h.mu.Unlock()
		return http.StatusTooManyRequests, quotaExceededBody
	}
	h.quota.used++
	h.mu.Unlock()

	a, ok := h.data.dns[strings.ToLower(query)]
	if !ok {
		return http.StatusOK, emptyDNSAnswer(query)
	}
	if h.ignoreStart || (start.IsZero() && end.IsZero()) {
		return http.StatusOK, a.raw
	}
	var kept []dnsRecord
	for _, rec := range a.records {
		if rec.known && ((!start.IsZero() && rec.lastSeen.Before(start)) || (!end.IsZero() && rec.firstSeen.After(end))) {
			continue
		}
		kept = append(kept, rec)
	}
	if len(kept) == len(a.records) {
		return http.StatusOK, a.raw
	}
	return http.StatusOK, filteredDNSAnswer(a, kept)
}

// parseParamDate reads a start or end parameter.
func parseParamDate(s string) (time.Time, bool) {
	for _, layout := range []string{dateTimeLayout, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// filteredDNSAnswer rebuilds an answer with the kept records, recomputing
// totalRecords, firstSeen and lastSeen.
func filteredDNSAnswer(a *dnsAnswer, kept []dnsRecord) []byte {
	doc := make(map[string]json.RawMessage, len(a.head)+1)
	for k, v := range a.head {
		doc[k] = v
	}
	results := make([]json.RawMessage, 0, len(kept))
	var first, last *dnsRecord
	for i := range kept {
		rec := &kept[i]
		results = append(results, rec.raw)
		if !rec.known {
			continue
		}
		if first == nil || rec.firstSeen.Before(first.firstSeen) {
			first = rec
		}
		if last == nil || rec.lastSeen.After(last.lastSeen) {
			last = rec
		}
	}
	doc["results"] = mustJSON(results)
	doc["totalRecords"] = mustJSON(len(kept))
	if first != nil {
		doc["firstSeen"] = mustJSON(first.rawFirst)
		doc["lastSeen"] = mustJSON(last.rawLast)
	} else {
		doc["firstSeen"], doc["lastSeen"] = json.RawMessage("null"), json.RawMessage("null")
	}
	return mustJSON(doc)
}

// emptyDNSAnswer is the answer for a query without records.
func emptyDNSAnswer(query string) []byte {
	qt := "domain"
	if net.ParseIP(query) != nil {
		qt = "ip"
	}
	return mustJSON(struct {
		Pager        *struct{} `json:"pager"`
		QueryValue   string    `json:"queryValue"`
		QueryType    string    `json:"queryType"`
		FirstSeen    *string   `json:"firstSeen"`
		LastSeen     *string   `json:"lastSeen"`
		TotalRecords int       `json:"totalRecords"`
		Results      []string  `json:"results"`
	}{QueryValue: query, QueryType: qt, Results: []string{}})
}

func (h *Handler) articlesAnswer(q url.Values) (int, []byte) {
	var after time.Time
	if v := q.Get("createdAfter"); v != "" {
		t, err := time.Parse("2006-01-02", v)
		if err != nil {
			return http.StatusBadRequest, badRequest("createdAfter must be YYYY-MM-DD")
		}
		after = t
	}
	if s := q.Get("sort"); s != "" && s != "created" {
		return http.StatusBadRequest, badRequest("sort must be created")
	}
	order := q.Get("order")
	if order == "" {
		order = "desc"
	}
	if order != "asc" && order != "desc" {
		return http.StatusBadRequest, badRequest("order must be asc or desc")
	}
	page, size := 0, h.pageSize
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return http.StatusBadRequest, badRequest("page must be a non-negative integer")
		}
		page = n
	}
	if v := q.Get("size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPageSize {
			return http.StatusBadRequest, badRequest(fmt.Sprintf("size must be an integer from 1 to %d", maxPageSize))
		}
		size = n
	}

	var matched []*article
	for _, a := range h.data.articles {
		if !a.created.Before(after) {
			matched = append(matched, a)
		}
	}
	if order == "desc" {
		slices.Reverse(matched)
	}
	items := []json.RawMessage{}
	if lo := page * size; lo < len(matched) && lo >= 0 {
		for _, a := range matched[lo:min(lo+size, len(matched))] {
			items = append(items, a.item)
		}
	}
	return http.StatusOK, mustJSON(struct {
		Success      bool              `json:"success"`
		Articles     []json.RawMessage `json:"articles"`
		TotalRecords int               `json:"totalRecords"`
	}{true, items, len(matched)})
}

func badRequest(msg string) []byte {
	return mustJSON(map[string]string{"error": "invalid_request", "message": msg})
}

// errorBody is the API's error body for status; the shapes vary as they did
// in the real API (spec §1.5), and gateways answer with HTML.
func errorBody(status int) []byte {
	switch status {
	case http.StatusUnauthorized:
		return []byte(`{"error":{"message":"Unauthorized","developer_message":"Invalid username or API key"}}`)
	case http.StatusPaymentRequired:
		return []byte(`{"message":"quota_exceeded: your search quota has been exceeded"}`)
	case http.StatusForbidden:
		return []byte(`{"error":{"message":"Forbidden","developer_message":"Your account does not have access to this resource"}}`)
	case http.StatusNotFound:
		return []byte(`{"message":"No record(s) found."}`)
	case http.StatusTooManyRequests:
		return []byte(`{"error":"too_many_requests","message":"Rate limit reached, slow down"}`)
	case http.StatusInternalServerError:
		return []byte(`{"error":{"message":"Internal Server Error","developer_message":"An unexpected error occurred"}}`)
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		t := strconv.Itoa(status) + " " + http.StatusText(status)
		return []byte("<html>\r\n<head><title>" + t + "</title></head>\r\n<body>\r\n<center><h1>" + t + "</h1></center>\r\n</body>\r\n</html>\r\n")
	}
	return mustJSON(map[string]string{"error": strings.ToLower(strings.ReplaceAll(http.StatusText(status), " ", "_")), "message": http.StatusText(status)})
}

// writeJSON writes body with status and an explicit Content-Length. Bodies
// that are not JSON (gateway pages) are labelled text/html.
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	ct := "application/json"
	if len(body) > 0 && body[0] == '<' {
		ct = "text/html"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "no-cache, no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body) //nolint:gosec // G705: JSON answers of a fake API, served with a JSON content type
}
