package defenderti

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/cenkalti/backoff/v5"
	"github.com/google/uuid"

	"github.com/riskiq-opencti/connectors/internal/httpretry"
	"github.com/riskiq-opencti/connectors/opencti/origin"
	"github.com/riskiq-opencti/connectors/opencti/scrub"
)

// Defaults of the client options (spec §6.2, §6.3).
const (
	// DefaultTimeout bounds one attempt: token, connection, headers, body.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxAttempts is the number of attempts of one request.
	DefaultMaxAttempts = 5
	// DefaultMaxElapsed bounds one request, retries and waits included.
	DefaultMaxElapsed = 60 * time.Second
	// DefaultInitialBackoff is the first retry delay before jitter.
	DefaultInitialBackoff = time.Second
	// DefaultMaxBackoff caps the retry delay before jitter.
	DefaultMaxBackoff = 30 * time.Second
	// DefaultMaxBodySize is the largest 2xx answer read.
	DefaultMaxBodySize int64 = 32 << 20
	// DefaultUserAgent is the User-Agent header.
	DefaultUserAgent = "riskiq-opencti-connectors/defenderti"
	// maxEmptyPages is how many empty pages with a nextLink may follow each
	// other before paging is aborted.
	maxEmptyPages = 5
	// minTokenRetryDelay is the least wait after a token endpoint 5xx.
	minTokenRetryDelay = 5 * time.Second
)

// Client calls the Microsoft Graph threat-intelligence API with app-only
// tokens from Entra ID. It is safe for concurrent use; tokens, the
// throttling pause and the credential are shared by all callers.
type Client struct {
	sharedPause SharedPause // nil: the pause is this client's own
	s           Settings
	base        string // Graph base, no trailing slash
	baseOrigin  string
	hc          *http.Client
	log         *slog.Logger
	userAgent   string

	now            func() time.Time
	sleep          func(context.Context, time.Duration) error
	timeout        time.Duration
	maxAttempts    int
	maxElapsed     time.Duration
	initialBackoff time.Duration
	maxBackoff     time.Duration
	maxBody        int64
	keySyntax      bool

	secrets []string // redacted from every text the client prints

	credMu     sync.Mutex
	cred       azcore.TokenCredential
	credGen    uint64
	customCred bool

	tokMu  sync.Mutex
	tokens []string // the last access tokens, redacted too

	gate rateGate
}

// Option configures a [Client].
type Option func(*Client)

// WithHTTPClient sends Graph and token requests through hc instead of the
// client's own (TLS 1.2+, system roots, proxy from the environment). A copy
// is used: redirects to another origin are refused.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithLogger sets the logger of retries, throttling and truncation (debug
// and warn); default discards.
func WithLogger(l *slog.Logger) Option { return func(c *Client) { c.log = l } }

// WithClock sets the clock of Retry-After dates, the throttling pause and the
// retry budget; default time.Now.
func WithClock(now func() time.Time) Option { return func(c *Client) { c.now = now } }

// WithSleep replaces the wait between attempts; it must return early with an
// error when ctx is done. Tests pair it with [WithClock].
func WithSleep(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(c *Client) { c.sleep = sleep }
}

// WithRetry bounds one request to maxAttempts attempts and maxElapsed in
// total, waits included; defaults [DefaultMaxAttempts] and
// [DefaultMaxElapsed]. maxAttempts 1 disables retries. maxElapsed also caps
// the pause a 429 imposes on every call of the client.
func WithRetry(maxAttempts int, maxElapsed time.Duration) Option {
	return func(c *Client) { c.maxAttempts, c.maxElapsed = maxAttempts, maxElapsed }
}

// WithBackoff sets the first retry delay and the cap of the exponential
// backoff (±50 % jitter), used when the server sends no Retry-After;
// defaults [DefaultInitialBackoff] and [DefaultMaxBackoff].
func WithBackoff(initial, maxDelay time.Duration) Option {
	return func(c *Client) { c.initialBackoff, c.maxBackoff = initial, maxDelay }
}

// WithTimeout bounds each attempt (token included); default [DefaultTimeout].
func WithTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// WithMaxBodySize sets the largest 2xx answer read; default
// [DefaultMaxBodySize].
func WithMaxBodySize(n int64) Option { return func(c *Client) { c.maxBody = n } }

// WithCredential makes the client take its tokens from cred instead of
// building a client secret or certificate credential from the settings. On
// a 401 the client retries once with cred's next token.
func WithCredential(cred azcore.TokenCredential) Option {
	return func(c *Client) { c.cred, c.customCred = cred, cred != nil }
}

