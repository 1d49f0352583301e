package opencti

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/riskiq-opencti/connectors/opencti/api"
	"github.com/riskiq-opencti/connectors/opencti/broker"
	"github.com/riskiq-opencti/connectors/opencti/config"
	"github.com/riskiq-opencti/connectors/opencti/metrics"
)

// PingInterval is the pause between two pings (pycti: 40 s after the end of the previous one).
const PingInterval = 40 * time.Second

// Option configures a [Helper].
type Option func(*Helper)

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(h *Helper) { h.log = l } }

// WithMetrics sets the metrics the runtime updates (default: a private set).
func WithMetrics(m *metrics.Metrics) Option { return func(h *Helper) { h.metrics = m } }

// WithPlaybookCompatible registers the connector as usable in playbooks.
func WithPlaybookCompatible() Option { return func(h *Helper) { h.playbookCompatible = true } }

// WithBuild sets the connector version and manifest slug sent at registration
// when the platform supports them (7.x).
func WithBuild(version, slug string) Option {
	return func(h *Helper) { h.version, h.slug = version, slug }
}

// WithClock replaces time.Now (tests).
func WithClock(now func() time.Time) Option { return func(h *Helper) { h.now = now } }

// WithPingInterval replaces [PingInterval] (tests).
func WithPingInterval(d time.Duration) Option { return func(h *Helper) { h.pingInterval = d } }

// WithStartBackoff sets the first and the longest wait between two health
// checks while OpenCTI is unreachable at start (default 2 s .. 60 s).
func WithStartBackoff(initial, maxWait time.Duration) Option {
	return func(h *Helper) { h.startBackoff, h.startBackoffMax = initial, maxWait }
}

// WithRetryPause sets the first pause before an enrichment request whose
// outcome could not be recorded is put back in its queue; it doubles with
// each attempt, up to 30 times d (default [DefaultRetryPause]; tests).
func WithRetryPause(d time.Duration) Option { return func(h *Helper) { h.retryPause = d } }

// WithAPIClient replaces the GraphQL client built from the configuration.
func WithAPIClient(c *api.Client) Option { return func(h *Helper) { h.api = c } }

// Helper is a registered connector: it owns the GraphQL client, the
// publisher, the state and the ping loop. Build it with [New]; it is safe for
// concurrent use once [Helper.Start] returned.
type Helper struct {
	cfg                config.Config
	api                *api.Client
	log                *slog.Logger
	metrics            *metrics.Metrics
	playbookCompatible bool
	version, slug      string
	now                func() time.Time
	pingInterval       time.Duration
	startBackoff       time.Duration
	startBackoffMax    time.Duration
	retryPause         time.Duration

	reg       *api.Registration
	mq        broker.Config
	publisher *broker.Publisher

	mu    sync.Mutex
	state json.RawMessage // a JSON object, or nil
	// pingMu serialises pings (see ping).
	pingMu sync.Mutex
	info   api.ConnectorInfo

	pingDone chan struct{}

	// testHook, set by tests only (export_test.go), is called at the steps
	// of a request (step*) to simulate a kill there.
	testHook func(step string)
}

