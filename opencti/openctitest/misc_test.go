package openctitest

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/riskiq-opencti/connectors/opencti/internal/testenv"
)

func TestConnectionObject(t *testing.T) {
	tests := []struct {
		url  string
		want map[string]any
	}{
		{"amqp://guest:guest@127.0.0.1:5672/", map[string]any{"host": "127.0.0.1", "vhost": "/", "use_ssl": false, "port": 5672, "user": "guest", "pass": "guest"}},
		{"amqp://u:p@rabbit/%2F", map[string]any{"host": "rabbit", "vhost": "/", "use_ssl": false, "port": 5672, "user": "u", "pass": "p"}},
		{"amqps://opencti:changeme@mq.example.com/octi", map[string]any{"host": "mq.example.com", "vhost": "octi", "use_ssl": true, "port": 5671, "user": "opencti", "pass": "changeme"}},
	}
	for _, tt := range tests {
		u, err := amqp.ParseURI(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, connectionObject(u)); diff != "" {
			t.Errorf("connectionObject(%s) (-want +got):\n%s", tt.url, diff)
		}
	}
}

func TestCompactJSON(t *testing.T) {
	tests := []struct {
		in   any
		want string
	}{
		{newObject("b", 1, "a", []any{true, nil, "x"}), `{"b":1,"a":[true,null,"x"]}`},
		{map[string]any{"z": 1.5, "a": "<&>\u2028"}, "{\"a\":\"<&>\u2028\",\"z\":1.5}"},
		{"q\"\\\n\t\x01", `"q\"\\\n\t\u0001"`},
		{[]float64{48.0, 1e21, 1e-7, 500}, `[48,1e+21,1e-7,500]`},
	}
	for _, tt := range tests {
		got, err := compactJSON(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tt.want {
			t.Errorf("compactJSON(%#v) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestIntegrationCleanupDeletesQueues(t *testing.T) {
	testenv.AMQPURL(t)
	var listen, exchange string
	var amqpURL string
	t.Run("server", func(t *testing.T) {
		s := NewServer(t)
		amqpURL = s.AMQPURL()
		cfg := register(t, s, uuid.NewString(), "EXTERNAL_IMPORT", nil, false)["config"].(map[string]any)
		listen, exchange = cfg["listen"].(string), cfg["push_exchange"].(string)
	})
	conn, err := amqp.Dial(amqpURL)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	check := func(what string, declare func(ch *amqp.Channel) error) {
		ch, err := conn.Channel()
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = ch.Close() }()
		var amqpErr *amqp.Error
		if err := declare(ch); !errors.As(err, &amqpErr) || amqpErr.Code != amqp.NotFound {
			t.Errorf("%s still exists after cleanup (err %v)", what, err)
		}
	}
	check(listen, func(ch *amqp.Channel) error {
		_, err := ch.QueueDeclarePassive(listen, true, false, false, false, nil)
		return err
	})
	check(exchange, func(ch *amqp.Channel) error {
		return ch.ExchangeDeclarePassive(exchange, "direct", true, false, false, false, nil)
	})
}

// recordingTB captures Errorf calls of a server's cleanup.
type recordingTB struct {
	testing.TB
	errs []string
}

func (r *recordingTB) Errorf(format string, _ ...any) {
	r.errs = append(r.errs, format)
}

func TestIntegrationStrictReportsProtocolErrors(t *testing.T) {
	testenv.AMQPURL(t)
	rec := &recordingTB{TB: t}
	t.Cleanup(func() {
		if len(rec.errs) != 1 {
			t.Errorf("strict cleanup reported %d errors, want 1", len(rec.errs))
		}
	})
	s := NewServer(rec, WithStrict())
	if r := post(t, s, `query { nope }`, nil); r.Status != http.StatusBadRequest {
		t.Fatalf("status %d", r.Status)
	}
}

func TestIntegrationPlaybookAndConnectorLifecycle(t *testing.T) {
	s := NewServer(t, WithClock(fixedClock))
	id := uuid.NewString()
	register(t, s, id, "INTERNAL_ENRICHMENT", []any{"IPv4-Addr"}, false)
	m := `mutation PlaybookStepExecution($execution_id: ID!, $event_id: ID!, $execution_start: DateTime!, $data_instance_id: ID!, $playbook_id: ID!, $previous_step_id: ID!, $step_id: ID!, $previous_bundle: String!, $bundle: String!) {
  playbookStepExecution(execution_id: $execution_id, event_id: $event_id, execution_start: $execution_start, data_instance_id: $data_instance_id, playbook_id: $playbook_id, previous_step_id: $previous_step_id, step_id: $step_id, previous_bundle: $previous_bundle, bundle: $bundle)
}`
	vars := map[string]any{
		"execution_id": "exec-1", "event_id": "event-1", "execution_start": "2024-01-15T10:30:00+00:00",
		"data_instance_id": "ipv4-addr--2f689bf9-0ff2-545f-aa61-e495eb8cecc7", "playbook_id": "pb-1",
		"previous_step_id": "step-1", "step_id": "step-2", "previous_bundle": `{"type": "bundle", "objects": []}`,
		"bundle": `{"type": "bundle", "id": "bundle--1", "objects": []}`,
	}
	if d := mustData(t, post(t, s, m, vars)); d["playbookStepExecution"] != true {
		t.Errorf("playbookStepExecution = %v", d["playbookStepExecution"])
	}
	p := s.PlaybookExecutions()
	if len(p) != 1 || p[0].StepID != "step-2" || !p[0].ExecutionStart.Equal(fixedTime) || !strings.Contains(p[0].Bundle, "bundle--1") {
		t.Errorf("PlaybookExecutions = %+v", p)
	}
	vars["bundle"] = "not json"
	if r := post(t, s, m, vars); r.errorCode(0) != "INTERNAL_SERVER_ERROR" || len(s.Errors()) != 1 || s.Errors()[0].Kind != ErrorPlaybook {
		t.Errorf("invalid bundle: %s, errors %v", r.Raw, s.Errors())
	}

	workID, err := s.AddWork(id, "job")
	if err != nil {
		t.Fatal(err)
	}
	q := `query { connectors { id works(status: "progress") { id } } }`
	want := map[string]any{"connectors": []any{map[string]any{"id": id, "works": []any{map[string]any{"id": workID}}}}}
	if diff := cmp.Diff(want, mustData(t, post(t, s, q, nil))); diff != "" {
		t.Errorf("connectors (-want +got):\n%s", diff)
	}
	mustData(t, post(t, s, `mutation D($id: ID!) { deleteConnector(id: $id) }`, map[string]any{"id": id}))
	if _, ok := s.Connector(id); ok {
		t.Errorf("connector still exists after deleteConnector")
	}
	if _, ok := s.Work(workID); ok {
		t.Errorf("works survive their connector")
	}
	ch := dial(t, s)
	var amqpErr *amqp.Error
	if _, err := ch.QueueDeclarePassive(s.QueuePrefix()+"_listen_"+id, true, false, false, false, nil); !errors.As(err, &amqpErr) || amqpErr.Code != amqp.NotFound {
		t.Errorf("listen queue survives deleteConnector: %v", err)
	}
}
