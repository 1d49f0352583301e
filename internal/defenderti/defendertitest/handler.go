package defendertitest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // G505: x5t is a SHA-1 thumbprint by definition (RS256 assertions)
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Endpoint labels: the keys of fault injection and call counting. A
// concrete path below the threatIntelligence root (e.g.
// "hosts/malicious.example/passiveDns", unescaped) may be used instead to
// target one host or article; "*" targets every Graph endpoint.
const (
	EndpointToken             = "token"
	EndpointDiscovery         = "openid-configuration"
	EndpointHost              = "hosts/{id}"
	EndpointPassiveDNS        = "hosts/{id}/passiveDns"
	EndpointPassiveDNSReverse = "hosts/{id}/passiveDnsReverse"
	EndpointReputation        = "hosts/{id}/reputation"
	EndpointArticles          = "articles"
	EndpointArticle           = "articles/{id}"
	EndpointArticleIndicators = "articles/{id}/indicators"
	EndpointIntelProfiles     = "intelProfiles"
	AnyGraphEndpoint          = "*"
)

// Defaults of [Options].
const (
	DefaultPrefix        = "/v1.0"
	DefaultTenantID      = "8f3b9c2e-4d1a-4e6b-9a7c-1f2e3d4c5b6a"
	DefaultClientID      = "0c9e2d4f-6a8b-4c1d-8e2f-3a4b5c6d7e8f"
	DefaultClientSecret  = "fake~Graph.client_secret-value-0123456789"
	DefaultTokenLifetime = 3599 * time.Second
	DefaultPageSize      = 100
	DefaultMaxTop        = 1000
)

// graphRoot is the path of the threat-intelligence API below the version.
const graphRoot = "/security/threatIntelligence/"

// TenantVerificationMessage is the text of the fake's 403 for a tenant
// blocked by risk-based enforcement (spec §1.5): the state and a link.
const TenantVerificationMessage = "Access to Microsoft Threat Intelligence APIs is blocked for this tenant until it is verified. " +
	"Verification state: Pending. Complete the verification at https://security.microsoft.com/tenant-verification"

// PermissionMissingMessage is the text of the fake's 403 for an app without
// the ThreatIntelligence.Read.All application permission.
const PermissionMissingMessage = "Missing application permission ThreatIntelligence.Read.All or admin consent"

// Options configures a [Handler].
type Options struct {
	// Prefix is the Graph version root path; default [DefaultPrefix].
	Prefix string
	// TenantID, ClientID and ClientSecret are the accepted credentials;
	// defaults [DefaultTenantID], [DefaultClientID], [DefaultClientSecret].
	TenantID, ClientID, ClientSecret string
	// Certificates are accepted for client assertions (see
	// [Handler.TrustCertificate]).
	Certificates []*x509.Certificate
	// AnyCredentials accepts any tenant, client id and non-empty secret, and
	// any well-formed client assertion without checking its signature (the
	// simulate command).
	AnyCredentials bool
	// TokenLifetime is the expires_in of issued tokens; default
	// [DefaultTokenLifetime]. Below 5 minutes MSAL asks for a new token on
	// every call.
	TokenLifetime time.Duration
	// Now is the clock of token expiry; default time.Now.
	Now func() time.Time
	// Data is the data set; nil serves [DefaultData].
	Data *Data
	// PageSize is the page size without $top; default [DefaultPageSize].
	PageSize int
	// MaxTop caps $top: larger values are served in pages of MaxTop (the
	// server returns fewer than asked); default [DefaultMaxTop].
	MaxTop int
	// Shift is added to every date served (e.g. now minus [Anchor]).
	Shift time.Duration
	// Latency delays every answer (interrupted when the client gives up).
	Latency time.Duration
}

// Paging selects a paging fault of a list answer.
type Paging int

// Paging faults.
const (
	PagingNormal Paging = iota
	// PagingLoop answers with a nextLink equal to the request URL.
	PagingLoop
	// PagingForeign answers with a nextLink on Fault.ForeignURL's origin.
	PagingForeign
	// PagingUnsorted serves the page in the reverse of the asked order.
	PagingUnsorted
	// PagingEmpty serves an empty page whose nextLink leads on to the page
	// that was asked for.
	PagingEmpty
)

