package defenderti

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/riskiq-opencti/connectors/internal/httpretry"
	"github.com/riskiq-opencti/connectors/opencti/scrub"
)

// Operator-facing log messages (spec §6.4): constant, so that alerts can
// match them.
const (
	MsgAuthFailed   = "defender ti authentication failed"
	MsgAccessDenied = "defender ti access denied"
	MsgThrottled    = "defender ti throttled"
	MsgUnavailable  = "defender ti unavailable"
	MsgTruncated    = "defender ti result truncated"
	MsgSkipped      = "defender ti value skipped"
	MsgPagingAbort  = "defender ti paging aborted"
	MsgRetrying     = "retrying defender ti request"
)

// ErrNotFound reports a Graph 404: an unknown host or article.
var ErrNotFound = errors.New("defender ti: not found")

// ErrAccessDenied reports a Graph 403: the application permission
// ThreatIntelligence.Read.All is missing or not admin-consented, the tenant
// has no licence, or the tenant must be verified. The [*APIError] that
// carries it holds Graph's message verbatim (it may hold the verification
// link). Retrying does not help until an admin acts.
var ErrAccessDenied = errors.New(MsgAccessDenied)

// ErrAuthentication reports that no usable token could be obtained (a
// [*AuthError] from the token endpoint, an unreadable certificate) or that
// Graph refused a fresh token (401 after one refresh). It is a configuration
// problem: retrying does not help.
var ErrAuthentication = errors.New(MsgAuthFailed)

// ErrPaging reports a nextLink the client refuses to follow: to another
// origin (the token would leak there), already visited (a loop), or too many
// empty pages.
var ErrPaging = errors.New(MsgPagingAbort)

// ErrResponseTooLarge reports an answer larger than the client reads.
var ErrResponseTooLarge = errors.New("defender ti: response too large")

// maxMessage bounds the texts of the API an error prints.
const maxMessage = 1 << 10

// maxErrorBody bounds how much of an error body is read (spec §6.1).
const maxErrorBody = 1 << 20

// APIError is a non-2xx Graph answer. It unwraps to [ErrNotFound] (404),
// [ErrAccessDenied] (403) or [ErrAuthentication] (401).
type APIError struct {
	// Endpoint names the call, e.g. "hosts/{id}/passiveDns".
	Endpoint string
	// Status is the HTTP status code.
	Status int
	// Code and Message are error.code and error.message of the Graph error
	// body (Message one line, secrets removed); for a body that is not a
	// Graph error, Message is an excerpt of it.
	Code, Message string
	// RequestID is the request-id header or innerError value;
	// ClientRequestID the client-request-id the client sent.
	RequestID, ClientRequestID string
	// RetryAfter is the Retry-After the server asked for, zero if none.
	RetryAfter time.Duration
	// Attempts is how many attempts the call made.
	Attempts int
}

// Error is one clean line: endpoint, status, code, message, request id.
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("defender ti GET ")
	b.WriteString(e.Endpoint)
	b.WriteString(": HTTP ")
	b.WriteString(strconv.Itoa(e.Status))
	if t := http.StatusText(e.Status); t != "" {
		b.WriteString(" " + t)
	}
	switch e.Status {
	case http.StatusForbidden:
		b.WriteString(" (access denied: check the ThreatIntelligence.Read.All application permission, its admin consent, the licence and the tenant verification)")
	case http.StatusUnauthorized:
		b.WriteString(" (authentication failed: Graph refused a fresh token)")
	}
	if e.Code != "" {
		b.WriteString(": " + scrub.Text(e.Code, 100))
	}
	if e.Message != "" {
		b.WriteString(": " + scrub.Text(e.Message, maxMessage))
	}
	if e.RequestID != "" {
		b.WriteString(" (request-id " + scrub.Text(e.RequestID, 100) + ")")
	}
	if e.Attempts > 1 {
		b.WriteString(" after " + strconv.Itoa(e.Attempts) + " attempts")
	}
	return b.String()
}

// Unwrap returns the sentinel of the status, nil for other statuses.
func (e *APIError) Unwrap() error {
	switch e.Status {
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusForbidden:
		return ErrAccessDenied
	case http.StatusUnauthorized:
		return ErrAuthentication
	}
	return nil
}

// AuthError is a token endpoint failure (spec §1.4). It unwraps to
// [ErrAuthentication] unless Retryable.
type AuthError struct {
	// AADSTS is the identity platform's error code (error_codes[0]), 0 when
	// the answer had none.
	AADSTS int
	// Code is the OAuth error, e.g. "invalid_client".
	Code string
	// Description is the first sentence of error_description, secrets
	// removed.
	Description string
	// TraceID and CorrelationID identify the request for Microsoft support.
	TraceID, CorrelationID string
	// Status is the HTTP status of the token endpoint's answer, 0 when it
	// was not reached.
	Status int
	// Hint tells the operator what to fix.
	Hint string
	// RetryAfter is the Retry-After of a 429, zero if none.
	RetryAfter time.Duration
}

