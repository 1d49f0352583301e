package defenderti_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskiq-opencti/connectors/internal/defenderti"
	"github.com/riskiq-opencti/connectors/internal/defenderti/defendertitest"
)

func recordSummary(res defenderti.PassiveDNSResult) []string {
	var out []string
	for _, r := range res.Records {
		out = append(out, fmt.Sprintf("%s %s -> %s (%s..%s)", r.RecordType, r.ParentHost.ID, r.Artifact.ID,
			r.FirstSeenDateTime.Format(time.RFC3339), r.LastSeenDateTime.Format(time.RFC3339)))
	}
	return out
}

func TestPassiveDNSForwardAndReverse(t *testing.T) {
	e := setup(t, nil)
	ctx := t.Context()
	since := date("2026-01-01T00:00:00Z")

	fwd, err := e.c.PassiveDNS(ctx, " Malicious.Example. ", false, since)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"A malicious.example -> 192.0.2.10 (2025-11-02T08:14:55Z..2026-11-20T22:01:09Z)",
		"NS malicious.example -> ns1.hoster.example (2025-10-30T00:00:00Z..2026-11-19T06:40:02Z)",
		"AAAA malicious.example -> 2001:db8::10 (2026-01-15T10:00:00Z..2026-11-18T12:00:00Z)",
		"MX malicious.example -> mail.hoster.example (2024-02-01T00:00:00Z..2026-11-15T09:30:00Z)",
		"CNAME malicious.example -> edge.cdn.example (2026-11-10T07:07:07Z..2026-11-10T07:07:07Z)",
		"SOA malicious.example -> ns1.hoster.example (2023-06-01T00:00:00Z..2026-11-01T00:00:00Z)",
		"SOA malicious.example -> hostmaster@hoster.example (2023-06-01T00:00:00Z..2026-10-31T00:00:00Z)",
		"TXT malicious.example -> v=spf1 -all (2025-03-03T03:03:03Z..2026-10-20T00:00:00Z)",
		"PTR malicious.example -> host-10.hoster.example (2025-03-03T03:03:03Z..2026-10-10T00:00:00Z)",
		"HTTPS malicious.example -> svc.hoster.example (2025-03-03T03:03:03Z..2026-10-05T00:00:00Z)",
	}
	if diff := cmp.Diff(want, recordSummary(fwd)); diff != "" {
		t.Errorf("forward records (-want +got):\n%s", diff)
	}
	if fwd.Count != 11 || fwd.Truncated {
		t.Errorf("count %d truncated %v, want 11 false", fwd.Count, fwd.Truncated)
	}
	if got := fwd.Records[2].FirstSeenDateTime; !got.Equal(date("2026-01-15T10:00:00.5Z")) {
		t.Errorf("fraction lost: %v", got)
	}
	if got := fwd.Records[0].Artifact.ODataType; got != defenderti.TypeIPAddress {
		t.Errorf("artifact type %q", got)
	}

	rev, err := e.c.PassiveDNS(ctx, "192.0.2.10", true, since)
	if err != nil {
		t.Fatal(err)
	}
	want = []string{
		"A 192.0.2.10 -> malicious.example (2025-11-02T08:14:55Z..2026-11-20T22:01:09Z)",
		"A 192.0.2.10 -> login.phish.example (2026-03-01T12:00:00Z..2026-03-01T12:00:00Z)",
	}
	if diff := cmp.Diff(want, recordSummary(rev)); diff != "" {
		t.Errorf("reverse records (-want +got):\n%s", diff)
	}

	rev6, err := e.c.PassiveDNS(ctx, "2001:DB8:0::10", true, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rev6.Records) != 1 || rev6.Records[0].Artifact.ID != "malicious.example" {
		t.Errorf("ipv6 reverse: %v", recordSummary(rev6))
	}

	// Requests: one token for every call, the documented query, a
	// client-request-id each.
	if n := e.srv.TokensIssued(); n != 1 {
		t.Errorf("tokens issued = %d, want 1 (cached)", n)
	}
	var graph []defendertitest.Request
	for _, r := range e.srv.Requests() {
		if r.Endpoint != defendertitest.EndpointToken && r.Endpoint != defendertitest.EndpointDiscovery {
			graph = append(graph, r)
		}
	}
	if len(graph) != 3 {
		t.Fatalf("graph requests = %d, want 3", len(graph))
	}
	wantPaths := []string{
		"/v1.0/security/threatIntelligence/hosts/malicious.example/passiveDns",
		"/v1.0/security/threatIntelligence/hosts/192.0.2.10/passiveDnsReverse",
		"/v1.0/security/threatIntelligence/hosts/2001:db8::10/passiveDnsReverse",
	}
	for i, r := range graph {
		if r.Path != wantPaths[i] {
			t.Errorf("request %d path %q, want %q", i, r.Path, wantPaths[i])
		}
		if r.Query != "$count=true&$orderby=lastSeenDateTime%20desc&$top=100" {
			t.Errorf("request %d query %q", i, r.Query)
		}
		if r.Header.Get("client-request-id") == "" {
			t.Errorf("request %d has no client-request-id", i)
		}
		if strings.Contains(r.Query, "filter") {
			t.Errorf("request %d sends $filter", i)
		}
	}
}

