package api

import (
	"embed"
	"fmt"
	"regexp"
	"strings"
)

// queryFS holds one GraphQL operation per file.
//
//go:embed queries/*.graphql
var queryFS embed.FS

// Operation documents, loaded once from queryFS.
var (
	docHealthCheck      = mustDocument("health_check.graphql")
	docAPICompatibility = mustDocument("api_compatibility.graphql")
	docRegister         = mustDocument("register_connector.graphql", optionalJWKS, optionalS3)
	docPingConnector    = mustDocument("ping_connector.graphql")
	docGetConnector     = mustDocument("get_connector.graphql")
	docWorkAdd          = mustDocument("work_add.graphql")
	docWorkToReceived   = mustDocument("work_to_received.graphql")
	docWorkToProcessed  = mustDocument("work_to_processed.graphql")
	docAddExpectations  = mustDocument("add_expectations.graphql")
	docPingWork         = mustDocument("ping_work.graphql")
	docWork             = mustDocument("work.graphql")
	docStixCoreObject   = mustDocument("stix_core_object.graphql")
	docDomainObjects    = mustDocument("stix_domain_objects.graphql")
	docPlaybookStep     = mustDocument("playbook_step_execution.graphql")
)

// mutationIdempotent says, for every mutation this package sends, whether it
// may be sent again after a failure that may have reached the platform (a
// timeout after sending, a 5xx). It is the one place that decides; a test
// checks every mutation document of queries/ is listed. A mutation absent
// from it (a new document, or one passed to [Client.Do]) is not idempotent:
// it is retried only when it certainly was not sent. Queries are always
// idempotent.
var mutationIdempotent = map[string]bool{
	// Upsert keyed by the connector id: sent twice, the connector is
	// registered once with the same configuration.
	"RegisterConnector": true,
	// Sets the connector's state, info and updated_at to the values sent.
	"PingConnector": true,
	// Sets the work's updated_at.
	"pingWork": true,
	// Adds to a counter: applied twice, the work waits for parts that never
	// come and never completes (issue 9).
	"addExpectations": false,
	// Creates a work each time.
	"workAdd": false,
	// Appends a message; on a completed work, sets it back to progress.
	"workToReceived": false,
	// Appends a message (or an error) each time.
	"workToProcessed": false,
	// Continues the playbook from the step each time.
	"PlaybookStepExecution": false,
	// Counts one processed part per call (sent by workers, listed for completeness).
	"reportExpectation": false,
}

// operationKind matches the type and optional name of the first operation of
// a document.
var operationKind = regexp.MustCompile(`(?m)^\s*(query|mutation|subscription)\b\s*([_A-Za-z][_0-9A-Za-z]*)?`)

// isIdempotent reports whether the operation of doc can be applied twice
// without harm: a query (including the "{ … }" shorthand), or a mutation
// listed as idempotent in mutationIdempotent.
func isIdempotent(doc string) bool {
	m := operationKind.FindStringSubmatch(doc)
	if m == nil {
		// No operation keyword: the query shorthand, or not GraphQL at all
		// (the platform rejects it without applying anything).
		return true
	}
	switch m[1] {
	case "query":
		return true
	case "mutation":
		return mutationIdempotent[m[2]]
	default:
		return false
	}
}

// Names of the optional selections of register_connector.graphql.
const (
	optionalJWKS = "jwks"
	optionalS3   = "s3"
)

// mustDocument reads an embedded document and checks that it carries the
// named optional placeholders. It panics on a missing file or placeholder,
// which only a broken build can cause.
func mustDocument(name string, optional ...string) string {
	b, err := queryFS.ReadFile("queries/" + name)
	if err != nil {
		panic(fmt.Sprintf("api: embedded document %s: %v", name, err))
	}
	doc := string(b)
	for _, opt := range optional {
		if !strings.Contains(doc, optionalPrefix(opt)) {
			panic(fmt.Sprintf("api: embedded document %s: no %q placeholder", name, opt))
		}
	}
	return doc
}

// optionalPrefix is the comment that introduces an optional selection.
func optionalPrefix(name string) string { return "# optional(" + name + "): " }

// withOptional returns doc with the placeholders named in enable turned into
// selections; the other placeholders stay comments.
func withOptional(doc string, enable ...string) string {
	if len(enable) == 0 {
		return doc
	}
	lines := strings.Split(doc, "\n")
	for i, line := range lines {
		trimmed := strings.TrimLeft(line, " \t")
		indent := line[:len(line)-len(trimmed)]
		for _, name := range enable {
			if rest, ok := strings.CutPrefix(trimmed, optionalPrefix(name)); ok {
				lines[i] = indent + rest
			}
		}
	}
	return strings.Join(lines, "\n")
}

// registerDocument is the registerConnector document asking for jwks and s3
// as requested.
func registerDocument(jwks, s3 bool) string {
	var enable []string
	if jwks {
		enable = append(enable, optionalJWKS)
	}
	if s3 {
		enable = append(enable, optionalS3)
	}
	return withOptional(docRegister, enable...)
}
