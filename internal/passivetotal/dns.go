package passivetotal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// PassiveDNS is the answer of GET /v2/dns/passive (spec §2.2).
type PassiveDNS struct {
	// QueryValue echoes the query; QueryType is "domain" or "ip".
	QueryValue string
	QueryType  string
	// FirstSeen and LastSeen span all results; zero when absent or
	// unparsable. The raw strings are kept as received.
	FirstSeen, LastSeen       time.Time
	RawFirstSeen, RawLastSeen string
	// TotalRecords counts all records of the query (len(Results) when
	// absent).
	TotalRecords int
	// Pager is the pager value as received (null, {} or the legacy
	// {next, previous, page_size}); nil when absent or null.
	Pager json.RawMessage
	// Results are the records, in the API's order; never nil.
	Results []DNSRecord
}

// DNSRecord is one passive DNS record.
type DNSRecord struct {
	// Value is the queried side (the domain, or the IP of an IP query).
	Value string
	// Resolve is the other side: an IP, a host name or an e-mail address.
	Resolve string
	// ResolveType is "ip", "domain" or "email"; may be empty in old answers.
	ResolveType string
	// RecordType is "A", "AAAA", "CNAME", "MX", "NS", "SOA", "TXT (SPF1)"…;
	// not necessarily a bare DNS mnemonic; may be empty in old answers.
	RecordType string
	// RecordHash is a stable SHA-256 id of the record.
	RecordHash string
	// Source lists the data sources, e.g. "riskiq", "kaspersky".
	Source []string
	// FirstSeen, LastSeen and Collected are UTC, zero when absent or
	// unparsable; the raw strings ("YYYY-MM-DD HH:MM:SS", no zone) are kept
	// verbatim for deterministic ids.
	FirstSeen, LastSeen, Collected          time.Time
	RawFirstSeen, RawLastSeen, RawCollected string
}

// PassiveDNS returns the passive DNS records of a domain, host name or IP
// address, restricted to those seen since start when start is not zero. The
// call counts as one search against the quota; while the quota is known to be
// exhausted it fails fast with [ErrQuotaExceeded]. A 404 answer with a JSON
// body means no records and gives an empty result.
//
// GET /v2/dns/passive?query=…&start=YYYY-MM-DD HH:MM:SS (UTC)
func (c *Client) PassiveDNS(ctx context.Context, query string, start time.Time) (*PassiveDNS, error) {
	if strings.TrimSpace(query) == "" {
		return nil, errors.New("passivetotal: passive dns: query is empty")
	}
	if err := c.quotaGate(); err != nil {
		return nil, fmt.Errorf("passivetotal: passive dns for %q: %w", query, err)
	}
	if err := c.takeSharedSearch(ctx); err != nil {
		return nil, fmt.Errorf("passivetotal: passive dns for %q: %w", query, err)
	}
	params := url.Values{"query": {query}}
	if !start.IsZero() {
		params.Set("start", start.UTC().Format(dateTimeLayout))
	}
	res, err := c.get(ctx, &call{
		endpoint: EndpointPassiveDNS,
		path:     EndpointPassiveDNS,
		rawPath:  EndpointPassiveDNS,
		query:    params,
		search:   true,
	})
	if err != nil {
		var ae *APIError
		if errors.As(err, &ae) && ae.Status == http.StatusNotFound && ae.jsonBody {
			c.log.LogAttrs(ctx, slog.LevelDebug, "passivetotal passive dns not found, no records",
				slog.String("query", query))
			return &PassiveDNS{QueryValue: query, Results: []DNSRecord{}}, nil
		}
		return nil, c.scrub(fmt.Errorf("passivetotal: passive dns for %q: %w", query, err))
	}
	if res.status == http.StatusNoContent {
		return &PassiveDNS{QueryValue: query, Results: []DNSRecord{}}, nil
	}
	pdns, err := decodePassiveDNS(res.body)
	if err != nil {
		return nil, c.scrub(fmt.Errorf("passivetotal: passive dns for %q: %w", query, c.checkDecoded(err, res.status)))
	}
	if pdns.TotalRecords != len(pdns.Results) {
		c.log.LogAttrs(ctx, slog.LevelWarn, "passivetotal passive dns answer holds fewer records than its total",
			slog.String("query", query),
			slog.Int("total_records", pdns.TotalRecords),
			slog.Int("results", len(pdns.Results)))
	}
	return pdns, nil
}

