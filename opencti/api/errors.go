package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/riskiq-opencti/connectors/opencti/scrub"
)

// ErrEntityNotFound is returned by [Client.StixCoreObject] when the platform
// answers null: the entity does not exist or the connector's user cannot see it.
var ErrEntityNotFound = errors.New("unable to read/access the entity, check the connector permissions")

// ErrNotFound is returned when the platform answers null for a connector, a
// work or a registration.
var ErrNotFound = errors.New("not found")

// ErrResponseTooLarge is returned when a response body exceeds the limit set
// with [WithMaxResponseSize].
var ErrResponseTooLarge = errors.New("response too large")

// ErrOutcomeUnknown is wrapped by the error of an operation that is not
// idempotent (addExpectations, workAdd, toReceived, toProcessed, playbook
// steps...) when it failed after the request may have reached the platform:
// it may or may not have been applied, and it was not sent again.
var ErrOutcomeUnknown = errors.New("outcome unknown: the request may have reached the platform")

// maxErrorBody is how much of a non-200 body HTTPError keeps.
const maxErrorBody = 1 << 10

// maxErrorRead is how much of a non-200 body is read: a GraphQL error
// document up to this size is parsed, and secrets are redacted from all of it
// before it is cut to maxErrorBody.
const maxErrorRead = 64 << 10

// GraphQLError is the first entry of a GraphQL "errors" array.
type GraphQLError struct {
	// Name is the error's "name", else its extensions.code (for example
	// AUTH_REQUIRED, FORBIDDEN_ACCESS, FUNCTIONAL_ERROR), as pycti reports it.
	Name string
	// Message is the error message, with the token removed.
	Message string
	// Path is the response path of the failing field (strings and numbers).
	Path []any
	// Count is the number of errors in the array (at least 1).
	Count int
	// Paths are the response paths of every error of the array, in order
	// (nil for an error without a path), redacted as Path.
	Paths [][]any
}

// Error implements error.
func (e *GraphQLError) Error() string {
	var b strings.Builder
	b.WriteString("graphql error")
	if e.Name != "" {
		b.WriteString(" ")
		b.WriteString(e.Name)
	}
	b.WriteString(": ")
	b.WriteString(e.Message)
	if len(e.Path) > 0 {
		parts := make([]string, len(e.Path))
		for i, p := range e.Path {
			parts[i] = fmt.Sprint(p)
		}
		b.WriteString(" (path ")
		b.WriteString(strings.Join(parts, "."))
		b.WriteString(")")
	}
	if e.Count > 1 {
		fmt.Fprintf(&b, " (and %d more)", e.Count-1)
	}
	return b.String()
}

// HTTPError is a response whose status is not 200.
type HTTPError struct {
	// Status is the HTTP status code.
	Status int
	// Body is the start of the body (at most 1 KiB), with the token removed.
	Body string
	// GraphQL is the error the body carries when it is a GraphQL error
	// document (the platform answers 400 for documents it cannot validate);
	// nil otherwise. errors.As finds it through Unwrap.
	GraphQL *GraphQLError
}

// Error implements error.
func (e *HTTPError) Error() string {
	if e.GraphQL != nil {
		return fmt.Sprintf("http status %d: %s", e.Status, e.GraphQL.Error())
	}
	body := scrub.Text(e.Body, 0) // a proxy's page: one printable line
	if body == "" {
		return fmt.Sprintf("http status %d", e.Status)
	}
	return fmt.Sprintf("http status %d: %s", e.Status, body)
}

// Unwrap returns the GraphQL error carried by the body, if any.
func (e *HTTPError) Unwrap() error {
	if e.GraphQL == nil {
		return nil
	}
	return e.GraphQL
}

// Temporary reports whether retrying may help (5xx).
func (e *HTTPError) Temporary() bool { return e.Status >= 500 }

// gqlErrorJSON is one entry of an "errors" array.
type gqlErrorJSON struct {
	Name       string         `json:"name"`
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// newGraphQLError builds the error from a non-empty errors array.
func newGraphQLError(list []gqlErrorJSON, redact func(string) string) *GraphQLError {
	first := list[0]
	name := first.Name
	if name == "" {
		if code, ok := first.Extensions["code"].(string); ok {
			name = code
		}
	}
	paths := make([][]any, len(list))
	for i, e := range list {
		paths[i] = redactPath(e.Path, redact)
	}
	return &GraphQLError{
		Name:    redact(name),
		Message: redact(first.Message),
		Path:    paths[0],
		Count:   len(list),
		Paths:   paths,
	}
}

// redactPath copies a response path with its string keys redacted; an empty
// path is nil.
func redactPath(p []any, redact func(string) string) []any {
	if len(p) == 0 {
		return nil
	}
	out := make([]any, len(p))
	for i, k := range p {
		if s, ok := k.(string); ok {
			k = redact(s)
		}
		out[i] = k
	}
	return out
}

// parseErrorBody returns the GraphQL error in a complete JSON error body.
func parseErrorBody(body []byte, redact func(string) string) *GraphQLError {
	var env struct {
		Errors []gqlErrorJSON `json:"errors"`
	}
	if err := json.Unmarshal(body, &env); err != nil || len(env.Errors) == 0 {
		return nil
	}
	return newGraphQLError(env.Errors, redact)
}

// redactedError carries a message from which the token was removed. It does
// not unwrap: the cause's own text contains the token.
type redactedError struct{ msg string }

func (e *redactedError) Error() string { return e.msg }
