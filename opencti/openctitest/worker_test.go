package openctitest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
)

// pushEnvelope builds the body pycti publishes (spec §3.5), with Python's
// json.dumps separators.
func pushEnvelope(t *testing.T, workID string, seq int, bundle map[string]any) []byte {
	t.Helper()
	raw, err := json.Marshal(bundle)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]any{
		"bundle_type": "QUEUE_BUNDLE", "applicant_id": ConnectorUserID, "action_sequence": seq,
		"entities_types": []any{}, "content": base64.StdEncoding.EncodeToString(raw),
		"update": false, "draft_id": nil,
	}
	if workID != "" {
		env["work_id"] = workID
	}
	body, err := json.MarshalIndent(env, "", "")
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// publishPush publishes body to the connector's push exchange like pycti.
func publishPush(t *testing.T, s *Server, ch *amqp.Channel, connectorID string, body []byte) {
	t.Helper()
	p := s.QueuePrefix() + "_"
	err := ch.PublishWithContext(t.Context(), p+"amqp.worker.exchange", p+"push_routing_"+connectorID, false, false,
		amqp.Publishing{DeliveryMode: amqp.Persistent, ContentEncoding: "utf-8", Body: body})
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
}

func waitCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func ipv4(value string) map[string]any {
	id, _ := standardID("ipv4-addr", map[string]any{"value": value})
	return map[string]any{"type": "ipv4-addr", "spec_version": "2.1", "id": id, "value": value}
}