// Error is one line with the code, the description and the hint.
func (e *AuthError) Error() string {
	var b strings.Builder
	b.WriteString(MsgAuthFailed)
	if e.AADSTS != 0 {
		b.WriteString(": AADSTS" + strconv.Itoa(e.AADSTS))
	} else if e.Status != 0 {
		b.WriteString(": token endpoint HTTP " + strconv.Itoa(e.Status))
	}
	if e.Code != "" {
		b.WriteString(" " + scrub.Text(e.Code, 100))
	}
	if e.Description != "" {
		b.WriteString(": " + scrub.Text(e.Description, maxMessage))
	}
	if e.Hint != "" {
		b.WriteString(" (hint: " + e.Hint + ")")
	}
	if e.TraceID != "" {
		b.WriteString(" (trace-id " + scrub.Text(e.TraceID, 100) + ")")
	}
	return b.String()
}

// Unwrap returns [ErrAuthentication] unless the failure is transient.
func (e *AuthError) Unwrap() error {
	if e.Retryable() {
		return nil
	}
	return ErrAuthentication
}

// Retryable reports a transient token endpoint failure: 429, 5xx, or
// AADSTS90055 (tenant throttled).
func (e *AuthError) Retryable() bool {
	return e.Status == http.StatusTooManyRequests || e.Status >= 500 || e.AADSTS == 90055 || e.AADSTS == 90033
}

// aadHints are the operator hints of the token endpoint errors (spec §1.4).
var aadHints = map[int]string{
	7000215: "DEFENDER_TI_CLIENT_SECRET is wrong: configure the secret's Value, not its Secret ID",
	7000222: "the client secret has expired: create a new one (or switch to a certificate) and update DEFENDER_TI_CLIENT_SECRET",
	7000218: "neither a client secret nor a certificate was sent: set DEFENDER_TI_CLIENT_SECRET or DEFENDER_TI_CLIENT_CERTIFICATE",
	700016:  "no application with DEFENDER_TI_CLIENT_ID in this tenant: check DEFENDER_TI_CLIENT_ID and DEFENDER_TI_TENANT_ID",
	90002:   "tenant not found: check DEFENDER_TI_TENANT_ID (and DEFENDER_TI_AUTHORITY_URL for the cloud)",
	900023:  "DEFENDER_TI_TENANT_ID is not a valid tenant id or domain",
	700027:  "the certificate is not the one uploaded to the app registration, or its key does not match: upload the certificate of DEFENDER_TI_CLIENT_CERTIFICATE",
	700024:  "the client assertion is not valid now: check the clock of this host",
	70011:   "invalid scope: the scope must be https://graph.microsoft.com/.default",
	700022:  "invalid scope: the scope must be https://graph.microsoft.com/.default",
	1002012: "invalid scope: the scope must be https://graph.microsoft.com/.default",
	7000112: "the application or its service principal is disabled: enable it in Entra ID",
	53003:   "blocked by Conditional Access: an admin must exempt this workload identity",
	90055:   "the tenant is throttled: the client backs off",
	50196:   "loop detected: too many identical token requests",
	9001023: "the client-credentials grant needs the tenant's own id, not common/organizations",
}

// aadError is the identity platform's error body.
type aadError struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	ErrorCodes       []int  `json:"error_codes"`
	TraceID          string `json:"trace_id"`
	CorrelationID    string `json:"correlation_id"`
}

var aadCode = regexp.MustCompile(`AADSTS(\d+)`)

// parseAuthError builds an [*AuthError] from a token endpoint answer.
func parseAuthError(status int, header http.Header, body []byte, now time.Time, redact func(string) string) *AuthError {
	e := &AuthError{Status: status}
	var b aadError
	if isJSONObject(body) && json.Unmarshal(body, &b) == nil {
		e.Code = redact(b.Error)
		e.TraceID, e.CorrelationID = redact(b.TraceID), redact(b.CorrelationID)
		if len(b.ErrorCodes) > 0 {
			e.AADSTS = b.ErrorCodes[0]
		}
		desc := redact(b.ErrorDescription)
		if e.AADSTS == 0 {
			if m := aadCode.FindStringSubmatch(desc); m != nil {
				e.AADSTS, _ = strconv.Atoi(m[1])
			}
		}
		e.Description = firstSentence(desc)
	} else if len(body) > 0 {
		e.Description = scrub.Text(redact(string(bytes.ToValidUTF8(body[:min(len(body), maxMessage)], []byte("\uFFFD")))), 200)
	}
	e.Hint = aadHints[e.AADSTS]
	if e.Hint == "" {
		switch {
		case status == http.StatusTooManyRequests:
			e.Hint = "the token endpoint is throttling: the client backs off"
		case status >= 500:
			e.Hint = "the token endpoint is unavailable: the client retries"
		case b.Error == "invalid_client":
			e.Hint = "check DEFENDER_TI_CLIENT_ID and the client secret or certificate"
		}
	}
	if d, ok := httpretry.ParseAfter(header.Get("Retry-After"), now); ok {
		e.RetryAfter = d
	}
	return e
}

