package passivetotal_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/riskiq-opencti/connectors/internal/passivetotal"
	"github.com/riskiq-opencti/connectors/internal/passivetotal/passivetotaltest"
)

// The enrichment connector's flow against the fake API mounted under /pt, as
// RISKIQ_BASE_URL "https://api.riskiq.net/pt" is in production.
func ExampleClient_PassiveDNS() {
	fake := passivetotaltest.NewHandler(passivetotaltest.Options{Prefix: "/pt"})
	srv := httptest.NewServer(fake)
	defer srv.Close()

	c, err := passivetotal.New(passivetotal.JoinVersion(srv.URL+"/pt"), "analyst@example.com", "api-key")
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	if err := c.CheckQuota(ctx); errors.Is(err, passivetotal.ErrQuotaExceeded) {
		fmt.Println("quota exhausted:", err)
		return
	}
	start := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	p, err := c.PassiveDNS(ctx, "www.riskiq.com", start)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range p.Results {
		fmt.Println(r.RecordType, r.ResolveType, r.Resolve, r.RawFirstSeen, r.RawLastSeen)
	}
	// Output:
	// A ip 104.18.26.154 2023-02-27 11:08:44 2025-06-10 02:11:30
	// AAAA ip 2606:4700::6812:1a9a 2023-02-27 11:08:44 2025-06-10 02:11:30
}

// The articles importer reads every page of articles created since a day.
func ExampleClient_AllArticles() {
	fake := passivetotaltest.NewHandler(passivetotaltest.Options{Prefix: "/pt"})
	srv := httptest.NewServer(fake)
	defer srv.Close()

	c, err := passivetotal.New(srv.URL+"/pt/v2", "analyst@example.com", "api-key")
	if err != nil {
		fmt.Println(err)
		return
	}
	since := time.Date(2024, 8, 14, 0, 0, 0, 0, time.UTC)
	for a, err := range c.AllArticles(context.Background(), passivetotal.ArticlesQuery{CreatedAfter: &since, Size: 2}) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(a.GUID, a.CreatedDate.Format(time.DateOnly), len(a.Indicators), a.Title)
	}
	fmt.Println("pages read:", fake.Calls(passivetotaltest.EndpointArticles))
	// Output:
	// 3a5fd1c9 2024-08-14 8 Agent Tesla Phishing Campaign Targets Logistics Sector
	// b71c02e4 2024-08-14 15 Certificate Reuse Links Phishing Kits
	// 0f9e8d7c 2025-01-22 5 Midnight Blizzard Targets Diplomatic Entities
	// c4d2e6f8 2025-03-02 0 Weekly Threat Roundup: No New Indicators
	// pages read: 2
}
