// Package redisstate shares state between the replicas of a connector through
// Redis: a quota budget and a rate-limit pause per vendor account, a cache of
// lookup results, and leases (an import lock). Every replica of a connector
// (the same CONNECTOR_ID) that is given the same CONNECTOR_REDIS_URL sees the
// same state.
//
// Redis is optional and never a single point of failure. [Open] makes no
// call; every operation is bounded by a timeout ([WithTimeout]). When an
// operation fails for want of Redis the [Store] marks Redis unavailable, logs
// it once, and for a backoff period (doubling up to [DefaultMaxBackoff])
// fails every operation at once with [ErrUnavailable] without calling:
// callers then do what they do without Redis (their own quota count, their
// own pause, no cache, no lock). The first operation after the backoff probes
// Redis again; success is logged and ends the fallback.
//
// Keys are "<root>:connector:<CONNECTOR_ID>:…" for what belongs to one
// connector (cache, leases) and "<root>:account:<source>:<hash of the
// account>:…" for what belongs to a vendor account (budget, pause), so that
// two connectors sharing an account share its budget. Values and account
// names are hashed into keys, never stored in clear as key names.
//
// The package knows nothing of the vendors: callers give it the account, the
// reset time and remaining budget, and opaque bytes to cache. Consumers
// declare the small interfaces they use ([Account] fits
// passivetotal.SharedQuota and passivetotal.SharedPause, [Cache] fits
// enrichment.ResultCache).
package redisstate
