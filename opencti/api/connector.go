package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"
)

// HealthCheck returns the platform version; any failure means the platform
// is not reachable or the configuration is wrong (spec §2 step 2).
//
// query healthCheck { about { version } }
func (c *Client) HealthCheck(ctx context.Context) (string, error) {
	var out struct {
		About *struct {
			Version string `json:"version"`
		} `json:"about"`
	}
	if err := c.do(ctx, docHealthCheck, map[string]any{}, &out); err != nil {
		return "", fmt.Errorf("health check: %w", err)
	}
	if out.About == nil {
		return "", fmt.Errorf("health check: about: %w", ErrNotFound)
	}
	return out.About.Version, nil
}

// Capabilities is what a platform's schema supports among the fields that
// differ between OpenCTI versions (spec §11).
type Capabilities struct {
	// PlatformVersion is about.version.
	PlatformVersion string
	// RegisterInputFields are the input fields of RegisterConnectorInput.
	RegisterInputFields []string
	// ConnectorFields are the fields of the Connector type.
	ConnectorFields []string
	// ConnectorConfigFields are the fields of the ConnectorConfig type.
	ConnectorConfigFields []string
	// VersionSlug is true when RegisterConnectorInput has both version and
	// slug (7.x); RegisterConnector then sends them.
	VersionSlug bool
	// JWKS is true when Connector has jwks (7.x); RegisterConnector then asks
	// for it.
	JWKS bool
	// S3 is true when ConnectorConfig has s3 (6.9.10+); RegisterConnector then
	// asks for it. Clear it when the S3 sink is not used.
	S3 bool
}

// Introspect reads, in one query, the platform version and the fields of
// RegisterConnectorInput, Connector and ConnectorConfig. A platform that
// refuses introspection makes it fail; registering with nil capabilities
// (the 6.x baseline) is then the safe choice.
//
// query ApiCompatibility { about { version } __type(name: …) { … } … }
func (c *Client) Introspect(ctx context.Context) (*Capabilities, error) {
	type named struct {
		Name string `json:"name"`
	}
	var out struct {
		About *struct {
			Version string `json:"version"`
		} `json:"about"`
		RegisterConnectorInput *struct {
			InputFields []named `json:"inputFields"`
		} `json:"registerConnectorInput"`
		Connector *struct {
			Fields []named `json:"fields"`
		} `json:"connector"`
		ConnectorConfig *struct {
			Fields []named `json:"fields"`
		} `json:"connectorConfig"`
	}
	if err := c.do(ctx, docAPICompatibility, map[string]any{}, &out); err != nil {
		return nil, fmt.Errorf("introspect: %w", err)
	}
	names := func(list []named) []string {
		s := make([]string, 0, len(list))
		for _, n := range list {
			s = append(s, n.Name)
		}
		return s
	}
	caps := &Capabilities{}
	if out.About != nil {
		caps.PlatformVersion = out.About.Version
	}
	if out.RegisterConnectorInput != nil {
		caps.RegisterInputFields = names(out.RegisterConnectorInput.InputFields)
	}
	if out.Connector != nil {
		caps.ConnectorFields = names(out.Connector.Fields)
	}
	if out.ConnectorConfig != nil {
		caps.ConnectorConfigFields = names(out.ConnectorConfig.Fields)
	}
	caps.VersionSlug = slices.Contains(caps.RegisterInputFields, "version") &&
		slices.Contains(caps.RegisterInputFields, "slug")
	caps.JWKS = slices.Contains(caps.ConnectorFields, "jwks")
	caps.S3 = slices.Contains(caps.ConnectorConfigFields, "s3")
	return caps, nil
}

// RegisterInput is the connector's registration (spec §2.1).
type RegisterInput struct {
	// ID is CONNECTOR_ID.
	ID string
	// Name is CONNECTOR_NAME.
	Name string
	// Type is CONNECTOR_TYPE, e.g. INTERNAL_ENRICHMENT or EXTERNAL_IMPORT.
	Type string
	// Scope is CONNECTOR_SCOPE; nil is sent as [].
	Scope []string
	// Auto is CONNECTOR_AUTO.
	Auto bool
	// AutoUpdate is CONNECTOR_AUTO_UPDATE.
	AutoUpdate bool
	// EnrichmentResolution is CONNECTOR_ENRICHMENT_RESOLUTION (pycti
	// default "none"), sent as given.
	EnrichmentResolution string
	// OnlyContextual is CONNECTOR_ONLY_CONTEXTUAL.
	OnlyContextual bool
	// PlaybookCompatible says the connector returns a bundle usable by playbooks.
	PlaybookCompatible bool
	// ListenCallbackURI is the listen URI of the API listen protocol; nil is
	// sent as null.
	ListenCallbackURI *string
	// Version is the connector build version, sent only when the platform
	// supports it (Capabilities.VersionSlug).
	Version string
	// Slug is the manifest slug, sent only with Version.
	Slug string
}