// Fault is an injected answer (see [Handler.Inject]).
type Fault struct {
	// Status is the HTTP status; with no Body, a Graph error body (or, on
	// the token endpoint, an identity-platform error) goes with it.
	Status int
	// Code and Message are the Graph error's; defaults from Status.
	Code, Message string
	// AADSTS is the identity-platform error code of a token endpoint fault
	// (7000215, 7000222, 700016, 90002, 700027, 90055…); default from
	// Status.
	AADSTS int
	// RetryAfter is the raw Retry-After header ("2" or an HTTP date).
	RetryAfter string
	// Body replaces the answer's body (Status default 200); an empty non-nil
	// Body answers an empty body.
	Body []byte
	// ContentType of Body; default application/json.
	ContentType string
	// Delay holds the answer this long, or until the client gives up.
	Delay time.Duration
	// Paging is a paging fault of a list answer (with Status 0 or 200).
	Paging Paging
	// ForeignURL is the origin of a PagingForeign nextLink.
	ForeignURL string
	// Skip lets this many matching calls through first.
	Skip int
	// Times is how many calls get the fault: 0 is one, negative is all.
	Times int
}

// Request is a request the handler received.
type Request struct {
	Method string
	// Path is the escaped request path; Query the raw query.
	Path, Query string
	// Endpoint is the endpoint label, "" for an unknown path.
	Endpoint string
	// Target is the path below the threatIntelligence root, unescaped
	// (Graph), or the tenant (token endpoint).
	Target string
	Header http.Header
	// Form is the token request's form, with client_secret and
	// client_assertion kept (tests assert what was sent).
	Form url.Values
}

// Handler is the fake Microsoft Graph threat-intelligence API and Entra ID
// token endpoint. It is safe for concurrent use.
type Handler struct {
	prefix string
	opts   Options
	data   *Data

	mu       sync.Mutex
	certs    []*x509.Certificate
	lifetime time.Duration
	tokens   map[string]time.Time // access token → expiry
	faults   map[string][]*Fault
	calls    map[string]int
	requests []Request
	issued   int
	empties  atomic.Int64 // empty pages served (unique skip tokens)
	// pages keeps rendered list pages (without a fault) by origin, path and
	// query, with the data version they show: a benchmark through the fake
	// then measures the client, not the fake's JSON encoding.
	pages sync.Map // string → renderedPage
}

// renderedPage is a list page as served, for the data version it shows.
type renderedPage struct {
	version int64
	body    []byte
}

// NewHandler returns a fake serving opts.Data.
func NewHandler(opts Options) *Handler {
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.TenantID == "" {
		opts.TenantID = DefaultTenantID
	}
	if opts.ClientID == "" {
		opts.ClientID = DefaultClientID
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = DefaultClientSecret
	}
	if opts.TokenLifetime <= 0 {
		opts.TokenLifetime = DefaultTokenLifetime
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.PageSize <= 0 {
		opts.PageSize = DefaultPageSize
	}
	if opts.MaxTop <= 0 {
		opts.MaxTop = DefaultMaxTop
	}
	h := &Handler{
		prefix:   "/" + strings.Trim(opts.Prefix, "/"),
		opts:     opts,
		data:     opts.Data,
		certs:    slices.Clone(opts.Certificates),
		lifetime: opts.TokenLifetime,
		tokens:   map[string]time.Time{},
		faults:   map[string][]*Fault{},
		calls:    map[string]int{},
	}
	if h.data == nil {
		h.data = DefaultData()
	}
	return h
}

// Data returns the data set served; its Add methods change the answers.
func (h *Handler) Data() *Data { return h.data }

// Prefix returns the Graph version root path, e.g. "/v1.0".
func (h *Handler) Prefix() string { return h.prefix }

// Options returns the options in effect (defaults applied).
func (h *Handler) Options() Options { return h.opts }

// TrustCertificate accepts client assertions signed with cert's key.
func (h *Handler) TrustCertificate(cert *x509.Certificate) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.certs = append(h.certs, cert)
}

// SetTokenLifetime sets the expires_in of the next tokens.
func (h *Handler) SetTokenLifetime(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lifetime = d
}

// ExpireTokens invalidates every token issued so far: the next Graph call
// with one gets 401 InvalidAuthenticationToken.
func (h *Handler) ExpireTokens() {
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.tokens)
}

// Inject adds a fault for path: an endpoint label, a concrete path below
// the threatIntelligence root, "*" (every Graph endpoint) or
// [EndpointToken]. Faults of one path apply in the order injected.
func (h *Handler) Inject(path string, f Fault) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if f.Times == 0 {
		f.Times = 1
	}
	h.faults[path] = append(h.faults[path], &f)
}

