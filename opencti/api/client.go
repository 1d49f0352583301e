package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/riskiq-opencti/connectors/opencti/origin"
	"github.com/riskiq-opencti/connectors/opencti/scrub"
)

// Defaults; see the package documentation for why they differ from pycti.
const (
	// DefaultTimeout bounds each attempt of a request.
	DefaultTimeout = 60 * time.Second
	// DefaultMaxAttempts is the number of attempts of a request, first included.
	DefaultMaxAttempts = 3
	// DefaultRetryDelay is the delay before the second attempt; it doubles
	// with each further attempt, with jitter, up to maxRetryDelay.
	DefaultRetryDelay = time.Second
	// DefaultMaxResponseSize bounds the body read from a 200 answer (64 MiB).
	DefaultMaxResponseSize = 64 << 20
	// DefaultUserAgent is sent unless WithUserAgent or a custom header says otherwise.
	DefaultUserAgent = "opencti-go-connectors/api"
)

// maxRetryDelay caps the backoff between attempts.
const maxRetryDelay = 30 * time.Second

// Client is an OpenCTI GraphQL client. It is safe for concurrent use; New
// performs no network I/O.
type Client struct {
	endpoint    string
	token       string
	secrets     []string // token and custom header values, redacted from errors
	http        *http.Client
	headers     http.Header
	timeout     time.Duration
	maxAttempts int
	retryDelay  time.Duration
	maxResponse int64
	logger      *slog.Logger
}

// settings collects the options before New builds the client.
type settings struct {
	httpClient  *http.Client
	timeout     time.Duration
	headers     map[string]string
	userAgent   string
	tlsSet      bool
	insecure    bool
	caPath      string
	extraCAs    []byte
	maxAttempts int
	retryDelay  time.Duration
	maxResponse int64
	logger      *slog.Logger
}

// Option configures a Client.
type Option func(*settings) error

// WithHTTPClient uses hc (copied, never modified) instead of a client with a
// clone of http.DefaultTransport.
func WithHTTPClient(hc *http.Client) Option {
	return func(s *settings) error {
		if hc == nil {
			return errors.New("http client is nil")
		}
		s.httpClient = hc
		return nil
	}
}

// WithTimeout bounds each attempt of a request (default DefaultTimeout).
func WithTimeout(d time.Duration) Option {
	return func(s *settings) error {
		if d <= 0 {
			return fmt.Errorf("timeout %s: must be positive", d)
		}
		s.timeout = d
		return nil
	}
}

// WithHeaders adds headers to every request (OPENCTI_CUSTOM_HEADERS). They
// cannot replace Authorization or Content-Type.
func WithHeaders(h map[string]string) Option {
	return func(s *settings) error {
		for k, v := range h {
			if err := checkHeader(k, v); err != nil {
				return err
			}
		}
		s.headers = maps.Clone(h)
		return nil
	}
}

// WithTLS sets certificate verification (OPENCTI_SSL_VERIFY): with
// insecureSkipVerify the platform's certificate is not checked; a non-empty
// caBundlePath names a PEM file whose certificates are trusted in addition to
// the system pool. New reads that file.
func WithTLS(insecureSkipVerify bool, caBundlePath string) Option {
	return func(s *settings) error {
		s.tlsSet = true
		s.insecure = insecureSkipVerify
		s.caPath = caBundlePath
		return nil
	}
}

// WithExtraRootCAs adds the PEM certificates of pem to the roots that verify the
// platform's certificate (HTTPS_CA_CERTIFICATES: the CA of a TLS-intercepting proxy),
// on top of the system roots and the WithTLS CA bundle. It has no effect while
// verification is off. New fails when pem holds no certificate.
func WithExtraRootCAs(pem []byte) Option {
	return func(s *settings) error {
		if len(pem) == 0 {
			return nil
		}
		s.tlsSet = true
		s.extraCAs = pem
		return nil
	}
}

