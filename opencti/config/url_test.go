package config_test

import (
	"testing"

	"github.com/riskiq-opencti/connectors/opencti/config"
)

func TestCheckBaseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw, wantValue, wantReason string
	}{
		{raw: "https://api.example.com/pt"},
		{raw: "http://127.0.0.1:8080"},
		{raw: "HTTPS://api.example.com"},
		{raw: "api.example.com", wantValue: "api.example.com", wantReason: "must be an http:// or https:// URL with a host, e.g. X"},
		{raw: "ftp://api.example.com", wantValue: "ftp://api.example.com", wantReason: "must be an http:// or https:// URL with a host, e.g. X"},
		{raw: "https:///path", wantValue: "https:///path", wantReason: "must be an http:// or https:// URL with a host, e.g. X"},
		{raw: "https://user:s3cret@host:badport/pt", wantValue: "https://REDACTED@host:badport/pt", wantReason: "must be an http:// or https:// URL with a host, e.g. X"},
		{raw: "https://user:s3cret@api.example.com", wantValue: "https://REDACTED@api.example.com", wantReason: "must not contain a user name or password, e.g. X"},
		{raw: "https://api.example.com/pa/ss@word", wantValue: "https://REDACTED@word", wantReason: "must not contain a user name or password, e.g. X"},
		{raw: "https://api.example.com/?api_key=s3cret", wantValue: "https://api.example.com/?api_key=REDACTED", wantReason: "must not contain a query or fragment, e.g. X"},
		{raw: "https://api.example.com/?", wantValue: "https://api.example.com/?", wantReason: "must not contain a query or fragment, e.g. X"},
		{raw: "https://api.example.com/#frag", wantValue: "https://api.example.com/#REDACTED", wantReason: "must not contain a query or fragment, e.g. X"},
	}
	for _, tt := range tests {
		p := config.CheckBaseURL("X_URL", "x.url", tt.raw, ", e.g. X")
		if tt.wantReason == "" {
			if p != nil || config.BaseURLReason(tt.raw) != "" {
				t.Errorf("CheckBaseURL(%q) = %v, want nil", tt.raw, p)
			}
			continue
		}
		if p == nil {
			t.Errorf("CheckBaseURL(%q) = nil, want %q", tt.raw, tt.wantReason)
			continue
		}
		if p.Env != "X_URL" || p.Key != "x.url" || p.Value != tt.wantValue || p.Reason != tt.wantReason || p.Secret {
			t.Errorf("CheckBaseURL(%q) = %+v, want value %q reason %q", tt.raw, *p, tt.wantValue, tt.wantReason)
		}
	}
}
