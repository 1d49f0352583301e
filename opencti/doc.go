// Package opencti is the runtime of the Go SDK for OpenCTI connectors: it ties
// configuration, the GraphQL API, RabbitMQ and STIX together the way pycti's
// OpenCTIConnectorHelper does, so a connector only writes its own logic.
//
// A connector builds a [Helper] from its [config.Config], calls [Helper.Start]
// (health check with backoff, registration, ping loop every 40 s carrying the
// state), then either [Helper.ListenEnrichment] (INTERNAL_ENRICHMENT: one
// handler call per queue message, up to CONNECTOR_CONCURRENCY at once) or
// [Helper.Schedule] (EXTERNAL_IMPORT: CONNECTOR_DURATION_PERIOD,
// CONNECTOR_RUN_AND_TERMINATE and the queue-threshold gate).
//
// Unlike pycti, a request message is acknowledged only after its result has
// been published and its work reported (or its failure reported), so a crash
// or a shutdown never loses a request: RabbitMQ redelivers it. On shutdown the
// requests in flight keep publishing for CONNECTOR_SHUTDOWN_TIMEOUT; call
// [Helper.Close] once the listener returned. A request whose outcome the
// platform refuses to record is retried at the tail of the queue, then given
// up after [MaxRequestAttempts] (docs/decisions/0001-ack-after-publish.md).
package opencti
