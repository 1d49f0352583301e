package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/riskiq-opencti/connectors/internal/defenderti"
)

// TestSimulateDefender runs "riskiqctl simulate --source defender" as a user
// would and queries it with the real client: token over TLS trusted through
// the certificate file, passive DNS within the default 30-day window (the
// sample dates are moved to today), articles.
func TestSimulateDefender(t *testing.T) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	pr, pw := io.Pipe()
	logs := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"simulate", "--source", "defender", "--listen", "127.0.0.1:0", "--ca-file", caFile}, envOf(nil), pw, logs)
		_ = pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != exitOK {
				t.Errorf("simulate exited with %d:\n%s", code, logs.String())
			}
		case <-time.After(10 * time.Second):
			t.Errorf("simulate did not stop:\n%s", logs.String())
		}
	})
	br := bufio.NewReader(pr)
	graph, err1 := br.ReadString('\n')
	authority, err2 := br.ReadString('\n')
	if err1 != nil || err2 != nil {
		t.Fatalf("simulate printed %q %q: %v %v\n%s", graph, authority, err1, err2, logs.String())
	}
	graph, authority = strings.TrimSpace(graph), strings.TrimSpace(authority)
	if !strings.HasPrefix(graph, "https://127.0.0.1:") || !strings.HasSuffix(graph, "/v1.0") || graph != authority+"/v1.0" {
		t.Fatalf("urls %q %q", graph, authority)
	}
	pemData, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		t.Fatal("no certificate in the ca file")
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	c, err := defenderti.New(defenderti.Settings{
		TenantID: "contoso.onmicrosoft.com", ClientID: "00001111-aaaa-2222-bbbb-3333cccc4444", ClientSecret: "any-secret-value",
		BaseURL: graph, AuthorityURL: authority, PageSize: 100, MaxRecords: 1000,
	}, defenderti.WithHTTPClient(hc))
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.PassiveDNS(t.Context(), "malicious.example", false, time.Now().Add(-30*24*time.Hour))
	if err != nil {
		t.Fatalf("%v\n%s", err, logs.String())
	}
	if len(res.Records) < 5 {
		t.Errorf("records within 30 days: %d", len(res.Records))
	}
	n := 0
	if err := c.Articles(t.Context(), func(defenderti.Article) (bool, error) { n++; return true, nil }); err != nil || n != 3 {
		t.Errorf("articles %d %v", n, err)
	}
	if strings.Contains(logs.String(), "any-secret-value") {
		t.Error("the simulator logged the client secret")
	}
}
