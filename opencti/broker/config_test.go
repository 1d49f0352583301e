package broker

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestConfigFromURL(t *testing.T) {
	tests := []struct {
		in      string
		want    Config
		wantErr string
	}{
		{in: "amqp://guest:guest@127.0.0.1:5672/%2F", want: Config{Host: "127.0.0.1", Port: 5672, VHost: "/", User: "guest", Password: "guest"}},
		{in: "amqp://guest:guest@127.0.0.1:5672/", want: Config{Host: "127.0.0.1", Port: 5672, VHost: "/", User: "guest", Password: "guest"}},
		{in: "amqp://rabbit", want: Config{Host: "rabbit", Port: 5672, VHost: "/"}},
		{in: "amqps://u@rabbit/opencti", want: Config{Host: "rabbit", Port: 5671, VHost: "opencti", User: "u", UseSSL: true}},
		{in: "AMQP://u:@[::1]:15672/a%2Fb", want: Config{Host: "::1", Port: 15672, VHost: "a/b", User: "u"}},
		{in: "amqp://us%40er:p%3Ass%2Fw%40rd@h/v%20h", want: Config{Host: "h", Port: 5672, VHost: "v h", User: "us@er", Password: "p:ss/w@rd"}},
		{in: "amqp://h/%2F?heartbeat=30&connection_name=push%20conn", want: Config{Host: "h", Port: 5672, VHost: "/", Heartbeat: 30 * time.Second, ConnectionName: "push conn"}},
		{in: "http://h/", wantErr: `scheme "http" is not amqp or amqps`},
		{in: "amqp:h", wantErr: "missing // after the scheme"},
		{in: "amqp:///vhost", wantErr: "missing host"},
		{in: "amqp://h:0/", wantErr: `port "0" is not between 1 and 65535`},
		{in: "amqp://u:p@h:0/", wantErr: `port (withheld: the URL has credentials) is not between 1 and 65535`},
		{in: "amqp://u:p#q@h/", wantErr: `details withheld`},
		{in: "amqp://[fe80::1%25eth0]:5672/", want: Config{Host: "fe80::1%eth0", Port: 5672, VHost: "/"}},
		{in: "amqp://rabbit_1.internal-net/", want: Config{Host: "rabbit_1.internal-net", Port: 5672, VHost: "/"}},
		{in: "amqp://0%25/", wantErr: `host "0%" is not a host name`},
		{in: "amqp://a!b/", wantErr: `host "a!b" is not a host name`},
		{in: "amqp://::/", wantErr: `host ":" is not a host name or a bracketed IPv6 address`},
		{in: "amqp://h/?a=%zz", wantErr: `malformed query`},
		{in: "amqp://h:70000/", wantErr: `port "70000" is not between 1 and 65535`},
		{in: "amqp://h:x/", wantErr: `invalid port ":x" after host`},
		{in: "amqp://h/a/b", wantErr: "more than one segment"},
		{in: "amqp://h/%zz", wantErr: "invalid percent-encoding"},
		{in: "amqp://h/?heartbeat=0", wantErr: `heartbeat "0" is not a number of seconds`},
		{in: "amqp://h/?heartbeat=1&heartbeat=2", wantErr: `query parameter "heartbeat" given 2 times`},
		{in: "amqp://h/?verify=none", wantErr: `unknown query parameter "verify"`},
		{in: "amqp://h/#frag", wantErr: "fragments are not allowed"},
		{in: "amqp://u:pa%zzss@h/", wantErr: "details withheld"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ConfigFromURL(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ConfigFromURL(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ConfigFromURL(%q) error = %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreUnexported(tls.Config{})); diff != "" {
				t.Errorf("ConfigFromURL(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestConfigStringHidesPassword(t *testing.T) {
	const secret = "s3cr3t-PASSWORD-42"
	cfg := Config{Host: "rabbit", User: "opencti", Password: secret, VHost: "/", Heartbeat: 20 * time.Second, ConnectionName: "listen", UseSSL: true}
	const want = "amqps://opencti@rabbit:5671/%2F?connection_name=listen&heartbeat=20"
	if got := cfg.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", slog.Any("cfg", cfg))
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", slog.Any("cfg", cfg), slog.Any("ptr", &cfg))
	fmt.Fprintf(&buf, "%v %+v %#v %s", cfg, cfg, cfg, cfg)
	if strings.Contains(buf.String(), secret) {
		t.Errorf("password printed: %s", buf.String())
	}
}

func TestConfigValidate(t *testing.T) {
	err := Config{Port: 70000, Heartbeat: -time.Second}.Validate()
	if err == nil {
		t.Fatal("Validate() = nil, want errors")
	}
	for _, want := range []string{"host is empty", "port 70000 is out of range", "heartbeat -1s is negative"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %q, want it to contain %q", err, want)
		}
	}
	if err := (Config{Host: "h"}).Validate(); err != nil {
		t.Errorf("Validate() of a minimal config = %v, want nil", err)
	}
}

func TestConfigTLS(t *testing.T) {
	got := Config{Host: "rabbit", UseSSL: true}.tlsConfig()
	if !got.InsecureSkipVerify || got.ServerName != "rabbit" {
		t.Errorf("default tlsConfig() = {InsecureSkipVerify: %v, ServerName: %q}, want {true, rabbit}", got.InsecureSkipVerify, got.ServerName)
	}
	own := &tls.Config{MinVersion: tls.VersionTLS13}
	got = Config{Host: "rabbit", UseSSL: true, TLS: own}.tlsConfig()
	if got.InsecureSkipVerify || got.ServerName != "rabbit" || got.MinVersion != tls.VersionTLS13 {
		t.Errorf("tlsConfig() with a caller config = %+v, want verification on, ServerName rabbit", got)
	}
	if own.ServerName != "" {
		t.Error("tlsConfig() modified the caller's tls.Config")
	}
}

// FuzzConfigFromURL checks that parsing never panics, that a parsed Config is valid and
// that its String parses back to the same Config without the password.
func FuzzConfigFromURL(f *testing.F) {
	for _, s := range []string{
		"amqp://guest:guest@127.0.0.1:5672/%2F", "amqps://u@h/v?heartbeat=5&connection_name=x",
		"amqp://[::1]:1/a%2Fb", "amqp://h/%zz", "amqp://u:p@h:65535/%25", "amqp://h/;a:b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		cfg, err := ConfigFromURL(raw)
		if err != nil {
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("ConfigFromURL(%q) = %#v, invalid: %v", raw, cfg, err)
		}
		back, err := ConfigFromURL(cfg.String())
		if err != nil {
			t.Fatalf("ConfigFromURL(String() = %q) error = %v (from %q)", cfg.String(), err, raw)
		}
		cfg.Password = ""
		if diff := cmp.Diff(cfg, back, cmpopts.IgnoreUnexported(tls.Config{})); diff != "" {
			t.Errorf("round trip of %q via %q mismatch (-want +got):\n%s", raw, cfg.String(), diff)
		}
	})
}

// FuzzConfigFromURLSecret checks that the password never shows in errors or String.
func FuzzConfigFromURLSecret(f *testing.F) {
	f.Add("user", "pass", "host", "5672")
	f.Add("u", "%zz", "h", "x")
	f.Add("", "a:b@c", "[::1", "")
	f.Fuzz(func(t *testing.T, user, pass, host, port string) {
		if strings.Contains(user+host+port, "SECRET") {
			t.Skip("the marker must only be in the password")
		}
		secret := "SECRET-" + pass
		for _, raw := range []string{
			"amqp://" + url.UserPassword(user, secret).String() + "@" + host + ":" + port + "/",
			"amqp://" + user + ":" + secret + "@" + host + ":" + port + "/",
		} {
			cfg, err := ConfigFromURL(raw)
			if err != nil {
				if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "SECRET") {
					t.Fatalf("ConfigFromURL(%q) error %q shows the password", raw, err)
				}
				continue
			}
			if s := cfg.String(); strings.Contains(s, "SECRET") {
				t.Fatalf("String() = %q shows the password", s)
			}
		}
	})
}