// registerInputJSON is RegisterConnectorInput as pycti sends it: every 6.x
// key always present.
type registerInputJSON struct {
	ID                   string   `json:"id"`
	Name                 string   `json:"name"`
	Type                 string   `json:"type"`
	Scope                []string `json:"scope"`
	Auto                 bool     `json:"auto"`
	AutoUpdate           bool     `json:"auto_update"`
	EnrichmentResolution string   `json:"enrichment_resolution"`
	OnlyContextual       bool     `json:"only_contextual"`
	PlaybookCompatible   bool     `json:"playbook_compatible"`
	ListenCallbackURI    *string  `json:"listen_callback_uri"`
	Version              *string  `json:"version,omitempty"`
	Slug                 *string  `json:"slug,omitempty"`
}

// Registration is the platform's answer to registerConnector.
type Registration struct {
	// ID is the connector id (equals RegisterInput.ID).
	ID string
	// State is connector_state, the stored state string; nil for a new connector.
	State *string
	// UserID is connector_user_id, the default applicant of pushed bundles.
	UserID string
	// Config holds the RabbitMQ coordinates and queue names.
	Config ConnectorConfig
	// JWKS is the raw jwks value (7.x) when it was requested, else nil.
	JWKS json.RawMessage
}

// ConnectorConfig is the queue configuration the platform gives a connector.
type ConnectorConfig struct {
	// Connection is the RabbitMQ server (not requested by Connector).
	Connection MQConnection `json:"connection"`
	// Listen is the queue an enrichment connector consumes.
	Listen string `json:"listen"`
	// ListenRouting is the routing key of the listen queue.
	ListenRouting string `json:"listen_routing"`
	// ListenExchange is the exchange of the listen queue.
	ListenExchange string `json:"listen_exchange"`
	// Push is the queue the workers consume.
	Push string `json:"push"`
	// PushRouting is the routing key bundles are published with.
	PushRouting string `json:"push_routing"`
	// PushExchange is the exchange bundles are published to.
	PushExchange string `json:"push_exchange"`
	// S3 is config.s3 when it was requested and set, else nil.
	S3 *S3Config `json:"s3,omitempty"`
}

// MQConnection is the RabbitMQ server of ConnectorConfig. Its String,
// GoString, LogValue and MarshalJSON hide Pass.
type MQConnection struct {
	// Host is the broker host name.
	Host string `json:"host"`
	// VHost is the virtual host.
	VHost string `json:"vhost"`
	// User is the broker user.
	User string `json:"user"`
	// Pass is the broker password; never print it.
	Pass string `json:"pass"`
	// UseSSL asks for AMQPS.
	UseSSL bool `json:"use_ssl"`
	// Port is the broker port.
	Port int `json:"port"`
}

// redacted replaces secrets in String, LogValue and MarshalJSON output.
const redacted = "REDACTED"

// mask returns redacted for a non-empty secret.
func mask(s string) string {
	if s == "" {
		return ""
	}
	return redacted
}

// String implements fmt.Stringer without the password.
func (m MQConnection) String() string {
	return fmt.Sprintf("{Host:%s VHost:%s User:%s Pass:%s UseSSL:%t Port:%d}",
		m.Host, m.VHost, m.User, mask(m.Pass), m.UseSSL, m.Port)
}

// GoString implements fmt.GoStringer without the password.
func (m MQConnection) GoString() string {
	return fmt.Sprintf("api.MQConnection{Host:%q, VHost:%q, User:%q, Pass:%q, UseSSL:%t, Port:%d}",
		m.Host, m.VHost, m.User, mask(m.Pass), m.UseSSL, m.Port)
}

// LogValue implements slog.LogValuer without the password.
func (m MQConnection) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("host", m.Host),
		slog.String("vhost", m.VHost),
		slog.String("user", m.User),
		slog.String("pass", mask(m.Pass)),
		slog.Bool("use_ssl", m.UseSSL),
		slog.Int("port", m.Port),
	)
}

// MarshalJSON writes the platform's shape with the password hidden.
func (m MQConnection) MarshalJSON() ([]byte, error) {
	type plain MQConnection
	p := plain(m)
	p.Pass = mask(m.Pass)
	return json.Marshal(p)
}

