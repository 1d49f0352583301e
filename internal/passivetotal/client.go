package passivetotal

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/riskiq-opencti/connectors/internal/httpretry"
	"github.com/riskiq-opencti/connectors/opencti/origin"
	"github.com/riskiq-opencti/connectors/opencti/scrub"
)

// Defaults of the client options.
const (
	// DefaultTimeout bounds one attempt: connection, headers and body.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxTries is the number of attempts of one call, the first included.
	DefaultMaxTries = 5
	// DefaultMaxElapsed bounds the time spent on one call, retries included.
	DefaultMaxElapsed = 60 * time.Second
	// DefaultMaxBodySize is the largest answer the client reads.
	DefaultMaxBodySize int64 = 32 << 20
	// DefaultQuotaCacheTTL is how long a quota reading is trusted.
	DefaultQuotaCacheTTL = 60 * time.Second
	// DefaultQuotaErrorTTL is how long a failed quota read is remembered:
	// checks made meanwhile fail at once with its error.
	DefaultQuotaErrorTTL = 5 * time.Second
	// DefaultInitialBackoff is the first retry delay before jitter.
	DefaultInitialBackoff = time.Second
	// DefaultMaxBackoff caps the retry delay before jitter.
	DefaultMaxBackoff = 15 * time.Second
	// DefaultUserAgent is the User-Agent header the client sends.
	DefaultUserAgent = "riskiq-opencti-connectors/passivetotal"
)

// Endpoints, as paths below the version root. They name the endpoint in
// errors and log lines.
const (
	EndpointQuota      = "/account/quota"
	EndpointPassiveDNS = "/dns/passive"
	EndpointArticles   = "/articles"
	EndpointArticle    = "/articles/{guid}"
)

// maxErrorBody bounds how much of a non-2xx body is read to find its message.
const maxErrorBody = 64 << 10

// Client calls the PassiveTotal v2 API. It is safe for concurrent use; its
// quota state is shared by all callers.
type Client struct {
	base       *url.URL
	hc         *http.Client
	authHeader string
	secrets    []string
	userAgent  string

	timeout        time.Duration
	maxTries       int
	maxElapsed     time.Duration
	initialBackoff time.Duration
	maxBackoff     time.Duration
	maxBody        int64

	now   func() time.Time
	sleep func(context.Context, time.Duration) error
	log   *slog.Logger

	quota quotaState
	gate  rateGate

	sharedQuota SharedQuota // nil: the client counts alone
	sharedPause SharedPause // nil: the client pauses alone
}

// Option configures a [Client].
type Option func(*Client)

// WithHTTPClient makes the client send its requests through hc instead of its
// own http.Client (TLS verification on, system roots).
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) { c.hc = hc }
}

// WithTimeout bounds each attempt (connection, headers and body); default
// [DefaultTimeout].
func WithTimeout(d time.Duration) Option {
	return func(c *Client) { c.timeout = d }
}

// WithRetry bounds one call to maxTries attempts and maxElapsed in total,
// delays included, counted from the first attempt; defaults [DefaultMaxTries]
// and [DefaultMaxElapsed]. A maxTries of 1 disables retries. maxElapsed also
// caps the pause a 429 imposes on every call of the client.
func WithRetry(maxTries int, maxElapsed time.Duration) Option {
	return func(c *Client) { c.maxTries, c.maxElapsed = maxTries, maxElapsed }
}

// WithBackoff sets the first retry delay and the cap of the exponential
// backoff, both before jitter of ±50 %; defaults [DefaultInitialBackoff] and
// [DefaultMaxBackoff].
func WithBackoff(initial, maxDelay time.Duration) Option {
	return func(c *Client) { c.initialBackoff, c.maxBackoff = initial, maxDelay }
}

// WithMaxBodySize sets the largest answer the client accepts; default
// [DefaultMaxBodySize]. A larger answer fails with [ErrResponseTooLarge],
// refused on its Content-Length when announced, else after reading n+1 bytes.
func WithMaxBodySize(n int64) Option {
	return func(c *Client) { c.maxBody = n }
}

