package openctitest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
)

func TestIntegrationRegisterDeclaresQueues(t *testing.T) {
	s := NewServer(t, WithClock(fixedClock))
	id := uuid.NewString()
	got := register(t, s, id, "INTERNAL_ENRICHMENT", []any{"IPv4-Addr", "Domain-Name"}, true)
	p := s.QueuePrefix() + "_"
	want := map[string]any{
		"id": id, "connector_state": nil, "connector_user_id": ConnectorUserID,
		"config": map[string]any{
			"connection": map[string]any{"host": "127.0.0.1", "vhost": "/", "use_ssl": false, "port": float64(5672), "user": "guest", "pass": "guest"},
			"listen":     p + "listen_" + id, "listen_routing": p + "listen_routing_" + id, "listen_exchange": p + "amqp.connector.exchange",
			"push": p + "push_" + id, "push_routing": p + "push_routing_" + id, "push_exchange": p + "amqp.worker.exchange",
		},
	}
	if diff := cmp.Diff(want, got, cmp.FilterPath(func(p cmp.Path) bool {
		// The broker coordinates depend on TEST_AMQP_URL.
		return p.Last().String() == `["connection"]`
	}, cmp.Ignore())); diff != "" {
		t.Errorf("registerConnector (-want +got):\n%s", diff)
	}

	ch := dial(t, s)
	cfg := got["config"].(map[string]any)
	for _, q := range []string{cfg["listen"].(string), cfg["push"].(string)} {
		if _, err := ch.QueueDeclarePassive(q, true, false, false, false, nil); err != nil {
			t.Fatalf("passive declare %s: %v", q, err)
		}
	}
	// The queues carry the platform's arguments: redeclaring with the same
	// x-queue-type succeeds, with another one fails.
	args := amqp.Table{"name": "Test connector", "config": amqp.Table{"id": id, "type": "INTERNAL_ENRICHMENT", "scope": []any{"IPv4-Addr", "Domain-Name"}}, "x-queue-type": "classic"}
	if _, err := ch.QueueDeclare(cfg["listen"].(string), true, false, false, false, args); err != nil {
		t.Fatalf("redeclare with the platform arguments: %v", err)
	}
	other := dial(t, s)
	_, err := other.QueueDeclare(cfg["listen"].(string), true, false, false, false, amqp.Table{"x-queue-type": "quorum"})
	var amqpErr *amqp.Error
	if !errors.As(err, &amqpErr) || amqpErr.Code != amqp.PreconditionFailed {
		t.Errorf("redeclare as quorum: err %v, want PRECONDITION_FAILED", err)
	}
	// The listen queue is bound to the listen exchange with the routing key.
	if err := s.PublishRaw(t.Context(), id, []byte(`{"hello":1}`)); err != nil {
		t.Fatal(err)
	}
	msg, ok, err := ch.Get(cfg["listen"].(string), true)
	if err != nil || !ok || string(msg.Body) != `{"hello":1}` || msg.DeliveryMode != amqp.Persistent {
		t.Errorf("listen queue: got %q (ok %v, mode %d), err %v", msg.Body, ok, msg.DeliveryMode, err)
	}

	c, ok := s.Connector(id)
	if !ok || !c.Registered || c.Type != "INTERNAL_ENRICHMENT" || c.Name != "Test connector" {
		t.Fatalf("Connector(%s) = %+v, %v", id, c, ok)
	}
	if diff := cmp.Diff([]string{"IPv4-Addr", "Domain-Name"}, c.Scope); diff != "" {
		t.Errorf("scope (-want +got):\n%s", diff)
	}
	if c.EnrichmentResolution == nil || *c.EnrichmentResolution != "none" || c.ListenCallbackURI != nil || !c.PlaybookCompatible {
		t.Errorf("registration options not stored: %+v", c)
	}
}

func TestIntegrationRegisterValidation(t *testing.T) {
	s := NewServer(t)
	for _, name := range []string{"a", "  ", ""} {
		in := registerInput(uuid.NewString(), "EXTERNAL_IMPORT", nil, false)
		in["input"].(map[string]any)["name"] = name
		r := post(t, s, registerMutation, in)
		if r.errorCode(0) != "FUNCTIONAL_ERROR" || path(r.Data, "registerConnector") != nil {
			t.Errorf("name %q: body %s, want FUNCTIONAL_ERROR", name, r.Raw)
		}
	}
}