// WithRetry sets the number of attempts per request (1 disables retries) and
// the delay before the second one. Only transport errors and 5xx answers are
// retried, and for an operation that is not idempotent (see
// [Client.Do]) only the failures where the request certainly did not reach
// the platform.
func WithRetry(maxAttempts int, baseDelay time.Duration) Option {
	return func(s *settings) error {
		if maxAttempts < 1 {
			return fmt.Errorf("retry attempts %d: must be at least 1", maxAttempts)
		}
		if baseDelay < 0 {
			return fmt.Errorf("retry delay %s: must not be negative", baseDelay)
		}
		s.maxAttempts = maxAttempts
		s.retryDelay = baseDelay
		return nil
	}
}

// WithUserAgent sets the User-Agent header (default DefaultUserAgent).
func WithUserAgent(ua string) Option {
	return func(s *settings) error {
		if err := checkHeader("User-Agent", ua); err != nil {
			return err
		}
		s.userAgent = ua
		return nil
	}
}

// WithLogger sets the logger for request and retry records (default: none).
func WithLogger(l *slog.Logger) Option {
	return func(s *settings) error {
		if l == nil {
			return errors.New("logger is nil")
		}
		s.logger = l
		return nil
	}
}

// WithMaxResponseSize bounds the body read from a 200 answer (default
// DefaultMaxResponseSize).
func WithMaxResponseSize(n int64) Option {
	return func(s *settings) error {
		if n <= 0 {
			return fmt.Errorf("max response size %d: must be positive", n)
		}
		s.maxResponse = n
		return nil
	}
}

// New returns a client for the platform at baseURL (OPENCTI_URL), which must
// be an http or https URL; requests go to baseURL + "/graphql" (a trailing
// slash on baseURL is dropped first). The token (OPENCTI_TOKEN) is sent as
// "Authorization: Bearer <token>"; an empty token sends no Authorization.
func New(baseURL, token string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		// The parse error repeats the URL, which may carry credentials.
		return nil, fmt.Errorf("opencti url %q: not a valid URL", scrub.URL(baseURL))
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("opencti url %q: want an http or https URL with a host", scrub.URL(baseURL))
	}
	if strings.ContainsAny(token, "\r\n") {
		return nil, errors.New("opencti token: contains a line break")
	}
	s := settings{
		timeout:     DefaultTimeout,
		userAgent:   DefaultUserAgent,
		maxAttempts: DefaultMaxAttempts,
		retryDelay:  DefaultRetryDelay,
		maxResponse: DefaultMaxResponseSize,
	}
	for _, opt := range opts {
		if err := opt(&s); err != nil {
			return nil, fmt.Errorf("opencti client option: %w", err)
		}
	}
	hc, err := buildHTTPClient(&s)
	if err != nil {
		return nil, err
	}
	headers := http.Header{}
	headers.Set("User-Agent", s.userAgent)
	for k, v := range s.headers {
		headers.Set(k, v)
	}
	logger := s.logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	secrets := []string{token}
	for _, v := range s.headers {
		secrets = append(secrets, v)
	}
	// The query and fragment stay where they are: /graphql goes on the path.
	endpoint := *u
	endpoint.Path = strings.TrimSuffix(u.Path, "/") + "/graphql"
	endpoint.RawPath = ""
	if u.RawPath != "" {
		endpoint.RawPath = strings.TrimSuffix(u.RawPath, "/") + "/graphql"
	}
	return &Client{
		endpoint:    endpoint.String(),
		token:       token,
		secrets:     secrets,
		http:        hc,
		headers:     headers,
		timeout:     s.timeout,
		maxAttempts: s.maxAttempts,
		retryDelay:  s.retryDelay,
		maxResponse: s.maxResponse,
		logger:      logger,
	}, nil
}

// Endpoint returns the GraphQL URL requests are sent to. It may hold
// credentials (a query): print it through [scrub.URL].
func (c *Client) Endpoint() string { return c.endpoint }

