package passivetotal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Quota is the answer of GET /v2/account/quota: the quota of the user and of
// the organisation.
type Quota struct {
	// User is the user's quota, nil when the answer has none.
	User *QuotaBlock
	// Organization is the organisation's quota, nil when the answer has none.
	Organization *QuotaBlock
}

// QuotaBlock is the quota of a user or an organisation (spec §2.1).
type QuotaBlock struct {
	Owner        string
	Organization string
	GUID         string
	Username     string
	Profile      QuotaProfile
	Freebies     SearchCounts
	Counts       QuotaCounts
	Limits       QuotaLimits
	// QuotaInterval is the reset period: "monthly" or "daily".
	QuotaInterval           string
	UseMonthlyQuotaInactive bool
	// LicenseCounts and LicenseLimits are the licence meters the search quota
	// is enforced on; nil when absent.
	LicenseCounts *License
	LicenseLimits *License
	// NextReset and LastReset are zero when absent or unparsable; the raw
	// strings are kept.
	NextReset, LastReset       time.Time
	RawNextReset, RawLastReset string
	EventCode                  string
	EventCodeExpiration        string
}

// QuotaProfile is the profile of a quota block.
type QuotaProfile struct {
	Analysis string
	Workflow string
}

// SearchCounts counts API and web searches.
type SearchCounts struct {
	SearchAPI int
	SearchWeb int
}

// QuotaCounts is the "counts" map of a quota block.
type QuotaCounts struct {
	KeywordMonitors int
	BasicMonitors   int
	ProjectsPrivate int
	ProjectsPublic  int
	SearchAPI       int
	SearchWeb       int
}

// QuotaLimits is the "limits" map of a quota block.
type QuotaLimits struct {
	BasicMonitors    int
	MonitorResults   int
	ProjectsPrivate  int
	MonitorFrequency string
	KeywordMonitors  int
	ProjectsPublic   int
	CreateCrawls     int
	CrawlSubmissions int
	SearchAPI        int
	SearchWeb        int
}

// License is a licence meter: {"searchApi", "searchWeb"}, or the same nested
// under "enterprise" (Enterprise true).
type License struct {
	SearchAPI  int
	SearchWeb  int
	Enterprise bool
}

// SearchAPI returns the user's API searches used and allowed, from the
// licence meters; ok is false when the answer lacks them.
func (q *Quota) SearchAPI() (used, limit int, ok bool) {
	if q == nil || q.User == nil || q.User.LicenseCounts == nil || q.User.LicenseLimits == nil {
		return 0, 0, false
	}
	return q.User.LicenseCounts.SearchAPI, q.User.LicenseLimits.SearchAPI, true
}

// Exceeded applies the OpenCTI rule (spec §2.1), with >= instead of ==: the
// quota is exhausted when the user's licence meters are missing or the API
// searches used reach the limit.
func (q *Quota) Exceeded() bool {
	used, limit, ok := q.SearchAPI()
	return !ok || used >= limit
}

// Quota reads the account's search quota. It refreshes the reading
// [Client.CheckQuota] uses. It always calls the API: neither the cached
// reading nor a remembered failed read applies.
//
// GET /v2/account/quota
func (c *Client) Quota(ctx context.Context) (*Quota, error) {
	q, err := c.fetchQuota(ctx)
	if err != nil {
		return nil, c.scrub(fmt.Errorf("passivetotal: read quota: %w", err))
	}
	return q, nil
}

// CheckQuota returns nil when a search may be made, else a [*QuotaError]
// (errors.Is [ErrQuotaExceeded]) carrying the next reset. It answers from the
// last quota reading while it is younger than the cache TTL, adding the
// passive DNS queries made since; only an expired reading costs a call to
// GET /v2/account/quota. Once the quota is exhausted it fails fast, without
// calling, until the reset time (or for one TTL when that is unknown).
//
// Concurrent checks share one reading: at most one quota read is in flight,
// and every check that needs a reading meanwhile waits for it, each bounded
// by its own ctx (a check that gives up does not cancel the read for the
// others; the read is abandoned only when every waiter has gone). A failed
// read is remembered for the quota error TTL ([WithQuotaErrorTTL]): checks
// made meanwhile fail at once with that error instead of calling again.
func (c *Client) CheckQuota(ctx context.Context) error {
	if err := c.quotaGate(); err != nil {
		return err
	}
	f, err := c.joinQuotaRead(ctx)
	if err != nil || f == nil {
		return err
	}
	select {
	case <-f.done:
	case <-ctx.Done():
		c.leaveQuotaRead(f)
		return fmt.Errorf("passivetotal: check quota: %w", context.Cause(ctx))
	}
	if f.err != nil {
		return c.scrub(fmt.Errorf("passivetotal: check quota: %w", f.err))
	}
	return c.quotaGate()
}

