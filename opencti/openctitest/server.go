package openctitest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/riskiq-opencti/connectors/opencti/internal/testenv"
)

// Defaults of a new server.
const (
	// DefaultToken is the API token the server accepts unless WithToken is given.
	DefaultToken = "a1b2c3d4-0000-4000-8000-0000000c0ffe"
	// DefaultVersion is the platform version reported by about { version }.
	DefaultVersion = "6.9.7"
	// DefaultVersion7 is the version a server in 7.x mode (WithOpenCTI7)
	// reports unless WithVersion is given: an LTS version string.
	DefaultVersion7 = "7.260309.0-lts1"
	// ConnectorUserID is the internal id of the user owning the token; the
	// platform returns it as connector_user_id at registration (it is the
	// id of OpenCTI's built-in admin user).
	ConnectorUserID = "88ec0c6a-13ce-5e39-b486-354fe4a7084f"
	// AutomationUserID is the applicant of playbook enrichment requests.
	AutomationUserID = "c49fe040-2dad-412d-af07-ce639204ad55"

	connectorUserName = "admin"
	maxBodyBytes      = 50 << 20 // app:max_payload_body_size
	activeWindow      = 5 * time.Minute
)

// Option configures a Server.
type Option func(*config)

type config struct {
	amqpURL  string
	token    string
	version  string
	now      func() time.Time
	basePath string
	strict   bool
	// v7 selects the 7.x schema (WithOpenCTI7); connectorAPI grants its
	// guarded registration fields (WithConnectorAPIPermission).
	v7           bool
	connectorAPI bool
	versionSet   bool
}

// WithAMQPURL sets the RabbitMQ the server declares queues on (default:
// testenv.AMQPURL, which skips the test without a broker).
func WithAMQPURL(url string) Option { return func(c *config) { c.amqpURL = url } }

// WithToken sets the only bearer token the server accepts.
func WithToken(tok string) Option { return func(c *config) { c.token = tok } }

// WithVersion sets the version about { version } reports.
func WithVersion(v string) Option {
	return func(c *config) { c.version, c.versionSet = v, true }
}

// WithOpenCTI7 serves OpenCTI 7.x's registration schema: RegisterConnectorInput
// has version, slug and xtm_one_intent, Connector has jwks: String! and
// ConnectorConfig has s3: S3Connection! (introspection lists them). Both
// fields are guarded by a connector-API permission the connector user lacks
// unless WithConnectorAPIPermission is given: selecting them then fails with
// FORBIDDEN_ACCESS, and as both are non-null the null propagates to the
// nearest nullable parent (registerConnector is null when jwks is refused,
// config when s3 is), the errors naming the refused fields' paths. The
// version reported is DefaultVersion7 unless WithVersion is given.
func WithOpenCTI7() Option { return func(c *config) { c.v7 = true } }

// WithConnectorAPIPermission gives the connector user the permission that
// OpenCTI 7.x requires for Connector.jwks and ConnectorConfig.s3 (with
// WithOpenCTI7): they then resolve to a key set and an S3 configuration.
func WithConnectorAPIPermission() Option { return func(c *config) { c.connectorAPI = true } }

// WithClock sets the clock used for timestamps, work ids and activity
// (default time.Now). The worker goroutine calls it too, so it must be safe
// for concurrent use.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithBasePath mounts the platform under a path prefix (the platform's
// app:base_path), e.g. "/opencti": the API is then at URL+"/graphql" with
// URL ending in the prefix.
func WithBasePath(p string) Option {
	return func(c *config) { c.basePath = "/" + strings.Trim(p, "/") }
}

// WithStrict reports every recorded protocol error (see Errors) with
// tb.Errorf when the test ends.
func WithStrict() Option { return func(c *config) { c.strict = true } }