// buildHTTPClient copies the caller's client (or makes one) and applies TLS.
func buildHTTPClient(s *settings) (*http.Client, error) {
	var hc http.Client
	if s.httpClient != nil {
		hc = *s.httpClient
	}
	hc.CheckRedirect = origin.CheckRedirect(ErrCrossOriginRedirect, hc.CheckRedirect)
	if !s.tlsSet {
		if hc.Transport == nil {
			hc.Transport = defaultTransport()
		}
		return &hc, nil
	}
	var tr *http.Transport
	switch t := hc.Transport.(type) {
	case nil:
		tr = defaultTransport()
	case *http.Transport:
		tr = t.Clone()
	default:
		return nil, fmt.Errorf("opencti tls: cannot configure a %T transport, want *http.Transport", t)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if tr.TLSClientConfig != nil {
		tc = tr.TLSClientConfig.Clone()
	}
	if s.insecure {
		tc.InsecureSkipVerify = true // OPENCTI_SSL_VERIFY=false asks for it (pycti's default).
	}
	if s.caPath != "" || len(s.extraCAs) > 0 {
		pool := tc.RootCAs
		if pool == nil {
			if pool, _ = x509.SystemCertPool(); pool == nil {
				pool = x509.NewCertPool()
			}
		}
		if s.caPath != "" {
			pem, err := os.ReadFile(s.caPath)
			if err != nil {
				return nil, fmt.Errorf("opencti tls: read ca bundle: %w", err)
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("opencti tls: ca bundle %s: no PEM certificate found", s.caPath)
			}
		}
		if len(s.extraCAs) > 0 && !pool.AppendCertsFromPEM(s.extraCAs) {
			return nil, errors.New("opencti tls: extra root CAs: no PEM certificate found")
		}
		tc.RootCAs = pool
	}
	tr.TLSClientConfig = tc
	hc.Transport = tr
	return &hc, nil
}

// ErrCrossOriginRedirect is returned when the platform redirects a request to
// another scheme, host or port: net/http would send the custom headers there,
// and the Authorization header too when only the port differs.
var ErrCrossOriginRedirect = errors.New("redirect to another origin refused: the token and custom headers are only sent to OPENCTI_URL's origin")

// defaultTransport clones http.DefaultTransport (proxy from the environment,
// keep-alives, HTTP/2), keeping up to maxIdlePerHost idle connections to
// the platform instead of 2: with concurrent requests, the default closes
// connections and dials new ones all the time.
func defaultTransport() *http.Transport {
	t := &http.Transport{Proxy: http.ProxyFromEnvironment}
	if d, ok := http.DefaultTransport.(*http.Transport); ok {
		t = d.Clone()
	}
	t.MaxIdleConnsPerHost = maxIdlePerHost
	return t
}

// maxIdlePerHost is the number of idle connections kept to the platform (at
// least CONNECTOR_CONCURRENCY's maximum).
const maxIdlePerHost = 256

// checkHeader rejects header names that are not RFC 9110 tokens and values
// with control characters.
func checkHeader(name, value string) error {
	if name == "" {
		return errors.New("header name is empty")
	}
	for _, r := range name {
		if r > 0x7e || r <= 0x20 || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return fmt.Errorf("header name %q: invalid character %q", name, r)
		}
	}
	for _, r := range value {
		if (r < 0x20 && r != '\t') || r == 0x7f {
			return fmt.Errorf("header %q: value contains a control character", name)
		}
	}
	return nil
}

// headersKey is the context key of per-request headers.
type headersKey struct{}

// ContextWithHeaders returns a context whose requests also carry headers, for
// per-request context such as "opencti-draft-id" or "opencti-applicant-id"
// (spec §1.5). They add to, and may replace, the client's custom headers but
// never Authorization or Content-Type. Invalid headers are dropped at request
// time with an error.
func ContextWithHeaders(ctx context.Context, headers map[string]string) context.Context {
	merged := map[string]string{}
	if outer, ok := ctx.Value(headersKey{}).(map[string]string); ok {
		maps.Copy(merged, outer)
	}
	maps.Copy(merged, headers)
	return context.WithValue(ctx, headersKey{}, merged)
}

// request is the JSON body of a GraphQL request.
type request struct {
	Query     string `json:"query"`
	Variables any    `json:"variables"`
}

// envelope is the JSON body of a GraphQL answer.
type envelope struct {
	Data   json.RawMessage `json:"data"`
	Errors []gqlErrorJSON  `json:"errors"`
}