// waitDeliveries waits until the worker recorded n deliveries and returns
// them: it records a delivery after reporting the expectation that may
// complete the work (as the platform's worker acks after reporting), so a
// completed work does not mean its deliveries are recorded yet.
func waitDeliveries(t *testing.T, s *Server, n int) []Delivery {
	t.Helper()
	ctx := waitCtx(t)
	for {
		if ds := s.Deliveries(); len(ds) >= n {
			return ds
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d deliveries recorded, want %d", len(s.Deliveries()), n)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func TestIntegrationWorkerSingleObject(t *testing.T) {
	s := NewServer(t, WithStrict())
	connectorID := uuid.NewString()
	register(t, s, connectorID, "EXTERNAL_IMPORT", nil, false)
	workID, err := s.AddWork(connectorID, "run")
	if err != nil {
		t.Fatal(err)
	}
	mustData(t, post(t, s, `mutation A($id: ID!, $n: Int) { workEdit(id: $id) { addExpectations(expectations: $n) } }`, map[string]any{"id": workID, "n": 1}))
	obj := ipv4("8.8.8.8")
	obj["nb_deps"] = 1
	bundle := map[string]any{"type": "bundle", "id": "bundle--" + uuid.NewString(), "spec_version": "2.1", "x_opencti_seq": 1, "objects": []any{obj}}
	publishPush(t, s, dial(t, s), connectorID, pushEnvelope(t, workID, 1, bundle))

	w, err := s.WaitWork(waitCtx(t), workID, StatusComplete)
	if err != nil {
		t.Fatal(err)
	}
	if w.Processed != 1 || w.CompletedNumber != 1 {
		t.Errorf("work = %+v, want 1 processed", w)
	}
	waitDeliveries(t, s, 1)
	objs := s.Objects()
	want := []map[string]any{{"type": "ipv4-addr", "spec_version": "2.1", "id": obj["id"], "value": "8.8.8.8", "nb_deps": 1.0}}
	if diff := cmp.Diff(want, objs); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
	envs := s.Envelopes()
	if len(envs) != 1 || envs[0].BundleType != "QUEUE_BUNDLE" || *envs[0].ApplicantID != ConnectorUserID ||
		*envs[0].ActionSequence != 1 || *envs[0].WorkID != workID || envs[0].DraftID != nil || envs[0].Update {
		t.Errorf("envelopes = %+v", envs)
	}
	d := s.Deliveries()[0]
	if d.Outcome != OutcomeImported || d.ContentEncoding != "utf-8" || d.DeliveryMode != amqp.Persistent {
		t.Errorf("delivery = %+v", d)
	}
	if got := s.Bundles(connectorID); len(got) != 1 || got[0]["id"] != bundle["id"] {
		t.Errorf("Bundles = %v", got)
	}
}

func TestIntegrationWorkerSplit(t *testing.T) {
	s := NewServer(t)
	connectorID := uuid.NewString()
	register(t, s, connectorID, "EXTERNAL_IMPORT", nil, false)
	workID, err := s.AddWork(connectorID, "run")
	if err != nil {
		t.Fatal(err)
	}
	ip, dom := ipv4("8.8.8.8"), map[string]any{"type": "domain-name", "id": "domain-name--bedb4899-d24b-5401-bc86-8f6b4cc18ec7", "value": "example.com"}
	rel := map[string]any{"type": "relationship", "id": "relationship--" + uuid.NewString(), "relationship_type": "resolves-to",
		"source_ref": dom["id"], "target_ref": ip["id"]}
	dangling := map[string]any{"type": "relationship", "id": "relationship--" + uuid.NewString(), "relationship_type": "related-to", "target_ref": ip["id"]}
	bundle := map[string]any{"type": "bundle", "id": "bundle--" + uuid.NewString(), "objects": []any{rel, ip, dom, dangling}}
	publishPush(t, s, dial(t, s), connectorID, pushEnvelope(t, workID, 1, bundle))

	objs, err := s.WaitObjects(waitCtx(t), 3)
	if err != nil {
		t.Fatal(err)
	}
	var ids []any
	for _, o := range objs {
		ids = append(ids, o["id"])
	}
	// Dependencies first; the relationship without source_ref is dropped.
	if diff := cmp.Diff([]any{ip["id"], dom["id"], rel["id"]}, ids); diff != "" {
		t.Errorf("import order (-want +got):\n%s", diff)
	}
	if objs[2]["nb_deps"] != 3.0 {
		t.Errorf("relationship nb_deps = %v, want 3", objs[2]["nb_deps"])
	}
	w, err := s.WaitWork(waitCtx(t), workID, StatusComplete)
	if err != nil {
		t.Fatal(err)
	}
	if w.Expected != 3 || w.Processed != 3 {
		t.Errorf("work = %+v, want 3 expected and processed", w)
	}
	ds := waitDeliveries(t, s, 4) // the bundle and its 3 parts
	if ds[0].Outcome != OutcomeSplit || !ds[1].Republished || *ds[1].Envelope.WorkID != workID {
		t.Errorf("deliveries = %+v", ds)
	}
}

func TestIntegrationWorkerRejects(t *testing.T) {
	s := NewServer(t)
	connectorID := uuid.NewString()
	register(t, s, connectorID, "EXTERNAL_IMPORT", nil, false)
	workID, err := s.AddWork(connectorID, "run")
	if err != nil {
		t.Fatal(err)
	}
	deleted, err := s.AddWork(connectorID, "deleted")
	if err != nil {
		t.Fatal(err)
	}
	mustData(t, post(t, s, `mutation D($id: ID!) { workEdit(id: $id) { delete } }`, map[string]any{"id": deleted}))
	ch := dial(t, s)
	bad := ipv4("1.1.1.1")
	bad["id"] = "domain-name--" + uuid.NewString()
	msgs := [][]byte{
		[]byte(`{"bundle_type": "QUEUE_BUNDLE", "content": `),
		[]byte(`{"bundle_type": "QUEUE_BUNDLE", "content": "not base64!"}`),
		pushEnvelope(t, "", 1, map[string]any{"type": "bundle", "objects": []any{}}),
		pushEnvelope(t, deleted, 1, map[string]any{"type": "bundle", "objects": []any{ipv4("9.9.9.9")}}),
		pushEnvelope(t, workID, 1, map[string]any{"type": "bundle", "objects": []any{bad}}),
	}
	for _, m := range msgs {
		publishPush(t, s, ch, connectorID, m)
	}
	ds, err := s.WaitDeliveries(waitCtx(t), len(msgs))
	if err != nil {
		t.Fatal(err)
	}
	var outcomes []string
	for _, d := range ds {
		outcomes = append(outcomes, d.Outcome)
	}
	want := []string{OutcomeRejected, OutcomeRejected, OutcomeRejected, OutcomeDropped, OutcomeImportError}
	if diff := cmp.Diff(want, outcomes); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	if n := len(s.Errors()); n != 4 {
		t.Errorf("recorded %d protocol errors, want 4: %v", n, s.Errors())
	}
	w, _ := s.Work(workID)
	if len(w.ErrorEntries) != 1 || w.ErrorEntries[0].Source == nil || w.Processed != 1 {
		t.Errorf("import error not reported on the work: %+v", w)
	}
	if len(s.Objects()) != 0 {
		t.Errorf("objects = %v, want none", s.Objects())
	}
}