// WithHostKeySyntax addresses hosts as hosts('{id}') (OData key syntax, as
// Microsoft's Sentinel playbooks do) instead of the path segment hosts/{id}.
func WithHostKeySyntax() Option { return func(c *Client) { c.keySyntax = true } }

// WithUserAgent sets the User-Agent header; default [DefaultUserAgent].
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// New returns a client for the settings; it does no I/O (the credential,
// and the certificate file, are read at the first call). Settings come from
// [LoadSettings], which validated them; New checks them again without
// printing secrets.
func New(s Settings, opts ...Option) (*Client, error) {
	c := &Client{
		s:              s,
		base:           strings.TrimRight(s.BaseURL, "/"),
		userAgent:      DefaultUserAgent,
		now:            time.Now,
		sleep:          httpretry.Sleep,
		timeout:        DefaultTimeout,
		maxAttempts:    DefaultMaxAttempts,
		maxElapsed:     DefaultMaxElapsed,
		initialBackoff: DefaultInitialBackoff,
		maxBackoff:     DefaultMaxBackoff,
		maxBody:        DefaultMaxBodySize,
	}
	if c.s.PageSize == 0 {
		c.s.PageSize = DefaultPageSize
	}
	if c.s.MaxRecords == 0 {
		c.s.MaxRecords = DefaultMaxRecords
	}
	if c.s.AuthorityURL == "" {
		c.s.AuthorityURL = DefaultAuthorityURL
	}
	for _, opt := range opts {
		opt(c)
	}
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("defender ti client: %w", err)
	}
	u, _ := url.Parse(c.base)
	c.baseOrigin = origin.Of(u)
	if c.hc == nil {
		c.hc = defaultHTTPClient()
	}
	hc := *c.hc
	hc.CheckRedirect = origin.CheckRedirect(ErrCrossOriginRedirect, hc.CheckRedirect)
	c.hc = &hc
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	secret := c.s.ClientSecret.Reveal()
	for _, v := range []string{secret, url.QueryEscape(secret), url.PathEscape(secret)} {
		if v != "" && !contains(c.secrets, v) {
			c.secrets = append(c.secrets, v)
		}
	}
	return c, nil
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func (c *Client) validate() error {
	var errs []error
	if reason := checkURL(c.base, false); reason != "" {
		errs = append(errs, fmt.Errorf("base url %s: %s", scrub.URL(c.base), reason))
	}
	if !c.customCred {
		if c.s.TenantID == "" || c.s.ClientID == "" {
			errs = append(errs, errors.New("tenant id and client id are required"))
		}
		if (c.s.ClientSecret.Reveal() == "") == (c.s.ClientCertificate == "") {
			errs = append(errs, errors.New("exactly one of client secret and client certificate is required"))
		}
		if reason := checkURL(strings.TrimRight(c.s.AuthorityURL, "/"), true); reason != "" {
			errs = append(errs, fmt.Errorf("authority url %s: %s", scrub.URL(c.s.AuthorityURL), reason))
		}
	}
	if c.s.PageSize < 1 || c.s.MaxRecords < 1 {
		errs = append(errs, errors.New("page size and max records must be positive"))
	}
	if c.timeout <= 0 || c.maxAttempts < 1 || c.maxElapsed <= 0 {
		errs = append(errs, errors.New("timeout, max attempts and max elapsed must be positive"))
	}
	if c.initialBackoff <= 0 || c.maxBackoff < c.initialBackoff {
		errs = append(errs, errors.New("backoff must be positive and ordered"))
	}
	if c.maxBody <= 0 || c.now == nil || c.sleep == nil {
		errs = append(errs, errors.New("max body size, clock and sleep must be set"))
	}
	return errors.Join(errs...)
}

// String describes the client without its credentials.
func (c *Client) String() string {
	return "defenderti.Client{base: " + scrub.URL(c.base) + ", authority: " + scrub.URL(c.s.AuthorityURL) + "}"
}

// GoString describes the client without its credentials.
func (c *Client) GoString() string { return c.String() }

// LogValue describes the client in logs without its credentials.
func (c *Client) LogValue() slog.Value {
	return slog.GroupValue(slog.String("base_url", scrub.URL(c.base)), slog.String("authority_url", scrub.URL(c.s.AuthorityURL)),
		slog.String("tenant_id", c.s.TenantID), slog.String("client_id", c.s.ClientID))
}