// Fail answers the next times calls of path (negative: all) with status
// and, when retryAfter is positive, a Retry-After in whole seconds.
func (h *Handler) Fail(path string, status, times int, retryAfter time.Duration) {
	f := Fault{Status: status, Times: times}
	if times == 0 {
		f.Times = -1
	}
	if retryAfter > 0 {
		f.RetryAfter = strconv.Itoa(int(retryAfter.Round(time.Second) / time.Second))
	}
	h.Inject(path, f)
}

// Malformed answers the next times calls of path with 200 and a truncated
// JSON body.
func (h *Handler) Malformed(path string, times int) {
	h.Inject(path, Fault{Body: []byte(`{"@odata.context":"x","value":[{"id":"trunc`), Times: times})
}

// ClearFaults removes every injected fault.
func (h *Handler) ClearFaults() {
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.faults)
}

// Requests returns the requests received, in order.
func (h *Handler) Requests() []Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.requests)
}

// Calls returns how many requests path received: an endpoint label or a
// concrete path, as for [Handler.Inject].
func (h *Handler) Calls(path string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls[path]
}

// TokensIssued returns how many access tokens the token endpoint issued.
func (h *Handler) TokensIssued() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.issued
}

// record notes a request and returns the fault to apply, if any.
func (h *Handler) record(r *http.Request, endpoint, target string, form url.Values) *Fault {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.requests = append(h.requests, Request{
		Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery,
		Endpoint: endpoint, Target: target, Header: r.Header.Clone(), Form: form,
	})
	keys := []string{endpoint}
	if endpoint != EndpointToken && endpoint != EndpointDiscovery {
		if target != endpoint {
			keys = append(keys, target)
		}
		keys = append(keys, AnyGraphEndpoint)
	}
	for _, k := range keys {
		if k != "" {
			h.calls[k]++
		}
	}
	for _, k := range keys {
		for _, f := range h.faults[k] {
			if f.Times == 0 {
				continue
			}
			if f.Skip > 0 {
				f.Skip--
				continue
			}
			if f.Times > 0 {
				f.Times--
			}
			c := *f
			return &c
		}
	}
	return nil
}

// ServeHTTP routes token, discovery and Graph requests.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.opts.Latency > 0 && !wait(r, h.opts.Latency) {
		return
	}
	p := r.URL.Path
	if strings.HasPrefix(p, h.prefix+"/") {
		h.serveGraph(w, r, strings.TrimPrefix(p, h.prefix))
		return
	}
	parts := strings.Split(strings.Trim(p, "/"), "/")
	switch {
	case len(parts) == 4 && parts[1] == "oauth2" && parts[2] == "v2.0" && parts[3] == "token":
		h.serveToken(w, r, parts[0])
	case len(parts) == 4 && parts[1] == "v2.0" && parts[2] == ".well-known" && parts[3] == "openid-configuration":
		h.serveDiscovery(w, r, parts[0])
	default:
		writeGraphError(w, r, http.StatusNotFound, "BadRequest", "Resource not found for the segment '"+p+"'.", "")
	}
}

// abort ends a held answer the client gave up on without answering: net/http
// closes the connection instead of sending an implicit empty 200, which a
// client could take for a malformed answer.
func abort() { panic(http.ErrAbortHandler) }

