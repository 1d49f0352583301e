// Package articles imports threat-intelligence articles into OpenCTI as STIX
// 2.1 reports for the RiskIQ articles import connector (EXTERNAL_IMPORT), a Go
// replacement for the Python image opencti/connector-riskiq.
//
// The package keeps the OpenCTI split:
//   - convert.go maps one article, with the OpenCTI entities its tags name,
//     to STIX objects. It is pure (data and a clock in, objects out) and
//     reproduces the Python importer's ids: indicators, observables, threat
//     objects, relationships and the report, whose id hashes the publication
//     date spelled as Python's dateutil and isoformat spelled it.
//   - import.go is one run of the connector: it decides whether the interval
//     has elapsed (or resumes a run that did not finish), opens a work, reads
//     the new articles from a [Source], resolves tags through a
//     [DomainObjectLister] (each distinct tag once per run), sends one bundle
//     per article (several, built one at a time, beyond [MaxBundleObjects]
//     objects), skips an article that fails and gives it up after
//     [MaxArticleAttempts] runs, saves the state after each article and
//     always closes the work.
//   - settings.go reads the configuration with pycti's names and precedence
//     and reports every problem at once.
//   - passivetotal.go adapts the PassiveTotal client to [Source]; its
//     position in the state is the Python connector's [CreatedCursor].
//   - defender.go adapts the Microsoft Defender TI client (Microsoft Graph)
//     to [Source] and [Completer] (an article's indicators are read only when
//     it is imported), defender_map.go maps its articles and artifacts onto
//     the same converter, and defender_cursor.go is its [UpdatedCursor] on
//     lastUpdatedDateTime, under its own state keys.
//
// Differences from the Python connector, on purpose: IPv6 values of "ip"
// indicators become IPv6-Addr; an invalid value is skipped alone instead of
// its whole group; quotes and backslashes are escaped in patterns; X.509
// certificates known only by issuer or subject get no observable (they would
// have a random id); the article list is read page by page; already imported
// articles are skipped; every work is closed; the full content of an article,
// when the source has one, goes into the report's content.
package articles