// operationName matches the name of the first operation of a document.
var operationName = regexp.MustCompile(`(?m)^\s*(?:query|mutation|subscription)\s+([_A-Za-z][_0-9A-Za-z]*)`)

// Do sends query with vars (nil sends {}) and decodes the "data" member into
// out (nil to discard). An "errors" member yields a *GraphQLError, a non-200
// status an *HTTPError.
//
// A failed attempt is retried (see [WithRetry]) when the operation is
// idempotent: a query, or a mutation listed as idempotent in the package's
// table (registerConnector, pingConnector, pingWork). Any other mutation is
// retried only when the request certainly never reached the platform (the
// connection could not be opened); once it may have been sent, the error
// wraps [ErrOutcomeUnknown] instead.
func (c *Client) Do(ctx context.Context, query string, vars map[string]any, out any) error {
	op := "graphql operation"
	if m := operationName.FindStringSubmatch(query); m != nil {
		op = "graphql operation " + m[1]
	}
	var v any = vars
	if vars == nil {
		v = map[string]any{}
	}
	if err := c.do(ctx, query, v, out); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// do runs one operation with retries and decodes data into out.
func (c *Client) do(ctx context.Context, query string, vars, out any) error {
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(request{Query: query, Variables: vars}); err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	extra, err := contextHeaders(ctx)
	if err != nil {
		return err
	}
	op := "anonymous"
	if m := operationName.FindStringSubmatch(query); m != nil {
		op = m[1]
	}
	idempotent := isIdempotent(query)
	var raw []byte
	for attempt := 1; ; attempt++ {
		raw, err = c.attempt(ctx, op, attempt, body.Bytes(), extra)
		if err == nil {
			break
		}
		if !idempotent && mayHaveReached(err) {
			// Sending it again could apply it twice (issue 9: a retried
			// addExpectations left works waiting for twice their parts).
			c.logger.WarnContext(ctx, "GraphQL mutation failed after it may have reached the platform, not retried",
				slog.String("operation", op),
				slog.Int("attempt", attempt),
				slog.Any("error", c.sanitize(err)))
			return c.sanitize(fmt.Errorf("%w (not idempotent, not retried): %w", ErrOutcomeUnknown, err))
		}
		if attempt >= c.maxAttempts || !retryable(err) || ctx.Err() != nil {
			return c.sanitize(err)
		}
		delay := c.backoff(attempt)
		c.logger.WarnContext(ctx, "GraphQL request failed, retrying",
			slog.String("operation", op),
			slog.Int("attempt", attempt),
			slog.Duration("delay", delay),
			slog.Any("error", c.sanitize(err)))
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return c.sanitize(fmt.Errorf("%w (after %d attempts, last error: %w)", context.Cause(ctx), attempt, err))
		case <-t.C:
		}
	}
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("decode response: %w", err)
	}
	if len(env.Errors) > 0 {
		return newGraphQLError(env.Errors, c.redact)
	}
	if out == nil || len(env.Data) == 0 || string(env.Data) == "null" {
		return nil
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		return fmt.Errorf("decode response data: %w", err)
	}
	return nil
}

// contextHeaders returns the validated per-request headers of ctx.
func contextHeaders(ctx context.Context) (map[string]string, error) {
	h, _ := ctx.Value(headersKey{}).(map[string]string)
	for k, v := range h {
		if err := checkHeader(k, v); err != nil {
			return nil, fmt.Errorf("context headers: %w", err)
		}
	}
	return h, nil
}

