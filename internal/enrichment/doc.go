// Package enrichment turns passive DNS resolutions into STIX 2.1 for the
// RiskIQ PassiveTotal enrichment connector, and handles its queue requests.
//
// The mapping (convert.go) is pure and reproduces the Python connector's
// objects and ids byte for byte; the handler (handler.go) adds what the Python
// connector got wrong: a per-entity TLP check, errors that are never reported
// as "No information found", and a second source: Microsoft Defender Threat
// Intelligence on Microsoft Graph (defender.go), whose records are normalised
// into the PassiveTotal shape and converted by the same code (docs/decisions/0010).
package enrichment