// WithQuotaCacheTTL sets how long [Client.CheckQuota] trusts a quota reading;
// default [DefaultQuotaCacheTTL]. Zero reads the quota on every check (checks
// made while a read is in flight share it).
func WithQuotaCacheTTL(d time.Duration) Option {
	return func(c *Client) { c.quota.ttl = d }
}

// WithQuotaErrorTTL sets how long [Client.CheckQuota] remembers a failed quota
// read and fails at once with its error instead of reading again; default
// [DefaultQuotaErrorTTL]. Zero remembers nothing.
func WithQuotaErrorTTL(d time.Duration) Option {
	return func(c *Client) { c.quota.errTTL = d }
}

// WithClock sets the clock used for the quota cache, quota resets,
// Retry-After dates and the retry budget; default time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *Client) { c.now = now }
}

// WithSleep replaces the function that waits between attempts; it must return
// early with an error when ctx is done. Tests use it to avoid real delays.
func WithSleep(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(c *Client) { c.sleep = sleep }
}

// WithLogger sets the logger for request and retry events (debug and warn);
// default discards.
func WithLogger(l *slog.Logger) Option {
	return func(c *Client) { c.log = l }
}

// WithUserAgent sets the User-Agent header; default [DefaultUserAgent].
func WithUserAgent(ua string) Option {
	return func(c *Client) { c.userAgent = ua }
}

// JoinVersion returns the API root for a base URL without the version
// segment: "https://api.riskiq.net/pt" and "https://api.riskiq.net/pt/" give
// "https://api.riskiq.net/pt/v2". A base already ending in "/v2" is returned
// without its trailing slash.
func JoinVersion(base string) string {
	b := strings.TrimSuffix(base, "/")
	if strings.HasSuffix(b, "/v2") {
		return b
	}
	return b + "/v2"
}

// New returns a client for the API rooted at baseURL, which includes the
// version segment (e.g. "https://api.riskiq.net/pt/v2"; one trailing slash is
// tolerated), authenticating as username with apiKey. It does no I/O.
func New(baseURL, username, apiKey string, opts ...Option) (*Client, error) {
	if username == "" {
		return nil, errors.New("passivetotal: username is empty")
	}
	if apiKey == "" {
		return nil, errors.New("passivetotal: api key is empty")
	}
	base, err := parseBaseURL(baseURL)
	if err != nil {
		return nil, fmt.Errorf("passivetotal: base url: %w", err)
	}
	token := base64.StdEncoding.EncodeToString([]byte(username + ":" + apiKey))
	c := &Client{
		base:       base,
		authHeader: "Basic " + token,
		secrets: uniqueNonEmpty(apiKey, token, url.QueryEscape(apiKey), url.PathEscape(apiKey),
			base64.URLEncoding.EncodeToString([]byte(username+":"+apiKey))),
		userAgent:      DefaultUserAgent,
		timeout:        DefaultTimeout,
		maxTries:       DefaultMaxTries,
		maxElapsed:     DefaultMaxElapsed,
		initialBackoff: DefaultInitialBackoff,
		maxBackoff:     DefaultMaxBackoff,
		maxBody:        DefaultMaxBodySize,
		now:            time.Now,
		sleep:          httpretry.Sleep,
		quota:          quotaState{ttl: DefaultQuotaCacheTTL, errTTL: DefaultQuotaErrorTTL},
	}
	for _, opt := range opts {
		opt(c)
	}
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("passivetotal: %w", err)
	}
	if c.hc == nil {
		c.hc = defaultHTTPClient()
	}
	hc := *c.hc // a copy: the caller's client is not modified
	hc.CheckRedirect = origin.CheckRedirect(ErrCrossOriginRedirect, hc.CheckRedirect)
	c.hc = &hc
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// validate checks the option values.
func (c *Client) validate() error {
	var errs []error
	if c.timeout <= 0 {
		errs = append(errs, fmt.Errorf("timeout %s: must be positive", c.timeout))
	}
	if c.maxTries < 1 {
		errs = append(errs, fmt.Errorf("retry max tries %d: must be at least 1", c.maxTries))
	}
	if c.maxElapsed <= 0 {
		errs = append(errs, fmt.Errorf("retry max elapsed %s: must be positive", c.maxElapsed))
	}
	if c.initialBackoff <= 0 || c.maxBackoff < c.initialBackoff {
		errs = append(errs, fmt.Errorf("backoff %s..%s: must be positive and ordered", c.initialBackoff, c.maxBackoff))
	}
	if c.maxBody <= 0 {
		errs = append(errs, fmt.Errorf("max body size %d: must be positive", c.maxBody))
	}
	if c.quota.ttl < 0 {
		errs = append(errs, fmt.Errorf("quota cache ttl %s: must not be negative", c.quota.ttl))
	}
	if c.quota.errTTL < 0 {
		errs = append(errs, fmt.Errorf("quota error ttl %s: must not be negative", c.quota.errTTL))
	}
	if c.now == nil {
		errs = append(errs, errors.New("clock is nil"))
	}
	if c.sleep == nil {
		errs = append(errs, errors.New("sleep function is nil"))
	}
	return errors.Join(errs...)
}