// New builds a helper from a loaded configuration. It does no network I/O; it
// reads the CA files the configuration names (OPENCTI_SSL_VERIFY as a path,
// HTTPS_CA_CERTIFICATES) and logs a warning when the platform's https
// certificate will not be verified.
func New(cfg config.Config, opts ...Option) (*Helper, error) {
	h := &Helper{
		cfg:             cfg,
		now:             time.Now,
		pingInterval:    PingInterval,
		startBackoff:    2 * time.Second,
		startBackoffMax: time.Minute,
		retryPause:      DefaultRetryPause,
	}
	for _, o := range opts {
		o(h)
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.metrics == nil {
		h.metrics = metrics.New(cfg.Connector.MetricsNamespace, cfg.Connector.MetricsSubsystem)
	}
	if h.api == nil {
		extraCAs, err := openctiTLS(cfg.OpenCTI, h.log)
		if err != nil {
			return nil, err
		}
		c, err := api.New(cfg.OpenCTI.URL, cfg.OpenCTI.Token.Reveal(),
			api.WithHeaders(cfg.OpenCTI.CustomHeaders),
			api.WithTLS(!cfg.OpenCTI.SSLVerify, cfg.OpenCTI.CABundle),
			api.WithExtraRootCAs(extraCAs),
			api.WithLogger(h.log),
		)
		if err != nil {
			return nil, fmt.Errorf("build opencti api client: %w", err)
		}
		h.api = c
	}
	h.info = api.ConnectorInfo{QueueThreshold: cfg.Connector.QueueThreshold}
	return h, nil
}

// API returns the GraphQL client, for connector-specific queries.
func (h *Helper) API() *api.Client { return h.api }

// Config returns the configuration the helper was built with.
func (h *Helper) Config() config.Config { return h.cfg }

// Logger returns the helper's logger.
func (h *Helper) Logger() *slog.Logger { return h.log }

// Metrics returns the metrics the runtime updates.
func (h *Helper) Metrics() *metrics.Metrics { return h.metrics }

// ConnectorUserID returns the id of the user owning the token, as returned by
// the registration (the default applicant of pushed bundles).
func (h *Helper) ConnectorUserID() string {
	if h.reg == nil {
		return ""
	}
	return h.reg.UserID
}

// Registration returns what registerConnector answered (nil before Start).
func (h *Helper) Registration() *api.Registration { return h.reg }

// Start runs pycti's start-up sequence (§2): it waits for OpenCTI with
// backoff while it is unreachable (logging each failure), registers the
// connector, applies the MQ_* overrides, starts the metrics server when
// enabled and the ping loop (first ping at once, then every 40 s) unless the
// connector runs once. The ping loop and the metrics server stop with ctx;
// the publisher does not: requests still running when ctx ends must be able
// to publish their results during CONNECTOR_SHUTDOWN_TIMEOUT. Call
// [Helper.Close] once [Helper.ListenEnrichment] or [Helper.Schedule] returned.
func (h *Helper) Start(ctx context.Context) error {
	version, err := h.waitForPlatform(ctx)
	if err != nil {
		return err
	}
	h.log.Info("OpenCTI API is reachable", "platform_version", version)
	if h.cfg.Connector.ExposeMetrics {
		addr := fmt.Sprintf("0.0.0.0:%d", h.cfg.Connector.MetricsPort)
		go func() {
			if err := h.metrics.Serve(ctx, addr, h.log); err != nil {
				h.log.Error("Metrics server stopped", "error", err)
			}
		}()
	}
	caps, err := h.api.Introspect(ctx)
	if err != nil {
		h.log.Warn("Schema introspection failed, registering with the 6.x fields only", "error", err)
		caps = nil
	}
	reg, err := h.api.RegisterConnector(ctx, api.RegisterInput{
		ID:                   h.cfg.Connector.ID,
		Name:                 h.cfg.Connector.Name,
		Type:                 h.cfg.Connector.Type,
		Scope:                h.cfg.Connector.Scope,
		Auto:                 h.cfg.Connector.Auto,
		AutoUpdate:           h.cfg.Connector.AutoUpdate,
		EnrichmentResolution: h.cfg.Connector.EnrichmentResolution,
		OnlyContextual:       h.cfg.Connector.OnlyContextual,
		PlaybookCompatible:   h.playbookCompatible,
		Version:              h.version,
		Slug:                 h.slug,
	}, caps)
	if err != nil {
		return fmt.Errorf("register connector: %w", err)
	}
	h.reg = reg
	h.log.Info("Connector registered with ID", "id", reg.ID)
	h.mu.Lock()
	h.state = parseState(reg.State)
	h.mu.Unlock()
	h.mq, err = brokerConfig(reg.Config.Connection, h.cfg.MQ, h.cfg.Connector.ID)
	if err != nil {
		return err
	}
	h.publisher = broker.NewPublisher(h.mq, broker.WithLogger(h.log), broker.WithOnRetry(func(err error) {
		h.metrics.Error()
		h.setBuffering(true)
		h.log.Warn("Publishing to RabbitMQ failed, retrying", "error", err)
	}))
	if !h.runsOnce() {
		h.pingDone = make(chan struct{})
		go h.pingLoop(ctx)
	}
	return nil
}

// Close closes the publisher: later bundles fail with [broker.ErrClosed]. Call
// it after [Helper.ListenEnrichment] or [Helper.Schedule] returned, when no
// handler publishes any more (ListenEnrichment returns once in-flight requests
// finished or were handed back to RabbitMQ). Close is idempotent, does
// nothing before [Helper.Start] and always returns nil.
func (h *Helper) Close() error {
	if h.publisher == nil {
		return nil
	}
	if err := h.publisher.Close(); err != nil {
		return fmt.Errorf("close publisher: %w", err)
	}
	return nil
}

// runsOnce tells whether the connector runs once and exits (no ping loop, §2 step 8).
func (h *Helper) runsOnce() bool {
	c := h.cfg.Connector
	return c.Type == "EXTERNAL_IMPORT" && (c.RunAndTerminate || (c.DurationPeriodSet && c.DurationPeriod == 0))
}

// waitForPlatform sends healthCheck until it answers, backing off between
// attempts. An authentication error stops the wait: retrying cannot fix it.
func (h *Helper) waitForPlatform(ctx context.Context) (string, error) {
	wait := h.startBackoff
	for attempt := 1; ; attempt++ {
		version, err := h.api.HealthCheck(ctx)
		if err == nil {
			return version, nil
		}
		if isAuthError(err) {
			return "", fmt.Errorf("opencti health check: %w", err)
		}
		h.log.Error("OpenCTI API is not reachable. Waiting for OpenCTI API to start or check your configuration...",
			"attempt", attempt, "retry_in", wait.String(), "error", err)
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("wait for opencti: %w", context.Cause(ctx))
		case <-time.After(wait):
		}
		wait = min(wait*2, h.startBackoffMax)
	}
}

