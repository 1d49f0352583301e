package config

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/riskiq-opencti/connectors/opencti/logging"
	"github.com/riskiq-opencti/connectors/opencti/scrub"
)

// Connector types accepted by the platform (GraphQL enum ConnectorType).
const (
	TypeExternalImport     = "EXTERNAL_IMPORT"
	TypeInternalImportFile = "INTERNAL_IMPORT_FILE"
	TypeInternalEnrichment = "INTERNAL_ENRICHMENT"
	TypeInternalAnalysis   = "INTERNAL_ANALYSIS"
	TypeInternalExportFile = "INTERNAL_EXPORT_FILE"
	TypeStream             = "STREAM"
)

// connectorTypes lists the connector types in the platform's order.
func connectorTypes() []string {
	return []string{TypeExternalImport, TypeInternalImportFile, TypeInternalEnrichment, TypeInternalAnalysis, TypeInternalExportFile, TypeStream}
}

// SDK defaults that are not per connector.
const (
	DefaultScope           = "not-applicable"
	DefaultLogLevel        = "error"
	DefaultQueueThreshold  = 500.0
	DefaultMetricsPort     = 9095
	DefaultRetentionDays   = 7
	DefaultConcurrency     = 8
	MaxConcurrency         = 256
	DefaultShutdownTimeout = 30 * time.Second
)

// Defaults are a connector's own defaults for CONNECTOR_* settings, used when
// neither the environment nor config.yml sets them.
type Defaults struct {
	// Type is the connector type, e.g. TypeInternalEnrichment.
	Type string
	// Name is the connector name shown on the platform and in logs.
	Name string
	// LogLevel is debug, info, warn or error; "" means error (pycti).
	LogLevel string
	// Scope lists entity types (enrichment) or MIME types; nil means
	// "not-applicable" (pycti).
	Scope []string
	// Auto triggers an enrichment connector on every entity creation.
	Auto bool
}

// Config holds every setting the SDK reads, resolved and checked by Load.
type Config struct {
	// OpenCTI is the platform connection (section opencti).
	OpenCTI OpenCTI
	// Connector is the connector's identity and behaviour (section connector).
	Connector Connector
	// MQ holds local overrides of the broker settings returned by
	// registration (section mq).
	MQ MQ
}

// OpenCTI is the platform connection (spec §1.2).
type OpenCTI struct {
	// URL is OPENCTI_URL, the platform's base URL (http or https).
	URL string
	// Token is OPENCTI_TOKEN, sent as a Bearer token.
	Token Secret
	// SSLVerify is OPENCTI_SSL_VERIFY: verify the platform's TLS certificate.
	// Off by default, as in pycti.
	SSLVerify bool
	// CABundle is the CA file or directory that replaces the system roots when
	// SSLVerify is on: the path given as OPENCTI_SSL_VERIFY, else
	// REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE (as Python requests does); "" for
	// the system roots.
	CABundle string
	// ExtraCACertificates is HTTPS_CA_CERTIFICATES: PEM text, or the path of a
	// PEM file, added to the roots that verify the platform's certificate (for
	// TLS-intercepting proxies) while SSLVerify is on; unused otherwise.
	ExtraCACertificates string
	// JSONLogging is OPENCTI_JSON_LOGGING: JSON log lines (default true).
	JSONLogging bool
	// CustomHeaders are OPENCTI_CUSTOM_HEADERS ("Name1:value1;Name2:value2"),
	// sent on every GraphQL request; nil when none. Values may be credentials:
	// do not log them.
	CustomHeaders map[string]string
}