// wait holds the answer for d or until the client gives up; false when it
// gave up.
func wait(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// origin returns the scheme and host the request reached.
func origin(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// ---- identity platform ----

func (h *Handler) serveDiscovery(w http.ResponseWriter, r *http.Request, tenant string) {
	f := h.record(r, EndpointDiscovery, tenant, nil)
	if f != nil && h.applyTokenFault(w, r, f) {
		return
	}
	if !h.opts.AnyCredentials && !strings.EqualFold(tenant, h.opts.TenantID) {
		writeAADError(w, http.StatusBadRequest, "invalid_tenant", 90002, "Tenant '"+tenant+"' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", "")
		return
	}
	base := origin(r) + "/" + tenant
	writeJSON(w, http.StatusOK, map[string]any{
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"issuer":                                base + "/v2.0",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"tenant_region_scope":                   "EU",
	})
}

const jwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

func (h *Handler) serveToken(w http.ResponseWriter, r *http.Request, tenant string) {
	if r.Method != http.MethodPost {
		writeAADError(w, http.StatusMethodNotAllowed, "invalid_request", 900561, "The endpoint only accepts POST requests.", "")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		writeAADError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.", "")
		return
	}
	form := r.PostForm
	f := h.record(r, EndpointToken, tenant, form)
	if f != nil && h.applyTokenFault(w, r, f) {
		return
	}
	clientID := form.Get("client_id")
	secret := form.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		clientID, secret = u, p
	}
	scopes := strings.Fields(form.Get("scope"))
	switch {
	case !h.opts.AnyCredentials && !strings.EqualFold(tenant, h.opts.TenantID):
		writeAADError(w, http.StatusBadRequest, "invalid_request", 90002, "Tenant '"+tenant+"' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", "")
	case form.Get("grant_type") != "client_credentials":
		writeAADError(w, http.StatusBadRequest, "unsupported_grant_type", 70003, "The app requested an unsupported grant type '"+form.Get("grant_type")+"'.", "")
	case !slices.Contains(scopes, "https://graph.microsoft.com/.default"):
		writeAADError(w, http.StatusBadRequest, "invalid_scope", 1002012, "The provided value for scope "+form.Get("scope")+" is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", "")
	case clientID == "" || (!h.opts.AnyCredentials && clientID != h.opts.ClientID):
		writeAADError(w, http.StatusBadRequest, "unauthorized_client", 700016, "Application with identifier '"+clientID+"' was not found in the directory '"+tenant+"'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.", "")
	case secret != "":
		if !h.opts.AnyCredentials && subtle.ConstantTimeCompare([]byte(secret), []byte(h.opts.ClientSecret)) != 1 {
			writeAADError(w, http.StatusUnauthorized, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '"+clientID+"'.", "")
			return
		}
		h.issue(w)
	case form.Get("client_assertion") != "":
		if form.Get("client_assertion_type") != jwtBearer {
			writeAADError(w, http.StatusBadRequest, "invalid_request", 50027, "Invalid JWT token. The client_assertion_type must be "+jwtBearer+".", "")
			return
		}
		if reason := h.checkAssertion(form.Get("client_assertion"), origin(r)+r.URL.Path, clientID); reason != "" {
			writeAADError(w, http.StatusUnauthorized, "invalid_client", 700027, "Client assertion failed signature validation. "+reason, "")
			return
		}
		h.issue(w)
	default:
		writeAADError(w, http.StatusUnauthorized, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.", "")
	}
}

// applyTokenFault answers an injected fault on the token or discovery
// endpoint; false when the fault only delays.
func (h *Handler) applyTokenFault(w http.ResponseWriter, r *http.Request, f *Fault) bool {
	if f.Delay > 0 && !wait(r, f.Delay) {
		abort()
	}
	if f.Body != nil {
		writeRaw(w, f)
		return true
	}
	if f.Status == 0 {
		return false
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	code, errName, desc := f.AADSTS, "invalid_client", f.Message
	if code == 0 {
		switch {
		case f.Status == http.StatusTooManyRequests:
			code, errName = 90055, "temporarily_unavailable"
		case f.Status >= 500:
			code, errName = 90033, "temporarily_unavailable"
		default:
			code = 7000215
		}
	}
	if desc == "" {
		desc = aadDescriptions[code]
	}
	if code == 90002 || code == 700016 {
		errName = "unauthorized_client"
	}
	writeAADError(w, f.Status, errName, code, desc, "")
	return true
}

// aadDescriptions are the first lines of the identity platform's errors.
var aadDescriptions = map[int]string{
	7000215: "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
	7000222: "The provided client secret keys for app are expired. Visit the Azure portal to create new keys for your app.",
	700016:  "Application was not found in the directory. This can happen if the application has not been installed by the administrator of the tenant.",
	90002:   "Tenant not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.",
	700027:  "Client assertion failed signature validation.",
	7000112: "Application is disabled.",
	53003:   "Access has been blocked by Conditional Access policies.",
	90055:   "The tenant is being throttled: too many requests.",
	90033:   "A transient error has occurred. Please try again.",
}

// writeAADError writes an identity-platform error body (spec §1.4).
func writeAADError(w http.ResponseWriter, status int, errName string, code int, desc, _ string) {
	trace, corr := newID(), newID()
	ts := time.Now().UTC().Format("2006-01-02 15:04:05Z")
	writeJSON(w, status, map[string]any{
		"error": errName,
		"error_description": fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s",
			code, desc, trace, corr, ts),
		"error_codes":    []int{code},
		"timestamp":      ts,
		"trace_id":       trace,
		"correlation_id": corr,
		"error_uri":      "https://login.microsoftonline.com/error?code=" + strconv.Itoa(code),
	})
}

// issue writes a new access token.
func (h *Handler) issue(w http.ResponseWriter) {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	token := "fake-at." + base64.RawURLEncoding.EncodeToString(b)
	h.mu.Lock()
	lifetime := h.lifetime
	h.tokens[token] = h.opts.Now().Add(lifetime)
	h.issued++
	h.mu.Unlock()
	secs := int(lifetime / time.Second)
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": token,
	})
}

// checkAssertion verifies a client assertion (spec §1.2): header alg PS256
// with x5t#S256 or RS256 with x5t naming a trusted certificate, aud = the
// token URL, iss = sub = client id, exp in the future, valid signature.
// It returns why the assertion is refused, "" when accepted.
func (h *Handler) checkAssertion(assertion, tokenURL, clientID string) string {
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return "not a JWS"
	}
	var hdr map[string]any
	var claims struct {
		Aud string          `json:"aud"`
		Iss string          `json:"iss"`
		Sub string          `json:"sub"`
		Exp json.Number     `json:"exp"`
		Jti string          `json:"jti"`
		Nbf json.RawMessage `json:"nbf"`
	}
	if decodeSegment(parts[0], &hdr) != nil || decodeSegment(parts[1], &claims) != nil {
		return "malformed header or claims"
	}
	alg, _ := hdr["alg"].(string)
	var thumb string
	switch alg {
	case "PS256":
		thumb, _ = hdr["x5t#S256"].(string)
	case "RS256":
		thumb, _ = hdr["x5t"].(string)
	default:
		return "unsupported alg " + alg
	}
	exp, err := claims.Exp.Int64()
	switch {
	case !strings.EqualFold(claims.Aud, tokenURL):
		return "aud " + claims.Aud + " is not the token endpoint"
	case claims.Iss != clientID || claims.Sub != clientID:
		return "iss and sub must be the client id"
	case err != nil || !time.Unix(exp, 0).After(h.opts.Now()):
		return "the assertion has expired"
	case claims.Jti == "":
		return "jti is missing"
	}
	if h.opts.AnyCredentials {
		return ""
	}
	h.mu.Lock()
	certs := slices.Clone(h.certs)
	h.mu.Unlock()
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return "malformed signature"
	}
	signed := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	for _, c := range certs {
		if !thumbMatches(thumb, c, alg) {
			continue
		}
		pub, ok := c.PublicKey.(*rsa.PublicKey)
		if !ok {
			return "certificate key is not RSA"
		}
		if alg == "PS256" {
			err = rsa.VerifyPSS(pub, crypto.SHA256, signed[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
		} else {
			err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, signed[:], sig)
		}
		if err != nil {
			return "signature does not verify"
		}
		return ""
	}
	return "no certificate with this thumbprint is registered for the application"
}

