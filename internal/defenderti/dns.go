package defenderti

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// ErrInvalidHost reports a value that is neither a host name nor an IP
// address.
var ErrInvalidHost = errors.New("not a host name or IP address")

// NormalizeHost returns the Graph host id of s (spec §2.1): trimmed; an IP
// address in canonical form (IPv4-mapped IPv6 as IPv4, brackets removed,
// zones refused); a name lower-cased without one trailing dot.
func NormalizeHost(s string) (string, error) {
	v := strings.TrimSpace(s)
	if strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]") {
		v = v[1 : len(v)-1]
	}
	if a, err := netip.ParseAddr(v); err == nil {
		if a.Zone() != "" {
			return "", fmt.Errorf("%q: %w (an IPv6 zone cannot be looked up)", s, ErrInvalidHost)
		}
		return a.Unmap().String(), nil
	}
	v = strings.ToLower(strings.TrimSuffix(v, "."))
	if v == "" || len(v) > 253 || strings.HasPrefix(v, ".") || strings.Contains(v, "..") {
		return "", fmt.Errorf("%q: %w", s, ErrInvalidHost)
	}
	for _, r := range v {
		ok := r > 0x7f || 'a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-' || r == '.' || r == '_' || r == '*'
		if !ok {
			return "", fmt.Errorf("%q: %w", s, ErrInvalidHost)
		}
	}
	return v, nil
}

// Reputation classifications (hostReputation.classification); any other
// value, unknownFutureValue included, reads as ClassificationUnknown.
const (
	ClassificationUnknown    = "unknown"
	ClassificationNeutral    = "neutral"
	ClassificationSuspicious = "suspicious"
	ClassificationMalicious  = "malicious"
)

// HostReputation returns the reputation of host (spec §3.2); an unknown
// host is [ErrNotFound]. Classification and rule severities are
// lower-cased, unknown values read as "unknown".
//
//	GET /security/threatIntelligence/hosts/{id}/reputation
func (c *Client) HostReputation(ctx context.Context, host string) (*HostReputation, error) {
	id, err := NormalizeHost(host)
	if err != nil {
		return nil, err
	}
	var rep HostReputation
	if err := c.getJSON(ctx, "hosts/{id}/reputation", c.url(c.hostPath(id)+"/reputation", ""), &rep); err != nil {
		return nil, fmt.Errorf("reputation of %q: %w", id, err)
	}
	switch cl := strings.ToLower(rep.Classification); cl {
	case ClassificationNeutral, ClassificationSuspicious, ClassificationMalicious:
		rep.Classification = cl
	default:
		rep.Classification = ClassificationUnknown
	}
	for i := range rep.Rules {
		switch sv := strings.ToLower(rep.Rules[i].Severity); sv {
		case "low", "medium", "high":
			rep.Rules[i].Severity = sv
		default:
			rep.Rules[i].Severity = "unknown"
		}
	}
	return &rep, nil
}
