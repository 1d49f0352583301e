package opencti

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/riskiq-opencti/connectors/opencti/api"
	"github.com/riskiq-opencti/connectors/opencti/config"
)

// tlsPlatform starts an https server answering the health check, with a certificate of
// its own CA (not in the system roots), and returns it with that CA in PEM.
func tlsPlatform(t *testing.T) (*httptest.Server, []byte) {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"data":{"about":{"version":"6.9.7"}}}`))
	}))
	t.Cleanup(srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	return srv, ca
}

// TestHTTPSCACertificatesAreTrusted: with verification on, the platform's certificate is
// verified against the system roots plus HTTPS_CA_CERTIFICATES, given as PEM text or as a
// file; without it the same platform is refused.
func TestHTTPSCACertificatesAreTrusted(t *testing.T) {
	srv, ca := tlsPlatform(t)
	caFile := filepath.Join(t.TempDir(), "proxy-ca.pem")
	if err := os.WriteFile(caFile, ca, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		extra   string
		wantErr string // "" : the health check passes
	}{
		{name: "PEM text", extra: string(ca)},
		{name: "file", extra: caFile},
		{name: "unset", extra: "", wantErr: "certificate signed by unknown authority"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfg config.Config
			cfg.OpenCTI.URL = srv.URL
			cfg.OpenCTI.Token = "token"
			cfg.OpenCTI.SSLVerify = true
			cfg.OpenCTI.ExtraCACertificates = tt.extra
			h, err := New(cfg)
			if err != nil {
				t.Fatalf("New() error = %v", err)
			}
			_, err = h.API().HealthCheck(t.Context())
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("HealthCheck() error = %v, want the platform's CA trusted", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("HealthCheck() error = %v, want %q: verification must be on", err, tt.wantErr)
			}
		})
	}
}

func TestHTTPSCACertificatesInvalid(t *testing.T) {
	for _, extra := range []string{"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n", filepath.Join(t.TempDir(), "missing.pem")} {
		var cfg config.Config
		cfg.OpenCTI.URL = "https://opencti.example"
		cfg.OpenCTI.Token = "token"
		cfg.OpenCTI.SSLVerify = true
		cfg.OpenCTI.ExtraCACertificates = extra
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "HTTPS_CA_CERTIFICATES") {
			t.Errorf("New() with HTTPS_CA_CERTIFICATES=%.30q error = %v, want one naming HTTPS_CA_CERTIFICATES", extra, err)
		}
	}
}

// TestInsecureHTTPSWarning: pycti's default (no verification) is kept, with a warning at
// start when the platform is reached over https.
func TestInsecureHTTPSWarning(t *testing.T) {
	const warning = "OpenCTI TLS certificate verification is off"
	tests := []struct {
		name   string
		url    string
		verify bool
		extra  string
		want   bool
	}{
		{name: "https without verification", url: "https://opencti.example:8443", want: true},
		{name: "https without verification, extra CA unused", url: "HTTPS://opencti.example", extra: "/etc/ssl/proxy.pem", want: true},
		{name: "https with verification", url: "https://opencti.example", verify: true},
		{name: "http", url: "http://opencti:8080"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			var cfg config.Config
			cfg.OpenCTI.URL = tt.url
			cfg.OpenCTI.Token = "token-never-logged"
			cfg.OpenCTI.SSLVerify = tt.verify
			cfg.OpenCTI.ExtraCACertificates = tt.extra
			if _, err := New(cfg, WithLogger(slog.New(slog.NewJSONHandler(&logs, nil)))); err != nil {
				t.Fatalf("New() error = %v", err)
			}
			got := logs.String()
			if strings.Contains(got, warning) != tt.want {
				t.Fatalf("logs = %s, want the warning: %v", got, tt.want)
			}
			if tt.want && (!strings.Contains(got, `"level":"WARN"`) || !strings.Contains(got, "opencti.example")) {
				t.Errorf("warning = %s, want WARN naming the host", got)
			}
			if tt.extra != "" && !strings.Contains(got, "https_ca_certificates") {
				t.Errorf("warning = %s, want it to say HTTPS_CA_CERTIFICATES is unused", got)
			}
			if strings.Contains(got, "token-never-logged") {
				t.Errorf("token logged: %s", got)
			}
		})
	}
}

// clientCert returns a self-signed client certificate and its EC key, both in PEM.
func clientCert(t *testing.T) (certPEM []byte, key *ecdsa.PrivateKey, keyDER []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "connector"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err = x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), key, keyDER
}

// TestBrokerClientKeyPassphrase: MQ_USE_SSL_PASSPHRASE decrypts a legacy encrypted PEM key
// (given inline or as a file); a missing or wrong passphrase and an encrypted PKCS#8 key
// are refused with a message that says what to do and never shows the passphrase.
func TestBrokerClientKeyPassphrase(t *testing.T) {
	const passphrase = "pass-PHRASE-never-shown-4e1b"
	certPEM, key, keyDER := clientCert(t)
	encrypt := func(pass string) []byte {
		block, err := x509.EncryptPEMBlock(rand.Reader, "EC PRIVATE KEY", keyDER, []byte(pass), x509.PEMCipherAES256) //nolint:staticcheck // SA1019: builds the legacy encrypted key the connector must read
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(block)
	}
	encrypted := encrypt(passphrase)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "client.key")
	if err := os.WriteFile(keyFile, encrypted, 0o600); err != nil {
		t.Fatal(err)
	}
	plain := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	pkcs8Encrypted := pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{0x30, 0x03, 0x02, 0x01, 0x00}})

	tests := []struct {
		name       string
		key        string
		passphrase string
		wantErr    string // "" : the client certificate loads
	}{
		{name: "encrypted, inline", key: string(encrypted), passphrase: passphrase},
		{name: "encrypted, file", key: keyFile, passphrase: passphrase},
		{name: "unencrypted, passphrase unused as in pycti", key: string(plain), passphrase: passphrase},
		{name: "unencrypted", key: string(plain)},
		{name: "encrypted, no passphrase", key: string(encrypted), wantErr: "MQ_USE_SSL_KEY is encrypted (Proc-Type: 4,ENCRYPTED): set MQ_USE_SSL_PASSPHRASE"},
		{name: "encrypted, wrong passphrase", key: string(encrypt(passphrase + "x")), passphrase: "wrong-" + passphrase, wantErr: "MQ_USE_SSL_PASSPHRASE"},
		{name: "encrypted PKCS#8", key: string(pkcs8Encrypted), passphrase: passphrase, wantErr: "encrypted PKCS#8 key (BEGIN ENCRYPTED PRIVATE KEY), which this connector cannot decrypt"},
		{name: "mangled inline key", key: "x" + string(plain), wantErr: "value withheld"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mq := config.MQ{SSLCert: string(certPEM), SSLKey: config.Secret(tt.key), SSLPassphrase: config.Secret(tt.passphrase)}
			c, err := brokerConfig(api.MQConnection{Host: "rabbit", Port: 5671, UseSSL: true}, mq, "c1")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("brokerConfig() error = %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), passphrase) || strings.Contains(err.Error(), "PRIVATE KEY-----") {
					t.Fatalf("brokerConfig() error %q shows the passphrase or the key", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("brokerConfig() error = %v", err)
			}
			if c.TLS == nil || len(c.TLS.Certificates) != 1 {
				t.Fatalf("TLS config = %+v, want the client certificate", c.TLS)
			}
			got, ok := c.TLS.Certificates[0].PrivateKey.(*ecdsa.PrivateKey)
			if !ok || !got.Equal(key) {
				t.Errorf("client certificate key = %T, want the decrypted key", c.TLS.Certificates[0].PrivateKey)
			}
		})
	}
}

// TestClientKeyPEMWrongPassphraseDetected: the decryption itself notices most wrong
// passphrases (padding check); the error says so without the passphrase.
func TestClientKeyPEMWrongPassphraseDetected(t *testing.T) {
	_, _, keyDER := clientCert(t)
	detected := 0
	for i := range 20 {
		block, err := x509.EncryptPEMBlock(rand.Reader, "EC PRIVATE KEY", keyDER, []byte("right-pass-9z"), x509.PEMCipherAES128) //nolint:staticcheck // SA1019: test input
		if err != nil {
			t.Fatal(err)
		}
		_, err = clientKeyPEM(pem.EncodeToMemory(block), "other-pass-7q")
		if err == nil {
			continue // about 1 in 256: X509KeyPair then fails on the garbage (see brokerConfig)
		}
		detected++
		if msg := err.Error(); !strings.Contains(msg, "wrong passphrase") || strings.Contains(msg, "pass-9z") || strings.Contains(msg, "pass-7q") {
			t.Errorf("attempt %d: error = %v", i, err)
		}
	}
	if detected == 0 {
		t.Error("no wrong passphrase detected in 20 attempts")
	}
}