// Server is a fake OpenCTI platform: GraphQL on an httptest server plus the
// platform's RabbitMQ side (queue declarations, enrichment requests, and a
// worker consuming push queues). It is safe for concurrent use.
type Server struct {
	// URL is the platform URL to configure connectors with (OPENCTI_URL);
	// the GraphQL endpoint is URL + "/graphql".
	URL string

	cfg    config
	prefix string // rabbitmq:queue_prefix
	schema *ast.Schema
	hs     *httptest.Server
	broker *broker
	amqp   amqp.URI

	consumers sync.WaitGroup

	mu           sync.Mutex
	changed      chan struct{}
	closed       bool
	down         bool
	connectors   map[string]*connector
	connOrder    []string
	works        *workBook
	entities     []*Entity
	calls        map[string]int
	failures     map[string][]failure
	refusals     map[workField]*refusal
	errors       []Error
	requests     []Request
	deliveries   []Delivery
	objects      []map[string]any
	playbooks    []PlaybookExecution
	channels     map[string]*amqp.Channel // push consumers by connector id
	workSequence map[string]int
}

// failure is a pending FailNext rule.
type failure struct {
	remaining int
	status    int
}

// NewServer starts a fake platform on 127.0.0.1 and stops it, its consumers
// and its RabbitMQ queues and exchanges in tb.Cleanup.
func NewServer(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	cfg := config{token: DefaultToken, version: DefaultVersion, now: time.Now}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.amqpURL == "" {
		cfg.amqpURL = testenv.AMQPURL(tb)
	}
	load := loadSchema
	if cfg.v7 {
		load = loadSchema7x
		if !cfg.versionSet {
			cfg.version = DefaultVersion7
		}
	}
	schema, err := load()
	if err != nil {
		tb.Fatalf("openctitest: %v", err)
	}
	uri, err := amqp.ParseURI(cfg.amqpURL)
	if err != nil {
		tb.Fatalf("openctitest: parse AMQP URL: %v", err)
	}
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		tb.Fatalf("openctitest: random prefix: %v", err)
	}
	prefix := "octitest" + hex.EncodeToString(rnd[:])
	b, err := dialBroker(cfg.amqpURL, prefix+"_")
	if err != nil {
		tb.Fatalf("openctitest: %v", err)
	}
	s := &Server{
		cfg: cfg, prefix: prefix, schema: schema, broker: b, amqp: uri,
		changed:      make(chan struct{}),
		connectors:   map[string]*connector{},
		works:        newWorkBook(),
		calls:        map[string]int{},
		failures:     map[string][]failure{},
		refusals:     map[workField]*refusal{},
		channels:     map[string]*amqp.Channel{},
		workSequence: map[string]int{},
	}
	s.hs = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	s.URL = s.hs.URL + cfg.basePath
	tb.Cleanup(func() { s.shutdown(tb) })
	return s
}

// shutdown stops the HTTP server and the consumers, deletes the RabbitMQ
// objects and reports protocol errors in strict mode.
func (s *Server) shutdown(tb testing.TB) {
	s.hs.Close()
	s.mu.Lock()
	s.closed = true
	chans := maps.Clone(s.channels)
	s.channels = map[string]*amqp.Channel{}
	errs := slices.Clone(s.errors)
	s.mu.Unlock()
	// Cancel the workers first and let them finish the message in hand:
	// closing a channel while a worker acknowledges on it makes RabbitMQ
	// close the whole connection (CHANNEL_ERROR on an ack after close-ok),
	// and the cleanup below would then fail.
	for id, ch := range chans {
		_ = ch.Cancel(workerTag(id), false)
	}
	s.consumers.Wait()
	for _, ch := range chans {
		_ = ch.Close()
	}
	if err := s.broker.shutdown(); err != nil {
		tb.Errorf("openctitest: cleanup: %v", err)
	}
	if s.cfg.strict {
		for _, e := range errs {
			tb.Errorf("openctitest: protocol error: %v", e)
		}
	}
}

// Token returns the bearer token the server accepts.
func (s *Server) Token() string { return s.cfg.token }