// S3Config is config.s3 (6.9.10+): the S3 sink's defaults. Its String,
// GoString, LogValue and MarshalJSON hide SecretKey. Port and UseSSL accept
// numbers/booleans or their string forms.
type S3Config struct {
	// Endpoint is the S3 endpoint.
	Endpoint string
	// Port is the S3 port.
	Port int
	// UseSSL asks for HTTPS.
	UseSSL bool
	// BucketName is the bucket.
	BucketName string
	// BucketRegion is the bucket's region.
	BucketRegion string
	// AccessKey is the access key id.
	AccessKey string
	// SecretKey is the secret key; never print it.
	SecretKey string
}

// s3JSON is config.s3 on the wire.
type s3JSON struct {
	Endpoint     *string          `json:"endpoint"`
	Port         *json.RawMessage `json:"port"`
	UseSSL       *json.RawMessage `json:"use_ssl"`
	BucketName   *string          `json:"bucket_name"`
	BucketRegion *string          `json:"bucket_region"`
	AccessKey    *string          `json:"access_key"`
	SecretKey    *string          `json:"secret_key"`
}

// UnmarshalJSON reads config.s3, tolerating nulls and string-typed numbers.
func (s *S3Config) UnmarshalJSON(b []byte) error {
	var w s3JSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	*s = S3Config{
		Endpoint:     str(w.Endpoint),
		BucketName:   str(w.BucketName),
		BucketRegion: str(w.BucketRegion),
		AccessKey:    str(w.AccessKey),
		SecretKey:    str(w.SecretKey),
	}
	if w.Port != nil && string(*w.Port) != "null" {
		var n json.Number
		if err := json.Unmarshal(*w.Port, &n); err != nil {
			return fmt.Errorf("s3 port: %w", err)
		}
		p, err := strconv.Atoi(n.String())
		if err != nil {
			return fmt.Errorf("s3 port: %w", err)
		}
		s.Port = p
	}
	if w.UseSSL != nil && string(*w.UseSSL) != "null" {
		var v any
		if err := json.Unmarshal(*w.UseSSL, &v); err != nil {
			return fmt.Errorf("s3 use_ssl: %w", err)
		}
		switch t := v.(type) {
		case bool:
			s.UseSSL = t
		case string:
			ok, err := strconv.ParseBool(t)
			if err != nil {
				return fmt.Errorf("s3 use_ssl: %w", err)
			}
			s.UseSSL = ok
		default:
			return fmt.Errorf("s3 use_ssl: unexpected %T", v)
		}
	}
	return nil
}

// MarshalJSON writes the platform's shape with the secret key hidden.
func (s S3Config) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{
		"endpoint": s.Endpoint, "port": s.Port, "use_ssl": s.UseSSL,
		"bucket_name": s.BucketName, "bucket_region": s.BucketRegion,
		"access_key": s.AccessKey, "secret_key": mask(s.SecretKey),
	})
}

// String implements fmt.Stringer without the secret key.
func (s S3Config) String() string {
	return fmt.Sprintf("{Endpoint:%s Port:%d UseSSL:%t BucketName:%s BucketRegion:%s AccessKey:%s SecretKey:%s}",
		s.Endpoint, s.Port, s.UseSSL, s.BucketName, s.BucketRegion, s.AccessKey, mask(s.SecretKey))
}

// GoString implements fmt.GoStringer without the secret key.
func (s S3Config) GoString() string { return "api.S3Config" + s.String() }

// LogValue implements slog.LogValuer without the secret key.
func (s S3Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("endpoint", s.Endpoint),
		slog.Int("port", s.Port),
		slog.Bool("use_ssl", s.UseSSL),
		slog.String("bucket_name", s.BucketName),
		slog.String("bucket_region", s.BucketRegion),
		slog.String("access_key", s.AccessKey),
		slog.String("secret_key", mask(s.SecretKey)),
	)
}

