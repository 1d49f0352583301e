package enrichment

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskiq-opencti/connectors/internal/defenderti"
	"github.com/riskiq-opencti/connectors/internal/defenderti/defendertitest"
)

// defenderNow is the clock of the Graph golden tests: the fake's newest date.
var defenderNow = defendertitest.Anchor

// noSleep makes the client's waits instant (still honouring ctx).
func noSleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }

// newGraph returns the fake Graph and a real client for it.
func newGraph(t testing.TB, logs *bytes.Buffer, pageSize int, mod func(*defenderti.Settings), opts ...func(*defendertitest.Options)) (*defenderti.Client, *defendertitest.Server) {
	t.Helper()
	srv := defendertitest.NewServer(t, opts...)
	s := srv.Settings()
	if pageSize > 0 {
		s.PageSize = pageSize
	}
	if mod != nil {
		mod(&s)
	}
	log := slog.New(slog.DiscardHandler)
	if logs != nil {
		log = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	c, err := defenderti.New(s, defenderti.WithHTTPClient(srv.Client()), defenderti.WithLogger(log),
		defenderti.WithClock(func() time.Time { return defenderNow }), defenderti.WithSleep(noSleep),
		defenderti.WithRetry(3, 5*time.Second), defenderti.WithBackoff(time.Millisecond, 5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	return c, srv
}

// TestEnrichDefenderGolden runs the Defender handler through the real client
// against the fake Graph and compares the objects sent back with
// testdata/defender-<case>/objects.golden.json.
func TestEnrichDefenderGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, golden    string
		stixType, value string
		window          time.Duration
		pageSize        int
		wantMsg         string
		wantPages       int // passive DNS calls
	}{
		{name: "forward", golden: "defender-forward-malicious.example", stixType: "domain-name", value: "malicious.example",
			window: 3650 * 24 * time.Hour, wantPages: 1,
			wantMsg: "Passive DNS of malicious.example (Microsoft Defender TI, forward): 11 records, 15 new objects, 3 skipped"},
		// Same records in pages of 2: the same objects.
		{name: "paging", golden: "defender-forward-malicious.example", stixType: "domain-name", value: "malicious.example",
			window: 3650 * 24 * time.Hour, pageSize: 2, wantPages: 6,
			wantMsg: "Passive DNS of malicious.example (Microsoft Defender TI, forward): 11 records, 15 new objects, 3 skipped"},
		// P30D before the anchor: the TXT, PTR, HTTPS and 2023 records are older.
		{name: "window", golden: "defender-window-malicious.example", stixType: "domain-name", value: "malicious.example",
			window: 30 * 24 * time.Hour, pageSize: 2, wantPages: 4,
			wantMsg: "Passive DNS of malicious.example (Microsoft Defender TI, forward): 7 records, 13 new objects"},
		{name: "reverse ipv4", golden: "defender-reverse-192.0.2.10", stixType: "ipv4-addr", value: "192.0.2.10",
			window: 3650 * 24 * time.Hour, wantPages: 1, wantMsg: "(Microsoft Defender TI, reverse)"},
		{name: "reverse ipv6", golden: "defender-reverse-2001-db8--10", stixType: "ipv6-addr", value: "2001:db8::10",
			window: 3650 * 24 * time.Hour, wantPages: 1, wantMsg: "(Microsoft Defender TI, reverse)"},
		{name: "hostname", golden: "defender-hostname-malicious.example", stixType: "hostname", value: "malicious.example",
			window: 30 * 24 * time.Hour, wantPages: 1, wantMsg: "(Microsoft Defender TI, forward): 7 records, 13 new objects"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client, srv := newGraph(t, nil, tt.pageSize, nil)
			h := NewDefenderHandler(Defender{Client: client}, Config{MaxTLP: "TLP:AMBER", Window: tt.window,
				Now: func() time.Time { return defenderNow }})
			res, err := h.Enrich(t.Context(), defenderRequest(t, tt.stixType, tt.value, "TLP:GREEN"))
			if err != nil {
				t.Fatalf("Enrich(%s) = %v", tt.value, err)
			}
			if !strings.Contains(res.Message, tt.wantMsg) {
				t.Errorf("message = %q, want %q", res.Message, tt.wantMsg)
			}
			endpoint := defendertitest.EndpointPassiveDNS
			if tt.stixType == "ipv4-addr" || tt.stixType == "ipv6-addr" {
				endpoint = defendertitest.EndpointPassiveDNSReverse
			}
			if got := srv.Calls(endpoint); got != tt.wantPages {
				t.Errorf("%s calls = %d, want %d", endpoint, got, tt.wantPages)
			}
			got := indentObjects(t, res.Objects)
			golden := filepath.Join("testdata", tt.golden, "objects.golden.json")
			if *update && tt.name != "paging" {
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
				t.Errorf("Enrich(%s) objects mismatch (-want +got):\n%s", tt.value, diff)
			}
		})
	}
}

