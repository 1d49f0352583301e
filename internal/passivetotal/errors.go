package passivetotal

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/riskiq-opencti/connectors/opencti/scrub"
)

// ErrAuth reports that the API refused the credentials (HTTP 401 or 403). The
// usual cause is the web-login password given instead of the API key.
var ErrAuth = errors.New("authentication failed")

// ErrNotFound reports an HTTP 404 answer, e.g. for an unknown article guid.
var ErrNotFound = errors.New("not found")

// ErrQuotaExceeded reports that the account's search quota is exhausted. It is
// carried by a [*QuotaError]; retrying does not help before the next reset.
var ErrQuotaExceeded = errors.New("search quota exceeded")

// ErrResponseTooLarge reports an answer larger than the configured maximum
// body size (see [WithMaxBodySize]). It is not retried.
var ErrResponseTooLarge = errors.New("response too large")

// ErrInvalidGUID reports an article guid the client refuses to put in a URL
// path ("", "." or ".."): no request is made.
var ErrInvalidGUID = errors.New("invalid article guid")

// maxExcerpt bounds the body excerpt an [APIError] carries.
const maxExcerpt = 1 << 10

// APIError is a non-2xx answer of the API, or an error the API reported inside
// a 2xx body. For 401 and 403 it unwraps to [ErrAuth], for 404 to
// [ErrNotFound].
type APIError struct {
	// Endpoint is the path of the endpoint below the version root, e.g.
	// "/dns/passive" or "/articles/{guid}".
	Endpoint string
	// Status is the HTTP status code.
	Status int
	// Message is the error message parsed from the body, when it has one,
	// with the credentials removed; Error prints it as one line of at most
	// 1 KiB without control characters.
	Message string
	// Body is an excerpt of the body (at most 1 KiB), with the credentials
	// removed before it was cut.
	Body string
	// RetryAfter is the delay the server asked for in a Retry-After header,
	// zero when absent.
	RetryAfter time.Duration

	jsonBody bool // the body was a JSON object
}

// Error describes the failure without the body when a message was parsed.
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("GET ")
	b.WriteString(e.Endpoint)
	b.WriteString(": ")
	if e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden {
		b.WriteString(ErrAuth.Error())
		b.WriteString(" (")
	}
	b.WriteString("HTTP ")
	b.WriteString(strconv.Itoa(e.Status))
	if e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden {
		b.WriteString(")")
	}
	switch {
	case e.Message != "":
		b.WriteString(": ")
		b.WriteString(scrub.Text(e.Message, maxExcerpt)) // the API's text: bounded, printable
	case e.Body != "":
		b.WriteString(": body ")
		b.WriteString(strconv.Quote(e.Body))
	}
	return b.String()
}

// Unwrap returns [ErrAuth] for 401 and 403, [ErrNotFound] for 404, else nil.
func (e *APIError) Unwrap() error {
	switch e.Status {
	case http.StatusUnauthorized, http.StatusForbidden:
		return ErrAuth
	case http.StatusNotFound:
		return ErrNotFound
	}
	return nil
}

// DecodeError reports an answer that is not valid JSON or does not have the
// expected shape (e.g. "success": false, a missing results array).
type DecodeError struct {
	// Endpoint is the path of the endpoint below the version root.
	Endpoint string
	// Err is the underlying problem.
	Err error
}

// Error names the endpoint and the problem.
func (e *DecodeError) Error() string {
	return "decode GET " + e.Endpoint + " answer: " + e.Err.Error()
}

// Unwrap returns the underlying problem.
func (e *DecodeError) Unwrap() error { return e.Err }

// QuotaError reports an exhausted search quota. It unwraps to
// [ErrQuotaExceeded].
type QuotaError struct {
	// Used and Limit are the searches counted against the quota (the last
	// reading plus the queries made since) and its limit; both zero when the
	// API reported exhaustion without figures.
	Used, Limit int
	// NextReset is when the quota resets, zero when unknown.
	NextReset time.Time
	// Reason says how exhaustion was detected when not by the figures: the
	// API's message, or why the quota answer could not be used.
	Reason string
}

