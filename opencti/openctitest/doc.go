// Package openctitest provides a fake OpenCTI platform for tests, like
// net/http/httptest does for HTTP servers.
//
// NewServer starts a GraphQL endpoint on 127.0.0.1 that behaves like an
// OpenCTI 6.9.7 platform for what connectors use: every document is parsed
// and validated against a subset of the platform schema
// (testdata/schema.graphql, checked against the real schema by the tests)
// and rejected the way Apollo rejects it; registerConnector and
// pingConnector declare the connector's exchanges and queues on a real
// RabbitMQ under a per-server queue prefix; the work API follows the
// platform's completion rules; a worker consumes the push queues like
// opencti-worker; Enrich publishes enrichment requests in the platform's
// exact shape. AddEntity and AddDomainObject store observables and domain
// objects (see EntityTypes: threat actors, intrusion sets, campaigns,
// incidents, malware, tools, attack patterns, sectors, countries,
// vulnerabilities, organizations…) that stixCoreObject, stixDomainObject and
// stixDomainObjects return with the platform's entity_type, parent_types,
// standard_id and GraphQL type, so fragments on the ThreatActor, Identity and
// Location interfaces apply as on the platform. Snapshots (Connector, Work,
// Objects, Envelopes…) and fault injection (SetDown, FailNext, RefuseWork)
// support assertions.
//
// WithOpenCTI7 serves OpenCTI 7.x's registration instead (an LTS version,
// version/slug/xtm_one_intent inputs, Connector.jwks and ConnectorConfig.s3
// non-null and refused without WithConnectorAPIPermission, the null reaching
// the nearest nullable parent as graphql-js does for a synchronous resolver);
// testdata/schema-7x.graphql holds those additions.
//
// Choices where the platform could not be reproduced exactly are documented
// on the functions concerned: the splitter used for multi-object bundles is
// simplified, the filters of stixDomainObjects support eq, not_eq, nil and
// not_nil on a few keys, and queue sizes are estimated.
package openctitest
