package openctitest

import (
	"net/http"
	"testing"
)

func TestIntegrationRefuseWork(t *testing.T) {
	s := NewServer(t)
	r := register(t, s, "1c1c1c1c-0000-4000-8000-000000000001", "EXTERNAL_IMPORT", []any{"riskiq"}, false)
	connectorID, _ := path(r, "id").(string)
	poison, err := s.AddWork(connectorID, "poison")
	if err != nil {
		t.Fatal(err)
	}
	healthy, err := s.AddWork(connectorID, "healthy")
	if err != nil {
		t.Fatal(err)
	}
	received := `mutation R($id: ID!) { workEdit(id: $id) { toReceived(message: "ready") } }`
	s.RefuseWork(poison, "toReceived", 2)
	for i := range 2 {
		res := post(t, s, received, map[string]any{"id": poison})
		if res.Status != http.StatusOK || res.errorCode(0) != codeFunctional {
			t.Errorf("refusal %d: status %d, errors %v, want 200 with FUNCTIONAL_ERROR", i, res.Status, res.Errors)
		}
	}
	mustData(t, post(t, s, received, map[string]any{"id": healthy}))
	if w, _ := s.Work(poison); len(w.Messages) != 0 {
		t.Errorf("refused calls changed the work: messages %v", w.Messages)
	}
	// Two refusals only: the third call goes through.
	mustData(t, post(t, s, received, map[string]any{"id": poison}))
	if w, _ := s.Work(poison); len(w.Messages) != 1 {
		t.Errorf("work messages after the refusals = %v, want the accepted one", w.Messages)
	}
	if got := s.Refused(poison, "toReceived"); got != 2 {
		t.Errorf("Refused(poison, toReceived) = %d, want 2", got)
	}
	if got := s.Refused(healthy, "toReceived"); got != 0 {
		t.Errorf("Refused(healthy, toReceived) = %d, want 0", got)
	}
	if got := s.Calls("workEdit.toReceived"); got != 4 {
		t.Errorf("Calls(workEdit.toReceived) = %d, want 4", got)
	}
	// For ever until lifted.
	s.RefuseWork(healthy, "toProcessed", -1)
	processed := `mutation P($id: ID!) { workEdit(id: $id) { toProcessed(message: "done") } }`
	for range 3 {
		if res := post(t, s, processed, map[string]any{"id": healthy}); res.errorCode(0) != codeFunctional {
			t.Errorf("toProcessed errors = %v, want FUNCTIONAL_ERROR", res.Errors)
		}
	}
	s.RefuseWork(healthy, "toProcessed", 0)
	mustData(t, post(t, s, processed, map[string]any{"id": healthy}))
	if w, _ := s.Work(healthy); w.Status != StatusComplete {
		t.Errorf("work status after the rule was lifted = %s, want complete", w.Status)
	}
}