// parseBaseURL checks that raw is an absolute http(s) URL without
// credentials, query or fragment, and drops one trailing slash. Its errors do
// not repeat raw, which might hold a secret.
func parseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if quotesUserinfo(err.Error(), raw) {
			return nil, errors.New("not a valid URL (details withheld: they quote the credentials; percent-encode reserved characters in them)")
		}
		return nil, fmt.Errorf("not a valid URL: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("scheme %q: must be http or https", u.Scheme)
	case u.Host == "":
		return nil, errors.New("host is missing")
	case u.User != nil:
		return nil, errors.New("must not contain credentials")
	case u.RawQuery != "" || u.ForceQuery:
		return nil, errors.New("must not contain a query")
	case u.Fragment != "":
		return nil, errors.New("must not contain a fragment")
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = strings.TrimSuffix(u.RawPath, "/")
	return u, nil
}

// quotesUserinfo reports whether a net/url error reason quotes two or more
// characters of what may be raw's user information (everything before its
// last "@"), as "invalid port" does when a password holds a "/".
func quotesUserinfo(reason, raw string) bool {
	at := strings.LastIndex(raw, "@")
	if at < 0 {
		return false
	}
	userinfo := raw[:at]
	for rest := reason; ; {
		i := strings.IndexByte(rest, '"')
		if i < 0 {
			return false
		}
		q, err := strconv.QuotedPrefix(rest[i:])
		if err != nil {
			return true // cannot tell: withhold
		}
		if text, err := strconv.Unquote(q); err != nil || (len(text) >= 2 && strings.Contains(userinfo, text)) {
			return true
		}
		rest = rest[i+len(q):]
	}
}

// defaultHTTPClient is the client used without [WithHTTPClient]: a clone of
// the default transport (proxy from the environment), TLS 1.2 or later
// verified against the system roots, no overall timeout (each attempt has its
// own deadline).
func defaultHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	// Concurrent lookups: keep their connections instead of the default 2
	// idle ones, which makes every burst dial again.
	tr.MaxIdleConnsPerHost = 64
	return &http.Client{Transport: tr}
}

func uniqueNonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s == "" {
			continue
		}
		dup := false
		for _, o := range out {
			dup = dup || o == s
		}
		if !dup {
			out = append(out, s)
		}
	}
	return out
}

// String describes the client without its credentials.
func (c *Client) String() string {
	return "passivetotal.Client{base: " + scrub.URL(c.base.String()) + "}"
}

// GoString describes the client without its credentials.
func (c *Client) GoString() string { return c.String() }

// LogValue describes the client in logs without its credentials.
func (c *Client) LogValue() slog.Value {
	return slog.GroupValue(slog.String("base_url", scrub.URL(c.base.String())))
}

// redact replaces the credentials in s by "REDACTED", those long enough to
// be told apart from words (see [scrub.Secrets]): a one-letter key must not
// turn every such letter of a message into REDACTED.
func (c *Client) redact(s string) string {
	return scrub.Secrets(s, c.secrets...)
}