func thumbMatches(thumb string, c *x509.Certificate, alg string) bool {
	var sum []byte
	if alg == "RS256" {
		s := sha1.Sum(c.Raw) //nolint:gosec // G401: x5t is SHA-1 by definition
		sum = s[:]
	} else {
		s := sha256.Sum256(c.Raw)
		sum = s[:]
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if thumb == enc.EncodeToString(sum) {
			return true
		}
	}
	return strings.EqualFold(thumb, hex.EncodeToString(sum))
}

func decodeSegment(seg string, v any) error {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(seg, "="))
	if err != nil {
		return err
	}
	d := json.NewDecoder(strings.NewReader(string(raw)))
	d.UseNumber()
	return d.Decode(v)
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// ---- Graph ----

// route maps a path below the version root to an endpoint label and the
// host or article id; ok is false for an unknown path.
func route(p string) (endpoint, id, target string, ok bool) {
	if !strings.HasPrefix(strings.ToLower(p), strings.ToLower(graphRoot)) {
		return "", "", "", false
	}
	rest := p[len(graphRoot):]
	var segs []string
	// Key syntax: hosts('x') / articles('x'); a quote inside is doubled.
	if i := strings.Index(rest, "('"); i >= 0 {
		if j := strings.Index(rest[i+2:], "')"); j >= 0 {
			key := strings.ReplaceAll(rest[i+2:i+2+j], "''", "'")
			tail := strings.Trim(rest[i+2+j+2:], "/")
			segs = []string{rest[:i], key}
			if tail != "" {
				segs = append(segs, strings.Split(tail, "/")...)
			}
		}
	}
	if segs == nil {
		segs = strings.Split(strings.TrimSuffix(rest, "/"), "/")
	}
	eq := strings.EqualFold
	switch {
	case len(segs) == 1 && eq(segs[0], "articles"):
		return EndpointArticles, "", "articles", true
	case len(segs) == 1 && eq(segs[0], "intelProfiles"):
		return EndpointIntelProfiles, "", "intelProfiles", true
	case len(segs) == 2 && eq(segs[0], "hosts") && segs[1] != "":
		return EndpointHost, segs[1], "hosts/" + segs[1], true
	case len(segs) == 2 && eq(segs[0], "articles") && segs[1] != "":
		return EndpointArticle, segs[1], "articles/" + segs[1], true
	case len(segs) == 3 && eq(segs[0], "hosts") && segs[1] != "":
		for _, e := range []string{"passiveDns", "passiveDnsReverse", "reputation"} {
			if eq(segs[2], e) {
				return "hosts/{id}/" + e, segs[1], "hosts/" + segs[1] + "/" + e, true
			}
		}
	case len(segs) == 3 && eq(segs[0], "articles") && eq(segs[2], "indicators") && segs[1] != "":
		return EndpointArticleIndicators, segs[1], "articles/" + segs[1] + "/indicators", true
	}
	return "", "", "", false
}

