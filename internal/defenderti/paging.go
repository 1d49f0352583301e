package defenderti

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/riskiq-opencti/connectors/opencti/origin"
	"github.com/riskiq-opencti/connectors/opencti/scrub"
)

// tiRoot is the threat-intelligence API below the Graph base.
const tiRoot = "/security/threatIntelligence/"

// wirePage is one page of a Graph collection of T. Elements that do not
// decode as T are kept apart in Bad (callers skip them with a debug log): one
// odd element must not cost the whole page.
type wirePage[T any] struct {
	Count    *int
	NextLink string
	Value    []T
	Bad      []json.RawMessage
}

// decodeBody decodes a page in one pass; only when an element has an
// unexpected shape does it decode the elements one by one. A 2xx answer
// without a "value" array is malformed.
func (p *wirePage[T]) decodeBody(body []byte) error {
	var typed struct {
		Count    *int   `json:"@odata.count"`
		NextLink string `json:"@odata.nextLink"`
		Value    *[]T   `json:"value"`
	}
	err := json.Unmarshal(body, &typed)
	var typeErr *json.UnmarshalTypeError
	switch {
	case err == nil:
		if typed.Value == nil {
			return errors.New("no value array")
		}
		*p = wirePage[T]{Count: typed.Count, NextLink: typed.NextLink, Value: *typed.Value}
		return nil
	case !errors.As(err, &typeErr):
		return err
	}
	var raw struct {
		Count    *int               `json:"@odata.count"`
		NextLink string             `json:"@odata.nextLink"`
		Value    *[]json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return err
	}
	if raw.Value == nil {
		return errors.New("no value array")
	}
	*p = wirePage[T]{Count: raw.Count, NextLink: raw.NextLink, Value: make([]T, 0, len(*raw.Value))}
	for _, e := range *raw.Value {
		var v T
		if json.Unmarshal(e, &v) != nil {
			p.Bad = append(p.Bad, e)
			continue
		}
		p.Value = append(p.Value, v)
	}
	return nil
}

// url returns the URL of a path below the threat-intelligence root (already
// escaped) with a raw query.
func (c *Client) url(rel, rawQuery string) string {
	u := c.base + tiRoot + rel
	if rawQuery != "" {
		u += "?" + rawQuery
	}
	return u
}

// listQuery is the query of a list call: $count, optional $orderby (spaces as
// %20, spec §2.2) and $top.
func (c *Client) listQuery(orderBy string) string {
	q := "$count=true"
	if orderBy != "" {
		q += "&$orderby=" + strings.ReplaceAll(orderBy, " ", "%20")
	}
	return q + "&$top=" + strconv.Itoa(c.s.PageSize)
}

// paginate GETs first, then follows @odata.nextLink verbatim, calling each
// with every page until it returns false or the list ends (spec §2.3). It
// refuses a nextLink to another origin (the token would be sent there), a
// nextLink already visited, and more than maxEmptyPages empty pages in a
// row.
func paginate[T any](ctx context.Context, c *Client, endpoint, first string, each func(p *wirePage[T]) (more bool, err error)) error {
	seen := map[string]bool{}
	next, empty := first, 0
	for page := 1; next != ""; page++ {
		target, err := c.checkNextLink(next, page)
		if err != nil {
			return fmt.Errorf("defender ti GET %s: %w", endpoint, err)
		}
		if seen[target] {
			return fmt.Errorf("defender ti GET %s: %w: nextLink of page %d repeats an earlier page (loop)", endpoint, ErrPaging, page-1)
		}
		seen[target] = true
		var p wirePage[T]
		if err := c.getJSON(ctx, endpoint, target, &p); err != nil {
			return err
		}
		if len(p.Value)+len(p.Bad) == 0 && p.NextLink != "" {
			if empty++; empty > maxEmptyPages {
				return fmt.Errorf("defender ti GET %s: %w: %d empty pages in a row", endpoint, ErrPaging, empty)
			}
		} else {
			empty = 0
		}
		more, err := each(&p)
		if err != nil || !more {
			return err
		}
		next = p.NextLink
	}
	return nil
}

// checkNextLink returns the URL to request for a nextLink: absolute on the
// base's origin (relative links are resolved against the base), no user
// information. The first page's URL is built by the client and passes.
func (c *Client) checkNextLink(link string, page int) (string, error) {
	if page == 1 {
		return link, nil
	}
	u, err := url.Parse(link)
	if err != nil {
		return "", fmt.Errorf("%w: nextLink is not a URL", ErrPaging)
	}
	if !u.IsAbs() {
		base, _ := url.Parse(c.base + "/")
		u = base.ResolveReference(u)
	}
	switch {
	case u.User != nil:
		return "", fmt.Errorf("%w: nextLink carries user information", ErrPaging)
	case origin.Of(u) != c.baseOrigin:
		return "", fmt.Errorf("%w: nextLink leads to another origin (%s), the token is only sent to %s", ErrPaging,
			scrub.Text(origin.Of(u), 200), c.baseOrigin)
	}
	return u.String(), nil
}

// ---- passive DNS ----

