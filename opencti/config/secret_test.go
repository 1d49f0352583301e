package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestSecretPrintsRedacted(t *testing.T) {
	s := Secret("hunter2")
	text, _ := s.MarshalText()
	js, _ := json.Marshal(s)
	ym, _ := yaml.Marshal(s)
	got := map[string]string{
		"String":      s.String(),
		"GoString":    s.GoString(),
		"%v":          fmt.Sprintf("%v", s),
		"%s":          fmt.Sprintf("%s", s),
		"%q":          fmt.Sprintf("%q", s),
		"%#v":         fmt.Sprintf("%#v", s),
		"%+v":         fmt.Sprintf("%+v", s),
		"%x":          fmt.Sprintf("%x", s),
		"%10s":        fmt.Sprintf("%10s", s),
		"Sprint":      fmt.Sprint(s),
		"LogValue":    s.LogValue().String(),
		"MarshalJSON": string(js),
		"MarshalYAML": string(ym),
		"MarshalText": string(text),
		"in struct":   fmt.Sprintf("%+v", struct{ T Secret }{s}),
		"in struct #": fmt.Sprintf("%#v", struct{ T Secret }{s}),
		"pointer":     fmt.Sprintf("%v", &s),
	}
	want := map[string]string{
		"String":      "REDACTED",
		"GoString":    "REDACTED",
		"%v":          "REDACTED",
		"%s":          "REDACTED",
		"%q":          `"REDACTED"`,
		"%#v":         "REDACTED",
		"%+v":         "REDACTED",
		"%x":          "REDACTED",
		"%10s":        "REDACTED",
		"Sprint":      "REDACTED",
		"LogValue":    "REDACTED",
		"MarshalJSON": `"REDACTED"`,
		"MarshalYAML": "REDACTED\n",
		"MarshalText": "REDACTED",
		"in struct":   "{T:REDACTED}",
		"in struct #": "struct { T config.Secret }{T:REDACTED}",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %q, want %q", k, got[k], w)
		}
	}
	if strings.Contains(got["pointer"], "hunter2") {
		t.Errorf("%%v of *Secret = %q leaks the value", got["pointer"])
	}
	if s.Reveal() != "hunter2" {
		t.Errorf("Reveal() = %q", s.Reveal())
	}
	var empty Secret
	if empty.String() != "" || fmt.Sprintf("%q", empty) != `""` {
		t.Errorf("empty secret prints %q / %q, want empty", empty.String(), fmt.Sprintf("%q", empty))
	}
}

