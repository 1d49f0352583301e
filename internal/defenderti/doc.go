// Package defenderti is the Microsoft Defender Threat Intelligence client on
// Microsoft Graph (/security/threatIntelligence): Entra ID client
// credentials, passive DNS, host reputation, articles and their indicators,
// with paging, bounded retries and operator-facing errors
// (../shared/spec/defender-ti-graph-api.md). defendertitest is its fake.
package defenderti