// volatile matches the parts of an error that change from run to run.
var volatile = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|https://127\.0\.0\.1:[0-9]+`)

// TestEnrichDefenderFaults injects every documented failure into the fake
// Graph and token endpoint: each ends the work in error (never "No
// information found") with the message in testdata/defender-faults.golden,
// without a secret or a token in the error or the logs, after a bounded
// number of calls; a 404 is "No information found".
func TestEnrichDefenderFaults(t *testing.T) {
	t.Parallel()
	const host = "malicious.example"
	tests := []struct {
		name      string
		inject    func(s *defendertitest.Server)
		settings  func(s *defenderti.Settings)
		wantIs    error // nil: success
		wantMsg   string
		wantCalls int // passive DNS calls
	}{
		{name: "503 retries exhausted", inject: func(s *defendertitest.Server) {
			s.Fail(defendertitest.EndpointPassiveDNS, http.StatusServiceUnavailable, -1, 0)
		}, wantIs: errAny, wantCalls: 3},
		{name: "429 then success", inject: func(s *defendertitest.Server) {
			s.Fail(defendertitest.EndpointPassiveDNS, http.StatusTooManyRequests, 1, time.Second)
		}, wantMsg: "11 records", wantCalls: 7},
		{name: "500 then success", inject: func(s *defendertitest.Server) {
			s.Fail(defendertitest.EndpointPassiveDNS, http.StatusInternalServerError, 2, 0)
		}, wantMsg: "11 records", wantCalls: 8},
		{name: "403 permission missing", inject: func(s *defendertitest.Server) {
			s.Inject(defendertitest.EndpointPassiveDNS, defendertitest.Fault{Status: http.StatusForbidden, Message: defendertitest.PermissionMissingMessage, Times: -1})
		}, wantIs: defenderti.ErrAccessDenied, wantCalls: 1},
		{name: "403 tenant verification", inject: func(s *defendertitest.Server) {
			s.Inject(defendertitest.EndpointPassiveDNS, defendertitest.Fault{Status: http.StatusForbidden, Message: defendertitest.TenantVerificationMessage, Times: -1})
		}, wantIs: defenderti.ErrAccessDenied, wantCalls: 1},
		{name: "401 after refresh", inject: func(s *defendertitest.Server) {
			s.Fail(defendertitest.EndpointPassiveDNS, http.StatusUnauthorized, -1, 0)
		}, wantIs: defenderti.ErrAuthentication, wantCalls: 2},
		{name: "wrong secret AADSTS7000215", inject: func(*defendertitest.Server) {},
			settings: func(s *defenderti.Settings) { s.ClientSecret = "not-the-secret-value-31337" }, wantIs: defenderti.ErrAuthentication},
		{name: "tenant not found AADSTS90002", inject: func(*defendertitest.Server) {},
			settings: func(s *defenderti.Settings) { s.TenantID = "wrong-tenant.example" }, wantIs: defenderti.ErrAuthentication},
		{name: "expired secret AADSTS7000222", inject: func(s *defendertitest.Server) {
			s.Inject(defendertitest.EndpointToken, defendertitest.Fault{Status: http.StatusUnauthorized, AADSTS: 7000222, Times: -1})
		}, wantIs: defenderti.ErrAuthentication},
		{name: "malformed json", inject: func(s *defendertitest.Server) {
			s.Malformed(defendertitest.EndpointPassiveDNS, -1)
		}, wantIs: errAny, wantCalls: 2},
		{name: "html error page", inject: func(s *defendertitest.Server) {
			s.Inject(defendertitest.EndpointPassiveDNS, defendertitest.Fault{Status: http.StatusBadGateway, ContentType: "text/html",
				Body: []byte("<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head></html>"), Times: -1})
		}, wantIs: errAny, wantCalls: 3},
		{name: "nextLink loop", inject: func(s *defendertitest.Server) {
			s.Inject(defendertitest.EndpointPassiveDNS, defendertitest.Fault{Paging: defendertitest.PagingLoop, Times: -1})
		}, wantIs: defenderti.ErrPaging, wantCalls: 1},
		{name: "nextLink to another host", inject: func(s *defendertitest.Server) {
			s.Inject(defendertitest.EndpointPassiveDNS, defendertitest.Fault{Paging: defendertitest.PagingForeign, ForeignURL: "https://evil.example", Times: -1})
		}, wantIs: defenderti.ErrPaging, wantCalls: 1},
		{name: "unsorted pages are read to the end", inject: func(s *defendertitest.Server) {
			s.Inject(defendertitest.EndpointPassiveDNS, defendertitest.Fault{Paging: defendertitest.PagingUnsorted, Times: -1})
		}, wantMsg: "11 records", wantCalls: 6},
		{name: "404 unknown host", inject: func(s *defendertitest.Server) {
			s.Fail(defendertitest.EndpointPassiveDNS, http.StatusNotFound, -1, 0)
		}, wantMsg: "No information found (the host is unknown to Microsoft Defender TI)", wantCalls: 1},
	}
	var lines []string
	results := make([]string, len(tests))
	t.Run("cases", func(t *testing.T) {
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				var logs bytes.Buffer
				client, srv := newGraph(t, &logs, 2, tt.settings)
				tt.inject(srv)
				h := NewDefenderHandler(Defender{Client: client}, Config{Window: 3650 * 24 * time.Hour, Now: func() time.Time { return defenderNow },
					Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
				res, err := h.Enrich(t.Context(), defenderRequest(t, "domain-name", host, ""))
				switch {
				case tt.wantIs == nil && err != nil:
					t.Fatalf("Enrich() = %v, want success", err)
				case tt.wantIs == nil:
					if !strings.Contains(res.Message, tt.wantMsg) {
						t.Errorf("message = %q, want %q", res.Message, tt.wantMsg)
					}
					results[i] = "ok: " + res.Message
				case err == nil:
					t.Fatalf("Enrich() = %q, want an error", res.Message)
				default:
					if !errors.Is(tt.wantIs, errAny) && !errors.Is(err, tt.wantIs) {
						t.Errorf("Enrich() error = %v, want %v", err, tt.wantIs)
					}
					if strings.Contains(err.Error(), "No information found") {
						t.Errorf("an error reads %q", err)
					}
					results[i] = "error: " + volatile.ReplaceAllString(err.Error(), "<id>")
				}
				for _, secret := range []string{srv.ClientSecret(), "not-the-secret-value-31337", "Bearer "} {
					if strings.Contains(results[i], secret) || strings.Contains(logs.String(), secret) {
						t.Errorf("%q leaked into the error or the logs", secret)
					}
				}
				if got := srv.Calls(defendertitest.EndpointPassiveDNS); got != tt.wantCalls {
					t.Errorf("passive DNS calls = %d, want %d", got, tt.wantCalls)
				}
			})
		}
	})
	for i, tt := range tests {
		lines = append(lines, tt.name+": "+results[i])
	}
	got := strings.Join(lines, "\n") + "\n"
	golden := filepath.Join("testdata", "defender-faults.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("fault messages mismatch (-want +got):\n%s", diff)
	}
}