// TestSecretsNeverLeak drives known secrets through every failure path of
// the loader and greps everything an operator could see.
func TestSecretsNeverLeak(t *testing.T) {
	const (
		token      = "tok-SECRET-0c6f3e"
		mqPass     = "mqpass-SECRET-41d9"
		passphrase = "phrase-SECRET-9b21"
		urlPass    = "urlpass-SECRET-3e8c"
		headerVal  = "header-SECRET-5f02"
	)
	cases := []struct {
		name         string
		env          map[string]string
		yaml         string
		wantRedacted bool // a secret is valid, so REDACTED must show somewhere
	}{
		{
			name: "valid secrets, invalid everything else",
			env: map[string]string{
				"OPENCTI_TOKEN": token, "MQ_PASS": mqPass, "MQ_USE_SSL_PASSPHRASE": passphrase,
				"OPENCTI_URL": "ftp://x", "CONNECTOR_TYPE": "NOPE", "CONNECTOR_METRICS_PORT": "x",
				"LISTEN_PROTOCOL_API_SSL_PASSPHRASE": passphrase, "S3_SECRET_KEY": passphrase,
			},
			wantRedacted: true,
		},
		{
			name: "secrets in the wrong YAML shape",
			yaml: "opencti:\n  token: {value: " + token + "}\nmq:\n  pass: [" + mqPass + "]\n  use_ssl_key: {k: v}\n  use_ssl_passphrase: [" + passphrase + "]\n",
		},
		{
			name:         "secret in the URL",
			env:          map[string]string{"OPENCTI_URL": "https://user:" + urlPass + "@opencti.example", "OPENCTI_TOKEN": token},
			wantRedacted: true,
		},
		{
			name:         "secret in an unparsable URL",
			env:          map[string]string{"OPENCTI_URL": "http://user:" + urlPass + "@opencti:port/", "OPENCTI_TOKEN": "ChangeMe"},
			wantRedacted: true,
		},
		{
			name:         "secret in the URL query",
			env:          map[string]string{"OPENCTI_URL": "http://opencti:8080/graphql?api_key=" + urlPass, "OPENCTI_TOKEN": token},
			wantRedacted: true,
		},
		{
			name:         "secret in the query of an unparsable URL",
			env:          map[string]string{"OPENCTI_URL": "http://opencti:port/?api_key=" + urlPass, "OPENCTI_TOKEN": token},
			wantRedacted: true,
		},
		{
			name:         "secret with a slash in the URL",
			env:          map[string]string{"OPENCTI_URL": "http://user:12/" + urlPass + "@opencti/", "OPENCTI_TOKEN": token},
			wantRedacted: true,
		},
		{
			name:         "secret in a URL with a bad scheme",
			env:          map[string]string{"OPENCTI_URL": "ftp://user:" + urlPass + "@opencti/", "OPENCTI_TOKEN": token},
			wantRedacted: true,
		},
		{
			name: "secrets in malformed custom headers",
			yaml: "opencti:\n  custom_headers: \"Authorization Bearer " + headerVal + ";X-Key: " + headerVal + "\\nmore;Bad Name: " + headerVal + "\"\n",
		},
		{
			name: "secret in unparsable YAML",
			yaml: "opencti:\n  token: \"" + token + "\n  url: [\n",
		},
		{
			name: "secret in unparsable YAML flow",
			yaml: "opencti: {token: " + token + ", url: [}\n",
		},
	}
	secrets := []string{token, mqPass, passphrase, urlPass, headerVal}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var seen bytes.Buffer
			src, err := NewSource(envOf(c.env), []byte(c.yaml))
			if err != nil {
				seen.WriteString(err.Error())
				fmt.Fprintf(&seen, "%v %+v %#v", err, err, err)
			} else {
				cfg := Load(src, Defaults{})
				verr := src.Validate()
				if verr == nil {
					t.Fatal("Validate() = nil; the case must exercise failure paths")
				}
				seen.WriteString(verr.Error())
				fmt.Fprintf(&seen, "%v %+v %#v\n", verr, cfg, cfg)
				fmt.Fprintf(&seen, "%s %q %x\n", cfg.OpenCTI.Token, cfg.MQ.Pass, cfg.MQ.SSLPassphrase)
				for _, w := range src.Warnings() {
					seen.WriteString(w + "\n")
				}
				for _, p := range src.Problems() {
					fmt.Fprintf(&seen, "%v %+v %#v\n", p, *p, *p)
				}
				js, _ := json.Marshal(cfg)
				seen.Write(js)
				ym, _ := yaml.Marshal(cfg)
				seen.Write(ym)
				for _, h := range []slog.Handler{slog.NewJSONHandler(&seen, nil), slog.NewTextHandler(&seen, nil)} {
					slog.New(h).Error("config_invalid", "error", verr, "config", cfg,
						"token", cfg.OpenCTI.Token, "mq", cfg.MQ, "opencti", &cfg.OpenCTI)
				}
				seen.WriteString(fmt.Errorf("start connector: %w", verr).Error())
			}
			for _, s := range secrets {
				if strings.Contains(seen.String(), s) {
					t.Errorf("secret %q leaked:\n%s", s, seen.String())
				}
			}
			if c.wantRedacted && !strings.Contains(seen.String(), "REDACTED") {
				t.Errorf("no REDACTED in the output; the case does not exercise a secret:\n%s", seen.String())
			}
		})
	}
}

func TestValidateErrorsAreProblems(t *testing.T) {
	src, err := NewSource(envOf(map[string]string{"OPENCTI_TOKEN": "tok-SECRET"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	Load(src, Defaults{})
	var joined interface{ Unwrap() []error }
	if !errors.As(src.Validate(), &joined) {
		t.Fatalf("Validate() = %T, want an errors.Join result", src.Validate())
	}
	for _, e := range joined.Unwrap() {
		var p *Problem
		if !errors.As(e, &p) {
			t.Errorf("%v is %T, not a *Problem", e, e)
		}
	}
}
