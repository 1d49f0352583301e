package defendertitest

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/riskiq-opencti/connectors/internal/defenderti"
	"github.com/riskiq-opencti/connectors/opencti/config"
)

// TB is the part of testing.TB the server needs; declared here so that this
// package does not import package testing (riskiqctl links it).
type TB interface {
	Helper()
	Cleanup(func())
	Fatalf(format string, args ...any)
}

// Server is a [Handler] behind an httptest TLS server on 127.0.0.1: the
// token endpoint and Graph share it (azidentity refuses an authority that
// is not https). The embedded handler's methods inject faults and read the
// requests.
type Server struct {
	*Handler
	srv   *httptest.Server
	plain *httptest.Server
	tb    TB
}

// NewServer starts a fake Graph + token endpoint with opts and closes it
// when the test ends.
func NewServer(tb TB, opts ...func(*Options)) *Server {
	tb.Helper()
	var o Options
	for _, opt := range opts {
		opt(&o)
	}
	h := NewHandler(o)
	srv := httptest.NewTLSServer(h)
	tb.Cleanup(srv.Close)
	plain := httptest.NewServer(h)
	tb.Cleanup(plain.Close)
	return &Server{Handler: h, srv: srv, plain: plain, tb: tb}
}

// PlainURL is URL served over plain HTTP by the same handler (the token
// endpoint stays on the TLS AuthorityURL): benchmarks compare the client
// with the PassiveTotal fake's, which is plain HTTP too, without counting
// the encryption of every answer.
func (s *Server) PlainURL() string { return s.plain.URL + s.prefix }

// URL is the Graph base with its version segment, e.g.
// "https://127.0.0.1:1234/v1.0": DEFENDER_TI_BASE_URL.
func (s *Server) URL() string { return s.srv.URL + s.prefix }

// AuthorityURL is the authority host, e.g. "https://127.0.0.1:1234":
// DEFENDER_TI_AUTHORITY_URL.
func (s *Server) AuthorityURL() string { return s.srv.URL }

// TenantID is the tenant the token endpoint accepts.
func (s *Server) TenantID() string { return s.opts.TenantID }

// ClientID is the application id the token endpoint accepts.
func (s *Server) ClientID() string { return s.opts.ClientID }

// ClientSecret is the secret the token endpoint accepts.
func (s *Server) ClientSecret() string { return s.opts.ClientSecret }

// Client returns an HTTP client trusting the server's certificate: give it
// to the defenderti client (WithHTTPClient), which uses it for tokens too.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// Close shuts the server down, so that later requests fail at the transport.
func (s *Server) Close() {
	s.srv.Close()
	s.plain.Close()
}

// Settings returns settings for this server with the client secret.
func (s *Server) Settings() defenderti.Settings {
	return defenderti.Settings{
		TenantID: s.TenantID(), ClientID: s.ClientID(), ClientSecret: config.Secret(s.ClientSecret()),
		BaseURL: s.URL(), AuthorityURL: s.AuthorityURL(),
		PageSize: defenderti.DefaultPageSize, MaxRecords: defenderti.DefaultMaxRecords,
	}
}

// CertificatePEMPath generates a client certificate, trusts it, writes it
// with its key to dir/client.pem and returns the path.
func (s *Server) CertificatePEMPath(dir string) string {
	s.tb.Helper()
	data, cert, err := GenerateCertificate("defendertitest client")
	if err != nil {
		s.tb.Fatalf("defendertitest: %v", err)
	}
	s.TrustCertificate(cert)
	path := filepath.Join(dir, "client.pem")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		s.tb.Fatalf("defendertitest: %v", err)
	}
	return path
}

// CertificateSettings returns settings for this server with a generated
// client certificate written under dir instead of the secret.
func (s *Server) CertificateSettings(dir string) defenderti.Settings {
	st := s.Settings()
	st.ClientSecret, st.ClientCertificate = "", s.CertificatePEMPath(dir)
	return st
}
