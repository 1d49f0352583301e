package openctitest

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/goleak"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fixedTime is the instant fixedClock returns, for tests that compare timestamps.
var fixedTime = time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC)

func fixedClock() time.Time { return fixedTime }

// gqlResult is a decoded GraphQL response.
type gqlResult struct {
	Status int
	Data   map[string]any
	Errors []map[string]any
	Raw    string
}

// errorCode returns errors[i].extensions.code.
func (r gqlResult) errorCode(i int) string {
	if i >= len(r.Errors) {
		return ""
	}
	ext, _ := r.Errors[i]["extensions"].(map[string]any)
	code, _ := ext["code"].(string)
	return code
}

// post sends a raw GraphQL request with the server's token.
func post(t *testing.T, s *Server, query string, vars map[string]any) gqlResult {
	t.Helper()
	return postWith(t, s, s.Token(), map[string]any{"query": query, "variables": vars})
}

// postWith sends body as JSON with token (none when empty).
func postWith(t *testing.T, s *Server, token string, body map[string]any) gqlResult {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL+"/graphql", bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /graphql: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	res := gqlResult{Status: resp.StatusCode, Raw: string(b)}
	var decoded struct {
		Data   map[string]any   `json:"data"`
		Errors []map[string]any `json:"errors"`
	}
	if resp.Header.Get("Content-Type") == "application/json; charset=utf-8" {
		if err := json.Unmarshal(b, &decoded); err != nil {
			t.Fatalf("decode response %s: %v", b, err)
		}
		res.Data, res.Errors = decoded.Data, decoded.Errors
	}
	return res
}

// mustData fails unless the request succeeded without errors.
func mustData(t *testing.T, r gqlResult) map[string]any {
	t.Helper()
	if r.Status != http.StatusOK || len(r.Errors) > 0 {
		t.Fatalf("request failed: status %d, body %s", r.Status, r.Raw)
	}
	return r.Data
}

// path walks nested maps.
func path(v any, keys ...string) any {
	for _, k := range keys {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	return v
}

const registerMutation = `mutation RegisterConnector($input: RegisterConnectorInput) {
  registerConnector(input: $input) {
    id connector_state connector_user_id
    config {
      connection { host vhost use_ssl port user pass }
      listen listen_routing listen_exchange push push_routing push_exchange
    }
  }
}`

const pingMutation = `mutation PingConnector($id: ID!, $state: String, $connectorInfo: ConnectorInfoInput) {
  pingConnector(id: $id, state: $state, connectorInfo: $connectorInfo) {
    id connector_state
    connector_info { run_and_terminate buffering queue_threshold queue_messages_size next_run_datetime last_run_datetime }
  }
}`

// registerInput is pycti 6.x's registration input.
func registerInput(id, typ string, scope []any, auto bool) map[string]any {
	return map[string]any{"input": map[string]any{
		"id": id, "name": "Test connector", "type": typ, "scope": scope,
		"auto": auto, "auto_update": false, "enrichment_resolution": "none",
		"only_contextual": false, "playbook_compatible": true, "listen_callback_uri": nil,
	}}
}

// register registers a connector and returns data.registerConnector.
func register(t *testing.T, s *Server, id, typ string, scope []any, auto bool) map[string]any {
	t.Helper()
	d := mustData(t, post(t, s, registerMutation, registerInput(id, typ, scope, auto)))
	return d["registerConnector"].(map[string]any)
}

// dial opens a test-side AMQP channel closed at cleanup.
func dial(t *testing.T, s *Server) *amqp.Channel {
	t.Helper()
	conn, err := amqp.Dial(s.AMQPURL())
	if err != nil {
		t.Fatalf("dial rabbitmq: %v", err)
	}
	ch, err := conn.Channel()
	if err != nil {
		t.Fatalf("open channel: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return ch
}

// golden compares got with testdata/<name>, rewriting it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	file := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("read golden (run with -update to create): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", name, diff)
	}
}
