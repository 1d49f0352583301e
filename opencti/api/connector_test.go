package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestHealthCheck(t *testing.T) {
	f := newFake(t, func(int, call) reply { return ok(`{"about":{"version":"6.9.7"}}`) })
	v, err := f.client().HealthCheck(t.Context())
	if err != nil || v != "6.9.7" {
		t.Fatalf("HealthCheck() = %q, %v; want 6.9.7", v, err)
	}
	if got := f.last().Query; got != docHealthCheck {
		t.Errorf("query = %q, want the embedded healthCheck", got)
	}
	if !strings.Contains(f.last().Query, "query healthCheck") {
		t.Errorf("operation is not named healthCheck: %s", f.last().Query)
	}
}

func TestHealthCheckNullAbout(t *testing.T) {
	f := newFake(t, func(int, call) reply { return ok(`{"about":null}`) })
	if _, err := f.client().HealthCheck(t.Context()); !errors.Is(err, ErrNotFound) {
		t.Errorf("error = %v, want ErrNotFound", err)
	}
}

func TestIntrospect(t *testing.T) {
	fields := func(names ...string) string {
		var parts []string
		for _, n := range names {
			parts = append(parts, `{"name":"`+n+`"}`)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	tests := []struct {
		name string
		data string
		want Capabilities
	}{
		{
			name: "6.9.7",
			data: `{"about":{"version":"6.9.7"},
				"registerConnectorInput":{"inputFields":` + fields("id", "name", "listen_callback_uri") + `},
				"connector":{"fields":` + fields("id", "connector_state") + `},
				"connectorConfig":{"fields":` + fields("connection", "listen") + `}}`,
			want: Capabilities{
				PlatformVersion:       "6.9.7",
				RegisterInputFields:   []string{"id", "name", "listen_callback_uri"},
				ConnectorFields:       []string{"id", "connector_state"},
				ConnectorConfigFields: []string{"connection", "listen"},
			},
		},
		{
			name: "7.x",
			data: `{"about":{"version":"7.260817.0"},
				"registerConnectorInput":{"inputFields":` + fields("id", "version", "slug", "xtm_one_intent") + `},
				"connector":{"fields":` + fields("id", "jwks") + `},
				"connectorConfig":{"fields":` + fields("connection", "s3") + `}}`,
			want: Capabilities{
				PlatformVersion:       "7.260817.0",
				RegisterInputFields:   []string{"id", "version", "slug", "xtm_one_intent"},
				ConnectorFields:       []string{"id", "jwks"},
				ConnectorConfigFields: []string{"connection", "s3"},
				VersionSlug:           true, JWKS: true, S3: true,
			},
		},
		{
			name: "version without slug",
			data: `{"about":{"version":"x"},"registerConnectorInput":{"inputFields":` + fields("version") + `},"connector":null,"connectorConfig":null}`,
			want: Capabilities{PlatformVersion: "x", RegisterInputFields: []string{"version"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(int, call) reply { return ok(tt.data) })
			got, err := f.client().Introspect(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(&tt.want, got); diff != "" {
				t.Errorf("Introspect() (-want +got):\n%s", diff)
			}
			if f.last().Query != docAPICompatibility {
				t.Errorf("query is not the embedded ApiCompatibility")
			}
		})
	}
}

// registrationAnswer is a registerConnector answer with jwks and s3.
const registrationAnswer = `{"registerConnector":{
  "id":"5a8f3f1e-2b8e-4d0c-9f67-2f8f0f0b1c11",
  "connector_state":"{\"last_run\": 1}",
  "connector_user_id":"88ec0c6a-13ce-5e39-b486-354fe4a7084f",
  "jwks":{"keys":[{"kty":"OKP","crv":"Ed25519","x":"abc"}]},
  "config":{
    "connection":{"host":"rabbitmq","vhost":"/","use_ssl":false,"port":5672,"user":"opencti","pass":"mq-s3cr3t-pass"},
    "s3":{"endpoint":"minio","port":"9000","use_ssl":"true","bucket_name":"b","bucket_region":"us-east-1","access_key":"AK","secret_key":"s3-s3cr3t-key"},
    "listen":"listen_5a8f","listen_routing":"listen_routing_5a8f","listen_exchange":"amqp.connector.exchange",
    "push":"push_5a8f","push_routing":"push_routing_5a8f","push_exchange":"amqp.worker.exchange"}}}`

func TestRegisterConnectorVariables(t *testing.T) {
	callback := "http://connector:8080/callback"
	base := RegisterInput{
		ID:                   "5a8f3f1e-2b8e-4d0c-9f67-2f8f0f0b1c11",
		Name:                 "RiskIQ PassiveTotal",
		Type:                 "INTERNAL_ENRICHMENT",
		Scope:                []string{"IPv4-Addr", "Domain-Name"},
		EnrichmentResolution: "none",
		PlaybookCompatible:   true,
		Version:              "6.9.7",
		Slug:                 "riskiq-passive-total",
	}
	const keys6x = `"id":"5a8f3f1e-2b8e-4d0c-9f67-2f8f0f0b1c11","name":"RiskIQ PassiveTotal",
		"type":"INTERNAL_ENRICHMENT","scope":["IPv4-Addr","Domain-Name"],"auto":false,"auto_update":false,
		"enrichment_resolution":"none","only_contextual":false,"playbook_compatible":true`
	tests := []struct {
		name     string
		in       func(RegisterInput) RegisterInput
		caps     *Capabilities
		wantVars string
		jwks, s3 bool
	}{
		{
			name:     "nil caps: 6.x keys, null callback",
			caps:     nil,
			wantVars: `{"input":{` + keys6x + `,"listen_callback_uri":null}}`,
		},
		{
			name:     "caps without version/slug",
			caps:     &Capabilities{RegisterInputFields: []string{"id", "version"}},
			wantVars: `{"input":{` + keys6x + `,"listen_callback_uri":null}}`,
		},
		{
			name:     "caps with version and slug",
			caps:     &Capabilities{VersionSlug: true},
			wantVars: `{"input":{` + keys6x + `,"listen_callback_uri":null,"version":"6.9.7","slug":"riskiq-passive-total"}}`,
		},
		{
			name:     "callback uri, nil scope",
			in:       func(in RegisterInput) RegisterInput { in.ListenCallbackURI = &callback; in.Scope = nil; return in },
			caps:     &Capabilities{JWKS: true},
			jwks:     true,
			wantVars: `{"input":{` + strings.Replace(keys6x, `["IPv4-Addr","Domain-Name"]`, `[]`, 1) + `,"listen_callback_uri":"http://connector:8080/callback"}}`,
		},
		{
			name:     "s3 only",
			caps:     &Capabilities{S3: true},
			s3:       true,
			wantVars: `{"input":{` + keys6x + `,"listen_callback_uri":null}}`,
		},
		{
			name:     "everything",
			caps:     &Capabilities{VersionSlug: true, JWKS: true, S3: true},
			jwks:     true,
			s3:       true,
			wantVars: `{"input":{` + keys6x + `,"listen_callback_uri":null,"version":"6.9.7","slug":"riskiq-passive-total"}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(int, call) reply { return ok(registrationAnswer) })
			in := base
			if tt.in != nil {
				in = tt.in(base)
			}
			if _, err := f.client().RegisterConnector(t.Context(), in, tt.caps); err != nil {
				t.Fatal(err)
			}
			got := f.last()
			checkVars(t, got, tt.wantVars)
			q := activeQuery(got.Query)
			if has := strings.Contains(q, "jwks"); has != tt.jwks {
				t.Errorf("jwks selected = %t, want %t:\n%s", has, tt.jwks, q)
			}
			if has := strings.Contains(q, "s3 {"); has != tt.s3 {
				t.Errorf("s3 selected = %t, want %t:\n%s", has, tt.s3, q)
			}
			for _, field := range []string{"connector_state", "connector_user_id", "use_ssl", "pass", "listen_routing", "push_exchange"} {
				if !strings.Contains(q, field) {
					t.Errorf("selection lacks %s", field)
				}
			}
		})
	}
}

func TestRegisterConnectorDecodes(t *testing.T) {
	f := newFake(t, func(int, call) reply { return ok(registrationAnswer) })
	in := RegisterInput{ID: "5a8f3f1e-2b8e-4d0c-9f67-2f8f0f0b1c11", Name: "RiskIQ", Type: "EXTERNAL_IMPORT"}
	got, err := f.client().RegisterConnector(t.Context(), in, &Capabilities{JWKS: true, S3: true})
	if err != nil {
		t.Fatal(err)
	}
	state := `{"last_run": 1}`
	want := &Registration{
		ID:     "5a8f3f1e-2b8e-4d0c-9f67-2f8f0f0b1c11",
		State:  &state,
		UserID: "88ec0c6a-13ce-5e39-b486-354fe4a7084f",
		JWKS:   json.RawMessage(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"abc"}]}`),
		Config: ConnectorConfig{
			Connection:     MQConnection{Host: "rabbitmq", VHost: "/", User: "opencti", Pass: "mq-s3cr3t-pass", Port: 5672},
			Listen:         "listen_5a8f",
			ListenRouting:  "listen_routing_5a8f",
			ListenExchange: "amqp.connector.exchange",
			Push:           "push_5a8f",
			PushRouting:    "push_routing_5a8f",
			PushExchange:   "amqp.worker.exchange",
			S3: &S3Config{
				Endpoint: "minio", Port: 9000, UseSSL: true, BucketName: "b",
				BucketRegion: "us-east-1", AccessKey: "AK", SecretKey: "s3-s3cr3t-key",
			},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("RegisterConnector() (-want +got):\n%s", diff)
	}
}

func TestRegisterConnectorNewConnector(t *testing.T) {
	f := newFake(t, func(int, call) reply {
		return ok(`{"registerConnector":{"id":"c1","connector_state":null,"connector_user_id":"u1",
			"config":{"connection":{"host":"h","vhost":"/","use_ssl":true,"port":5671,"user":"u","pass":"p"},
			"listen":"l","listen_routing":"lr","listen_exchange":"le","push":"p","push_routing":"pr","push_exchange":"pe"}}}`)
	})
	got, err := f.client().RegisterConnector(t.Context(), RegisterInput{ID: "c1", Name: "n1", Type: "EXTERNAL_IMPORT"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != nil || got.JWKS != nil || got.Config.S3 != nil || !got.Config.Connection.UseSSL {
		t.Errorf("RegisterConnector() = %+v, want nil state, jwks and s3, use_ssl", got)
	}
}

func TestRegisterConnectorErrors(t *testing.T) {
	f := newFake(t, func(int, call) reply { return ok(`{"registerConnector":null}`) })
	c := f.client()
	if _, err := c.RegisterConnector(t.Context(), RegisterInput{}, nil); err == nil ||
		!strings.Contains(err.Error(), "id is empty") || !strings.Contains(err.Error(), "type is empty") {
		t.Errorf("empty input: error = %v, want every missing field named", err)
	}
	if f.count() != 0 {
		t.Errorf("invalid input sent %d requests", f.count())
	}
	_, err := c.RegisterConnector(t.Context(), RegisterInput{ID: "c", Name: "nn", Type: "STREAM"}, nil)
	if !errors.Is(err, ErrNotFound) || !strings.HasPrefix(err.Error(), "register connector: ") {
		t.Errorf("null answer: error = %v, want wrapped ErrNotFound", err)
	}
}

func TestSecretsRedacted(t *testing.T) {
	f := newFake(t, func(int, call) reply { return ok(registrationAnswer) })
	reg, err := f.client().RegisterConnector(t.Context(), RegisterInput{ID: "c", Name: "nn", Type: "STREAM"}, &Capabilities{S3: true})
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	logger.Info("registered", slog.Any("connection", reg.Config.Connection), slog.Any("s3", *reg.Config.S3), slog.Any("registration", reg))
	b, err := json.Marshal(reg)
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"%v":     fmt.Sprintf("%v", reg),
		"%+v":    fmt.Sprintf("%+v", reg),
		"%#v":    fmt.Sprintf("%#v", reg.Config),
		"Sprint": fmt.Sprint(reg.Config.Connection),
		"s3 %v":  fmt.Sprintf("%v", *reg.Config.S3),
		"slog":   logs.String(),
		"json":   string(b),
	}
	for name, out := range outputs {
		for _, secret := range []string{"mq-s3cr3t-pass", "s3-s3cr3t-key"} {
			if strings.Contains(out, secret) {
				t.Errorf("%s shows a secret: %s", name, out)
			}
		}
		if !strings.Contains(out, redacted) {
			t.Errorf("%s does not say %s: %s", name, redacted, out)
		}
	}
	if reg.Config.Connection.Pass != "mq-s3cr3t-pass" {
		t.Error("the password itself must stay usable")
	}
}

func TestS3ConfigDecoding(t *testing.T) {
	tests := []struct {
		in      string
		want    S3Config
		wantErr bool
	}{
		{`{"endpoint":"e","port":443,"use_ssl":true}`, S3Config{Endpoint: "e", Port: 443, UseSSL: true}, false},
		{`{"port":"9000","use_ssl":"false"}`, S3Config{Port: 9000}, false},
		{`{"endpoint":null,"port":null,"use_ssl":null}`, S3Config{}, false},
		{`{"port":"abc"}`, S3Config{}, true},
		{`{"use_ssl":"maybe"}`, S3Config{}, true},
		{`{"use_ssl":3}`, S3Config{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var got S3Config
			err := json.Unmarshal([]byte(tt.in), &got)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Unmarshal(%s) error = %v, wantErr %t", tt.in, err, tt.wantErr)
			}
			if !tt.wantErr && got != tt.want {
				t.Errorf("Unmarshal(%s) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestPingConnector(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	next := time.Date(2024, 1, 16, 11, 30, 0, 999, paris)
	tests := []struct {
		name      string
		state     string
		info      ConnectorInfo
		answer    string
		wantVars  string
		wantState *string
	}{
		{
			name:  "first ping, no state",
			state: "null",
			info:  ConnectorInfo{QueueThreshold: 500},
			answer: `{"pingConnector":{"id":"c1","connector_state":null,"connector_info":{"run_and_terminate":false,"buffering":false,
				"queue_threshold":500,"queue_messages_size":0,"next_run_datetime":null,"last_run_datetime":null}}}`,
			wantVars: `{"id":"c1","state":"null","connectorInfo":{"run_and_terminate":false,"buffering":false,
				"queue_threshold":500,"queue_messages_size":0,"next_run_datetime":null,"last_run_datetime":null}}`,
		},
		{
			name:  "state and times",
			state: `{"last_run": "2024-01-15 10:30:00"}`,
			info: ConnectorInfo{
				RunAndTerminate: true, Buffering: true, QueueThreshold: 250.5, QueueMessagesSize: 1.25,
				NextRunDatetime: &next, LastRunDatetime: ptr(time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC)),
			},
			answer: `{"pingConnector":{"id":"c1","connector_state":"{\"last_run\": \"2024-01-15 10:30:00\"}"}}`,
			wantVars: `{"id":"c1","state":"{\"last_run\": \"2024-01-15 10:30:00\"}","connectorInfo":{"run_and_terminate":true,"buffering":true,
				"queue_threshold":250.5,"queue_messages_size":1.25,"next_run_datetime":"2024-01-16T10:30:00Z","last_run_datetime":"2024-01-15T10:30:00Z"}}`,
			wantState: ptr(`{"last_run": "2024-01-15 10:30:00"}`),
		},
		{
			name:      "remote reset",
			state:     `{"a": 1}`,
			info:      ConnectorInfo{QueueThreshold: 500},
			answer:    `{"pingConnector":{"id":"c1","connector_state":""}}`,
			wantVars:  `{"id":"c1","state":"{\"a\": 1}","connectorInfo":{"run_and_terminate":false,"buffering":false,"queue_threshold":500,"queue_messages_size":0,"next_run_datetime":null,"last_run_datetime":null}}`,
			wantState: ptr(""),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(int, call) reply { return ok(tt.answer) })
			got, err := f.client().PingConnector(t.Context(), "c1", tt.state, tt.info)
			if err != nil {
				t.Fatal(err)
			}
			checkVars(t, f.last(), tt.wantVars)
			if diff := cmp.Diff(tt.wantState, got); diff != "" {
				t.Errorf("returned state (-want +got):\n%s", diff)
			}
			if f.last().Query != docPingConnector {
				t.Error("query is not the embedded PingConnector")
			}
		})
	}
}

func TestPingConnectorUnknown(t *testing.T) {
	f := newFake(t, func(int, call) reply {
		return reply{status: 200, body: `{"errors":[{"message":"No connector found with the specified ID","extensions":{"code":"FUNCTIONAL_ERROR"}}],"data":{"pingConnector":null}}`}
	})
	_, err := f.client().PingConnector(t.Context(), "c1", "null", ConnectorInfo{})
	var ge *GraphQLError
	if !errors.As(err, &ge) || ge.Name != "FUNCTIONAL_ERROR" {
		t.Errorf("error = %v, want FUNCTIONAL_ERROR", err)
	}
	f2 := newFake(t, func(int, call) reply { return ok(`{"pingConnector":null}`) })
	if _, err := f2.client().PingConnector(t.Context(), "c1", "null", ConnectorInfo{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("null answer: error = %v, want ErrNotFound", err)
	}
}

func TestConnector(t *testing.T) {
	f := newFake(t, func(int, call) reply {
		return ok(`{"connector":{"id":"c1","name":"RiskIQ","active":true,"auto":null,"only_contextual":false,
			"connector_type":"EXTERNAL_IMPORT","connector_scope":["riskiq"],"connector_state":null,
			"connector_queue_details":{"messages_number":12,"messages_size":2500000},
			"updated_at":"2024-01-15T10:30:00.000Z","created_at":null,
			"config":{"listen":"l","listen_exchange":"le","push":"p","push_exchange":"pe","push_routing":"pr"},"built_in":null}}`)
	})
	got, err := f.client().Connector(t.Context(), "c1")
	if err != nil {
		t.Fatal(err)
	}
	checkVars(t, f.last(), `{"id":"c1"}`)
	want := &ConnectorStatus{
		ID: "c1", Name: "RiskIQ", Active: true, ConnectorType: "EXTERNAL_IMPORT", Scope: []string{"riskiq"},
		QueueDetails: QueueDetails{MessagesNumber: 12, MessagesSize: 2500000},
		UpdatedAt:    ptr(time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC)),
		Config:       ConnectorConfig{Listen: "l", ListenExchange: "le", Push: "p", PushExchange: "pe", PushRouting: "pr"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Connector() (-want +got):\n%s", diff)
	}
	f2 := newFake(t, func(int, call) reply { return ok(`{"connector":null}`) })
	if _, err := f2.client().Connector(t.Context(), "c1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("null answer: error = %v, want ErrNotFound", err)
	}
}

// ptr returns a pointer to v.
func ptr[T any](v T) *T { return &v }