// Connector is the connector's identity and behaviour (spec §1.3).
type Connector struct {
	// ID is CONNECTOR_ID, stable across restarts (a UUID).
	ID string
	// Type is CONNECTOR_TYPE, one of the Type* constants.
	Type string
	// Name is CONNECTOR_NAME, also the logger name.
	Name string
	// Scope is CONNECTOR_SCOPE, split on commas and trimmed.
	Scope []string
	// Auto is CONNECTOR_AUTO: enrich automatically on entity creation.
	Auto bool
	// AutoUpdate is CONNECTOR_AUTO_UPDATE: enrich automatically on update.
	AutoUpdate bool
	// EnrichmentResolution is CONNECTOR_ENRICHMENT_RESOLUTION: none or stix_bundle.
	EnrichmentResolution string
	// OnlyContextual is CONNECTOR_ONLY_CONTEXTUAL.
	OnlyContextual bool
	// LogLevel is CONNECTOR_LOG_LEVEL normalised to debug, info, warn or error.
	LogLevel string
	// RunAndTerminate is CONNECTOR_RUN_AND_TERMINATE: one run, then exit.
	RunAndTerminate bool
	// DurationPeriod is CONNECTOR_DURATION_PERIOD in whole seconds (pycti
	// truncates); zero means run once.
	DurationPeriod time.Duration
	// DurationPeriodSet reports whether CONNECTOR_DURATION_PERIOD was given.
	DurationPeriodSet bool
	// QueueThreshold is CONNECTOR_QUEUE_THRESHOLD in megabytes (10^6 bytes).
	QueueThreshold float64
	// QueueProtocol is CONNECTOR_QUEUE_PROTOCOL, always "amqp".
	QueueProtocol string
	// ListenProtocol is CONNECTOR_LISTEN_PROTOCOL, always "AMQP".
	ListenProtocol string
	// SendToQueue is CONNECTOR_SEND_TO_QUEUE; false disables publishing and
	// every work-API call.
	SendToQueue bool
	// SendToDirectory is CONNECTOR_SEND_TO_DIRECTORY: also write bundles to
	// SendToDirectoryPath.
	SendToDirectory bool
	// SendToDirectoryPath is CONNECTOR_SEND_TO_DIRECTORY_PATH.
	SendToDirectoryPath string
	// SendToDirectoryRetention is CONNECTOR_SEND_TO_DIRECTORY_RETENTION in
	// days; 0 keeps files forever.
	SendToDirectoryRetention int
	// ValidateBeforeImport is CONNECTOR_VALIDATE_BEFORE_IMPORT.
	ValidateBeforeImport bool
	// ExposeMetrics is CONNECTOR_EXPOSE_METRICS.
	ExposeMetrics bool
	// MetricsPort is CONNECTOR_METRICS_PORT.
	MetricsPort int
	// MetricsNamespace is CONNECTOR_METRICS_NAMESPACE, a Prometheus name prefix.
	MetricsNamespace string
	// MetricsSubsystem is CONNECTOR_METRICS_SUBSYSTEM, a Prometheus name prefix.
	MetricsSubsystem string
	// Concurrency is CONNECTOR_CONCURRENCY: enrichment messages processed at
	// once, which is also the broker prefetch (1..256, default 8).
	Concurrency int
	// ShutdownTimeout is CONNECTOR_SHUTDOWN_TIMEOUT: how long in-flight work
	// may take to finish at shutdown (default 30s).
	ShutdownTimeout time.Duration
}

// MQ holds local overrides of the broker coordinates returned by
// registration (spec §1.4). Each XSet field reports whether X was given (and
// not empty); the runtime applies only those over the registration values.
type MQ struct {
	// Host is MQ_HOST.
	Host    string
	HostSet bool
	// Port is MQ_PORT.
	Port    int
	PortSet bool
	// VHost is MQ_VHOST.
	VHost    string
	VHostSet bool
	// UseSSL is MQ_USE_SSL.
	UseSSL    bool
	UseSSLSet bool
	// User is MQ_USER.
	User    string
	UserSet bool
	// Pass is MQ_PASS.
	Pass    Secret
	PassSet bool
	// SSLCA is MQ_USE_SSL_CA: PEM text or a file path.
	SSLCA string
	// SSLCert is MQ_USE_SSL_CERT: client certificate, PEM text or a file path.
	SSLCert string
	// SSLKey is MQ_USE_SSL_KEY: client private key, PEM text or a file path.
	// It may hold the key itself: do not log it.
	SSLKey Secret
	// SSLPassphrase is MQ_USE_SSL_PASSPHRASE: decrypts an SSLKey in the legacy
	// encrypted PEM form (Proc-Type: 4,ENCRYPTED); unused for a plain key. An
	// encrypted PKCS#8 key cannot be decrypted and is refused at start.
	SSLPassphrase Secret
	// RejectUnauthorized is MQ_USE_SSL_REJECT_UNAUTHORIZED: verify the
	// broker's certificate. Off by default, as in pycti.
	RejectUnauthorized bool
}