// Error summarises the figures, the reason and the reset time.
func (e *QuotaError) Error() string {
	var b strings.Builder
	b.WriteString(ErrQuotaExceeded.Error())
	if e.Limit > 0 || e.Used > 0 {
		fmt.Fprintf(&b, " (%d of %d searches used)", e.Used, e.Limit)
	}
	if e.Reason != "" {
		b.WriteString(": ")
		b.WriteString(scrub.Text(e.Reason, maxExcerpt)) // may be the API's text
	}
	if !e.NextReset.IsZero() {
		b.WriteString(", next reset ")
		b.WriteString(e.NextReset.UTC().Format(time.RFC3339))
	}
	return b.String()
}

// Unwrap returns [ErrQuotaExceeded].
func (e *QuotaError) Unwrap() error { return ErrQuotaExceeded }

// errorFields are the keys through which the API reports errors, in all three
// shapes seen: {"error": {"message", "developer_message"}}, {"error": string,
// "message": string} and {"message": string}. Wire types embed it so that
// errors inside 2xx bodies are found in the same decoding pass.
type errorFields struct {
	Error   json.RawMessage `json:"error"`
	Message json.RawMessage `json:"message"`
}

// reported returns the error message and whether the "error" key carries an
// error. A lone "message" is returned with isErr false.
func (f *errorFields) reported() (msg string, isErr bool) {
	var parts []string
	add := func(s string) {
		s = strings.TrimSpace(s)
		if s == "" {
			return
		}
		for _, p := range parts {
			if p == s {
				return
			}
		}
		parts = append(parts, s)
	}
	if len(f.Error) > 0 {
		switch f.Error[0] {
		case '{':
			var obj struct {
				Message          json.RawMessage `json:"message"`
				DeveloperMessage json.RawMessage `json:"developer_message"`
			}
			if json.Unmarshal(f.Error, &obj) == nil {
				add(jsonText(obj.Message))
				add(jsonText(obj.DeveloperMessage))
			}
			isErr = true
		case '"':
			s := jsonText(f.Error)
			add(s)
			isErr = s != ""
		case 't': // true
			isErr = true
		}
	}
	add(jsonText(f.Message))
	msg = strings.Join(parts, ": ")
	if isErr && msg == "" {
		msg = "error reported without a message"
	}
	return msg, isErr
}

// jsonText returns a JSON string's text, the raw text of another scalar, or ""
// for null, objects and arrays.
func jsonText(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return ""
		}
		return s
	case '{', '[', 'n':
		return ""
	}
	return string(raw)
}

// parseErrorBody extracts the error message of an error body, if it is a JSON
// object.
func parseErrorBody(body []byte) (msg string, isJSON bool) {
	if !isJSONObject(body) {
		return "", false
	}
	var f errorFields
	if err := json.Unmarshal(body, &f); err != nil {
		return "", false
	}
	msg, _ = f.reported()
	return msg, true
}

// isJSONObject reports whether body starts, after white space, with "{".
func isJSONObject(body []byte) bool {
	for _, c := range body {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
			return true
		}
		return false
	}
	return false
}

// quotaFragments are the texts by which the API reports an exhausted quota
// (spec §1.5), matched case-insensitively.
var quotaFragments = []string{"quota_exceeded", "quota has been exceeded", "quota exceeded"}

// isQuotaMessage reports whether msg says the quota is exhausted.
func isQuotaMessage(msg string) bool {
	m := strings.ToLower(msg)
	for _, f := range quotaFragments {
		if strings.Contains(m, f) {
			return true
		}
	}
	return false
}

// excerpt returns at most maxExcerpt bytes of body, cut on a rune boundary,
// with invalid UTF-8 replaced.
func excerpt(body []byte) string {
	if len(body) > maxExcerpt {
		body = body[:maxExcerpt]
		for len(body) > 0 && !utf8.Valid(body) {
			body = body[:len(body)-1]
		}
	}
	return strings.TrimSpace(strings.ToValidUTF8(string(body), "\uFFFD"))
}

// redactedError replaces the message of an error that would print a secret
// while keeping it inspectable with errors.Is and errors.As.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