// RegisterConnector registers (or re-registers) the connector and returns
// its queue configuration and stored state (spec §2.1). It sends every 6.x
// input key, plus version and slug when caps.VersionSlug; it asks for jwks
// and config.s3 only when caps.JWKS and caps.S3 (nil caps: neither).
//
// OpenCTI 7.x refuses jwks and config.s3 to a connector user without the
// connector-API permission, and since both are non-null the whole answer is
// nulled. When every error of the answer is on those fields, RegisterConnector
// logs one warning and registers again without them (registration is
// idempotent); Registration.JWKS and Config.S3 are then empty. Any other
// error is returned as is.
//
// mutation RegisterConnector($input: RegisterConnectorInput) { registerConnector(input: $input) { … } }
func (c *Client) RegisterConnector(ctx context.Context, in RegisterInput, caps *Capabilities) (*Registration, error) {
	var missing []error
	if in.ID == "" {
		missing = append(missing, errors.New("id is empty"))
	}
	if in.Name == "" {
		missing = append(missing, errors.New("name is empty"))
	}
	if in.Type == "" {
		missing = append(missing, errors.New("type is empty"))
	}
	if err := errors.Join(missing...); err != nil {
		return nil, fmt.Errorf("register connector: %w", err)
	}
	input := registerInputJSON{
		ID:                   in.ID,
		Name:                 in.Name,
		Type:                 in.Type,
		Scope:                in.Scope,
		Auto:                 in.Auto,
		AutoUpdate:           in.AutoUpdate,
		EnrichmentResolution: in.EnrichmentResolution,
		OnlyContextual:       in.OnlyContextual,
		PlaybookCompatible:   in.PlaybookCompatible,
		ListenCallbackURI:    in.ListenCallbackURI,
	}
	if input.Scope == nil {
		input.Scope = []string{}
	}
	var jwks, s3 bool
	if caps != nil {
		if caps.VersionSlug {
			input.Version, input.Slug = &in.Version, &in.Slug
		}
		jwks, s3 = caps.JWKS, caps.S3
	}
	reg, err := c.register(ctx, input, jwks, s3)
	if err != nil && (jwks || s3) && guardedFieldsRefused(err) {
		// OpenCTI 7.x guards Connector.jwks and ConnectorConfig.s3 (both
		// non-null) with a connector-API permission: for a user without it
		// the platform nulls the registration. The 6.x selection is enough
		// to run; register again without them.
		c.logger.WarnContext(ctx, "The platform refused the jwks and s3 registration fields (the connector user lacks the connector API permission), registering again without them",
			slog.Any("error", err))
		reg, err = c.register(ctx, input, false, false)
	}
	if err != nil {
		return nil, fmt.Errorf("register connector: %w", err)
	}
	return reg, nil
}

// register sends registerConnector once, asking for jwks and s3 as told.
func (c *Client) register(ctx context.Context, input registerInputJSON, jwks, s3 bool) (*Registration, error) {
	var out struct {
		RegisterConnector *struct {
			ID              string           `json:"id"`
			ConnectorState  *string          `json:"connector_state"`
			ConnectorUserID *string          `json:"connector_user_id"`
			JWKS            json.RawMessage  `json:"jwks"`
			Config          *ConnectorConfig `json:"config"`
		} `json:"registerConnector"`
	}
	vars := map[string]any{"input": input}
	if err := c.do(ctx, registerDocument(jwks, s3), vars, &out); err != nil {
		return nil, err
	}
	r := out.RegisterConnector
	if r == nil {
		return nil, ErrNotFound
	}
	reg := &Registration{ID: r.ID, State: r.ConnectorState}
	if r.ConnectorUserID != nil {
		reg.UserID = *r.ConnectorUserID
	}
	if len(r.JWKS) > 0 && string(r.JWKS) != "null" {
		reg.JWKS = r.JWKS
	}
	if r.Config != nil {
		reg.Config = *r.Config
	}
	return reg, nil
}

// guardedPaths are the response paths of the registration's optional
// selections that OpenCTI 7.x refuses to a user without the connector-API
// permission.
var guardedPaths = [][]any{
	{"registerConnector", "jwks"},
	{"registerConnector", "config", "s3"},
}

// guardedFieldsRefused reports whether err is a GraphQL answer whose every
// error is on jwks or config.s3: the platform refused those fields, not the
// registration (an authentication error, a validation error or a resolver
// error on registerConnector itself has another path, or none).
func guardedFieldsRefused(err error) bool {
	var ge *GraphQLError
	if !errors.As(err, &ge) || len(ge.Paths) == 0 {
		return false
	}
	for _, p := range ge.Paths {
		if !slices.ContainsFunc(guardedPaths, func(g []any) bool { return slices.Equal(g, p) }) {
			return false
		}
	}
	return true
}

// ConnectorInfo is the scheduler information sent with each ping (spec §6.2).
type ConnectorInfo struct {
	// RunAndTerminate is true in run-once mode.
	RunAndTerminate bool
	// Buffering is true while the push queue is above QueueThreshold.
	Buffering bool
	// QueueThreshold is CONNECTOR_QUEUE_THRESHOLD in MB (pycti default 500).
	QueueThreshold float64
	// QueueMessagesSize is the push queue size in MB.
	QueueMessagesSize float64
	// NextRunDatetime is the next scheduled run; nil until known.
	NextRunDatetime *time.Time
	// LastRunDatetime is the last run; nil until known.
	LastRunDatetime *time.Time
}