// Load reads every setting the SDK uses from src, with d supplying the
// connector's own defaults, and records every invalid or missing value as a
// problem in src: call src.Validate afterwards (and src.Warnings once the
// connector has read its own settings too). Load itself never fails.
func Load(src *Source, d Defaults) Config {
	return Config{
		OpenCTI:   loadOpenCTI(src),
		Connector: loadConnector(src, d),
		MQ:        loadMQ(src),
	}
}

func loadOpenCTI(s *Source) OpenCTI {
	var o OpenCTI
	o.URL = s.Required("OPENCTI_URL", "opencti.url")
	if o.URL != "" {
		// The reasons of BaseURLReason, each with why it matters here.
		switch reason := BaseURLReason(o.URL); {
		case reason == "":
		case reason == reasonURLUserInfo:
			s.problem("OPENCTI_URL", "opencti.url", scrub.URL(o.URL), false, reason+": the token (OPENCTI_TOKEN) authenticates")
			o.URL = scrub.URL(o.URL)
		case reason == reasonURLQuery:
			// pycti appends /graphql to the URL, which a query or fragment
			// would swallow; and a query would be printed with every error.
			s.problem("OPENCTI_URL", "opencti.url", scrub.URL(o.URL), false, reason+": /graphql is appended to it, and the token (OPENCTI_TOKEN) authenticates")
			o.URL = scrub.URL(o.URL)
		default:
			s.problem("OPENCTI_URL", "opencti.url", scrub.URL(o.URL), false, reason+", e.g. http://opencti:8080")
			o.URL = scrub.URL(o.URL)
		}
	}
	o.Token = s.Secret("OPENCTI_TOKEN", "opencti.token", true)
	if o.Token.Reveal() == "ChangeMe" {
		s.problem("OPENCTI_TOKEN", "opencti.token", o.Token.Reveal(), true, "must be a real API token, not the ChangeMe placeholder")
	}
	o.SSLVerify, o.CABundle = loadSSLVerify(s)
	o.ExtraCACertificates = s.String("HTTPS_CA_CERTIFICATES", "", "")
	o.JSONLogging = s.Bool("OPENCTI_JSON_LOGGING", "opencti.json_logging", true)
	o.CustomHeaders = loadCustomHeaders(s)
	return o
}

// loadSSLVerify reads OPENCTI_SSL_VERIFY: a boolean, or the path of a CA
// bundle (which turns verification on), as Python requests' verify=.
func loadSSLVerify(s *Source) (verify bool, caBundle string) {
	const env, key = "OPENCTI_SSL_VERIFY", "opencti.ssl_verify"
	f := s.find(env, key)
	text := f.text
	if f.origin == fromFile {
		switch k, b := classify(f.node); k {
		case kindBool:
			return b, caFromEnvironment(s, b)
		case kindNull:
			text = ""
		case kindMapping, kindSequence:
			s.problem(env, key, "", false, "must be true, false or the path of a CA bundle")
			return false, ""
		}
	}
	if text == "" {
		return false, ""
	}
	if b, pycti, ok := boolForm(text); ok {
		if !pycti {
			s.warn(fmt.Sprintf("%s = %q: read as %t, but pycti reads only yes/true/True and no/false/False as booleans (anything else is a CA bundle path)", subject(env, key), text, b))
		}
		return b, caFromEnvironment(s, b)
	}
	checkCAPath(s, env, key, text)
	return true, text
}

// caFromEnvironment returns REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE when
// verification is on, as Python requests does.
func caFromEnvironment(s *Source, verify bool) string {
	if !verify {
		return ""
	}
	for _, env := range []string{"REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"} {
		if path := s.String(env, "", ""); path != "" {
			checkCAPath(s, env, "", path)
			return path
		}
	}
	return ""
}

func checkCAPath(s *Source, env, key, path string) {
	if _, err := os.Stat(path); err != nil {
		reason := "must be true, false or the path of a CA bundle file or directory"
		if key == "" {
			reason = "must be the path of a CA bundle file or directory"
		}
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		s.problem(env, key, path, false, reason+" ("+err.Error()+")")
	}
}