// firstSentence returns the description up to its first line break or
// "Trace ID:", without the "AADSTSnnn: " prefix, as one line.
func firstSentence(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	if i := strings.Index(s, " Trace ID:"); i >= 0 {
		s = s[:i]
	}
	if m := aadCode.FindStringIndex(s); m != nil && m[0] == 0 {
		s = strings.TrimLeft(s[m[1]:], ": ")
	}
	return scrub.Text(s, maxMessage)
}

// graphErrorBody is the Graph error shape (spec §6.1), both spellings of
// innerError.
type graphErrorBody struct {
	Error *struct {
		Code       string          `json:"code"`
		Message    json.RawMessage `json:"message"`
		InnerError *innerError     `json:"innerError"`
		Innererror *innerError     `json:"innererror"`
	} `json:"error"`
}

type innerError struct {
	RequestID string `json:"request-id"`
	Code      string `json:"code"`
}

// parseGraphError reads code, message and request id from an error body;
// any body is accepted (HTML, empty, truncated): the message is then an
// excerpt of it.
func parseGraphError(body []byte) (code, message, requestID string) {
	var g graphErrorBody
	if isJSONObject(body) && json.Unmarshal(body, &g) == nil && g.Error != nil {
		code = g.Error.Code
		message = jsonText(g.Error.Message)
		for _, in := range []*innerError{g.Error.InnerError, g.Error.Innererror} {
			if in != nil {
				if requestID == "" {
					requestID = in.RequestID
				}
				if code == "" {
					code = in.Code
				}
			}
		}
		return code, message, requestID
	}
	ex := body[:min(len(body), maxMessage)]
	if looksHTML(ex) {
		return "", "non-JSON error page: " + htmlTitle(body), ""
	}
	if len(bytes.TrimSpace(ex)) == 0 {
		return "", "", ""
	}
	return "", "body: " + string(bytes.ToValidUTF8(ex, []byte("\uFFFD"))), ""
}

func jsonText(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	if raw[0] == '{' || raw[0] == '[' || string(raw) == "null" {
		return ""
	}
	return string(raw)
}

func looksHTML(b []byte) bool {
	t := bytes.ToLower(bytes.TrimSpace(b))
	return bytes.HasPrefix(t, []byte("<!doctype html")) || bytes.HasPrefix(t, []byte("<html"))
}

var titleRE = regexp.MustCompile(`(?is)<title>(.*?)</title>`)

func htmlTitle(b []byte) string {
	if m := titleRE.FindSubmatch(b[:min(len(b), 64<<10)]); m != nil {
		return strings.TrimSpace(string(bytes.ToValidUTF8(m[1], []byte("\uFFFD"))))
	}
	return "(no title)"
}

// isJSONObject reports whether body starts, after white space, with "{".
func isJSONObject(body []byte) bool {
	t := bytes.TrimLeft(body, " \t\r\n")
	return len(t) > 0 && t[0] == '{'
}

// ErrorAttrs returns the attributes an operator needs to act on err (spec
// §1.6): step (token or graph), http_status, aadsts or graph_code,
// request_id or trace_id, and a hint. It returns nil for other errors.
func ErrorAttrs(err error) []slog.Attr {
	var ae *AuthError
	if errors.As(err, &ae) {
		attrs := []slog.Attr{slog.String("step", "token")}
		if ae.Status != 0 {
			attrs = append(attrs, slog.Int("http_status", ae.Status))
		}
		if ae.AADSTS != 0 {
			attrs = append(attrs, slog.Int("aadsts", ae.AADSTS))
		}
		if ae.TraceID != "" {
			attrs = append(attrs, slog.String("trace_id", ae.TraceID))
		}
		if ae.CorrelationID != "" {
			attrs = append(attrs, slog.String("correlation_id", ae.CorrelationID))
		}
		if ae.Hint != "" {
			attrs = append(attrs, slog.String("hint", ae.Hint))
		}
		return attrs
	}
	var ge *APIError
	if errors.As(err, &ge) {
		attrs := []slog.Attr{slog.String("step", "graph"), slog.Int("http_status", ge.Status), slog.String("path", ge.Endpoint)}
		if ge.Code != "" {
			attrs = append(attrs, slog.String("graph_code", ge.Code))
		}
		if ge.RequestID != "" {
			attrs = append(attrs, slog.String("request_id", ge.RequestID))
		}
		if ge.ClientRequestID != "" {
			attrs = append(attrs, slog.String("client_request_id", ge.ClientRequestID))
		}
		if ge.Attempts > 0 {
			attrs = append(attrs, slog.Int("attempts", ge.Attempts))
		}
		return attrs
	}
	return nil
}

// redactedError replaces the message of an error that would print a secret
// while keeping it inspectable with errors.Is and errors.As.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