// quotaRead is a quota read in flight, shared by the checks waiting for it.
type quotaRead struct {
	done   chan struct{} // closed when err is set
	err    error         // the read's error, nil on success
	cancel context.CancelFunc

	waiters int // checks waiting for done; guarded by quotaState.mu
}

// joinQuotaRead returns the read in flight to wait for, starting one when
// none is, or nil when the cached reading is fresh. It fails at once while a
// failed read is remembered.
func (c *Client) joinQuotaRead(ctx context.Context) (*quotaRead, error) {
	now := c.now()
	s := &c.quota
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.freshLocked(now) {
		return nil, nil
	}
	if s.failed != nil {
		if left := s.failedAt.Add(s.errTTL).Sub(now); left > 0 {
			return nil, c.scrub(fmt.Errorf("passivetotal: check quota: not read again for %s after a failed read: %w",
				left.Round(time.Millisecond), s.failed))
		}
		s.failed = nil
	}
	f := s.inFlight
	if f == nil {
		// The read belongs to no single caller: it keeps the first caller's
		// values (logging) but not its cancellation, and is cancelled when
		// the last waiter leaves.
		rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		f = &quotaRead{done: make(chan struct{}), cancel: cancel}
		s.inFlight = f
		go c.readQuota(rctx, f)
	}
	f.waiters++
	return f, nil
}

// leaveQuotaRead withdraws a waiter that gave up; the last one abandons the
// read, which then is neither cached nor shared with later checks.
func (c *Client) leaveQuotaRead(f *quotaRead) {
	s := &c.quota
	s.mu.Lock()
	defer s.mu.Unlock()
	f.waiters--
	if f.waiters > 0 {
		return
	}
	if s.inFlight == f {
		s.inFlight = nil
	}
	f.cancel()
}

// readQuota performs the shared read f and publishes its outcome: a reading
// is stored by fetchQuota, a failure is remembered for the error TTL unless
// the read was abandoned or found the quota exhausted (recorded apart).
func (c *Client) readQuota(ctx context.Context, f *quotaRead) {
	defer f.cancel()
	_, err := c.fetchQuota(ctx)
	s := &c.quota
	s.mu.Lock()
	abandoned := ctx.Err() != nil
	if s.inFlight == f {
		s.inFlight = nil
	}
	var qe *QuotaError
	if err != nil && !abandoned && !errors.As(err, &qe) && s.errTTL > 0 {
		s.failed, s.failedAt = err, c.now()
	}
	f.err = err
	s.mu.Unlock()
	close(f.done)
	if err != nil && !abandoned {
		c.log.LogAttrs(ctx, slog.LevelWarn, "passivetotal quota read failed",
			slog.Duration("not_retried_for", s.errTTL),
			slog.String("error", c.redact(err.Error())))
	}
}

// quotaState is the client's knowledge of the search quota.
type quotaState struct {
	ttl    time.Duration // how long a reading is trusted
	errTTL time.Duration // how long a failed read is remembered

	mu        sync.Mutex
	reading   *Quota    // last reading, nil before the first
	readAt    time.Time // when reading was taken
	since     int       // searches made since reading
	exhausted *QuotaError
	until     time.Time  // fail fast until then when exhausted != nil
	inFlight  *quotaRead // the read in progress, nil when none
	failed    error      // last failed read, remembered until failedAt+errTTL
	failedAt  time.Time
}

// freshLocked reports whether the last reading is younger than the TTL.
func (s *quotaState) freshLocked(now time.Time) bool {
	return s.reading != nil && now.Before(s.readAt.Add(s.ttl))
}

// quotaGate returns a *QuotaError when the quota is known to be exhausted:
// recorded exhaustion not yet reset, or a fresh reading whose count plus the
// searches made since reaches the limit.
func (c *Client) quotaGate() error {
	now := c.now()
	s := &c.quota
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exhausted != nil {
		if now.Before(s.until) {
			e := *s.exhausted
			return &e
		}
		// Reset time passed: forget the exhaustion and the reading.
		s.exhausted, s.reading, s.since = nil, nil, 0
	}
	if !s.freshLocked(now) {
		return nil
	}
	used, limit, ok := s.reading.SearchAPI()
	var qe *QuotaError
	switch {
	case !ok:
		qe = &QuotaError{Reason: "the quota answer lacks the user's search licence meters"}
	case used+s.since >= limit:
		qe = &QuotaError{Used: used + s.since, Limit: limit}
	default:
		return nil
	}
	if s.reading.User != nil {
		qe.NextReset = s.reading.User.NextReset
	}
	s.markExhaustedLocked(qe, now)
	e := *qe
	return &e
}