func (h *Handler) serveGraph(w http.ResponseWriter, r *http.Request, p string) {
	endpoint, id, target, ok := route(p)
	f := h.record(r, endpoint, target, nil)
	if !ok {
		writeGraphError(w, r, http.StatusBadRequest, "BadRequest", "Resource not found for the segment '"+p+"'.", "")
		return
	}
	if r.Method != http.MethodGet {
		writeGraphError(w, r, http.StatusMethodNotAllowed, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.", "")
		return
	}
	if !h.authorized(r) {
		writeGraphError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token is empty or has expired.", "")
		return
	}
	if f != nil {
		if f.Delay > 0 && !wait(r, f.Delay) {
			abort()
		}
		if f.Body != nil {
			writeRaw(w, f)
			return
		}
		if f.Status != 0 && f.Status != http.StatusOK {
			writeGraphError(w, r, f.Status, f.Code, f.Message, f.RetryAfter)
			return
		}
	}
	switch endpoint {
	case EndpointHost, EndpointReputation:
		hd, found := h.data.lookupHost(id)
		obj := hd.host
		if endpoint == EndpointReputation {
			obj = hd.reputation
		}
		if !found || obj == nil {
			writeGraphError(w, r, http.StatusNotFound, "ResourceNotFound", "Host '"+id+"' was not found.", "")
			return
		}
		writeJSON(w, http.StatusOK, h.shifted(withContext(obj, r)))
	case EndpointPassiveDNS, EndpointPassiveDNSReverse:
		hd, found := h.data.lookupHost(id)
		if !found {
			writeGraphError(w, r, http.StatusNotFound, "ResourceNotFound", "Host '"+id+"' was not found.", "")
			return
		}
		items := hd.forward
		if endpoint == EndpointPassiveDNSReverse {
			items = hd.reverse
		}
		h.serveList(w, r, items, f, listSpec{
			orderBy: []string{"lastSeenDateTime", "firstSeenDateTime"}, filterBy: "recordType",
			context: "Collection(microsoft.graph.security.passiveDnsRecord)",
		})
	case EndpointArticles:
		h.serveList(w, r, h.data.articleList(), f, listSpec{
			orderBy: []string{"lastUpdatedDateTime", "createdDateTime"}, context: "security/threatIntelligence/articles",
		})
	case EndpointArticle:
		a, found := h.data.lookupArticle(id)
		if !found {
			writeGraphError(w, r, http.StatusNotFound, "ResourceNotFound", "Article '"+id+"' was not found.", "")
			return
		}
		writeJSON(w, http.StatusOK, h.shifted(withContext(a.article, r)))
	case EndpointArticleIndicators:
		a, found := h.data.lookupArticle(id)
		if !found {
			writeGraphError(w, r, http.StatusNotFound, "ResourceNotFound", "Article '"+id+"' was not found.", "")
			return
		}
		h.serveList(w, r, a.indicators, f, listSpec{context: "Collection(microsoft.graph.security.articleIndicator)"})
	case EndpointIntelProfiles:
		h.serveList(w, r, nil, f, listSpec{context: "security/threatIntelligence/intelProfiles"})
	}
}

func withContext(o object, r *http.Request) object {
	c := make(object, len(o)+1)
	for k, v := range o {
		c[k] = v
	}
	c["@odata.context"] = origin(r) + "/v1.0/$metadata#" + strings.TrimPrefix(r.URL.Path, "/") + "/$entity"
	return c
}

// authorized reports whether the request carries an issued, unexpired token.
func (h *Handler) authorized(r *http.Request) bool {
	auth := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || token == "" {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	exp, ok := h.tokens[token]
	return ok && h.opts.Now().Before(exp)
}

// listSpec says which query options a list accepts.
type listSpec struct {
	orderBy  []string // orderable date fields
	filterBy string   // the one field $filter accepts ("" for none)
	context  string
}

// serveList answers a collection with OData paging (spec §2.3, §7).
func (h *Handler) serveList(w http.ResponseWriter, r *http.Request, items []object, f *Fault, spec listSpec) {
	key, version := origin(r)+r.URL.RequestURI(), h.data.version.Load()
	if f == nil {
		if p, ok := h.pages.Load(key); ok && p.(renderedPage).version == version {
			writeBody(w, http.StatusOK, p.(renderedPage).body)
			return
		}
	}
	q := r.URL.Query()
	for k := range q {
		switch k {
		case "$top", "$skip", "$count", "$orderby", "$filter", "$select", "$skiptoken":
		default:
			if strings.HasPrefix(k, "$") {
				writeGraphError(w, r, http.StatusBadRequest, "invalidRequest", "Query option '"+k+"' is not allowed.", "")
				return
			}
		}
	}
	top, skip := h.opts.PageSize, 0
	if v := q.Get("$top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeGraphError(w, r, http.StatusBadRequest, "invalidRequest", "Invalid value '"+v+"' for query option $top.", "")
			return
		}
		top = n
	}
	top = min(top, h.opts.MaxTop)
	if v := q.Get("$skip"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeGraphError(w, r, http.StatusBadRequest, "invalidRequest", "Invalid value '"+v+"' for query option $skip.", "")
			return
		}
		skip = n
	}
	if v := q.Get("$filter"); v != "" {
		field, value, ok := parseEqFilter(v)
		if !ok || spec.filterBy == "" || !strings.EqualFold(field, spec.filterBy) {
			writeGraphError(w, r, http.StatusBadRequest, "invalidRequest", "Invalid filter clause: '"+v+"' is not supported.", "")
			return
		}
		items = slices.DeleteFunc(slices.Clone(items), func(o object) bool {
			s, _ := o[spec.filterBy].(string)
			return !strings.EqualFold(s, value)
		})
	}
	if v := q.Get("$orderby"); v != "" {
		field, dir, _ := strings.Cut(strings.TrimSpace(v), " ")
		dir = strings.ToLower(strings.TrimSpace(dir))
		if !slices.Contains(spec.orderBy, field) || (dir != "" && dir != "asc" && dir != "desc") {
			writeGraphError(w, r, http.StatusBadRequest, "invalidRequest", "Order by '"+v+"' is not supported.", "")
			return
		}
		items = slices.Clone(items)
		slices.SortStableFunc(items, func(a, b object) int {
			c := parseTime(a[field]).Compare(parseTime(b[field]))
			if dir == "desc" {
				return -c
			}
			return c
		})
	}
	total := len(items)
	end := min(skip+top, total)
	page := []object{}
	if skip < total {
		page = slices.Clone(items[skip:end])
	}
	var sel []string
	if v := q.Get("$select"); v != "" {
		sel = strings.Split(v, ",")
	}
	out := make([]object, 0, len(page))
	for _, o := range page {
		out = append(out, h.shifted(selectFields(o, sel)))
	}
	body := map[string]any{"@odata.context": origin(r) + h.prefix + "/$metadata#" + spec.context}
	if strings.EqualFold(q.Get("$count"), "true") {
		body["@odata.count"] = total
	}
	next := ""
	if end < total && top > 0 {
		next = origin(r) + r.URL.EscapedPath() + "?" + withSkip(r.URL.RawQuery, end)
	}
	if f != nil {
		switch f.Paging {
		case PagingLoop:
			next = origin(r) + r.URL.RequestURI()
		case PagingForeign:
			next = strings.TrimRight(f.ForeignURL, "/") + r.URL.EscapedPath() + "?" + withSkip(r.URL.RawQuery, end)
		case PagingUnsorted:
			slices.Reverse(out)
		case PagingEmpty:
			out = []object{}
			next = origin(r) + r.URL.EscapedPath() + "?" + withSkip(r.URL.RawQuery, skip) + "&$skiptoken=empty" + strconv.FormatInt(h.empties.Add(1), 10)
		}
	}
	if next != "" {
		body["@odata.nextLink"] = next
	}
	body["value"] = out
	raw, err := json.Marshal(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if f == nil {
		h.pages.Store(key, renderedPage{version: version, body: raw})
	}
	writeBody(w, http.StatusOK, raw)
}

// parseEqFilter reads "field eq 'value'".
func parseEqFilter(v string) (field, value string, ok bool) {
	f := strings.Fields(v)
	if len(f) != 3 || !strings.EqualFold(f[1], "eq") || len(f[2]) < 2 || f[2][0] != '\'' || f[2][len(f[2])-1] != '\'' {
		return "", "", false
	}
	return f[0], f[2][1 : len(f[2])-1], true
}

// withSkip returns the raw query with $skip set to n (and any $skiptoken
// dropped), the other options kept in order and encoding.
func withSkip(raw string, n int) string {
	var kept []string
	for _, pair := range strings.Split(raw, "&") {
		k, _, _ := strings.Cut(pair, "=")
		uk, err := url.QueryUnescape(k)
		if err != nil {
			uk = k
		}
		if pair == "" || uk == "$skip" || uk == "$skiptoken" {
			continue
		}
		kept = append(kept, pair)
	}
	kept = append(kept, "$skip="+strconv.Itoa(n))
	return strings.Join(kept, "&")
}

func selectFields(o object, sel []string) object {
	if len(sel) == 0 {
		return o
	}
	c := object{}
	for _, k := range append([]string{"id", "@odata.type"}, sel...) {
		if v, ok := o[strings.TrimSpace(k)]; ok {
			c[strings.TrimSpace(k)] = v
		}
	}
	return c
}

// shifted returns o with every "…DateTime" string moved by Options.Shift.
func (h *Handler) shifted(o object) object {
	if h.opts.Shift == 0 {
		return o
	}
	c := make(object, len(o))
	for k, v := range o {
		if s, ok := v.(string); ok && strings.HasSuffix(k, "DateTime") {
			if t := parseTime(s); !t.IsZero() {
				v = t.Add(h.opts.Shift).UTC().Format(time.RFC3339Nano)
			}
		}
		c[k] = v
	}
	return c
}

func parseTime(v any) time.Time {
	s, _ := v.(string)
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// writeGraphError writes a Graph error body (spec §6.1) with request-id
// headers.
func writeGraphError(w http.ResponseWriter, r *http.Request, status int, code, msg, retryAfter string) {
	if code == "" {
		code = graphCodes[status]
		if code == "" {
			code = "generalException"
		}
	}
	if msg == "" {
		msg = graphMessages[status]
		if msg == "" {
			msg = http.StatusText(status)
		}
	}
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	reqID := newID()
	w.Header().Set("request-id", reqID)
	if c := r.Header.Get("client-request-id"); c != "" {
		w.Header().Set("client-request-id", c)
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"code": code, "message": msg,
		"innerError": map[string]any{
			"date": time.Now().UTC().Format("2006-01-02T15:04:05"), "request-id": reqID,
			"client-request-id": r.Header.Get("client-request-id"),
		},
	}})
}

var graphCodes = map[int]string{
	400: "BadRequest", 401: "InvalidAuthenticationToken", 403: "Forbidden", 404: "ResourceNotFound",
	429: "TooManyRequests", 500: "InternalServerError", 502: "BadGateway", 503: "ServiceUnavailable", 504: "GatewayTimeout",
}

var graphMessages = map[int]string{
	403: PermissionMissingMessage,
	429: "Too many requests. Retry after the time in the Retry-After header.",
	503: "The service is temporarily unavailable.",
}

func writeRaw(w http.ResponseWriter, f *Fault) {
	ct := f.ContentType
	if ct == "" {
		ct = "application/json"
	}
	w.Header().Set("Content-Type", ct)
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	status := f.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(f.Body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	raw, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeBody(w, status, raw)
}

// writeBody writes an encoded JSON answer.
func writeBody(w http.ResponseWriter, status int, raw []byte) {
	w.Header().Set("Content-Type", "application/json; odata.metadata=minimal")
	w.WriteHeader(status)
	_, _ = w.Write(raw)
}

// isIP reports whether s is an IP address.
func isIP(s string) bool { return net.ParseIP(s) != nil }