// errAny accepts any error in TestEnrichDefenderFaults.
var errAny = errors.New("any error")

// TestEnrichDefenderAccessDeniedIsHeld: after a 403 the next requests end in
// the same error without calling Graph until the re-check time; then Graph is
// asked again.
func TestEnrichDefenderAccessDeniedIsHeld(t *testing.T) {
	t.Parallel()
	client, srv := newGraph(t, nil, 0, nil)
	srv.Inject(defendertitest.EndpointPassiveDNS, defendertitest.Fault{Status: http.StatusForbidden, Message: defendertitest.TenantVerificationMessage})
	now := defenderNow
	h := NewDefenderHandler(Defender{Client: client}, Config{Window: 3650 * 24 * time.Hour, Now: func() time.Time { return now }})
	enrich := func() (string, error) {
		res, err := h.Enrich(t.Context(), defenderRequest(t, "domain-name", "malicious.example", ""))
		return res.Message, err
	}
	if _, err := enrich(); !errors.Is(err, defenderti.ErrAccessDenied) || !strings.Contains(err.Error(), "https://security.microsoft.com/tenant-verification") {
		t.Fatalf("first Enrich() = %v, want access denied with the verification link", err)
	}
	now = now.Add(DefaultDeniedRecheck - time.Second)
	if _, err := enrich(); !errors.Is(err, defenderti.ErrAccessDenied) || !strings.Contains(err.Error(), "not asked again until") {
		t.Errorf("Enrich() within the re-check period = %v, want the held error", err)
	}
	if got := srv.Calls(defendertitest.EndpointPassiveDNS); got != 1 {
		t.Errorf("passive DNS calls = %d, want 1 (the second request held back)", got)
	}
	now = now.Add(time.Second)
	if msg, err := enrich(); err != nil || !strings.Contains(msg, "11 records") {
		t.Errorf("Enrich() after the re-check period = %q, %v; want Graph asked again", msg, err)
	}
}