func isAuthError(err error) bool {
	var gqlErr *api.GraphQLError
	if errors.As(err, &gqlErr) {
		return gqlErr.Name == "AUTH_REQUIRED" || gqlErr.Name == "FORBIDDEN_ACCESS"
	}
	var httpErr *api.HTTPError
	if errors.As(err, &httpErr) {
		return httpErr.Status == 401 || httpErr.Status == 403
	}
	return false
}

// brokerConfig applies the MQ_* overrides over the registration's connection
// details (§1.4) and builds the TLS settings (§3.3).
func brokerConfig(conn api.MQConnection, o config.MQ, connectorID string) (broker.Config, error) {
	c := broker.Config{
		Host: conn.Host, Port: conn.Port, VHost: conn.VHost, User: conn.User, Password: conn.Pass,
		UseSSL: conn.UseSSL, ConnectionName: "opencti-connector-" + connectorID,
	}
	if o.HostSet {
		c.Host = o.Host
	}
	if o.PortSet {
		c.Port = o.Port
	}
	if o.VHostSet {
		c.VHost = o.VHost
	}
	if o.UseSSLSet {
		c.UseSSL = o.UseSSL
	}
	if o.UserSet {
		c.User = o.User
	}
	if o.PassSet {
		c.Password = o.Pass.Reveal()
	}
	if !c.UseSSL {
		return c, nil
	}
	tc := &tls.Config{ServerName: c.Host, InsecureSkipVerify: !o.RejectUnauthorized, MinVersion: tls.VersionTLS12} //nolint:gosec // G402: pycti's default (MQ_USE_SSL_REJECT_UNAUTHORIZED=false), documented
	if o.SSLCA != "" {
		pem, err := pemOrFile(o.SSLCA)
		if err != nil {
			return c, fmt.Errorf("read MQ_USE_SSL_CA: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return c, errors.New("MQ_USE_SSL_CA holds no PEM certificate")
		}
		tc.RootCAs = pool
	}
	if o.SSLCert != "" || o.SSLKey.Reveal() != "" {
		certPEM, err := pemOrFile(o.SSLCert)
		if err != nil {
			return c, fmt.Errorf("read MQ_USE_SSL_CERT: %w", err)
		}
		keyPEM, err := pemOrFile(o.SSLKey.Reveal())
		if err != nil {
			return c, fmt.Errorf("read MQ_USE_SSL_KEY: %w", err)
		}
		if keyPEM, err = clientKeyPEM(keyPEM, o.SSLPassphrase.Reveal()); err != nil {
			return c, err
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			if o.SSLPassphrase.Reveal() != "" {
				// A wrong passphrase is not always detected by the decryption itself.
				return c, fmt.Errorf("load the RabbitMQ client certificate (is MQ_USE_SSL_PASSPHRASE right?): %w", err)
			}
			return c, fmt.Errorf("load the RabbitMQ client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	c.TLS = tc
	return c, nil
}

// pemOrFile returns PEM text given inline (pycti accepts both) or read from a path. When
// the value is neither (not PEM, and no readable file of that name), the error names the
// path only when it looks like one: a mangled inline key must not end up in a log.
func pemOrFile(v string) ([]byte, error) {
	if strings.HasPrefix(strings.TrimSpace(v), "-----BEGIN") {
		return []byte(v), nil
	}
	b, err := os.ReadFile(v) //nolint:gosec // G304: the operator configures this path
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) && (len(v) > 512 || strings.ContainsAny(v, "\n\r") || strings.Contains(v, "-----")) {
			return nil, fmt.Errorf("neither PEM text nor a readable file (value withheld): %w", pe.Err)
		}
		return nil, err
	}
	return b, nil
}
