package defenderti_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskiq-opencti/connectors/internal/defenderti"
	"github.com/riskiq-opencti/connectors/opencti/config"
)

const (
	testTenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	testClient = "00001111-aaaa-2222-bbbb-3333cccc4444"
	testSecret = "s3cr3t~value.with-enough_length"
)

func newSource(t *testing.T, env map[string]string, yml string) *config.Source {
	t.Helper()
	src, err := config.NewSource(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, []byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func problems(src *config.Source) []string {
	var out []string
	for _, p := range src.Problems() {
		out = append(out, p.Error())
	}
	return out
}

func TestReadSource(t *testing.T) {
	for _, tc := range []struct {
		name     string
		env      map[string]string
		yml      string
		want     string
		problems []string
	}{
		{name: "default", want: "passivetotal"},
		{name: "empty env falls back", env: map[string]string{"RISKIQ_SOURCE": ""}, want: "passivetotal"},
		{name: "defender", env: map[string]string{"RISKIQ_SOURCE": "defender"}, want: "defender"},
		{name: "any case and spaces", env: map[string]string{"RISKIQ_SOURCE": " Defender "}, want: "defender"},
		{name: "passivetotal upper", env: map[string]string{"RISKIQ_SOURCE": "PASSIVETOTAL"}, want: "passivetotal"},
		{name: "yaml", yml: "riskiq:\n  source: defender\n", want: "defender"},
		{name: "env beats yaml", env: map[string]string{"RISKIQ_SOURCE": "passivetotal"}, yml: "riskiq:\n  source: defender\n", want: "passivetotal"},
		{name: "unknown", env: map[string]string{"RISKIQ_SOURCE": "graph"}, want: "passivetotal",
			problems: []string{`RISKIQ_SOURCE (config.yml: riskiq.source) = "graph": must be passivetotal or defender`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := newSource(t, tc.env, tc.yml)
			if got := defenderti.ReadSource(src); got != tc.want {
				t.Errorf("ReadSource = %q, want %q", got, tc.want)
			}
			if diff := cmp.Diff(tc.problems, problems(src)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

// writeCertificate writes a self-signed certificate and its key as PEM
// blocks to a file and returns its path; parts selects what is written.
func writeCertificate(t *testing.T, withCert, withKey, encrypted bool) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<33, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	if withKey {
		b := &pem.Block{Type: "PRIVATE KEY"}
		b.Bytes, err = x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		if encrypted {
			b.Type = "ENCRYPTED PRIVATE KEY"
		}
		out = append(out, pem.EncodeToMemory(b)...)
	}
	if withCert {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	path := filepath.Join(t.TempDir(), "cert.pem")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadSettings(t *testing.T) {
	base := func(extra map[string]string) map[string]string {
		env := map[string]string{
			"DEFENDER_TI_TENANT_ID":     testTenant,
			"DEFENDER_TI_CLIENT_ID":     testClient,
			"DEFENDER_TI_CLIENT_SECRET": testSecret,
		}
		for k, v := range extra {
			if v == "<unset>" {
				delete(env, k)
				continue
			}
			env[k] = v
		}
		return env
	}
	defaults := defenderti.Settings{
		TenantID: testTenant, ClientID: testClient, ClientSecret: config.Secret(testSecret),
		BaseURL: "https://graph.microsoft.com/v1.0", AuthorityURL: "https://login.microsoftonline.com",
		PageSize: 100, MaxRecords: 10000,
	}
	goodCert := writeCertificate(t, true, true, false)
	noKey := writeCertificate(t, true, false, false)
	noCert := writeCertificate(t, false, true, false)
	encrypted := writeCertificate(t, true, true, true)
	notPEM := filepath.Join(t.TempDir(), "x.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing.pem")

	for _, tc := range []struct {
		name     string
		env      map[string]string
		yml      string
		want     func(s *defenderti.Settings)
		problems []string
		warnings []string
	}{
		{name: "defaults", env: base(nil)},
		{name: "yaml", env: map[string]string{}, yml: `defender_ti:
  tenant_id: contoso.onmicrosoft.com
  client_id: ` + testClient + `
  client_certificate: ` + goodCert + `
  base_url: https://graph.example/v1.0/
  authority_url: https://login.example/
  page_size: 50
  max_records: 500
`, want: func(s *defenderti.Settings) {
			s.TenantID, s.ClientSecret, s.ClientCertificate = "contoso.onmicrosoft.com", "", goodCert
			s.BaseURL, s.AuthorityURL, s.PageSize, s.MaxRecords = "https://graph.example/v1.0", "https://login.example", 50, 500
		}},
		{name: "loopback http base is fine", env: base(map[string]string{"DEFENDER_TI_BASE_URL": "http://127.0.0.1:8080/v1.0"}),
			want: func(s *defenderti.Settings) { s.BaseURL = "http://127.0.0.1:8080/v1.0" }},
		{name: "remote http base warns", env: base(map[string]string{"DEFENDER_TI_BASE_URL": "http://graph.example/v1.0"}),
			want:     func(s *defenderti.Settings) { s.BaseURL = "http://graph.example/v1.0" },
			warnings: []string{`DEFENDER_TI_BASE_URL = "http://graph.example/v1.0": plain http beyond loopback sends the access token unencrypted; use https`}},
		{name: "missing everything", env: map[string]string{}, want: func(s *defenderti.Settings) {
			s.TenantID, s.ClientID, s.ClientSecret = "", "", ""
		}, problems: []string{
			"DEFENDER_TI_TENANT_ID (config.yml: defender_ti.tenant_id): is required",
			"DEFENDER_TI_CLIENT_ID (config.yml: defender_ti.client_id): is required",
			"DEFENDER_TI_CLIENT_SECRET (config.yml: defender_ti.client_secret): is required unless DEFENDER_TI_CLIENT_CERTIFICATE (config.yml: defender_ti.client_certificate) names a certificate: set one of the two",
		}},
		{name: "both credentials", env: base(map[string]string{"DEFENDER_TI_CLIENT_CERTIFICATE": goodCert}),
			want: func(s *defenderti.Settings) { s.ClientCertificate = goodCert },
			problems: []string{"DEFENDER_TI_CLIENT_SECRET (config.yml: defender_ti.client_secret): must not be set together with " +
				"DEFENDER_TI_CLIENT_CERTIFICATE (config.yml: defender_ti.client_certificate): set only one of the two"}},
		{name: "sample values", env: base(map[string]string{"DEFENDER_TI_TENANT_ID": "ChangeMe", "DEFENDER_TI_CLIENT_ID": "ChangeMe", "DEFENDER_TI_CLIENT_SECRET": "ChangeMe"}),
			want: func(s *defenderti.Settings) {
				s.TenantID, s.ClientID, s.ClientSecret = "ChangeMe", "ChangeMe", "ChangeMe"
			},
			problems: []string{
				`DEFENDER_TI_TENANT_ID (config.yml: defender_ti.tenant_id) = "ChangeMe": is still the sample value ChangeMe: set the Directory (tenant) ID of the Entra ID tenant`,
				`DEFENDER_TI_CLIENT_ID (config.yml: defender_ti.client_id) = "ChangeMe": must be the Application (client) ID of the app registration, a GUID such as 00001111-aaaa-2222-bbbb-3333cccc4444`,
				`DEFENDER_TI_CLIENT_SECRET (config.yml: defender_ti.client_secret) = REDACTED: is still the sample value ChangeMe: set the client secret value (not its ID) of the app registration`,
			}},
		{name: "common tenant", env: base(map[string]string{"DEFENDER_TI_TENANT_ID": "Common"}),
			want:     func(s *defenderti.Settings) { s.TenantID = "Common" },
			problems: []string{`DEFENDER_TI_TENANT_ID (config.yml: defender_ti.tenant_id) = "Common": must be the tenant's own id (a GUID) or a verified domain name: the client-credentials grant is refused for Common`}},
		{name: "tenant with a slash", env: base(map[string]string{"DEFENDER_TI_TENANT_ID": "a/b"}),
			want:     func(s *defenderti.Settings) { s.TenantID = "a/b" },
			problems: []string{`DEFENDER_TI_TENANT_ID (config.yml: defender_ti.tenant_id) = "a/b": must be the Directory (tenant) ID, a GUID such as 72f988bf-86f1-41af-91ab-2d7cd011db47, or a verified domain name such as contoso.onmicrosoft.com`}},
		{name: "client id in braces", env: base(map[string]string{"DEFENDER_TI_CLIENT_ID": "{" + testClient + "}"}),
			want:     func(s *defenderti.Settings) { s.ClientID = "{" + testClient + "}" },
			problems: []string{`DEFENDER_TI_CLIENT_ID (config.yml: defender_ti.client_id) = "{00001111-aaaa-2222-bbbb-3333cccc4444}": must be the Application (client) ID of the app registration, a GUID such as 00001111-aaaa-2222-bbbb-3333cccc4444`}},
		{name: "certificate missing", env: base(map[string]string{"DEFENDER_TI_CLIENT_SECRET": "<unset>", "DEFENDER_TI_CLIENT_CERTIFICATE": missing}),
			want: func(s *defenderti.Settings) { s.ClientSecret, s.ClientCertificate = "", missing },
			problems: []string{`DEFENDER_TI_CLIENT_CERTIFICATE (config.yml: defender_ti.client_certificate) = "` + missing +
				`": must be the path of a readable PEM file holding the private key and the certificate (no such file or directory)`}},
		{name: "certificate not PEM", env: base(map[string]string{"DEFENDER_TI_CLIENT_SECRET": "<unset>", "DEFENDER_TI_CLIENT_CERTIFICATE": notPEM}),
			want: func(s *defenderti.Settings) { s.ClientSecret, s.ClientCertificate = "", notPEM },
			problems: []string{`DEFENDER_TI_CLIENT_CERTIFICATE (config.yml: defender_ti.client_certificate) = "` + notPEM +
				`": is not a PEM file holding a private key and a certificate`}},
		{name: "certificate without key", env: base(map[string]string{"DEFENDER_TI_CLIENT_SECRET": "<unset>", "DEFENDER_TI_CLIENT_CERTIFICATE": noKey}),
			want: func(s *defenderti.Settings) { s.ClientSecret, s.ClientCertificate = "", noKey },
			problems: []string{`DEFENDER_TI_CLIENT_CERTIFICATE (config.yml: defender_ti.client_certificate) = "` + noKey +
				`": holds no private key (PEM block PRIVATE KEY): put the key and the certificate in the same file`}},
		{name: "key without certificate", env: base(map[string]string{"DEFENDER_TI_CLIENT_SECRET": "<unset>", "DEFENDER_TI_CLIENT_CERTIFICATE": noCert}),
			want: func(s *defenderti.Settings) { s.ClientSecret, s.ClientCertificate = "", noCert },
			problems: []string{`DEFENDER_TI_CLIENT_CERTIFICATE (config.yml: defender_ti.client_certificate) = "` + noCert +
				`": holds no certificate (PEM block CERTIFICATE): put the key and the certificate in the same file`}},
		{name: "encrypted key", env: base(map[string]string{"DEFENDER_TI_CLIENT_SECRET": "<unset>", "DEFENDER_TI_CLIENT_CERTIFICATE": encrypted}),
			want: func(s *defenderti.Settings) { s.ClientSecret, s.ClientCertificate = "", encrypted },
			problems: []string{`DEFENDER_TI_CLIENT_CERTIFICATE (config.yml: defender_ti.client_certificate) = "` + encrypted +
				`": holds an encrypted private key: store the key unencrypted (and protect the file instead)`}},
		{name: "bad urls", env: base(map[string]string{
			"DEFENDER_TI_BASE_URL":      "https://user:pw@graph.example/v1.0",
			"DEFENDER_TI_AUTHORITY_URL": "http://127.0.0.1:8443",
		}), want: func(s *defenderti.Settings) {
			s.BaseURL, s.AuthorityURL = "https://REDACTED@graph.example/v1.0", "http://127.0.0.1:8443"
		}, problems: []string{
			`DEFENDER_TI_BASE_URL (config.yml: defender_ti.base_url) = "https://REDACTED@graph.example/v1.0": must not contain a user name or password, e.g. https://graph.microsoft.com/v1.0`,
			`DEFENDER_TI_AUTHORITY_URL (config.yml: defender_ti.authority_url) = "http://127.0.0.1:8443": must be an https:// URL (the Entra ID library refuses any other scheme), e.g. https://login.microsoftonline.com`,
		}},
		{name: "authority with path and base with query", env: base(map[string]string{
			"DEFENDER_TI_BASE_URL":      "https://graph.example/v1.0?token=abc",
			"DEFENDER_TI_AUTHORITY_URL": "https://login.example/tenant",
		}), want: func(s *defenderti.Settings) {
			s.BaseURL, s.AuthorityURL = "https://graph.example/v1.0?token=REDACTED", "https://login.example/tenant"
		}, problems: []string{
			`DEFENDER_TI_BASE_URL (config.yml: defender_ti.base_url) = "https://graph.example/v1.0?token=REDACTED": must not contain a query or fragment, e.g. https://graph.microsoft.com/v1.0`,
			`DEFENDER_TI_AUTHORITY_URL (config.yml: defender_ti.authority_url) = "https://login.example/tenant": must be the authority host only, without a path: the tenant id is appended to it, e.g. https://login.microsoftonline.com`,
		}},
		{name: "not a url", env: base(map[string]string{"DEFENDER_TI_BASE_URL": "graph.microsoft.com"}),
			want:     func(s *defenderti.Settings) { s.BaseURL = "graph.microsoft.com" },
			problems: []string{`DEFENDER_TI_BASE_URL (config.yml: defender_ti.base_url) = "graph.microsoft.com": must be an http:// or https:// URL with a host, e.g. https://graph.microsoft.com/v1.0`}},
		{name: "sizes out of range", env: base(map[string]string{"DEFENDER_TI_PAGE_SIZE": "0", "DEFENDER_TI_MAX_RECORDS": "2000000"}),
			problems: []string{
				`DEFENDER_TI_PAGE_SIZE (config.yml: defender_ti.page_size) = "0": must be between 1 and 1000`,
				`DEFENDER_TI_MAX_RECORDS (config.yml: defender_ti.max_records) = "2000000": must be between 1 and 1000000`,
			}},
		{name: "size not a number", env: base(map[string]string{"DEFENDER_TI_PAGE_SIZE": "ten"}),
			problems: []string{`DEFENDER_TI_PAGE_SIZE (config.yml: defender_ti.page_size) = "ten": must be an integer`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := newSource(t, tc.env, tc.yml)
			got := defenderti.LoadSettings(src)
			want := defaults
			if tc.want != nil {
				tc.want(&want)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("LoadSettings (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.problems, problems(src)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
			var warnings []string
			for _, w := range src.Warnings() {
				if strings.HasPrefix(w, "DEFENDER_TI") {
					warnings = append(warnings, w)
				}
			}
			if diff := cmp.Diff(tc.warnings, warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
			if err := src.Validate(); err != nil && strings.Contains(err.Error(), testSecret) {
				t.Errorf("problems print the secret: %v", err)
			}
		})
	}
}

func TestVariables(t *testing.T) {
	vars := defenderti.Variables()
	seen := map[string]bool{}
	for _, v := range vars {
		if seen[v.Env] {
			t.Errorf("duplicate %s", v.Env)
		}
		seen[v.Env] = true
		if v.Mandatory {
			t.Errorf("%s is mandatory; nothing is with the default source", v.Env)
		}
		if !strings.HasPrefix(v.Key, "defender_ti.") && v.Key != "riskiq.source" {
			t.Errorf("%s: key %q outside defender_ti", v.Env, v.Key)
		}
	}
	// Every variable the settings read is documented.
	for _, env := range []string{"RISKIQ_SOURCE", "DEFENDER_TI_TENANT_ID", "DEFENDER_TI_CLIENT_ID", "DEFENDER_TI_CLIENT_SECRET",
		"DEFENDER_TI_CLIENT_CERTIFICATE", "DEFENDER_TI_BASE_URL", "DEFENDER_TI_AUTHORITY_URL", "DEFENDER_TI_PAGE_SIZE", "DEFENDER_TI_MAX_RECORDS"} {
		if !seen[env] {
			t.Errorf("Variables lacks %s", env)
		}
	}
	if len(vars) != 9 {
		t.Errorf("Variables has %d rows, want 9", len(vars))
	}
}
