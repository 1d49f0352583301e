package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/riskiq-opencti/connectors/internal/defenderti/defendertitest"
)

// simulateDefender serves the fake Graph + token endpoint on ln over TLS
// with a certificate made at start, written to caFile for SSL_CERT_FILE.
func (c *cli) simulateDefender(ctx context.Context, log *slog.Logger, ln net.Listener, latency time.Duration, recent bool, caFile string) int {
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	certPEM, cert, err := serverCertificate(host)
	if err != nil {
		_ = ln.Close()
		return c.fail("simulate", err)
	}
	if caFile == "" {
		caFile = filepath.Join(os.TempDir(), "riskiqctl-simulate-defender-"+port+".pem")
	}
	if err := os.WriteFile(caFile, certPEM, 0o600); err != nil {
		_ = ln.Close()
		return c.fail("simulate", fmt.Errorf("write the certificate: %w", err))
	}
	var shift time.Duration
	if recent {
		shift = time.Now().UTC().Truncate(24 * time.Hour).Sub(defendertitest.Anchor)
	}
	data := defendertitest.DefaultData()
	h := defendertitest.NewHandler(defendertitest.Options{AnyCredentials: true, Data: data, Shift: shift, Latency: latency})
	srv := &http.Server{
		Handler:           accessLog(log, h),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	tlsLn := tls.NewListener(ln, &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}})
	authority := "https://" + ln.Addr().String()
	graph := authority + h.Prefix()
	fmt.Fprint(c.stdout, graph+"\n"+authority+"\n") // one write: a reader of the first line gets both
	log.Info("Defender TI simulator listening; any tenant, client id and non-empty client secret are accepted",
		"base_url", graph, "authority_url", authority, "ssl_cert_file", caFile,
		"tenant_id_example", defendertitest.DefaultTenantID, "client_id_example", defendertitest.DefaultClientID,
		"passive_dns_hosts", strings.Join(data.Hosts(), ","), "articles", len(data.ArticleIDs()))
	code := c.serve(ctx, srv, tlsLn)
	_ = os.Remove(caFile)
	if code == exitOK {
		log.Info("Defender TI simulator stopped")
	}
	return code
}

// serverCertificate makes a self-signed certificate (its own root) for the
// loopback names and host.
func serverCertificate(host string) ([]byte, tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, tls.Certificate{}, fmt.Errorf("generate key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "riskiqctl simulate"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(30 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
		tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
	} else if host != "" && ip == nil {
		tmpl.DNSNames = append(tmpl.DNSNames, host)
	}
	if name, err := os.Hostname(); err == nil && name != "" {
		tmpl.DNSNames = append(tmpl.DNSNames, name)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, tls.Certificate{}, fmt.Errorf("create certificate: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, tls.Certificate{}, fmt.Errorf("marshal key: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		return nil, tls.Certificate{}, fmt.Errorf("key pair: %w", err)
	}
	return certPEM, cert, nil
}
