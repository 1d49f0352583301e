// Package defendertitest is a fake Microsoft Graph threat-intelligence API
// with a fake Entra ID token endpoint, for tests and for the simulate
// command (spec §7).
//
// [Handler] serves, on one origin:
//   - GET /{tenant}/v2.0/.well-known/openid-configuration (MSAL's tenant
//     discovery) and POST /{tenant}/oauth2/v2.0/token (client credentials
//     with a secret, or a client assertion signed with a trusted
//     certificate), answering identity-platform errors (AADSTS codes);
//   - under /v1.0/security/threatIntelligence/: hosts/{id} (also the
//     hosts('{id}') key syntax), …/passiveDns, …/passiveDnsReverse,
//     …/reputation, articles, articles/{id}, articles/{id}/indicators and
//     intelProfiles, with $top, $skip, $count, $orderby, $filter
//     (recordType eq 'X'), absolute @odata.nextLink on its own origin, and
//     400 invalidRequest for other query options; every call needs a bearer
//     token it issued and that has not expired, else 401.
//
// Faults are injected per endpoint label or concrete path and call number
// ([Handler.Inject]): statuses with Graph or identity error bodies,
// Retry-After in both forms, raw bodies (malformed, truncated, HTML, empty),
// slow answers, nextLink loops, foreign nextLinks, unsorted and empty
// pages. Every request is recorded ([Handler.Requests], [Handler.Calls]).
//
// [NewServer] wraps the handler in an httptest TLS server on 127.0.0.1. The
// package does not import package testing.
package defendertitest