type passiveDNSWire struct {
	errorFields
	Success      *bool            `json:"success"`
	QueryValue   string           `json:"queryValue"`
	QueryType    string           `json:"queryType"`
	FirstSeen    string           `json:"firstSeen"`
	LastSeen     string           `json:"lastSeen"`
	TotalRecords *int             `json:"totalRecords"`
	Pager        json.RawMessage  `json:"pager"`
	Results      *[]dnsRecordWire `json:"results"`
}

type dnsRecordWire struct {
	Value       string     `json:"value"`
	Resolve     string     `json:"resolve"`
	ResolveType string     `json:"resolveType"`
	RecordType  string     `json:"recordType"`
	RecordHash  string     `json:"recordHash"`
	Source      stringList `json:"source"`
	FirstSeen   string     `json:"firstSeen"`
	LastSeen    string     `json:"lastSeen"`
	Collected   string     `json:"collected"`
}

var (
	errNoResults    = errors.New(`"results" array missing`)
	errUnsuccessful = errors.New(`"success" is false`)
	errNoSuccess    = errors.New(`"success" missing`)
	errNoArticles   = errors.New(`"articles" array missing`)
)

// decodePassiveDNS decodes a passive DNS answer; an error the API reported in
// the body comes back as *APIError, a bad shape as *DecodeError.
func decodePassiveDNS(body []byte) (*PassiveDNS, error) {
	if !isJSONObject(body) {
		return nil, &DecodeError{Endpoint: EndpointPassiveDNS, Err: errNotObject}
	}
	var w passiveDNSWire
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, &DecodeError{Endpoint: EndpointPassiveDNS, Err: err}
	}
	msg, isErr := w.reported()
	if isErr || (w.Results == nil && msg != "") {
		return nil, &APIError{Endpoint: EndpointPassiveDNS, Status: http.StatusOK, Message: msg, Body: excerpt(body), jsonBody: true}
	}
	if w.Success != nil && !*w.Success {
		return nil, &DecodeError{Endpoint: EndpointPassiveDNS, Err: errUnsuccessful}
	}
	if w.Results == nil {
		return nil, &DecodeError{Endpoint: EndpointPassiveDNS, Err: errNoResults}
	}
	p := &PassiveDNS{
		QueryValue:   w.QueryValue,
		QueryType:    w.QueryType,
		RawFirstSeen: w.FirstSeen,
		RawLastSeen:  w.LastSeen,
		Results:      make([]DNSRecord, len(*w.Results)),
	}
	p.FirstSeen, _ = parseTime(w.FirstSeen)
	p.LastSeen, _ = parseTime(w.LastSeen)
	if w.TotalRecords != nil {
		p.TotalRecords = *w.TotalRecords
	} else {
		p.TotalRecords = len(p.Results)
	}
	if len(w.Pager) > 0 && string(w.Pager) != "null" {
		p.Pager = w.Pager
	}
	for i := range *w.Results {
		r := &(*w.Results)[i]
		rec := &p.Results[i]
		*rec = DNSRecord{
			Value:        r.Value,
			Resolve:      r.Resolve,
			ResolveType:  r.ResolveType,
			RecordType:   r.RecordType,
			RecordHash:   r.RecordHash,
			Source:       []string(r.Source),
			RawFirstSeen: r.FirstSeen,
			RawLastSeen:  r.LastSeen,
			RawCollected: r.Collected,
		}
		rec.FirstSeen, _ = parseTime(r.FirstSeen)
		rec.LastSeen, _ = parseTime(r.LastSeen)
		rec.Collected, _ = parseTime(r.Collected)
	}
	return p, nil
}