// QueuePrefix returns the server's rabbitmq:queue_prefix; RabbitMQ names
// start with it followed by "_".
func (s *Server) QueuePrefix() string { return s.prefix }

// now reads the clock.
func (s *Server) now() time.Time { return s.cfg.now().UTC() }

// notify wakes waiters; s.mu must be held.
func (s *Server) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// waitFor calls cond under the lock until it reports true or ctx ends.
func (s *Server) waitFor(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		ok := cond()
		ch := s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("openctitest: wait: %w", ctx.Err())
		}
	}
}

// SetDown makes every request answer 503, like a proxy in front of a
// stopped platform, until SetDown(false).
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// FailNext answers the next n requests selecting rootField with HTTP status.
// rootField is a root field name ("registerConnector") or, for the work
// mutations, "workEdit.<field>" ("workEdit.toProcessed").
func (s *Server) FailNext(rootField string, n, status int) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[rootField] = append(s.failures[rootField], failure{remaining: n, status: status})
}

// Calls returns how many requests selected rootField (same naming as
// FailNext), counting injected failures but not requests refused while down
// or invalid.
func (s *Server) Calls(rootField string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[rootField]
}

// ErrorKind classifies protocol errors.
type ErrorKind string

// Protocol error kinds.
const (
	// ErrorGraphQL is a request the platform rejects before execution:
	// unparsable or invalid document, bad variables, unknown operation.
	ErrorGraphQL ErrorKind = "graphql"
	// ErrorPush is a push-queue message the worker rejects.
	ErrorPush ErrorKind = "push"
	// ErrorPlaybook is a playbookStepExecution the platform cannot use.
	ErrorPlaybook ErrorKind = "playbook"
)

// Error is a protocol error a client caused: tests use Errors (or
// WithStrict) to notice documents or messages the platform would refuse.
type Error struct {
	Kind ErrorKind
	// Code is the GraphQL error code (GRAPHQL_VALIDATION_FAILED…), empty
	// for push messages.
	Code          string
	OperationName string
	Query         string
	ConnectorID   string
	Message       string
}

// Error renders the kind, code, operation, connector and message.
func (e Error) Error() string {
	var b strings.Builder
	b.WriteString(string(e.Kind))
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.OperationName != "" {
		b.WriteString(" in operation " + e.OperationName)
	}
	if e.ConnectorID != "" {
		b.WriteString(" from connector " + e.ConnectorID)
	}
	b.WriteString(": " + e.Message)
	return b.String()
}

// Errors returns the recorded protocol errors in order.
func (s *Server) Errors() []Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.errors)
}

// recordError stores a protocol error; s.mu must be held.
func (s *Server) recordError(e Error) {
	s.errors = append(s.errors, e)
	s.notify()
}

// Request is a GraphQL request the server received.
type Request struct {
	OperationName string
	Query         string
	Variables     map[string]any
	// RootFields are the selected root fields (workEdit sub-mutations as
	// "workEdit.<field>").
	RootFields []string
	Header     http.Header
	// Status is the HTTP status answered.
	Status int
}

// Requests returns the GraphQL requests received, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// connectionObject is config.connection: the coordinates of the AMQP URL
// (the platform's rabbitmq:hostname, port, vhost, username, password,
// use_ssl).
func connectionObject(u amqp.URI) map[string]any {
	return map[string]any{
		"host": u.Host, "vhost": u.Vhost, "use_ssl": u.Scheme == "amqps",
		"port": u.Port, "user": u.Username, "pass": u.Password,
	}
}

// AMQPURL returns the broker URL with the vhost escaped, ready to dial.
func (s *Server) AMQPURL() string {
	scheme := s.amqp.Scheme
	u := url.URL{Scheme: scheme, User: url.UserPassword(s.amqp.Username, s.amqp.Password),
		Host: s.amqp.Host + ":" + strconv.Itoa(s.amqp.Port), RawPath: "/" + url.PathEscape(s.amqp.Vhost), Path: "/" + s.amqp.Vhost}
	return u.String()
}
