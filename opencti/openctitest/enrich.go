package openctitest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// EnrichmentMode selects which platform producer an enrichment request
// imitates (spec §4.1).
type EnrichmentMode string

// Enrichment modes.
const (
	// ModeAuto is the automatic trigger on entity creation.
	ModeAuto EnrichmentMode = "auto"
	// ModeManual is a user asking for enrichment (trigger update).
	ModeManual EnrichmentMode = "manual"
	// ModePlaybook is a playbook step "Enrich through connector".
	ModePlaybook EnrichmentMode = "playbook"
)

// EnrichmentRequest describes an enrichment request to publish.
type EnrichmentRequest struct {
	// EntityID is the internal or standard id of an entity added with
	// AddEntity.
	EntityID string
	// Mode defaults to ModeAuto.
	Mode EnrichmentMode
	// DraftID is the draft context (auto/manual), "" for none.
	DraftID string
	// Playbook holds the playbook identifiers (ModePlaybook); empty ones are
	// generated.
	Playbook PlaybookContext
}

// PlaybookContext identifies a playbook step.
type PlaybookContext struct {
	PlaybookID     string
	ExecutionID    string
	EventID        string
	StepID         string
	PreviousStepID string
	// BundleID is the id of event.bundle; generated when empty.
	BundleID string
	// Objects are added to event.bundle after the entity.
	Objects []map[string]any
}

// Enrich publishes an enrichment request for a connector to its listen
// queue exactly as the platform does: compact JSON, persistent, listen
// exchange and routing key. For ModeAuto and ModeManual it first creates
// the work (status wait, named "Enrichment (<standard_id>)" or "Manual
// enrichment", plus " in draft <id>") and returns its id; playbook requests
// have no work and return "".
//
// Like the platform, it only sends requests the connector would receive:
// an INTERNAL_ENRICHMENT connector whose scope holds the entity type
// (case-insensitively); auto also needs auto: true and an active connector
// (registered or pinged within 5 minutes); playbook needs
// playbook_compatible.
func (s *Server) Enrich(ctx context.Context, connectorID string, req EnrichmentRequest) (string, error) {
	mode := req.Mode
	if mode == "" {
		mode = ModeAuto
	}
	s.mu.Lock()
	c := s.connectors[connectorID]
	e := s.findEntityLocked(req.EntityID)
	if c == nil || e == nil {
		s.mu.Unlock()
		if c == nil {
			return "", fmt.Errorf("openctitest: enrich: no connector %q", connectorID)
		}
		return "", fmt.Errorf("openctitest: enrich: no entity %q", req.EntityID)
	}
	if err := eligible(c, e, mode, s.now()); err != nil {
		s.mu.Unlock()
		return "", fmt.Errorf("openctitest: enrich: %w", err)
	}
	stixEntity := stixExport(e, ConnectorUserID)
	var (
		workID string
		msg    *object
	)
	switch mode {
	case ModeAuto, ModeManual:
		name, trigger := "Enrichment ("+e.StandardID+")", "create"
		if mode == ModeManual {
			name, trigger = "Manual enrichment", "update"
		}
		if req.DraftID != "" {
			name += " in draft " + req.DraftID
		}
		w := s.createWorkLocked(connectorID, name, e.ID, req.DraftID, false)
		workID = w.ID
		raw, err := compactJSON(stixEntity)
		if err != nil {
			s.mu.Unlock()
			return "", err
		}
		var draft any
		if req.DraftID != "" {
			draft = req.DraftID
		}
		msg = newObject(
			"internal", newObject("work_id", workID, "applicant_id", nil, "draft_id", draft, "trigger", trigger, "mode", string(mode)),
			"event", newObject("event_type", "INTERNAL_ENRICHMENT", "entity_id", e.StandardID, "entity_type", e.EntityType,
				"stix_entity", string(raw), "stix_objects", nil),
		)
	case ModePlaybook:
		p := req.Playbook
		for _, id := range []*string{&p.PlaybookID, &p.ExecutionID, &p.EventID, &p.StepID, &p.PreviousStepID} {
			if *id == "" {
				*id = uuid.NewString()
			}
		}
		if p.BundleID == "" {
			p.BundleID = "bundle--" + uuid.NewString()
		}
		objects := []any{stixEntity}
		for _, o := range p.Objects {
			objects = append(objects, o)
		}
		msg = newObject(
			"internal", newObject(
				"work_id", nil,
				"playbook", newObject("event_id", p.EventID, "execution_id", p.ExecutionID, "playbook_id", p.PlaybookID,
					"data_instance_id", e.StandardID, "step_id", p.StepID, "previous_step_id", p.PreviousStepID),
				"applicant_id", AutomationUserID, "trigger", "update", "mode", "auto"),
			"event", newObject("entity_id", e.StandardID,
				"bundle", newObject("type", "bundle", "id", p.BundleID, "objects", objects)),
		)
	default:
		s.mu.Unlock()
		return "", fmt.Errorf("openctitest: enrich: unknown mode %q", mode)
	}
	s.mu.Unlock()
	body, err := compactJSON(msg)
	if err != nil {
		return "", err
	}
	if err := s.PublishRaw(ctx, connectorID, body); err != nil {
		return "", err
	}
	return workID, nil
}

// eligible applies the platform's rules for which connectors get a request.
func eligible(c *connector, e *Entity, mode EnrichmentMode, now time.Time) error {
	if mode == ModePlaybook {
		if !c.playbookCompatible {
			return fmt.Errorf("connector %s is not playbook_compatible", c.id)
		}
		return nil
	}
	if c.typ != "INTERNAL_ENRICHMENT" {
		return fmt.Errorf("connector %s is %s, not INTERNAL_ENRICHMENT", c.id, c.typ)
	}
	if !slices.ContainsFunc(c.scopes(), func(sc string) bool { return strings.EqualFold(sc, e.EntityType) }) {
		return fmt.Errorf("connector %s scope %v does not contain %s", c.id, c.scopes(), e.EntityType)
	}
	if mode == ModeAuto {
		if c.auto == nil || !*c.auto {
			return fmt.Errorf("connector %s registered auto: false; automatic triggers need auto: true (use ModeManual)", c.id)
		}
		if now.Sub(c.updatedAt) >= activeWindow {
			return fmt.Errorf("connector %s is not active (last ping %s)", c.id, isoTime(c.updatedAt))
		}
	}
	return nil
}

// PublishRaw publishes body as is to a connector's listen queue (listen
// exchange, listen routing key, persistent), e.g. a malformed request.
func (s *Server) PublishRaw(ctx context.Context, connectorID string, body []byte) error {
	if s.lookupConnector(connectorID) == nil {
		return fmt.Errorf("openctitest: publish: no connector %q", connectorID)
	}
	n := names(s.broker.prefix, connectorID)
	if err := s.broker.publish(ctx, n.listenExchange, n.listenRouting, publishing(body)); err != nil {
		return fmt.Errorf("openctitest: publish: %w", err)
	}
	return nil
}