// ErrCrossOriginRedirect is returned when the API redirects a request to
// another scheme, host or port: net/http would send the Basic credentials
// along when only the port differs.
var ErrCrossOriginRedirect = errors.New("redirect to another origin refused: the credentials are only sent to RISKIQ_BASE_URL's origin")

// scrub returns err unchanged unless its message shows a secret, in which
// case the message is redacted; errors.Is and errors.As still see err.
func (c *Client) scrub(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if red := c.redact(msg); red != msg {
		return &redactedError{msg: red, err: err}
	}
	return err
}

// call describes one API call.
type call struct {
	endpoint string     // label, e.g. EndpointArticle
	path     string     // unescaped path below the root
	rawPath  string     // escaped path below the root
	query    url.Values // nil for none
	search   bool       // a search: counted against the quota
}

// response is a 2xx answer.
type response struct {
	status int
	body   []byte
}

// url returns the request URL of r.
func (c *Client) url(r *call) string {
	u := *c.base
	u.Path = c.base.Path + r.path
	u.RawPath = c.base.EscapedPath() + r.rawPath
	if r.query != nil {
		u.RawQuery = r.query.Encode()
	}
	return u.String()
}

// get performs r with retries and returns its 2xx answer. Non-2xx answers
// become *APIError or *QuotaError; the body of a 2xx answer is returned
// unchecked. Every attempt first waits for the client's rate-limit pause
// (see rateGate); a 429 extends that pause for every call. The retry budget
// (tries and time) counts from the first attempt.
func (c *Client) get(ctx context.Context, r *call) (*response, error) {
	target := c.url(r)
	bo := &backoff.ExponentialBackOff{
		InitialInterval:     c.initialBackoff,
		RandomizationFactor: 0.5,
		Multiplier:          2,
		MaxInterval:         c.maxBackoff,
	}
	bo.Reset()
	var (
		start   time.Time
		lastErr error
	)
	for attempt := 1; ; attempt++ {
		var limit time.Time // the first attempt waits for the pause, whatever its length
		if attempt > 1 {
			limit = start.Add(c.maxElapsed)
		}
		if err := c.waitRateGate(ctx, r, limit); err != nil {
			if lastErr == nil {
				return nil, fmt.Errorf("GET %s: waiting for the rate limit pause: %w", r.endpoint, err)
			}
			if errors.Is(err, errPauseBeyondBudget) {
				return nil, fmt.Errorf("giving up after %d attempts, %w: %w", attempt-1, err, lastErr)
			}
			return nil, fmt.Errorf("waiting to retry after %d attempts: %w (last error: %w)", attempt-1, err, lastErr)
		}
		if attempt == 1 {
			start = c.now()
		}
		res, retryAfter, retry, err := c.attempt(ctx, r, target, attempt)
		if err == nil {
			return res, nil
		}
		if !retry {
			return nil, err
		}
		lastErr = err
		delay := bo.NextBackOff()
		if retryAfter >= 0 {
			delay = retryAfter
		}
		// A 429 pauses every call; this request waits at least as long as
		// the pause, and gives up below when the server asked for more than
		// its budget (the pause itself is capped).
		var wait time.Duration
		if isRateLimit(err) {
			wait = c.pauseAll(ctx, r, delay)
		} else {
			wait = c.gate.opensAt().Sub(c.now())
		}
		delay = max(delay, wait)
		if attempt >= c.maxTries {
			return nil, fmt.Errorf("giving up after %d attempts: %w", attempt, err)
		}
		if remaining := c.maxElapsed - c.now().Sub(start); delay > remaining {
			return nil, fmt.Errorf("giving up after %d attempts, next delay %s exceeds the remaining retry budget: %w",
				attempt, delay.Round(time.Millisecond), err)
		}
		c.log.LogAttrs(ctx, slog.LevelWarn, "retrying passivetotal request",
			slog.String("endpoint", r.endpoint),
			slog.Int("attempt", attempt),
			slog.Duration("delay", delay),
			slog.String("error", err.Error()))
		if serr := c.sleep(ctx, delay); serr != nil {
			return nil, fmt.Errorf("waiting to retry after %d attempts: %w (last error: %w)", attempt, serr, err)
		}
	}
}

