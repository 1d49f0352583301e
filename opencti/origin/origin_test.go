package origin_test

import (
	"errors"
	"net/http"
	"net/url"
	"testing"

	"github.com/riskiq-opencti/connectors/opencti/origin"
)

func TestOf(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://Example.COM/x", "https://example.com:443"},
		{"http://example.com", "http://example.com:80"},
		{"http://example.com:8080/a", "http://example.com:8080"},
		{"HTTPS://[2001:DB8::1]/", "https://[2001:db8::1]:443"},
		{"amqp://host", "amqp://host:"},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := origin.Of(u); got != tt.want {
			t.Errorf("Of(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCheckRedirect(t *testing.T) {
	refused := errors.New("refused")
	req := func(s string) *http.Request {
		r, err := http.NewRequest(http.MethodGet, s, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	first := []*http.Request{req("https://api.example.com/v2/x")}
	check := origin.CheckRedirect(refused, nil)
	for _, to := range []string{"https://api.example.com:8443/y", "http://api.example.com/y", "https://other.example.com/y"} {
		if err := check(req(to), first); !errors.Is(err, refused) {
			t.Errorf("redirect to %s = %v, want refused", to, err)
		}
	}
	if err := check(req("https://API.example.com:443/y"), first); err != nil {
		t.Errorf("same-origin redirect = %v, want followed", err)
	}
	many := make([]*http.Request, origin.MaxRedirects)
	for i := range many {
		many[i] = first[0]
	}
	if err := check(req("https://api.example.com/z"), many); err == nil {
		t.Error("redirect beyond the limit followed")
	}
	called := false
	own := origin.CheckRedirect(refused, func(*http.Request, []*http.Request) error { called = true; return nil })
	if err := own(req("https://api.example.com/z"), many); err != nil || !called {
		t.Errorf("caller's policy not applied: err %v, called %v", err, called)
	}
}
