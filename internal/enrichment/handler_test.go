package enrichment

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskiq-opencti/connectors/internal/passivetotal"
	"github.com/riskiq-opencti/connectors/internal/passivetotal/passivetotaltest"
	"github.com/riskiq-opencti/connectors/opencti"
	"github.com/riskiq-opencti/connectors/opencti/api"
	"github.com/riskiq-opencti/connectors/opencti/stix"
)

var update = flag.Bool("update", false, "rewrite the golden files")

const testKey = "pt-key-4b1d9e77c0ffee"

// newSource returns the PassiveTotal source talking to a fake mounted under /pt.
func newSource(t *testing.T, opts ...passivetotaltest.Option) (PassiveTotal, *passivetotaltest.Server) {
	t.Helper()
	srv := passivetotaltest.NewServer(t, append([]passivetotaltest.Option{passivetotaltest.WithClock(func() time.Time { return fixedNow })}, opts...)...)
	c, err := passivetotal.New(passivetotal.JoinVersion(srv.RootURL()), "analyst@example.com", testKey,
		passivetotal.WithHTTPClient(srv.Client()), passivetotal.WithRetry(3, 5*time.Second),
		passivetotal.WithBackoff(time.Millisecond, 5*time.Millisecond), passivetotal.WithClock(func() time.Time { return fixedNow }))
	if err != nil {
		t.Fatal(err)
	}
	return PassiveTotal{Client: c}, srv
}

// newClientLogging returns a PassiveTotal client for srv that logs at debug level into w.
func newClientLogging(t *testing.T, srv *passivetotaltest.Server, w *bytes.Buffer) *passivetotal.Client {
	t.Helper()
	c, err := passivetotal.New(passivetotal.JoinVersion(srv.RootURL()), "analyst@example.com", testKey,
		passivetotal.WithHTTPClient(srv.Client()), passivetotal.WithRetry(3, 5*time.Second),
		passivetotal.WithBackoff(time.Millisecond, 5*time.Millisecond), passivetotal.WithClock(func() time.Time { return fixedNow }),
		passivetotal.WithLogger(slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// request builds the enrichment request the SDK hands the handler for an
// observable marked with the given TLP.
func request(t *testing.T, stixType, value, tlp string) *opencti.Request {
	t.Helper()
	var id string
	switch stixType {
	case "ipv4-addr":
		id = stix.NewIPv4Addr(value).ID()
	case "domain-name":
		id = stix.NewDomainName(value).ID()
	default:
		id = stixType + "--00000000-0000-4000-8000-000000000000"
	}
	entity, _ := json.Marshal(map[string]any{"type": stixType, "spec_version": "2.1", "id": id, "value": value})
	req := &opencti.Request{
		EntityID: id, EntityType: entityTypes[stixType], StixEntity: entity,
		StixObjects: []json.RawMessage{entity},
		Entity:      &api.Entity{ID: "internal-" + value, StandardID: id, EntityType: entityTypes[stixType], ObservableValue: value},
	}
	if tlp != "" {
		req.Entity.Markings = []api.Marking{{DefinitionType: "TLP", Definition: tlp}}
	}
	return req
}

var entityTypes = map[string]string{"ipv4-addr": "IPv4-Addr", "domain-name": "Domain-Name", "url": "Url"}

func newHandler(src Source, maxTLP string) *Handler {
	return NewHandler(src, Config{MaxTLP: maxTLP, Window: 3650 * 24 * time.Hour, Now: func() time.Time { return fixedNow },
		InScope: func(t string) bool { return t == "IPv4-Addr" || t == "Domain-Name" }})
}

// TestEnrichGolden runs the handler against the fake PassiveTotal for each
// sample value and compares the objects sent back with testdata/<case>/objects.golden.json.
func TestEnrichGolden(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, stixType, value string }{
		{"domain-passivetotal.org", "domain-name", "passivetotal.org"},
		{"domain-www.riskiq.com", "domain-name", "www.riskiq.com"},
		{"ipv4-54.153.123.93", "ipv4-addr", "54.153.123.93"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src, _ := newSource(t)
			res, err := newHandler(src, "TLP:AMBER").Enrich(t.Context(), request(t, tc.stixType, tc.value, "TLP:GREEN"))
			if err != nil {
				t.Fatalf("Enrich(%s) = %v", tc.value, err)
			}
			got := indentObjects(t, res.Objects)
			golden := filepath.Join("testdata", tc.name, "objects.golden.json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("Enrich(%s) objects mismatch (-want +got):\n%s", tc.value, diff)
			}
		})
	}
}

// indentObjects renders the objects as an indented JSON array.
func indentObjects(t *testing.T, objects []any) []byte {
	t.Helper()
	raw, err := json.Marshal(objects)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		t.Fatal(err)
	}
	buf.WriteByte('\n')
	return buf.Bytes()
}

func TestEnrichFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		maxTLP    string
		tlp       string
		stixType  string
		value     string
		fault     func(h *passivetotaltest.Server)
		wantErr   string
		wantIs    error
		wantMsg   string
		wantCalls int // passive DNS calls made
	}{
		{name: "tlp above max: no call", maxTLP: "TLP:GREEN", tlp: "TLP:AMBER", stixType: "domain-name", value: "passivetotal.org", wantErr: "RISKIQ_MAX_TLP is TLP:GREEN", wantIs: ErrTLPTooHigh},
		{name: "red under amber+strict", maxTLP: "TLP:AMBER+STRICT", tlp: "TLP:RED", stixType: "domain-name", value: "passivetotal.org", wantIs: ErrTLPTooHigh},
		{name: "no tlp is allowed", maxTLP: "TLP:CLEAR", stixType: "domain-name", value: "nx.passivetotal.org", wantMsg: "No information found", wantCalls: 1},
		{name: "quota reached", maxTLP: "TLP:RED", stixType: "domain-name", value: "passivetotal.org",
			fault: func(s *passivetotaltest.Server) { s.SetQuota(500, 500) }, wantErr: "quota reached, next reset at", wantIs: passivetotal.ErrQuotaExceeded},
		{name: "authentication failed", stixType: "domain-name", value: "passivetotal.org",
			fault: func(s *passivetotaltest.Server) { s.Fail(passivetotaltest.EndpointQuota, 401, 0, "") }, wantErr: "authentication failed", wantIs: passivetotal.ErrAuth},
		{name: "server errors exhaust retries", stixType: "domain-name", value: "passivetotal.org",
			fault: func(s *passivetotaltest.Server) { s.Fail(passivetotaltest.EndpointPassiveDNS, 503, 0, "") }, wantErr: "passivetotal lookup failed", wantCalls: 3},
		{name: "429 then success", stixType: "domain-name", value: "passivetotal.org",
			fault: func(s *passivetotaltest.Server) { s.Fail(passivetotaltest.EndpointPassiveDNS, 429, 1, "0") }, wantMsg: "Passive DNS of passivetotal.org", wantCalls: 2},
		{name: "malformed json", stixType: "domain-name", value: "passivetotal.org",
			fault: func(s *passivetotaltest.Server) { s.Malformed(passivetotaltest.EndpointPassiveDNS, 0) }, wantErr: "/dns/passive", wantCalls: 1},
		{name: "out of scope", stixType: "url", value: "https://example.com/", wantMsg: "not in the connector scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src, srv := newSource(t)
			if tt.fault != nil {
				tt.fault(srv)
			}
			var logs bytes.Buffer
			h := NewHandler(src, Config{MaxTLP: tt.maxTLP, Window: 3650 * 24 * time.Hour, Now: func() time.Time { return fixedNow },
				InScope: func(t string) bool { return t == "IPv4-Addr" || t == "Domain-Name" },
				Logger:  slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			src.Client = newClientLogging(t, srv, &logs)
			res, err := h.Enrich(context.Background(), request(t, tt.stixType, tt.value, tt.tlp))
			if tt.wantErr != "" || tt.wantIs != nil {
				if err == nil {
					t.Fatalf("Enrich() = %+v, want an error", res)
				}
				if !strings.Contains(err.Error(), tt.wantErr) || (tt.wantIs != nil && !errors.Is(err, tt.wantIs)) {
					t.Errorf("Enrich() error = %v, want %q / %v", err, tt.wantErr, tt.wantIs)
				}
				if strings.Contains(err.Error(), "No information found") {
					t.Errorf("an error is reported as %q", err)
				}
				if strings.Contains(err.Error(), testKey) || strings.Contains(logs.String(), testKey) {
					t.Errorf("the API key leaked: %v", err)
				}
			} else {
				if err != nil {
					t.Fatalf("Enrich() = %v", err)
				}
				if !strings.Contains(res.Message, tt.wantMsg) {
					t.Errorf("Enrich() message = %q, want %q", res.Message, tt.wantMsg)
				}
			}
			if got := srv.Calls(passivetotaltest.EndpointPassiveDNS); got != tt.wantCalls {
				t.Errorf("passive DNS calls = %d, want %d", got, tt.wantCalls)
			}
		})
	}
}