func TestIntegrationPingAndState(t *testing.T) {
	now := fixedTime
	s := NewServer(t, WithClock(func() time.Time { return now }))
	id := uuid.NewString()
	register(t, s, id, "EXTERNAL_IMPORT", nil, false)

	info := map[string]any{
		"run_and_terminate": false, "buffering": false, "queue_threshold": 500.0, "queue_messages_size": 0.0,
		"next_run_datetime": "2024-01-16T10:30:00Z", "last_run_datetime": nil,
	}
	state := `{"last_run": 1705314600}`
	d := mustData(t, post(t, s, pingMutation, map[string]any{"id": id, "state": state, "connectorInfo": info}))
	want := map[string]any{"id": id, "connector_state": state, "connector_info": map[string]any{
		"run_and_terminate": false, "buffering": false, "queue_threshold": 500.0, "queue_messages_size": 0.0,
		"next_run_datetime": "2024-01-16T10:30:00.000Z", "last_run_datetime": nil,
	}}
	if diff := cmp.Diff(want, d["pingConnector"]); diff != "" {
		t.Errorf("pingConnector (-want +got):\n%s", diff)
	}
	c, _ := s.Connector(id)
	if c.Pings != 1 || c.State == nil || *c.State != state || c.Info["queue_threshold"] != 500.0 {
		t.Errorf("after ping: %+v", c)
	}

	// Re-registering keeps the state.
	now = now.Add(time.Minute)
	if got := register(t, s, id, "EXTERNAL_IMPORT", nil, false)["connector_state"]; got != state {
		t.Errorf("re-registration connector_state = %v, want %s", got, state)
	}
	if c, _ := s.Connector(id); c.Registrations != 2 || !c.UpdatedAt.Equal(now) {
		t.Errorf("re-registration: %+v", c)
	}

	// pycti sends "null" when it has no state.
	d = mustData(t, post(t, s, pingMutation, map[string]any{"id": id, "state": "null"}))
	if got := path(d, "pingConnector", "connector_state"); got != "null" {
		t.Errorf("connector_state = %v, want \"null\"", got)
	}

	r := post(t, s, pingMutation, map[string]any{"id": uuid.NewString(), "state": "{}"})
	if r.errorCode(0) != "FUNCTIONAL_ERROR" || r.Errors[0]["message"] != "No connector found with the specified ID" || path(r.Data, "pingConnector") != nil {
		t.Errorf("unknown connector: %s", r.Raw)
	}

	q := `query GetConnector($id: String!) { connector(id: $id) { id active connector_state connector_scope connector_queue_details { messages_number messages_size } updated_at } }`
	d = mustData(t, post(t, s, q, map[string]any{"id": id}))
	if diff := cmp.Diff(map[string]any{
		"id": id, "active": true, "connector_state": "null", "connector_scope": []any{},
		"connector_queue_details": map[string]any{"messages_number": 0.0, "messages_size": 0.0},
		"updated_at":              "2024-01-15T10:31:00.000Z",
	}, d["connector"]); diff != "" {
		t.Errorf("connector (-want +got):\n%s", diff)
	}
	now = now.Add(6 * time.Minute)
	if d := mustData(t, post(t, s, q, map[string]any{"id": id})); path(d, "connector", "active") != false {
		t.Errorf("a connector silent for 6 minutes is active")
	}
	s.SetQueueDetails(id, &QueueDetails{MessagesNumber: 3, MessagesSize: 600e6})
	d = mustData(t, post(t, s, q, map[string]any{"id": id}))
	if got := path(d, "connector", "connector_queue_details", "messages_size"); got != 600e6 {
		t.Errorf("messages_size = %v, want the override", got)
	}
}

func TestIntegrationResetState(t *testing.T) {
	s := NewServer(t)
	id := uuid.NewString()
	cfg := register(t, s, id, "INTERNAL_ENRICHMENT", []any{"IPv4-Addr"}, false)["config"].(map[string]any)
	mustData(t, post(t, s, pingMutation, map[string]any{"id": id, "state": `{"a":1}`}))
	for range 3 {
		if err := s.PublishRaw(t.Context(), id, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	ch := dial(t, s)
	if q, err := ch.QueueDeclarePassive(cfg["listen"].(string), true, false, false, false, nil); err != nil || q.Messages != 3 {
		t.Fatalf("before reset: %d messages, err %v", q.Messages, err)
	}
	if err := s.ResetState(id); err != nil {
		t.Fatal(err)
	}
	if q, err := ch.QueueDeclarePassive(cfg["listen"].(string), true, false, false, false, nil); err != nil || q.Messages != 0 {
		t.Errorf("after reset: %d messages, err %v", q.Messages, err)
	}
	before, _ := s.Connector(id)

	// The next ping only clears the flag: the state sent is ignored.
	d := mustData(t, post(t, s, pingMutation, map[string]any{"id": id, "state": `{"a":1}`}))
	if got := path(d, "pingConnector", "connector_state"); got != "" {
		t.Errorf("first ping after reset: connector_state = %v, want \"\"", got)
	}
	c, _ := s.Connector(id)
	if c.StateReset || c.State == nil || *c.State != "" || !c.UpdatedAt.Equal(before.UpdatedAt) {
		t.Errorf("after first ping: %+v", c)
	}
	d = mustData(t, post(t, s, pingMutation, map[string]any{"id": id, "state": `{"b":2}`}))
	if got := path(d, "pingConnector", "connector_state"); got != `{"b":2}` {
		t.Errorf("second ping: connector_state = %v", got)
	}

	// The UI mutation does the same.
	mustData(t, post(t, s, `mutation R($id: ID!) { resetStateConnector(id: $id) { connector_state connector_state_reset } }`, map[string]any{"id": id}))
	if c, _ := s.Connector(id); !c.StateReset {
		t.Errorf("resetStateConnector did not set the flag")
	}
}