// markExhaustedLocked records exhaustion until the next reset, or for one TTL
// (at least a minute) when the reset time is unknown or already past.
func (s *quotaState) markExhaustedLocked(qe *QuotaError, now time.Time) {
	s.exhausted = qe
	s.until = qe.NextReset
	if !s.until.After(now) {
		s.until = now.Add(max(s.ttl, time.Minute))
		qe.NextReset = time.Time{}
	}
}

// quotaExhausted records that the API reported the quota exhausted and
// returns the error for the caller.
func (c *Client) quotaExhausted(msg string) error {
	now := c.now()
	s := &c.quota
	s.mu.Lock()
	defer s.mu.Unlock()
	qe := &QuotaError{Reason: "the API reported: " + msg}
	if msg == "" {
		qe.Reason = "the API reported it"
	}
	if used, limit, ok := s.reading.SearchAPI(); ok {
		qe.Used, qe.Limit = max(used+s.since, limit), limit
	}
	if s.reading != nil && s.reading.User != nil {
		qe.NextReset = s.reading.User.NextReset
	}
	s.markExhaustedLocked(qe, now)
	e := *qe
	return &e
}

// countSearch counts one search against the cached reading.
func (c *Client) countSearch() {
	c.quota.mu.Lock()
	c.quota.since++
	c.quota.mu.Unlock()
}

// fetchQuota reads the quota and stores the reading.
func (c *Client) fetchQuota(ctx context.Context) (*Quota, error) {
	res, err := c.get(ctx, &call{endpoint: EndpointQuota, path: EndpointQuota, rawPath: EndpointQuota})
	if err != nil {
		return nil, err
	}
	q, err := decodeQuota(res.body)
	if err != nil {
		return nil, c.checkDecoded(err, res.status)
	}
	now := c.now()
	s := &c.quota
	s.mu.Lock()
	s.reading, s.readAt, s.since = q, now, 0
	s.exhausted, s.failed = nil, nil
	s.mu.Unlock()
	used, limit, ok := q.SearchAPI()
	c.log.LogAttrs(ctx, slog.LevelDebug, "passivetotal quota read",
		slog.Bool("meters_present", ok),
		slog.Int("search_api_used", used),
		slog.Int("search_api_limit", limit))
	return q, nil
}

// checkDecoded sets the status of, and redacts, an error the API reported
// inside a 2xx body, and turns a quota message into a *QuotaError.
func (c *Client) checkDecoded(err error, status int) error {
	var ae *APIError
	if errors.As(err, &ae) {
		ae.Status = status
		ae.Message = c.redact(ae.Message)
		ae.Body = c.redact(ae.Body)
		if isQuotaMessage(ae.Message) {
			return c.quotaExhausted(ae.Message)
		}
	}
	return err
}

type quotaWire struct {
	errorFields
	User         *quotaBlockWire `json:"user"`
	Organization *quotaBlockWire `json:"organization"`
}

type quotaBlockWire struct {
	Owner        string `json:"owner"`
	Organization string `json:"organization"`
	GUID         string `json:"guid"`
	Username     string `json:"username"`
	Profile      struct {
		Analysis string `json:"analysis"`
		Workflow string `json:"workflow"`
	} `json:"profile"`
	Freebies struct {
		SearchWeb int `json:"search_web"`
		SearchAPI int `json:"search_api"`
	} `json:"freebies"`
	Counts struct {
		KeywordMonitors int `json:"keyword_monitors"`
		BasicMonitors   int `json:"basic_monitors"`
		ProjectsPrivate int `json:"projects_private"`
		ProjectsPublic  int `json:"projects_public"`
		SearchAPI       int `json:"search_api"`
		SearchWeb       int `json:"search_web"`
	} `json:"counts"`
	Limits struct {
		BasicMonitors    int    `json:"basic_monitors"`
		MonitorResults   int    `json:"monitor_results"`
		ProjectsPrivate  int    `json:"projects_private"`
		MonitorFrequency string `json:"monitor_frequency"`
		KeywordMonitors  int    `json:"keyword_monitors"`
		ProjectsPublic   int    `json:"projects_public"`
		CreateCrawls     int    `json:"create_crawls"`
		CrawlSubmissions int    `json:"crawl_submissions"`
		SearchAPI        int    `json:"search_api"`
		SearchWeb        int    `json:"search_web"`
	} `json:"limits"`
	QuotaInterval           string       `json:"quotaInterval"`
	UseMonthlyQuotaInactive bool         `json:"useMonthlyQuotaInactive"`
	LicenseCounts           *licenseWire `json:"licenseCounts"`
	LicenseLimits           *licenseWire `json:"licenseLimits"`
	NextReset               string       `json:"next_reset"`
	LastReset               string       `json:"last_reset"`
	EventCode               string       `json:"event_code"`
	EventCodeExpiration     string       `json:"event_code_expiration"`
}

