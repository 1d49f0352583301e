package openctitest

import (
	"encoding/json"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
)

const (
	enrichConnectorID = "5a8f3f1e-2b8e-4d0c-9f67-2f8f0f0b1c11"
	enrichEntityID    = "0d5f5b1e-9c59-4d55-8f8a-1d2b3c4d5e6f"
)

// enrichServer registers an enrichment connector and stores an IPv4 address.
func enrichServer(t *testing.T) *Server {
	t.Helper()
	s := NewServer(t, WithClock(fixedClock))
	register(t, s, enrichConnectorID, "INTERNAL_ENRICHMENT", []any{"IPv4-Addr", "Domain-Name"}, true)
	score := 50
	_, err := s.AddEntity(Entity{
		ID: enrichEntityID, EntityType: "IPv4-Addr", Value: "8.8.8.8", Score: &score,
		Markings:  []Marking{MustTLP("TLP:GREEN")},
		Labels:    []Label{{Value: "dns"}},
		CreatedBy: &Entity{EntityType: "Organization", Name: "RiskIQ"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// getListen takes the next message of the connector's listen queue.
func getListen(t *testing.T, s *Server) amqp.Delivery {
	t.Helper()
	c, _ := s.Connector(enrichConnectorID)
	msg, ok, err := dial(t, s).Get(c.ListenQueue, true)
	if err != nil || !ok {
		t.Fatalf("get from %s: ok %v, err %v", c.ListenQueue, ok, err)
	}
	if msg.DeliveryMode != amqp.Persistent {
		t.Errorf("delivery mode = %d, want persistent", msg.DeliveryMode)
	}
	return msg
}

func TestIntegrationEnrichmentRequests(t *testing.T) {
	tests := []struct {
		name     string
		req      EnrichmentRequest
		workName string
	}{
		{name: "auto", req: EnrichmentRequest{EntityID: "ipv4-addr--2f689bf9-0ff2-545f-aa61-e495eb8cecc7"}, workName: "Enrichment (ipv4-addr--2f689bf9-0ff2-545f-aa61-e495eb8cecc7)"},
		{name: "manual", req: EnrichmentRequest{EntityID: enrichEntityID, Mode: ModeManual}, workName: "Manual enrichment"},
		{name: "manual_draft", req: EnrichmentRequest{EntityID: enrichEntityID, Mode: ModeManual, DraftID: "9b1e7c36-0d3e-4f57-b5e0-7f1f1b1c2d3e"}, workName: "Manual enrichment in draft 9b1e7c36-0d3e-4f57-b5e0-7f1f1b1c2d3e"},
		{name: "playbook", req: EnrichmentRequest{EntityID: enrichEntityID, Mode: ModePlaybook, Playbook: PlaybookContext{
			PlaybookID: "pb-1", ExecutionID: "exec-1", EventID: "event-1", StepID: "step-2", PreviousStepID: "step-1",
			BundleID: "bundle--11111111-2222-4333-8444-555555555555",
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := enrichServer(t)
			workID, err := s.Enrich(t.Context(), enrichConnectorID, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			msg := getListen(t, s)
			golden(t, "enrichment/"+tt.name+".golden.json", msg.Body)

			var decoded struct {
				Internal struct {
					WorkID *string `json:"work_id"`
				} `json:"internal"`
				Event map[string]any `json:"event"`
			}
			if err := json.Unmarshal(msg.Body, &decoded); err != nil {
				t.Fatal(err)
			}
			if tt.req.Mode == ModePlaybook {
				if workID != "" || decoded.Internal.WorkID != nil || len(s.Works()) != 0 {
					t.Errorf("playbook requests have no work: %q, %v", workID, decoded.Internal.WorkID)
				}
				if _, ok := decoded.Event["event_type"]; ok {
					t.Errorf("playbook request has event_type")
				}
				return
			}
			if decoded.Internal.WorkID == nil || *decoded.Internal.WorkID != workID {
				t.Errorf("internal.work_id = %v, want %s", decoded.Internal.WorkID, workID)
			}
			w, ok := s.Work(workID)
			if !ok || w.Status != StatusWait || w.Name != tt.workName || w.EventSourceID != enrichEntityID {
				t.Errorf("work = %+v, want status wait named %q", w, tt.workName)
			}
			var stix map[string]any
			if err := json.Unmarshal([]byte(decoded.Event["stix_entity"].(string)), &stix); err != nil {
				t.Fatalf("stix_entity is not a JSON string of an object: %v", err)
			}
			if stix["id"] != "ipv4-addr--2f689bf9-0ff2-545f-aa61-e495eb8cecc7" || stix["value"] != "8.8.8.8" {
				t.Errorf("stix_entity = %v", stix)
			}
		})
	}
}

func TestIntegrationEnrichEligibility(t *testing.T) {
	s := enrichServer(t)
	other := "8c7a0b6e-3c3f-4f43-9d0e-5e2f7c0b1a22"
	register(t, s, other, "INTERNAL_ENRICHMENT", []any{"Domain-Name"}, false)
	imp := "1f0e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
	register(t, s, imp, "EXTERNAL_IMPORT", nil, false)
	for _, tc := range []struct {
		connector string
		mode      EnrichmentMode
	}{
		{other, ModeManual},  // scope has no IPv4-Addr
		{imp, ModeManual},    // not an enrichment connector
		{"nope", ModeManual}, // unknown
	} {
		if _, err := s.Enrich(t.Context(), tc.connector, EnrichmentRequest{EntityID: enrichEntityID, Mode: tc.mode}); err == nil {
			t.Errorf("Enrich(%s, %s) succeeded", tc.connector, tc.mode)
		}
	}
	register(t, s, other, "INTERNAL_ENRICHMENT", []any{"ipv4-addr"}, false)
	if _, err := s.Enrich(t.Context(), other, EnrichmentRequest{EntityID: enrichEntityID}); err == nil {
		t.Errorf("auto enrichment of an auto: false connector succeeded")
	}
	if _, err := s.Enrich(t.Context(), other, EnrichmentRequest{EntityID: enrichEntityID, Mode: ModeManual}); err != nil {
		t.Errorf("manual enrichment (scope matched case-insensitively): %v", err)
	}
}