// connectorInfoJSON is ConnectorInfoInput on the wire.
type connectorInfoJSON struct {
	RunAndTerminate   bool    `json:"run_and_terminate"`
	Buffering         bool    `json:"buffering"`
	QueueThreshold    float64 `json:"queue_threshold"`
	QueueMessagesSize float64 `json:"queue_messages_size"`
	NextRunDatetime   *string `json:"next_run_datetime"`
	LastRunDatetime   *string `json:"last_run_datetime"`
}

// pyctiTime is pycti's "%Y-%m-%dT%H:%M:%SZ" in UTC.
const pyctiTime = "2006-01-02T15:04:05Z"

// formatTime formats t as pycti does, nil as null.
func formatTime(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := t.UTC().Format(pyctiTime)
	return &s
}

// MarshalJSON writes ConnectorInfoInput: times in UTC as
// "2006-01-02T15:04:05Z", null when nil.
func (ci ConnectorInfo) MarshalJSON() ([]byte, error) {
	return json.Marshal(connectorInfoJSON{
		RunAndTerminate:   ci.RunAndTerminate,
		Buffering:         ci.Buffering,
		QueueThreshold:    ci.QueueThreshold,
		QueueMessagesSize: ci.QueueMessagesSize,
		NextRunDatetime:   formatTime(ci.NextRunDatetime),
		LastRunDatetime:   formatTime(ci.LastRunDatetime),
	})
}

// PingConnector tells the platform the connector is alive and stores state,
// the JSON text pycti sends ("null" when there is no state). It returns the
// connector_state the platform answers with, which differs from state after
// a remote reset (spec §6.2).
//
// mutation PingConnector($id: ID!, $state: String, $connectorInfo: ConnectorInfoInput) { … }
func (c *Client) PingConnector(ctx context.Context, id, state string, info ConnectorInfo) (*string, error) {
	vars := map[string]any{"id": id, "state": state, "connectorInfo": info}
	var out struct {
		PingConnector *struct {
			ID             string  `json:"id"`
			ConnectorState *string `json:"connector_state"`
		} `json:"pingConnector"`
	}
	if err := c.do(ctx, docPingConnector, vars, &out); err != nil {
		return nil, fmt.Errorf("ping connector: %w", err)
	}
	if out.PingConnector == nil {
		return nil, fmt.Errorf("ping connector %q: %w", id, ErrNotFound)
	}
	return out.PingConnector.ConnectorState, nil
}

// ConnectorStatus is the connector as the platform sees it (spec §9.3).
type ConnectorStatus struct {
	// ID is the connector id.
	ID string `json:"id"`
	// Name is the connector name.
	Name string `json:"name"`
	// Active is true while the last ping is less than 5 minutes old.
	Active bool `json:"active"`
	// Auto is the auto flag.
	Auto bool `json:"auto"`
	// OnlyContextual is the only_contextual flag.
	OnlyContextual bool `json:"only_contextual"`
	// ConnectorType is the connector type.
	ConnectorType string `json:"connector_type"`
	// Scope is the connector scope.
	Scope []string `json:"connector_scope"`
	// State is connector_state; nil when unset.
	State *string `json:"connector_state"`
	// QueueDetails is the push queue's size.
	QueueDetails QueueDetails `json:"connector_queue_details"`
	// UpdatedAt is the last ping or registration.
	UpdatedAt *time.Time `json:"updated_at"`
	// CreatedAt is the first registration.
	CreatedAt *time.Time `json:"created_at"`
	// Config holds the queue names (Connection is not requested).
	Config ConnectorConfig `json:"config"`
	// BuiltIn is true for the platform's own connectors.
	BuiltIn bool `json:"built_in"`
}

// QueueDetails is connector_queue_details.
type QueueDetails struct {
	// MessagesNumber is the number of messages in the push queue.
	MessagesNumber float64 `json:"messages_number"`
	// MessagesSize is the push queue size in bytes (0 when unknown).
	MessagesSize float64 `json:"messages_size"`
}

// Connector reads the connector, notably its queue size for the
// queue-threshold check (spec §9.3).
//
// query GetConnector($id: String!) { connector(id: $id) { … } }
func (c *Client) Connector(ctx context.Context, id string) (*ConnectorStatus, error) {
	var out struct {
		Connector *ConnectorStatus `json:"connector"`
	}
	if err := c.do(ctx, docGetConnector, map[string]any{"id": id}, &out); err != nil {
		return nil, fmt.Errorf("get connector: %w", err)
	}
	if out.Connector == nil {
		return nil, fmt.Errorf("get connector %q: %w", id, ErrNotFound)
	}
	return out.Connector, nil
}