// attempt performs one request. retryAfter is negative unless the server sent
// a usable Retry-After header; retry says whether err may be retried.
func (c *Client) attempt(ctx context.Context, r *call, target string, n int) (res *response, retryAfter time.Duration, retry bool, err error) {
	retryAfter = -1
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodGet, target, nil)
	if err != nil {
		return nil, retryAfter, false, fmt.Errorf("GET %s: build request: %w", r.endpoint, err)
	}
	req.Header.Set("Authorization", c.authHeader)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)

	began := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		if cerr := context.Cause(ctx); cerr != nil {
			return nil, retryAfter, false, fmt.Errorf("GET %s: %w", r.endpoint, cerr)
		}
		if errors.Is(err, ErrCrossOriginRedirect) {
			return nil, retryAfter, false, fmt.Errorf("GET %s: %w", r.endpoint, httpretry.TransportCause(err, c.timeout))
		}
		return nil, retryAfter, true, fmt.Errorf("GET %s: %w", r.endpoint, httpretry.TransportCause(err, c.timeout))
	}
	defer func() { _ = resp.Body.Close() }()
	c.log.LogAttrs(ctx, slog.LevelDebug, "passivetotal response",
		slog.String("endpoint", r.endpoint),
		slog.Int("attempt", n),
		slog.Int("status", resp.StatusCode),
		slog.Int64("content_length", resp.ContentLength),
		slog.Duration("elapsed", time.Since(began)))

	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if r.search {
			c.countSearch()
		}
		body, err := c.readBody(resp)
		if err != nil {
			if errors.Is(err, ErrResponseTooLarge) {
				return nil, retryAfter, false, fmt.Errorf("GET %s: %w", r.endpoint, err)
			}
			if cerr := context.Cause(ctx); cerr != nil {
				return nil, retryAfter, false, fmt.Errorf("GET %s: read body: %w", r.endpoint, cerr)
			}
			return nil, retryAfter, true, fmt.Errorf("GET %s: read body: %w", r.endpoint, httpretry.TransportCause(err, c.timeout))
		}
		return &response{status: resp.StatusCode, body: body}, retryAfter, false, nil
	}

	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	msg, isJSON := parseErrorBody(body)
	// Redact first, then cut: a key across the cut would leave its start.
	apiErr := &APIError{
		Endpoint: r.endpoint,
		Status:   resp.StatusCode,
		Message:  scrub.Text(c.redact(msg), maxExcerpt),
		Body:     excerpt([]byte(c.redact(string(body)))),
		jsonBody: isJSON,
	}
	if d, ok := httpretry.ParseAfter(resp.Header.Get("Retry-After"), c.now()); ok {
		apiErr.RetryAfter = d
		retryAfter = d
	}
	if r.search && resp.StatusCode == http.StatusNotFound {
		c.countSearch()
	}
	switch {
	case resp.StatusCode == http.StatusPaymentRequired ||
		(isQuotaMessage(msg) && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusForbidden)):
		return nil, retryAfter, false, c.quotaExhausted(apiErr.Message)
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return nil, retryAfter, true, apiErr
	}
	return nil, retryAfter, false, apiErr
}

// readBody reads a 2xx body of at most c.maxBody bytes.
func (c *Client) readBody(resp *http.Response) ([]byte, error) {
	if resp.ContentLength > c.maxBody {
		return nil, fmt.Errorf("%w: content length %d exceeds the limit of %d bytes", ErrResponseTooLarge, resp.ContentLength, c.maxBody)
	}
	var buf bytes.Buffer
	if resp.ContentLength > 0 {
		buf.Grow(int(resp.ContentLength) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(io.LimitReader(resp.Body, c.maxBody+1)); err != nil {
		return nil, err
	}
	if int64(buf.Len()) > c.maxBody {
		return nil, fmt.Errorf("%w: body exceeds the limit of %d bytes", ErrResponseTooLarge, c.maxBody)
	}
	return buf.Bytes(), nil
}
