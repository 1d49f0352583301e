package api

import (
	"embed"
	"fmt"
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
