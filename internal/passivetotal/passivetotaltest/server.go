package passivetotaltest

import (
	"net/http"
	"net/http/httptest"
	"time"
)

// TB is the part of testing.TB the server needs; declared here so that this
// package does not import package testing (riskiqctl simulate links it).
type TB interface {
	Helper()
	Cleanup(func())
}

// DefaultPrefix is the mount prefix of [NewServer], as in the production base
// URL "https://api.riskiq.net/pt/v2".
const DefaultPrefix = "/pt"

// Option configures [NewServer].
type Option func(*Options)

// WithPrefix mounts the API under prefix instead of [DefaultPrefix]; "" serves
// "/v2/..." at the root.
func WithPrefix(prefix string) Option { return func(o *Options) { o.Prefix = prefix } }

// WithCredentials accepts only this username and API key.
func WithCredentials(username, apiKey string) Option {
	return func(o *Options) { o.Username, o.APIKey = username, apiKey }
}

// WithLatency delays every answer by d.
func WithLatency(d time.Duration) Option { return func(o *Options) { o.Latency = d } }

// WithClock sets the clock of the quota resets.
func WithClock(now func() time.Time) Option { return func(o *Options) { o.Now = now } }

// WithData serves d instead of [DefaultData].
func WithData(d *Data) Option { return func(o *Options) { o.Data = d } }

// WithPageSize sets the articles page size used without a size parameter.
func WithPageSize(n int) Option { return func(o *Options) { o.PageSize = n } }

// WithIgnoreStart serves all passive DNS records whatever start and end.
func WithIgnoreStart() Option { return func(o *Options) { o.IgnoreStart = true } }

// Server is a [Handler] behind an httptest server on 127.0.0.1. The
// embedded handler's methods inject faults and read the call counts.
type Server struct {
	*Handler
	srv    *httptest.Server
	prefix string
}

// NewServer starts a fake API mounted under [DefaultPrefix] (see
// [WithPrefix]) and closes it when the test ends.
func NewServer(tb TB, opts ...Option) *Server {
	tb.Helper()
	o := Options{Prefix: DefaultPrefix}
	for _, opt := range opts {
		opt(&o)
	}
	h := NewHandler(o)
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	return &Server{Handler: h, srv: srv, prefix: h.prefix}
}

// RootURL is the URL of the mount prefix, e.g. "http://127.0.0.1:1234/pt":
// the form of the enrichment connector's RISKIQ_BASE_URL.
func (s *Server) RootURL() string { return s.srv.URL + s.prefix }

// BaseURL is the API root with the version segment, e.g.
// "http://127.0.0.1:1234/pt/v2": the form the client takes.
func (s *Server) BaseURL() string { return s.RootURL() + "/v2" }

// Client returns an HTTP client for the server.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// Close shuts the server down, so that later requests fail at the transport.
func (s *Server) Close() { s.srv.Close() }
