package httpretry_test

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/riskiq-opencti/connectors/internal/httpretry"
)

func TestParseAfter(t *testing.T) {
	now := time.Date(2025, 6, 15, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"3", 3 * time.Second, true},
		{" 120 ", 2 * time.Minute, true},
		{"0", 0, true},
		{"Sun, 15 Jun 2025 12:00:30 GMT", 30 * time.Second, true},
		{"Sun, 15 Jun 2025 11:00:00 GMT", 0, true}, // in the past
		{"99999999999999999999", 0, false},
		{"-1", 0, false},
		{"soon", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, ok := httpretry.ParseAfter(tt.in, now)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("httpretry.ParseAfter(%q) = %v, %v, want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
	if got, ok := httpretry.ParseAfter("9223372036", now); !ok || got <= 0 {
		t.Errorf("httpretry.ParseAfter(huge) = %v, %v, want a positive capped delay", got, ok)
	}
}

// FuzzParseAfter checks Retry-After parsing on any header value: never a negative
// delay, and a plain number of seconds read as exactly that (saturating on overflow).
func FuzzParseAfter(f *testing.F) {
	for _, s := range []string{"", "0", "120", " 5 ", "-1", "+3", "1.5", "99999999999999999999",
		"9223372036", "Wed, 21 Oct 2015 07:28:00 GMT", "Mon, 15 Jan 2024 10:31:00 GMT", "Monday, 15-Jan-24 10:31:00 GMT",
		"Mon Jan 15 10:31:00 2024", "\x00", "١٢"} {
		f.Add(s)
	}
	now := time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := httpretry.ParseAfter(v, now)
		if !ok {
			if d != 0 {
				t.Fatalf("httpretry.ParseAfter(%q) = %v, false; want 0 when unusable", v, d)
			}
			return
		}
		if d < 0 {
			t.Fatalf("httpretry.ParseAfter(%q) = %v, want >= 0", v, d)
		}
		if secs, err := strconv.ParseUint(strings.TrimSpace(v), 10, 63); err == nil {
			want := time.Duration(min(secs, uint64(1<<63-1)/uint64(time.Second))) * time.Second
			if d != want {
				t.Fatalf("httpretry.ParseAfter(%q) = %v, want %v", v, d, want)
			}
		}
	})
}

func TestTransportCause(t *testing.T) {
	ue := &url.Error{Op: "Get", URL: "https://api.example/v2/dns?api_key=K", Err: context.DeadlineExceeded}
	err := httpretry.TransportCause(ue, 30*time.Second)
	if !errors.Is(err, context.DeadlineExceeded) || err.Error() != "attempt timed out after 30s: context deadline exceeded" {
		t.Errorf("TransportCause(timeout) = %v", err)
	}
	refused := &url.Error{Op: "Get", URL: "https://api.example/", Err: errors.New("connection refused")}
	if err := httpretry.TransportCause(refused, time.Second); err.Error() != "connection refused" {
		t.Errorf("TransportCause(refused) = %v, want the cause without the URL", err)
	}
}

func TestSleep(t *testing.T) {
	if err := httpretry.Sleep(t.Context(), time.Millisecond); err != nil {
		t.Errorf("Sleep() = %v", err)
	}
	ctx, cancel := context.WithCancelCause(t.Context())
	stop := errors.New("stopping")
	cancel(stop)
	if err := httpretry.Sleep(ctx, time.Hour); !errors.Is(err, stop) {
		t.Errorf("Sleep(cancelled) = %v, want the context's cause", err)
	}
}