// loadCustomHeaders parses OPENCTI_CUSTOM_HEADERS as pycti does: split on
// ";", then on the first ":", both sides trimmed; malformed pairs are skipped
// with a warning that never shows the value.
func loadCustomHeaders(s *Source) map[string]string {
	const env, key = "OPENCTI_CUSTOM_HEADERS", "opencti.custom_headers"
	raw := s.String(env, key, "")
	if raw == "" {
		return nil
	}
	headers := map[string]string{}
	for i, p := range strings.Split(strings.TrimSpace(raw), ";") {
		if strings.TrimSpace(p) == "" {
			continue
		}
		name, value, ok := strings.Cut(p, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		switch {
		case !ok:
			s.warn(fmt.Sprintf("%s: header pair %d has no \":\" and is ignored; want Name1:value1;Name2:value2", subject(env, key), i+1))
		case !validHeaderName(name):
			s.warn(fmt.Sprintf("%s: header pair %d has an invalid header name and is ignored", subject(env, key), i+1))
		case strings.ContainsAny(value, "\r\n\x00"):
			s.warn(fmt.Sprintf("%s: header pair %d has a line break in its value and is ignored", subject(env, key), i+1))
		default:
			headers[name] = value
		}
	}
	if len(headers) == 0 {
		return nil
	}
	return headers
}

// validHeaderName reports whether name is an HTTP token (RFC 9110).
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range []byte(name) {
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

// prometheusName matches Python prometheus_client's METRIC_NAME_RE.
var prometheusName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)

func loadConnector(s *Source, d Defaults) Connector {
	var c Connector
	c.ID = s.Required("CONNECTOR_ID", "connector.id")
	if c.ID != "" {
		if _, err := uuid.Parse(c.ID); err != nil {
			s.warn(fmt.Sprintf("%s = %q: not a UUID; OpenCTI expects a UUID (v4) that stays the same across restarts", subject("CONNECTOR_ID", "connector.id"), c.ID))
		}
	}

	c.Type = s.String("CONNECTOR_TYPE", "connector.type", d.Type)
	switch {
	case c.Type == "":
		s.problem("CONNECTOR_TYPE", "connector.type", "", false, "is required")
	case !slices.Contains(connectorTypes(), c.Type):
		s.problem("CONNECTOR_TYPE", "connector.type", c.Type, false, "must be one of "+strings.Join(connectorTypes(), ", "))
	}

	c.Name = s.String("CONNECTOR_NAME", "connector.name", d.Name)
	switch {
	case c.Name == "":
		s.problem("CONNECTOR_NAME", "connector.name", "", false, "is required")
	case utf8.RuneCountInString(strings.TrimSpace(c.Name)) < 2:
		s.problem("CONNECTOR_NAME", "connector.name", c.Name, false, "must have at least 2 characters besides leading and trailing spaces")
	}

	scope := d.Scope
	if len(scope) == 0 {
		scope = []string{DefaultScope}
	}
	c.Scope = s.List("CONNECTOR_SCOPE", "connector.scope", scope)
	c.Auto = s.Bool("CONNECTOR_AUTO", "connector.auto", d.Auto)
	c.AutoUpdate = s.Bool("CONNECTOR_AUTO_UPDATE", "connector.auto_update", false)

	c.EnrichmentResolution = s.String("CONNECTOR_ENRICHMENT_RESOLUTION", "connector.enrichment_resolution", "none")
	if c.EnrichmentResolution != "none" && c.EnrichmentResolution != "stix_bundle" {
		s.problem("CONNECTOR_ENRICHMENT_RESOLUTION", "connector.enrichment_resolution", c.EnrichmentResolution, false, "must be none or stix_bundle")
		c.EnrichmentResolution = "none"
	}
	c.OnlyContextual = s.Bool("CONNECTOR_ONLY_CONTEXTUAL", "connector.only_contextual", false)

	defLevel := d.LogLevel
	if defLevel == "" {
		defLevel = DefaultLogLevel
	}
	level := s.String("CONNECTOR_LOG_LEVEL", "connector.log_level", defLevel)
	// ParseLevel reads a blank name as error; here a blank value is a mistake.
	if lvl, err := logging.ParseLevel(level); err != nil || strings.TrimSpace(level) == "" {
		s.problem("CONNECTOR_LOG_LEVEL", "connector.log_level", level, false, "must be one of debug, info, warn, warning, error (any case)")
		c.LogLevel = DefaultLogLevel
	} else {
		c.LogLevel = strings.ToLower(lvl.String()) // debug, info, warn or error
	}

	c.RunAndTerminate = s.Bool("CONNECTOR_RUN_AND_TERMINATE", "connector.run_and_terminate", false)
	c.DurationPeriodSet = s.present("CONNECTOR_DURATION_PERIOD", "connector.duration_period")
	c.DurationPeriod = checked(s, "CONNECTOR_DURATION_PERIOD", "connector.duration_period",
		func() time.Duration { return s.Duration("CONNECTOR_DURATION_PERIOD", "connector.duration_period", 0) },
		func(d time.Duration) bool { return d >= 0 }, "must not be negative", 0).Truncate(time.Second)

	c.QueueThreshold = checked(s, "CONNECTOR_QUEUE_THRESHOLD", "connector.queue_threshold",
		func() float64 {
			return s.Float("CONNECTOR_QUEUE_THRESHOLD", "connector.queue_threshold", DefaultQueueThreshold)
		},
		func(v float64) bool { return v >= 0 }, "must be a number of megabytes >= 0", DefaultQueueThreshold)

	c.QueueProtocol = loadQueueProtocol(s)

	c.ListenProtocol = strings.ToUpper(s.String("CONNECTOR_LISTEN_PROTOCOL", "connector.listen_protocol", "AMQP"))
	if c.ListenProtocol != "AMQP" {
		s.problem("CONNECTOR_LISTEN_PROTOCOL", "connector.listen_protocol", s.find("CONNECTOR_LISTEN_PROTOCOL", "connector.listen_protocol").text, false,
			"must be AMQP (API is not supported by this SDK)")
		c.ListenProtocol = "AMQP"
	}
	for _, v := range [][2]string{
		{"CONNECTOR_LISTEN_PROTOCOL_API_PORT", "connector.listen_protocol_api_port"},
		{"CONNECTOR_LISTEN_PROTOCOL_API_PATH", "connector.listen_protocol_api_path"},
		{"CONNECTOR_LISTEN_PROTOCOL_API_SSL", "connector.listen_protocol_api_ssl"},
		{"CONNECTOR_LISTEN_PROTOCOL_API_URI", "connector.listen_protocol_api_uri"},
		{"LISTEN_PROTOCOL_API_SSL_KEY", "connector.listen_protocol_api_ssl_key"},
		{"LISTEN_PROTOCOL_API_SSL_CERT", "connector.listen_protocol_api_ssl_cert"},
		{"LISTEN_PROTOCOL_API_SSL_PASSPHRASE", "connector.listen_protocol_api_ssl_passphrase"},
	} {
		if s.present(v[0], v[1]) {
			s.warn(subject(v[0], v[1]) + " is ignored: the API listen protocol is not supported by this SDK")
		}
	}

	c.SendToQueue = s.Bool("CONNECTOR_SEND_TO_QUEUE", "connector.send_to_queue", true)
	c.SendToDirectory = s.Bool("CONNECTOR_SEND_TO_DIRECTORY", "connector.send_to_directory", false)
	c.SendToDirectoryPath = s.String("CONNECTOR_SEND_TO_DIRECTORY_PATH", "connector.send_to_directory_path", "")
	if c.SendToDirectory && c.SendToDirectoryPath == "" {
		s.problem("CONNECTOR_SEND_TO_DIRECTORY_PATH", "connector.send_to_directory_path", "", false, "is required when CONNECTOR_SEND_TO_DIRECTORY is true")
	}
	c.SendToDirectoryRetention = checked(s, "CONNECTOR_SEND_TO_DIRECTORY_RETENTION", "connector.send_to_directory_retention",
		func() int {
			return s.Int("CONNECTOR_SEND_TO_DIRECTORY_RETENTION", "connector.send_to_directory_retention", DefaultRetentionDays)
		},
		func(v int) bool { return v >= 0 }, "must be a number of days >= 0 (0 keeps files forever)", DefaultRetentionDays)

	if s.Bool("CONNECTOR_SEND_TO_S3", "connector.send_to_s3", false) {
		s.problem("CONNECTOR_SEND_TO_S3", "connector.send_to_s3", s.find("CONNECTOR_SEND_TO_S3", "connector.send_to_s3").text, false,
			"must be false: sending bundles to S3 is not supported by this SDK")
	}
	for _, v := range [][2]string{
		{"CONNECTOR_SEND_TO_S3_BUCKET", "connector.send_to_s3_bucket"},
		{"CONNECTOR_SEND_TO_S3_FOLDER", "connector.send_to_s3_folder"},
		{"CONNECTOR_SEND_TO_S3_RETENTION", "connector.send_to_s3_retention"},
		{"S3_ENDPOINT", "s3.endpoint"},
		{"S3_PORT", "s3.port"},
		{"S3_ACCESS_KEY", "s3.access_key"},
		{"S3_SECRET_KEY", "s3.secret_key"},
		{"S3_USE_SSL", "s3.use_ssl"},
		{"S3_BUCKET_REGION", "s3.bucket_region"},
		{"CONNECTOR_AUTO_CREATE_SERVICE_ACCOUNT_CONFIDENCE_LEVEL", "connector.auto_create_service_account_confidence_level"},
	} {
		s.present(v[0], v[1]) // known to pycti: not an unknown key, but unused here
	}

	c.ValidateBeforeImport = s.Bool("CONNECTOR_VALIDATE_BEFORE_IMPORT", "connector.validate_before_import", false)
	c.ExposeMetrics = s.Bool("CONNECTOR_EXPOSE_METRICS", "connector.expose_metrics", false)
	c.MetricsPort = checked(s, "CONNECTOR_METRICS_PORT", "connector.metrics_port",
		func() int { return s.Int("CONNECTOR_METRICS_PORT", "connector.metrics_port", DefaultMetricsPort) },
		validPort, "must be a port number between 1 and 65535", DefaultMetricsPort)
	c.MetricsNamespace = s.String("CONNECTOR_METRICS_NAMESPACE", "connector.metrics_namespace", "")
	if c.MetricsNamespace != "" && !prometheusName.MatchString(c.MetricsNamespace) {
		s.problem("CONNECTOR_METRICS_NAMESPACE", "connector.metrics_namespace", c.MetricsNamespace, false,
			"must be a Prometheus name: letters, digits, _ and :, not starting with a digit")
		c.MetricsNamespace = ""
	}
	c.MetricsSubsystem = s.String("CONNECTOR_METRICS_SUBSYSTEM", "connector.metrics_subsystem", "")
	if c.MetricsSubsystem != "" && !prometheusName.MatchString(c.MetricsNamespace+c.MetricsSubsystem) {
		s.problem("CONNECTOR_METRICS_SUBSYSTEM", "connector.metrics_subsystem", c.MetricsSubsystem, false,
			"must be a Prometheus name: letters, digits, _ and :, not starting with a digit unless a namespace is set")
		c.MetricsSubsystem = ""
	}

	if s.Bool("CONNECTOR_AUTO_CREATE_SERVICE_ACCOUNT", "connector.auto_create_service_account", false) {
		s.problem("CONNECTOR_AUTO_CREATE_SERVICE_ACCOUNT", "connector.auto_create_service_account",
			s.find("CONNECTOR_AUTO_CREATE_SERVICE_ACCOUNT", "connector.auto_create_service_account").text, false,
			"must be false: creating a service account is not supported by this SDK; give the connector a token")
	}

	c.Concurrency = checked(s, "CONNECTOR_CONCURRENCY", "connector.concurrency",
		func() int { return s.Int("CONNECTOR_CONCURRENCY", "connector.concurrency", DefaultConcurrency) },
		func(v int) bool { return v >= 1 && v <= MaxConcurrency }, "must be between 1 and "+strconv.Itoa(MaxConcurrency), DefaultConcurrency)
	c.ShutdownTimeout = checked(s, "CONNECTOR_SHUTDOWN_TIMEOUT", "connector.shutdown_timeout",
		func() time.Duration {
			return s.Duration("CONNECTOR_SHUTDOWN_TIMEOUT", "connector.shutdown_timeout", DefaultShutdownTimeout)
		},
		func(d time.Duration) bool { return d >= 0 }, "must not be negative", DefaultShutdownTimeout)

	if s.present("CONNECTOR_CONFIDENCE_LEVEL", "connector.confidence_level") {
		s.warn(subject("CONNECTOR_CONFIDENCE_LEVEL", "connector.confidence_level") + " is ignored: deprecated since OpenCTI 6.0 (confidence comes from the connector's user)")
	}
	if s.present("CONNECTOR_UPDATE_EXISTING_DATA", "connector.update_existing_data") {
		s.warn(subject("CONNECTOR_UPDATE_EXISTING_DATA", "connector.update_existing_data") + " is ignored: OpenCTI no longer reads it")
	}
	return c
}

// loadQueueProtocol reads CONNECTOR_QUEUE_PROTOCOL, falling back to the
// deprecated QUEUE_PROTOCOL as pycti does; only "amqp" is supported.
func loadQueueProtocol(s *Source) string {
	env, key := "CONNECTOR_QUEUE_PROTOCOL", "connector.queue_protocol"
	p := s.String(env, key, "")
	if p == "" {
		if v := s.String("QUEUE_PROTOCOL", "", ""); v != "" {
			s.warn("QUEUE_PROTOCOL is deprecated: use CONNECTOR_QUEUE_PROTOCOL")
			p, env, key = v, "QUEUE_PROTOCOL", ""
		}
	}
	switch p {
	case "", "amqp":
	case "api":
		s.problem(env, key, p, false, "must be amqp: the api queue protocol is not supported by this SDK")
	default:
		s.problem(env, key, p, false, "must be amqp (lower case; api is not supported by this SDK)")
	}
	return "amqp"
}

func validPort(v int) bool { return v >= 1 && v <= 65535 }

// checked reads a value with get and, when reading recorded no problem,
// records one if ok rejects it; an invalid value is replaced by def.
func checked[T any](s *Source, env, key string, get func() T, ok func(T) bool, reason string, def T) T {
	n := len(s.problems)
	v := get()
	if len(s.problems) != n {
		return v
	}
	if !ok(v) {
		s.problem(env, key, s.find(env, key).text, false, reason)
		return def
	}
	return v
}

func loadMQ(s *Source) MQ {
	var m MQ
	m.HostSet = s.present("MQ_HOST", "mq.host")
	m.Host = s.String("MQ_HOST", "mq.host", "")
	m.PortSet = s.present("MQ_PORT", "mq.port")
	if m.PortSet {
		m.Port = checked(s, "MQ_PORT", "mq.port", func() int { return s.Int("MQ_PORT", "mq.port", 0) },
			validPort, "must be a port number between 1 and 65535", 0)
		m.PortSet = m.Port != 0
	} else {
		s.Int("MQ_PORT", "mq.port", 0) // reports a YAML null or "" as pycti would fail on it
	}
	m.VHostSet = s.present("MQ_VHOST", "mq.vhost")
	m.VHost = s.String("MQ_VHOST", "mq.vhost", "")
	m.UseSSLSet = s.present("MQ_USE_SSL", "mq.use_ssl")
	m.UseSSL = s.Bool("MQ_USE_SSL", "mq.use_ssl", false)
	m.UserSet = s.present("MQ_USER", "mq.user")
	m.User = s.String("MQ_USER", "mq.user", "")
	m.PassSet = s.present("MQ_PASS", "mq.pass")
	m.Pass = s.Secret("MQ_PASS", "mq.pass", false)
	m.SSLCA = s.String("MQ_USE_SSL_CA", "mq.use_ssl_ca", "")
	m.SSLCert = s.String("MQ_USE_SSL_CERT", "mq.use_ssl_cert", "")
	m.SSLKey = s.Secret("MQ_USE_SSL_KEY", "mq.use_ssl_key", false)
	m.SSLPassphrase = s.Secret("MQ_USE_SSL_PASSPHRASE", "mq.use_ssl_passphrase", false)
	m.RejectUnauthorized = s.Bool("MQ_USE_SSL_REJECT_UNAUTHORIZED", "mq.use_ssl_reject_unauthorized", false)
	return m
}