// TestEnrichTLPIsPerEntity checks a refused entity's TLP does not carry over
// to the next request (the Python connector kept it when the next entity had none).
func TestEnrichTLPIsPerEntity(t *testing.T) {
	t.Parallel()
	src, srv := newSource(t)
	h := newHandler(src, "TLP:GREEN")
	if _, err := h.Enrich(t.Context(), request(t, "domain-name", "passivetotal.org", "TLP:RED")); !errors.Is(err, ErrTLPTooHigh) {
		t.Fatalf("first Enrich() error = %v, want ErrTLPTooHigh", err)
	}
	res, err := h.Enrich(t.Context(), request(t, "domain-name", "passivetotal.org", ""))
	if err != nil {
		t.Fatalf("second Enrich() of an unmarked entity = %v", err)
	}
	if len(res.Objects) == 0 || srv.Calls(passivetotaltest.EndpointPassiveDNS) != 1 {
		t.Errorf("unmarked entity not looked up: %d objects, %d calls", len(res.Objects), srv.Calls(passivetotaltest.EndpointPassiveDNS))
	}
}

// TestEnrichConcurrentQuotaRead: 8 concurrent requests (the default
// CONNECTOR_CONCURRENCY) share one quota read. While the quota endpoint
// fails, the read is made once (3 tries) and every request ends in error at
// once with its cause, where each request used to read again in turn.
func TestEnrichConcurrentQuotaRead(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		fail      bool
		wantQuota int
	}{
		{name: "slow answer", wantQuota: 1},
		{name: "failing endpoint", fail: true, wantQuota: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src, srv := newSource(t)
			if tt.fail {
				srv.Fail(passivetotaltest.EndpointQuota, 500, 0, "")
			}
			release := srv.Hold(passivetotaltest.EndpointQuota)
			defer release()
			h := newHandler(src, "")
			const n = 8
			errs := make(chan error, n)
			for i := range n {
				go func() {
					_, err := h.Enrich(t.Context(), request(t, "domain-name", fmt.Sprintf("host%d.passivetotal.org", i), ""))
					errs <- err
				}()
			}
			deadline := time.Now().Add(10 * time.Second)
			for srv.Calls(passivetotaltest.EndpointQuota) == 0 {
				if time.Now().After(deadline) {
					t.Fatal("no quota read within 10 s")
				}
				time.Sleep(time.Millisecond)
			}
			release()
			for range n {
				err := <-errs
				switch {
				case tt.fail && (err == nil || !strings.Contains(err.Error(), "passivetotal lookup failed") || !strings.Contains(err.Error(), "HTTP 500")):
					t.Errorf("Enrich() = %v, want the quota read's HTTP 500", err)
				case !tt.fail && err != nil:
					t.Errorf("Enrich() = %v", err)
				}
			}
			if got := srv.Calls(passivetotaltest.EndpointQuota); got != tt.wantQuota {
				t.Errorf("%d concurrent requests made %d quota calls, want %d", n, got, tt.wantQuota)
			}
			wantDNS := n
			if tt.fail {
				wantDNS = 0
			}
			if got := srv.Calls(passivetotaltest.EndpointPassiveDNS); got != wantDNS {
				t.Errorf("passive DNS calls = %d, want %d", got, wantDNS)
			}
		})
	}
}