// jwtLike matches a JSON Web Token (access token, client assertion): three
// base64url segments, the first a JSON object ("eyJ").
var jwtLike = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}`)

// redact removes the client secret, the recent access tokens and anything
// shaped like a JWT from s.
func (c *Client) redact(s string) string {
	c.tokMu.Lock()
	list := append(append([]string(nil), c.secrets...), c.tokens...)
	c.tokMu.Unlock()
	return jwtLike.ReplaceAllString(scrub.Secrets(s, list...), scrub.Redacted)
}

// scrubErr returns err, with its message redacted if it shows a secret.
func (c *Client) scrubErr(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if red := c.redact(msg); red != msg {
		return &redactedError{msg: red, err: err}
	}
	return err
}

// rememberToken adds an access token to the redaction list (the last 8).
func (c *Client) rememberToken(t string) {
	c.tokMu.Lock()
	defer c.tokMu.Unlock()
	if contains(c.tokens, t) {
		return
	}
	c.tokens = append(c.tokens, t)
	if len(c.tokens) > 8 {
		c.tokens = c.tokens[1:]
	}
}

// ErrCrossOriginRedirect is returned when Graph redirects a request to
// another origin: the bearer token is only sent to DEFENDER_TI_BASE_URL's.
var ErrCrossOriginRedirect = errors.New("redirect to another origin refused: the token is only sent to DEFENDER_TI_BASE_URL's origin")

func defaultHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr}
}

// ---- requests ----

// outcome is the result of one attempt.
type outcome struct {
	err        error
	retry      bool
	retryAfter time.Duration // negative: none given
	throttled  bool          // a 429: pause every call
	refresh    bool          // a 401: refresh the token, retry at once
	malformed  bool          // 2xx with a body that does not decode
	minDelay   time.Duration // the least wait before the next attempt
}

// getJSON performs GET target with retries (spec §6.2) and decodes the 2xx
// answer into v. endpoint names the call in errors and logs.
func (c *Client) getJSON(ctx context.Context, endpoint, target string, v any) error {
	err := c.get(ctx, endpoint, target, v)
	return c.scrubErr(err)
}

func (c *Client) get(ctx context.Context, endpoint, target string, v any) error {
	bo := &backoff.ExponentialBackOff{
		InitialInterval: c.initialBackoff, RandomizationFactor: 0.5, Multiplier: 2, MaxInterval: c.maxBackoff,
	}
	bo.Reset()
	var (
		start              time.Time
		lastErr            error
		refreshed, reDecod bool
	)
	for attempt := 1; ; attempt++ {
		var limit time.Time
		if attempt > 1 {
			limit = start.Add(c.maxElapsed)
		}
		if err := c.waitGate(ctx, endpoint, limit); err != nil {
			if lastErr == nil {
				return fmt.Errorf("defender ti GET %s: waiting for the throttling pause: %w", endpoint, err)
			}
			return fmt.Errorf("defender ti GET %s: giving up after %d attempts: %w (last error: %w)", endpoint, attempt-1, err, lastErr)
		}
		if attempt == 1 {
			start = c.now()
		}
		o := c.attempt(ctx, endpoint, target, v, attempt)
		if o.err == nil {
			return nil
		}
		setAttempts(o.err, attempt)
		switch {
		case o.refresh && !refreshed:
			refreshed = true
			c.log.LogAttrs(ctx, slog.LevelInfo, "defender ti token refused: fetching a new one", slog.String("path", endpoint))
			if attempt >= c.maxAttempts {
				return o.err
			}
			lastErr = o.err
			continue // at once, with a new token
		case o.refresh:
			return o.err
		case o.malformed && !reDecod:
			reDecod = true
			o.retry = true
		case o.malformed:
			return o.err
		}
		if !o.retry {
			return o.err
		}
		lastErr = o.err
		delay := bo.NextBackOff()
		if o.retryAfter >= 0 {
			delay = o.retryAfter
		}
		var wait time.Duration
		if o.throttled {
			wait = c.pauseAll(ctx, endpoint, delay)
		} else {
			wait = c.gate.opensAt().Sub(c.now())
		}
		delay = max(delay, wait, o.minDelay)
		if attempt >= c.maxAttempts {
			return c.exhausted(ctx, endpoint, attempt, o.err)
		}
		if remaining := c.maxElapsed - c.now().Sub(start); delay > remaining {
			return c.exhausted(ctx, endpoint, attempt, fmt.Errorf("next delay %s exceeds the remaining retry budget: %w", delay.Round(time.Millisecond), o.err))
		}
		c.log.LogAttrs(ctx, slog.LevelWarn, MsgRetrying,
			slog.String("path", endpoint), slog.Int("attempt", attempt), slog.Duration("delay", delay),
			slog.String("error", c.redact(o.err.Error())))
		if err := c.sleep(ctx, delay); err != nil {
			return fmt.Errorf("defender ti GET %s: waiting to retry after %d attempts: %w (last error: %w)", endpoint, attempt, err, o.err)
		}
	}
}

// exhausted is the error of a request that ran out of attempts or time.
func (c *Client) exhausted(ctx context.Context, endpoint string, attempts int, err error) error {
	var ae *APIError
	if errors.As(err, &ae) && err == error(ae) { //nolint:errorlint // the APIError itself: it prints the attempts
		return ae
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, MsgUnavailable, slog.String("path", endpoint), slog.Int("attempts", attempts))
	return fmt.Errorf("defender ti GET %s: giving up after %d attempts: %w", endpoint, attempts, err)
}

func setAttempts(err error, n int) {
	var ae *APIError
	if errors.As(err, &ae) {
		ae.Attempts = n
	}
}

// attempt performs one GET with a token.
func (c *Client) attempt(ctx context.Context, endpoint, target string, v any, n int) outcome {
	o := outcome{retryAfter: -1}
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	token, gen, err := c.token(actx)
	if err != nil {
		if cerr := context.Cause(ctx); cerr != nil {
			o.err = fmt.Errorf("defender ti GET %s: %w", endpoint, cerr)
			return o
		}
		o.err = err
		var ae *AuthError
		if errors.As(err, &ae) {
			o.retry = ae.Retryable()
			o.throttled = ae.Status == http.StatusTooManyRequests || ae.AADSTS == 90055
			if ae.RetryAfter > 0 {
				o.retryAfter = ae.RetryAfter
			}
			if ae.Status >= 500 {
				o.minDelay = minTokenRetryDelay // spec §1.4: first retry >= 5 s
			}
		} else {
			o.retry = !errors.Is(err, ErrAuthentication)
		}
		return o
	}
	req, err := http.NewRequestWithContext(actx, http.MethodGet, target, nil)
	if err != nil {
		o.err = fmt.Errorf("defender ti GET %s: build request: %w", endpoint, err)
		return o
	}
	clientReqID := uuid.NewString()
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	req.Header.Set("client-request-id", clientReqID)
	req.Header.Set("return-client-request-id", "true")

	resp, err := c.hc.Do(req)
	if err != nil {
		if cerr := context.Cause(ctx); cerr != nil {
			o.err = fmt.Errorf("defender ti GET %s: %w", endpoint, cerr)
			return o
		}
		o.err = fmt.Errorf("defender ti GET %s: %w", endpoint, httpretry.TransportCause(err, c.timeout))
		o.retry = !errors.Is(err, ErrCrossOriginRedirect)
		return o
	}
	defer func() { _ = resp.Body.Close() }()
	c.log.LogAttrs(ctx, slog.LevelDebug, "defender ti response",
		slog.String("path", endpoint), slog.Int("attempt", n), slog.Int("status", resp.StatusCode),
		slog.String("client_request_id", clientReqID), slog.String("request_id", resp.Header.Get("request-id")))

	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		body, err := c.readBody(resp)
		if err != nil {
			if errors.Is(err, ErrResponseTooLarge) {
				o.err = fmt.Errorf("defender ti GET %s: %w", endpoint, err)
				return o
			}
			if cerr := context.Cause(ctx); cerr != nil {
				o.err = fmt.Errorf("defender ti GET %s: read body: %w", endpoint, cerr)
				return o
			}
			o.err = fmt.Errorf("defender ti GET %s: read body: %w", endpoint, httpretry.TransportCause(err, c.timeout))
			o.retry = true
			return o
		}
		if err := decodeStrictObject(body, v); err != nil {
			o.err = &DecodeError{Endpoint: endpoint, RequestID: resp.Header.Get("request-id"), Err: err}
			o.malformed = true
		}
		return o
	}

	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	code, msg, reqID := parseGraphError(body)
	if reqID == "" {
		reqID = resp.Header.Get("request-id")
	}
	ae := &APIError{
		Endpoint: endpoint, Status: resp.StatusCode,
		Code: c.redact(code), Message: scrub.Text(c.redact(msg), maxMessage),
		RequestID: reqID, ClientRequestID: clientReqID,
	}
	if d, ok := httpretry.ParseAfter(resp.Header.Get("Retry-After"), c.now()); ok {
		ae.RetryAfter, o.retryAfter = d, d
	}
	o.err = ae
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		o.refresh = true
		c.dropCredential(gen)
	case resp.StatusCode == http.StatusTooManyRequests:
		o.retry, o.throttled = true, true
	case resp.StatusCode >= 500:
		o.retry = true
	}
	return o
}

// DecodeError reports a 2xx answer that is not the JSON expected (retried
// once, spec §6.2).
type DecodeError struct {
	// Endpoint names the call; RequestID is Graph's request-id.
	Endpoint, RequestID string
	// Err is the decoding problem.
	Err error
}

// Error names the endpoint and the problem.
func (e *DecodeError) Error() string {
	s := "defender ti GET " + e.Endpoint + ": malformed answer: " + scrub.Text(e.Err.Error(), 300)
	if e.RequestID != "" {
		s += " (request-id " + scrub.Text(e.RequestID, 100) + ")"
	}
	return s
}

// Unwrap returns the decoding problem.
func (e *DecodeError) Unwrap() error { return e.Err }

// decodeStrictObject decodes a JSON object into v; an empty body, another
// JSON value or trailing data is an error.
// bodyDecoder is a value that decodes a whole answer body itself (pages).
type bodyDecoder interface{ decodeBody(body []byte) error }

func decodeStrictObject(body []byte, v any) error {
	if !isJSONObject(body) {
		if len(bytes.TrimSpace(body)) == 0 {
			return errors.New("empty body")
		}
		return errors.New("not a JSON object")
	}
	if d, ok := v.(bodyDecoder); ok {
		return d.decodeBody(body) // json.Unmarshal refuses trailing data too
	}
	d := json.NewDecoder(bytes.NewReader(body))
	if err := d.Decode(v); err != nil {
		return err
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}

func (c *Client) readBody(resp *http.Response) ([]byte, error) {
	if resp.ContentLength > c.maxBody {
		return nil, fmt.Errorf("%w: content length %d exceeds %d bytes", ErrResponseTooLarge, resp.ContentLength, c.maxBody)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(resp.Body, c.maxBody+1)); err != nil {
		return nil, err
	}
	if int64(buf.Len()) > c.maxBody {
		return nil, fmt.Errorf("%w: body exceeds %d bytes", ErrResponseTooLarge, c.maxBody)
	}
	return buf.Bytes(), nil
}

// ---- throttling pause ----

// rateGate is the client-wide pause a 429 orders: every later call waits
// until it opens instead of discovering the limit with its own 429.
type rateGate struct {
	mu    sync.Mutex
	until time.Time
}

func (g *rateGate) opensAt() time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.until
}

func (g *rateGate) closeUntil(t time.Time) time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	if t.After(g.until) {
		g.until = t
	}
	return g.until
}

// pauseAll closes the gate for pause (at most the retry budget) and returns
// how long the caller waits.
func (c *Client) pauseAll(ctx context.Context, endpoint string, pause time.Duration) time.Duration {
	now := c.now()
	pause = min(max(pause, 0), c.maxElapsed)
	opens := c.gate.closeUntil(now.Add(pause))
	c.sharePause(ctx, opens)
	c.log.LogAttrs(ctx, slog.LevelWarn, MsgThrottled,
		slog.String("path", endpoint), slog.Float64("retry_after_seconds", pause.Seconds()), slog.Time("until", opens))
	return opens.Sub(now)
}

var errPauseBeyondBudget = errors.New("throttling pause ends after the retry budget")

// waitGate waits until the gate is open or ctx is done; with a limit, a
// pause ending after it fails at once.
func (c *Client) waitGate(ctx context.Context, endpoint string, limit time.Time) error {
	var waited time.Time
	for {
		opens := c.gate.opensAt()
		if shared := c.sharedOpensAt(ctx); shared.After(opens) {
			// Another replica was throttled: pause too, at most the retry
			// budget, as for this client's own 429.
			if limit := c.now().Add(c.maxElapsed); shared.After(limit) {
				shared = limit
			}
			opens = c.gate.closeUntil(shared)
		}
		if !opens.After(waited) {
			return nil
		}
		d := opens.Sub(c.now())
		if d <= 0 {
			return nil
		}
		if !limit.IsZero() && opens.After(limit) {
			return fmt.Errorf("%w (paused until %s)", errPauseBeyondBudget, opens.UTC().Format(time.RFC3339))
		}
		c.log.LogAttrs(ctx, slog.LevelDebug, "waiting for the defender ti throttling pause",
			slog.String("path", endpoint), slog.Duration("delay", d))
		if err := c.sleep(ctx, d); err != nil {
			return err
		}
		waited = opens
	}
}
