package enrichment

import (
	"log/slog"
	"testing"
	"time"

	"github.com/riskiq-opencti/connectors/internal/passivetotal"
	"github.com/riskiq-opencti/connectors/internal/passivetotal/passivetotaltest"
	"github.com/riskiq-opencti/connectors/opencti"

	"github.com/riskiq-opencti/connectors/internal/defenderti"
	"github.com/riskiq-opencti/connectors/internal/defenderti/defendertitest"
)

// The enrichment benchmarks look up the same 14 records of passivetotal.org
// (the PassiveTotal fake's sample) through each source's real client, over
// HTTP (PassiveTotal) and HTTPS (Graph), and convert them: compare their
// ns/op for the cost of the Graph path.

func BenchmarkEnrichPassiveTotal(b *testing.B) {
	src, _ := newBenchSource(b)
	h := newHandler(src, "")
	req := benchRequest(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res, err := h.Enrich(b.Context(), req)
		if err != nil || len(res.Objects) == 0 {
			b.Fatalf("Enrich() = %v, %d objects", err, len(res.Objects))
		}
	}
}

func BenchmarkEnrichDefender(b *testing.B) {
	// Graph over plain HTTP, as the PassiveTotal fake serves: the figure is
	// the connector's cost, not TLS's (tokens still come over TLS, once).
	srv := defendertitest.NewServer(b)
	settings := srv.Settings()
	settings.BaseURL = srv.PlainURL()
	client, err := defenderti.New(settings, defenderti.WithHTTPClient(srv.Client()), defenderti.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		b.Fatal(err)
	}
	// The PassiveTotal sample's records, as Graph serves them.
	src, _ := newBenchSource(b)
	res, err := src.Client.PassiveDNS(b.Context(), "passivetotal.org", fixedNow.Add(-3650*24*time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	var recs []defenderti.PassiveDNSRecord
	for _, r := range res.Results {
		typ := defenderti.TypeHostname
		if r.ResolveType == "ip" {
			typ = defenderti.TypeIPAddress
		}
		recs = append(recs, defenderti.PassiveDNSRecord{
			ID: r.Value + "$$" + r.Resolve, RecordType: r.RecordType, FirstSeenDateTime: r.FirstSeen, LastSeenDateTime: r.LastSeen,
			CollectedDateTime: r.LastSeen, ParentHost: defenderti.Artifact{ID: "passivetotal.org"},
			Artifact: defenderti.Artifact{ODataType: typ, ID: r.Resolve},
		})
	}
	srv.Data().AddPassiveDNS("passivetotal.org", false, recs...)
	h := NewDefenderHandler(Defender{Client: client}, Config{Window: 3650 * 24 * time.Hour, Now: func() time.Time { return fixedNow }})
	req := benchRequest(b)
	// Same work on both paths: as many objects as PassiveTotal's answer gives.
	pt, err := newHandler(src, "").Enrich(b.Context(), req)
	if err != nil {
		b.Fatal(err)
	}
	if got, err := h.Enrich(b.Context(), req); err != nil || len(got.Objects) != len(pt.Objects) {
		b.Fatalf("Graph path: %v, %d objects (%s); PassiveTotal path: %d objects", err, len(got.Objects), got.Message, len(pt.Objects))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res, err := h.Enrich(b.Context(), req)
		if err != nil || len(res.Objects) == 0 {
			b.Fatalf("Enrich() = %v, %d objects", err, len(res.Objects))
		}
	}
	if got := srv.Calls(defendertitest.EndpointPassiveDNS); got < b.N {
		b.Fatalf("%d passive DNS calls for %d lookups", got, b.N)
	}
}

// newBenchSource is newSource for a benchmark.
func newBenchSource(b *testing.B) (PassiveTotal, *passivetotaltest.Server) {
	b.Helper()
	srv := passivetotaltest.NewServer(b, passivetotaltest.WithClock(func() time.Time { return fixedNow }))
	c, err := passivetotal.New(passivetotal.JoinVersion(srv.RootURL()), "analyst@example.com", testKey,
		passivetotal.WithHTTPClient(srv.Client()), passivetotal.WithClock(func() time.Time { return fixedNow }))
	if err != nil {
		b.Fatal(err)
	}
	srv.SetQuota(0, 1<<30) // the benchmark's lookups never reach the quota
	return PassiveTotal{Client: c}, srv
}

// benchRequest is the request for passivetotal.org.
func benchRequest(b *testing.B) *opencti.Request {
	return defenderRequest(b, "domain-name", "passivetotal.org", "")
}