type meterWire struct {
	SearchAPI *int `json:"searchApi"`
	SearchWeb *int `json:"searchWeb"`
}

type licenseWire struct {
	meterWire
	Enterprise *meterWire `json:"enterprise"`
}

func (l *licenseWire) license() *License {
	switch {
	case l == nil:
		return nil
	case l.SearchAPI != nil:
		return &License{SearchAPI: *l.SearchAPI, SearchWeb: deref(l.SearchWeb)}
	case l.Enterprise != nil && l.Enterprise.SearchAPI != nil:
		return &License{SearchAPI: *l.Enterprise.SearchAPI, SearchWeb: deref(l.Enterprise.SearchWeb), Enterprise: true}
	}
	return nil
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

func (w *quotaBlockWire) block() *QuotaBlock {
	if w == nil {
		return nil
	}
	b := &QuotaBlock{
		Owner:        w.Owner,
		Organization: w.Organization,
		GUID:         w.GUID,
		Username:     w.Username,
		Profile:      QuotaProfile{Analysis: w.Profile.Analysis, Workflow: w.Profile.Workflow},
		Freebies:     SearchCounts{SearchAPI: w.Freebies.SearchAPI, SearchWeb: w.Freebies.SearchWeb},
		Counts: QuotaCounts{
			KeywordMonitors: w.Counts.KeywordMonitors,
			BasicMonitors:   w.Counts.BasicMonitors,
			ProjectsPrivate: w.Counts.ProjectsPrivate,
			ProjectsPublic:  w.Counts.ProjectsPublic,
			SearchAPI:       w.Counts.SearchAPI,
			SearchWeb:       w.Counts.SearchWeb,
		},
		Limits: QuotaLimits{
			BasicMonitors:    w.Limits.BasicMonitors,
			MonitorResults:   w.Limits.MonitorResults,
			ProjectsPrivate:  w.Limits.ProjectsPrivate,
			MonitorFrequency: w.Limits.MonitorFrequency,
			KeywordMonitors:  w.Limits.KeywordMonitors,
			ProjectsPublic:   w.Limits.ProjectsPublic,
			CreateCrawls:     w.Limits.CreateCrawls,
			CrawlSubmissions: w.Limits.CrawlSubmissions,
			SearchAPI:        w.Limits.SearchAPI,
			SearchWeb:        w.Limits.SearchWeb,
		},
		QuotaInterval:           w.QuotaInterval,
		UseMonthlyQuotaInactive: w.UseMonthlyQuotaInactive,
		LicenseCounts:           w.LicenseCounts.license(),
		LicenseLimits:           w.LicenseLimits.license(),
		RawNextReset:            w.NextReset,
		RawLastReset:            w.LastReset,
		EventCode:               w.EventCode,
		EventCodeExpiration:     w.EventCodeExpiration,
	}
	b.NextReset, _ = parseTime(w.NextReset)
	b.LastReset, _ = parseTime(w.LastReset)
	return b
}

// decodeQuota decodes a quota answer. A missing user block is not an error
// (spec §2.1 counts it as exhaustion, see [Quota.Exceeded]).
func decodeQuota(body []byte) (*Quota, error) {
	if !isJSONObject(body) {
		return nil, &DecodeError{Endpoint: EndpointQuota, Err: errNotObject}
	}
	var w quotaWire
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, &DecodeError{Endpoint: EndpointQuota, Err: err}
	}
	msg, isErr := w.reported()
	if isErr || (w.User == nil && w.Organization == nil && msg != "") {
		return nil, &APIError{Endpoint: EndpointQuota, Status: 200, Message: msg, Body: excerpt(body), jsonBody: true}
	}
	return &Quota{User: w.User.block(), Organization: w.Organization.block()}, nil
}

var errNotObject = errors.New("answer is not a JSON object")