// transportError marks a failure to get an answer (retryable unless it is a
// certificate problem). sent tells the request may have reached the server:
// a connection was obtained for it and the failure is not a dial error.
type transportError struct {
	err  error
	sent bool
}

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// attempt performs one POST and returns the body of a 200 answer.
func (c *Client) attempt(ctx context.Context, op string, n int, body []byte, extra map[string]string) ([]byte, error) {
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header = c.headers.Clone()
	for k, v := range extra {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	} else {
		req.Header.Del("Authorization")
	}
	// GotConn runs on this goroutine before net/http writes a byte of the
	// request (HTTP/1 and HTTP/2 alike): if it never ran, nothing was sent.
	var gotConn atomic.Bool
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { gotConn.Store(true) },
	}))
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = scrub.URL(ue.URL) // the query of OPENCTI_URL may hold a key
		}
		if errors.Is(err, ErrCrossOriginRedirect) {
			return nil, fmt.Errorf("post graphql: %w", err)
		}
		return nil, &transportError{
			err:  fmt.Errorf("post graphql: %w", err),
			sent: gotConn.Load() && !isDialError(err),
		}
	}
	defer func() {
		// Drain a little so the connection can be reused, then close.
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
		_ = resp.Body.Close()
	}()
	c.logger.DebugContext(ctx, "GraphQL response received",
		slog.String("operation", op),
		slog.Int("attempt", n),
		slog.Int("status", resp.StatusCode),
		slog.Duration("duration", time.Since(start)))
	if resp.StatusCode != http.StatusOK {
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorRead+1))
		if err != nil && resp.StatusCode < 500 {
			return nil, &transportError{err: fmt.Errorf("read error body: %w", err), sent: true}
		}
		complete := len(b) <= maxErrorRead
		// Redact the whole body, then cut: a token across the cut would
		// otherwise leave its first half.
		he := &HTTPError{Status: resp.StatusCode, Body: excerpt(c.redact(string(b[:min(len(b), maxErrorRead)])))}
		if complete {
			he.GraphQL = parseErrorBody(b, c.redact)
		}
		return nil, he
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, c.maxResponse+1))
	if err != nil {
		return nil, &transportError{err: fmt.Errorf("read response: %w", err), sent: true}
	}
	if int64(len(b)) > c.maxResponse {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrResponseTooLarge, c.maxResponse)
	}
	return b, nil
}

// isDialError reports whether err comes from opening the connection (refused,
// unreachable, DNS, connect timeout): the request was not written. net/http
// only retries a POST on another connection when nothing was written on the
// first, so a dial error as the final error means nothing was sent.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// mayHaveReached reports whether the failed request may have been received
// (and applied) by the platform: any answer from it, or a transport failure
// after the request was handed to a connection.
func mayHaveReached(err error) bool {
	var he *HTTPError
	if errors.As(err, &he) {
		// 4xx: refused before execution. 5xx: possibly executed (a gateway
		// timeout after the platform applied it, an error after a write).
		return he.Status >= 500
	}
	var te *transportError
	if errors.As(err, &te) {
		return te.sent
	}
	return false
}

// retryable reports whether another attempt may succeed.
func retryable(err error) bool {
	var he *HTTPError
	if errors.As(err, &he) {
		return he.Temporary()
	}
	var te *transportError
	if !errors.As(err, &te) {
		return false
	}
	var (
		verr *tls.CertificateVerificationError
		uerr x509.UnknownAuthorityError
		herr x509.HostnameError
		cerr x509.CertificateInvalidError
	)
	return !errors.As(err, &verr) && !errors.As(err, &uerr) && !errors.As(err, &herr) && !errors.As(err, &cerr)
}

// backoff is the delay after attempt n: retryDelay·2^(n-1), capped, with
// jitter in [50 %, 100 %].
func (c *Client) backoff(n int) time.Duration {
	d := c.retryDelay
	for i := 1; i < n && d < maxRetryDelay; i++ {
		d *= 2
	}
	d = min(d, maxRetryDelay)
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d/2+1) //nolint:gosec // G404: jitter, not a secret.
}

// redact removes the token and the custom header values from s (those long
// enough to be told apart from words, see [scrub.Secrets]).
func (c *Client) redact(s string) string {
	return scrub.Secrets(s, c.secrets...)
}

// sanitize makes sure err's text does not contain the token or a custom
// header value.
func (c *Client) sanitize(err error) error {
	if err == nil {
		return err
	}
	msg := err.Error()
	if red := c.redact(msg); red != msg {
		return &redactedError{msg: red}
	}
	return err
}

// excerpt returns at most maxErrorBody bytes of s, cut on a rune boundary.
func excerpt(s string) string {
	if len(s) <= maxErrorBody {
		return s
	}
	n := maxErrorBody
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