// wireRecord is a passiveDnsRecord as received; dates are parsed leniently.
type wireRecord struct {
	ID                string   `json:"id"`
	CollectedDateTime string   `json:"collectedDateTime"`
	FirstSeenDateTime string   `json:"firstSeenDateTime"`
	LastSeenDateTime  string   `json:"lastSeenDateTime"`
	RecordType        string   `json:"recordType"`
	Artifact          Artifact `json:"artifact"`
	ParentHost        Artifact `json:"parentHost"`
}

// PassiveDNS lists the passive DNS records of host seen since since (all
// when zero): forward (the records published under a host name) or reverse
// (the names that pointed at the value).
//
//	GET /security/threatIntelligence/hosts/{id}/passiveDns?$count=true&$orderby=lastSeenDateTime%20desc&$top=N
//	GET /security/threatIntelligence/hosts/{id}/passiveDnsReverse?…
//
// host is normalised ([NormalizeHost]). The API cannot filter by date: the
// client asks for the newest first, keeps records with lastSeenDateTime >=
// since, and stops at the first older record as long as every page so far
// was in that order; otherwise it pages on and filters. At most
// DEFENDER_TI_MAX_RECORDS records are read (Truncated, logged). An unknown
// host is [ErrNotFound].
func (c *Client) PassiveDNS(ctx context.Context, host string, reverse bool, since time.Time) (PassiveDNSResult, error) {
	res := PassiveDNSResult{Count: -1}
	id, err := NormalizeHost(host)
	if err != nil {
		return res, err
	}
	endpoint, leaf := "hosts/{id}/passiveDns", "passiveDns"
	if reverse {
		endpoint, leaf = "hosts/{id}/passiveDnsReverse", "passiveDnsReverse"
	}
	first := c.url(c.hostPath(id)+"/"+leaf, c.listQuery("lastSeenDateTime desc"))
	var (
		received int
		sorted   = true
		prev     time.Time
		skipped  int
	)
	err = paginate(ctx, c, endpoint, first, func(p *wirePage[wireRecord]) (bool, error) {
		if res.Count < 0 && p.Count != nil {
			res.Count = *p.Count
		}
		for _, raw := range p.Bad {
			skipped++
			c.log.LogAttrs(ctx, slog.LevelDebug, MsgSkipped, slog.String("kind", "passive dns record"), slog.String("value", scrub.Text(string(raw), 200)))
		}
		recs := make([]PassiveDNSRecord, 0, len(p.Value))
		for _, w := range p.Value {
			recs = append(recs, PassiveDNSRecord{
				ID: w.ID, CollectedDateTime: parseTime(w.CollectedDateTime), FirstSeenDateTime: parseTime(w.FirstSeenDateTime),
				LastSeenDateTime: parseTime(w.LastSeenDateTime), RecordType: w.RecordType, Artifact: w.Artifact, ParentHost: w.ParentHost,
			})
		}
		// The order check covers the whole page before deciding to stop.
		for _, r := range recs {
			if !prev.IsZero() && r.LastSeenDateTime.After(prev) {
				if sorted {
					c.log.LogAttrs(ctx, slog.LevelDebug, "defender ti passive dns not sorted by lastSeenDateTime: paging to the cap",
						slog.String("host", id))
				}
				sorted = false
			}
			prev = r.LastSeenDateTime
		}
		older := false
		for _, r := range recs {
			if received >= c.s.MaxRecords {
				if !(sorted && r.LastSeenDateTime.Before(since)) {
					res.Truncated = true
				}
				return false, nil
			}
			received++
			if r.LastSeenDateTime.Before(since) {
				older = true
				continue
			}
			res.Records = append(res.Records, r)
		}
		switch {
		case sorted && older:
			return false, nil // everything after is older still
		case p.NextLink != "" && received >= c.s.MaxRecords:
			res.Truncated = true
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return PassiveDNSResult{Count: -1}, fmt.Errorf("passive dns of %q: %w", id, err)
	}
	if res.Truncated {
		c.log.LogAttrs(ctx, slog.LevelWarn, MsgTruncated, slog.String("host", id), slog.Bool("reverse", reverse),
			slog.Int("received", received), slog.Int("odata_count", res.Count), slog.Int("max_records", c.s.MaxRecords))
	} else if res.Count >= 0 && sorted && since.IsZero() && received+skipped != res.Count {
		c.log.LogAttrs(ctx, slog.LevelDebug, "defender ti record count differs from @odata.count",
			slog.String("host", id), slog.Int("received", received), slog.Int("odata_count", res.Count))
	}
	return res, nil
}

// hostPath returns the escaped path of a host: hosts/{id} or hosts('{id}').
func (c *Client) hostPath(id string) string {
	if c.keySyntax {
		return "hosts('" + url.PathEscape(strings.ReplaceAll(id, "'", "''")) + "')"
	}
	return "hosts/" + url.PathEscape(id)
}

// parseTime reads a Graph DateTimeOffset leniently: RFC 3339 with any
// fraction or offset, or without a zone (read as UTC). Anything else is the
// zero time.
func parseTime(s string) time.Time {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC()
	}
	for _, layout := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}
