// Package api is the OpenCTI GraphQL client used by connectors: health check,
// capability probe, connector registration and ping, the work API, the entity
// read before an enrichment, domain-object lookups and playbook results.
//
// It speaks the protocol pycti speaks (see the project's protocol
// specification, §1.5, §2, §4–§6, §9.3): one POST of
// {"query": …, "variables": …} to <OPENCTI_URL>/graphql with
// "Authorization: Bearer <token>". It is built on net/http and encoding/json
// only; each operation is a .graphql file under queries/, embedded with the
// embed package and validated in tests against the platform schema.
//
// # Several platform versions
//
// OpenCTI 6.8, 6.9 and 7.x differ in what registration may send and ask for
// (§11). [Client.Introspect] reads the schema once; [Client.RegisterConnector]
// then sends version/slug only when RegisterConnectorInput has both, and asks
// for jwks (7.x) and config.s3 (6.9.10+) only when the schema has them. Those
// two selections are written in queries/register_connector.graphql as comment
// lines of the form "# optional(NAME): SELECTION", which keeps the file a valid
// 6.x document; RegisterConnector uncomments the ones the platform supports.
// With a nil *Capabilities it sends the 6.x baseline, which every version
// accepts.
// OpenCTI 7.x refuses jwks and s3 (non-null) to a connector user without the
// connector-API permission, nulling the registration: RegisterConnector then
// registers again without them and logs one warning. Features are detected by
// introspection and by such answers, never by comparing version strings.
//
// # Transport
//
// Defaults differ from pycti on purpose: each attempt is bounded by 60 s
// (pycti: 300 s; use WithTimeout(300*time.Second) to match) so that a stuck
// request cannot stall the 40 s ping cycle for minutes; transport errors and
// 5xx answers are retried up to 3 attempts with exponential backoff (pycti does
// not retry), never 4xx answers, GraphQL errors or certificate errors.
//
// Only what cannot be applied twice is retried. Queries and the mutations
// listed as idempotent in one table (registerConnector, pingConnector,
// pingWork; see documents.go) are retried after any of those failures. Every
// other mutation (addExpectations, workAdd, toReceived, toProcessed, playbook
// steps, and any mutation passed to [Client.Do] that is not in the table) is
// retried only when the request certainly did not reach the platform: the
// connection could not be opened (refused, unreachable, DNS), detected with
// net/http's connection trace and dial errors. After a timeout, a broken
// connection or a 5xx, such a mutation fails with an error wrapping
// [ErrOutcomeUnknown]; the caller decides (the enrichment runtime reconciles
// the work on the next delivery). Use WithRetry(1, 0) to disable retries.
//
// Errors are [*HTTPError] (non-200 status), [*GraphQLError] (an "errors"
// array), [ErrResponseTooLarge], [ErrEntityNotFound], [ErrNotFound] and
// [ErrOutcomeUnknown], each
// wrapped with the operation ("register connector: …"). The token never
// appears in an error or a log record.
package api