func TestPassiveDNSWindowStopsPagingWhenSorted(t *testing.T) {
	e := setup(t, func(s *defenderti.Settings) { s.PageSize = 3 })
	res, err := e.c.PassiveDNS(t.Context(), "malicious.example", false, date("2026-11-12T00:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(res.Records); got != 4 {
		t.Errorf("records = %d, want 4: %v", got, recordSummary(res))
	}
	// Page 1 (3 recent), page 2 holds the first older record: stop there.
	if n := e.srv.Calls(defendertitest.EndpointPassiveDNS); n != 2 {
		t.Errorf("pages requested = %d, want 2", n)
	}
}

func TestPassiveDNSUnsortedPagesToTheEndAndFilters(t *testing.T) {
	e := setup(t, func(s *defenderti.Settings) { s.PageSize = 3 })
	e.srv.Inject(defendertitest.EndpointPassiveDNS, defendertitest.Fault{Paging: defendertitest.PagingUnsorted})
	res, err := e.c.PassiveDNS(t.Context(), "malicious.example", false, date("2026-11-12T00:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(res.Records); got != 4 {
		t.Errorf("records = %d, want 4: %v", got, recordSummary(res))
	}
	if n := e.srv.Calls(defendertitest.EndpointPassiveDNS); n != 4 {
		t.Errorf("pages requested = %d, want 4 (all of 11 records)", n)
	}
}

func TestPassiveDNSPagingAndCap(t *testing.T) {
	srv := defendertitest.NewServer(t)
	base := date("2026-11-01T00:00:00Z")
	for i := range 250 {
		srv.Data().AddPassiveDNS("big.example", false, defenderti.PassiveDNSRecord{
			ID: fmt.Sprint(i), RecordType: "A",
			FirstSeenDateTime: base.Add(-time.Duration(i) * time.Hour), LastSeenDateTime: base.Add(-time.Duration(i) * time.Minute),
			CollectedDateTime: base, ParentHost: defenderti.Artifact{ID: "big.example"},
			Artifact: defenderti.Artifact{ODataType: defenderti.TypeIPAddress, ID: fmt.Sprintf("198.51.100.%d", i%250)},
		})
	}
	t.Run("all pages", func(t *testing.T) {
		e := setupOn(t, srv, func(s *defenderti.Settings) { s.PageSize = 100 })
		before := srv.Calls(defendertitest.EndpointPassiveDNS)
		res, err := e.c.PassiveDNS(t.Context(), "big.example", false, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Records) != 250 || res.Count != 250 || res.Truncated {
			t.Errorf("records %d count %d truncated %v", len(res.Records), res.Count, res.Truncated)
		}
		if n := srv.Calls(defendertitest.EndpointPassiveDNS) - before; n != 3 {
			t.Errorf("pages = %d, want 3", n)
		}
	})
	t.Run("cap", func(t *testing.T) {
		e := setupOn(t, srv, func(s *defenderti.Settings) { s.PageSize = 100; s.MaxRecords = 150 })
		res, err := e.c.PassiveDNS(t.Context(), "big.example", false, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Records) != 150 || !res.Truncated {
			t.Errorf("records %d truncated %v, want 150 true", len(res.Records), res.Truncated)
		}
		if !strings.Contains(e.logs.String(), `"msg":"defender ti result truncated"`) {
			t.Errorf("no truncation warning in %s", e.logs.String())
		}
	})
	t.Run("cap at a page boundary", func(t *testing.T) {
		e := setupOn(t, srv, func(s *defenderti.Settings) { s.PageSize = 100; s.MaxRecords = 200 })
		res, err := e.c.PassiveDNS(t.Context(), "big.example", false, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Records) != 200 || !res.Truncated {
			t.Errorf("records %d truncated %v, want 200 true", len(res.Records), res.Truncated)
		}
	})
	t.Run("server returns fewer than asked", func(t *testing.T) {
		small := defendertitest.NewServer(t, func(o *defendertitest.Options) { o.MaxTop = 7; o.Data = srv.Data() })
		e := setupOn(t, small, nil)
		res, err := e.c.PassiveDNS(t.Context(), "big.example", false, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Records) != 250 {
			t.Errorf("records %d", len(res.Records))
		}
		if n := small.Calls(defendertitest.EndpointPassiveDNS); n != 36 {
			t.Errorf("pages = %d, want 36", n)
		}
	})
}

func TestPassiveDNSKeySyntaxAndEscaping(t *testing.T) {
	e := setup(t, nil, defenderti.WithHostKeySyntax())
	res, err := e.c.PassiveDNS(t.Context(), "2001:db8::10", true, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Records) != 1 {
		t.Errorf("records %v", recordSummary(res))
	}
	reqs := e.srv.Requests()
	last := reqs[len(reqs)-1]
	if last.Path != "/v1.0/security/threatIntelligence/hosts%28%272001:db8::10%27%29/passiveDnsReverse" &&
		last.Path != "/v1.0/security/threatIntelligence/hosts('2001:db8::10')/passiveDnsReverse" {
		t.Errorf("path %q", last.Path)
	}
}

func TestPassiveDNSUnknownHostAndInvalidInput(t *testing.T) {
	e := setup(t, nil)
	_, err := e.c.PassiveDNS(t.Context(), "unknown.example", false, time.Time{})
	if !errors.Is(err, defenderti.ErrNotFound) {
		t.Errorf("unknown host: %v, want ErrNotFound", err)
	}
	for _, bad := range []string{"", "  ", "a/b", "x?y", "fe80::1%eth0", "a..b", "evil.example/../articles"} {
		if _, err := e.c.PassiveDNS(t.Context(), bad, false, time.Time{}); !errors.Is(err, defenderti.ErrInvalidHost) {
			t.Errorf("PassiveDNS(%q) = %v, want ErrInvalidHost", bad, err)
		}
	}
}

func TestNormalizeHost(t *testing.T) {
	for in, want := range map[string]string{
		"Example.COM.":          "example.com",
		" 192.0.2.1 ":           "192.0.2.1",
		"2001:DB8:0:0::1":       "2001:db8::1",
		"[2001:db8::1]":         "2001:db8::1",
		"::ffff:192.0.2.1":      "192.0.2.1",
		"_dmarc.example.com":    "_dmarc.example.com",
		"xn--bcher-kva.example": "xn--bcher-kva.example",
	} {
		got, err := defenderti.NormalizeHost(in)
		if err != nil || got != want {
			t.Errorf("NormalizeHost(%q) = %q, %v, want %q", in, got, err, want)
		}
	}
}
