// Package passivetotal is a client for the RiskIQ PassiveTotal v2 REST API:
// the account search quota, passive DNS and the articles feed.
//
// The base URL given to [New] is the API root including the version segment,
// e.g. "https://api.riskiq.net/pt/v2"; [JoinVersion] turns a root such as
// "https://api.riskiq.net/pt" into one. Every method sends a GET with HTTP
// Basic authentication (account e-mail, API key) and decodes the JSON answer
// into typed values. Dates the API sends without a zone are read as UTC; the
// original strings are kept beside the parsed times because deterministic
// OpenCTI ids are computed from them.
//
// # Errors
//
// Errors are typed so callers can decide whether to retry or give up:
//   - [ErrAuth] (HTTP 401 and 403, never retried), checked with errors.Is;
//   - [ErrQuotaExceeded], carried by a [*QuotaError] with the next reset time;
//   - [*APIError] for any other non-2xx answer or an error reported in a 2xx
//     body (older API versions did that), with a body excerpt of at most 1 KiB;
//   - [*DecodeError] for malformed JSON or an answer of an unexpected shape,
//     e.g. "success": false or a missing results array;
//   - [ErrResponseTooLarge] when an answer exceeds the configured size limit.
//
// Transport errors, HTTP 429 (unless it reports quota exhaustion) and 5xx are
// retried with exponential backoff and jitter, honouring Retry-After, bounded by
// a number of tries and a total time budget. A 429 is taken as the account's
// rate limit: it pauses every call of the client (not only the request that
// got it) until its Retry-After, at most the time budget, or for the backoff
// delay when absent; calls wait for the pause, each bounded by its context.
// The API key and the Authorization header never appear in errors or log
// lines.
//
// # Quota
//
// The client keeps the search quota as state: [Client.CheckQuota] answers from a
// cached quota reading (refreshed after a TTL) plus the number of passive DNS
// queries made since, and once the quota is known to be exhausted every search
// fails fast with [ErrQuotaExceeded], without calling the API, until the reset.
// Concurrent checks share one quota read, and a failed read is remembered for
// a few seconds ([DefaultQuotaErrorTTL]) so that a failing quota endpoint is
// called once per period and checks fail at once with its error.
package passivetotal
