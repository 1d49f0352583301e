package opencti

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/riskiq-opencti/connectors/opencti/api"
)

// Request is one enrichment request taken from the listen queue (§4.1), with
// what the runtime adds before calling the handler (§4.2).
type Request struct {
	// WorkID is the work the platform created for this request; empty in playbooks.
	WorkID string
	// ApplicantID is the user the platform asks the results to be attributed to (playbooks), or nil.
	ApplicantID *string
	// DraftID is the draft workspace the request comes from, or nil.
	DraftID *string
	// Trigger is "create" or "update"; Mode is "auto" or "manual".
	Trigger, Mode string
	// EventType is INTERNAL_ENRICHMENT; it is empty in playbook messages.
	EventType string
	// EntityID is the STIX standard id of the entity to enrich.
	EntityID string
	// EntityType is the OpenCTI entity type (IPv4-Addr, Domain-Name...); empty in playbooks.
	EntityType string
	// StixEntity is the STIX 2.1 JSON object of the entity.
	StixEntity json.RawMessage
	// StixObjects holds the entity, its author identity and its marking
	// definitions (or, in a playbook, every object of the incoming bundle):
	// what an enrichment sends back beside its new objects. When the platform
	// sends none, they are rebuilt from the GraphQL read as pycti does.
	StixObjects []json.RawMessage
	// Playbook is set when the request comes from a playbook step.
	Playbook *Playbook
	// Entity is the entity as read through the GraphQL API before the handler runs.
	Entity *api.Entity
	// Redelivered tells the request was taken before: RabbitMQ redelivered
	// it (a previous instance stopped or crashed before the end) or the
	// runtime put it back in the queue for another attempt (Attempt > 1).
	// Handlers must be idempotent. The runtime reconciles the work with the
	// earlier attempt (docs/decisions/0006): a request whose work is already
	// complete is acknowledged without calling the handler.
	Redelivered bool
	// Attempt is 1 for the first attempt and grows each time the runtime
	// puts the request back in its queue because its outcome could not be
	// recorded (see [MaxRequestAttempts]); a RabbitMQ redelivery keeps it.
	Attempt int
}

// Playbook is the playbook context of a request (internal.playbook).
type Playbook struct {
	EventID        string `json:"event_id"`
	ExecutionID    string `json:"execution_id"`
	PlaybookID     string `json:"playbook_id"`
	DataInstanceID string `json:"data_instance_id"`
	StepID         string `json:"step_id"`
	PreviousStepID string `json:"previous_step_id"`
	// Bundle is the incoming playbook bundle, passed through unchanged when the
	// enrichment finds nothing or fails.
	Bundle json.RawMessage `json:"-"`
}

// InPlaybook reports whether the request comes from a playbook step.
func (r *Request) InPlaybook() bool { return r.Playbook != nil }

// TLP returns the entity's own TLP marking (the last objectMarking whose
// definition_type is TLP, as pycti connectors read it), or "" when it has none.
func (r *Request) TLP() string {
	if r.Entity == nil {
		return ""
	}
	tlp := ""
	for _, m := range r.Entity.Markings {
		if m.DefinitionType == "TLP" {
			tlp = m.Definition
		}
	}
	return tlp
}

// ErrInvalidMessage is wrapped by every error of [ParseRequest].
var ErrInvalidMessage = errors.New("invalid enrichment message")

type wireMessage struct {
	Internal *struct {
		WorkID      *string         `json:"work_id"`
		ApplicantID *string         `json:"applicant_id"`
		DraftID     *string         `json:"draft_id"`
		Trigger     string          `json:"trigger"`
		Mode        string          `json:"mode"`
		Playbook    json.RawMessage `json:"playbook"`
	} `json:"internal"`
	Event *struct {
		EventType   string          `json:"event_type"`
		EntityID    string          `json:"entity_id"`
		EntityType  string          `json:"entity_type"`
		StixEntity  json.RawMessage `json:"stix_entity"`
		StixObjects json.RawMessage `json:"stix_objects"`
		Bundle      json.RawMessage `json:"bundle"`
	} `json:"event"`
}

// ParseRequest decodes a listen-queue message in the platform's envelope
// (§4.1: automatic, manual and playbook). On error the returned request, when
// not nil, carries whatever could be read (the work id in particular) so the
// failure can be reported on the work.
func ParseRequest(body []byte) (*Request, error) {
	var m wireMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: not a JSON object: %w", ErrInvalidMessage, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the JSON object", ErrInvalidMessage)
	}
	if m.Internal == nil {
		return nil, fmt.Errorf("%w: missing \"internal\" object", ErrInvalidMessage)
	}
	r := &Request{
		ApplicantID: nonEmpty(m.Internal.ApplicantID),
		DraftID:     nonEmpty(m.Internal.DraftID),
		Trigger:     m.Internal.Trigger,
		Mode:        m.Internal.Mode,
	}
	if m.Internal.WorkID != nil {
		r.WorkID = *m.Internal.WorkID
	}
	if m.Event == nil {
		return r, fmt.Errorf("%w: missing \"event\" object", ErrInvalidMessage)
	}
	r.EventType = m.Event.EventType
	r.EntityID = m.Event.EntityID
	r.EntityType = m.Event.EntityType
	if r.EntityID == "" {
		return r, fmt.Errorf("%w: internal enrichment must be based on a specific id (event.entity_id is missing)", ErrInvalidMessage)
	}
	if pb := m.Internal.Playbook; len(pb) > 0 && !bytes.Equal(pb, []byte("null")) {
		return r, parsePlaybook(r, pb, m.Event.Bundle)
	}
	entity, err := jsonStringField("stix_entity", m.Event.StixEntity)
	if err != nil {
		return r, err
	}
	if entity != nil {
		if !isJSONObject(entity) {
			return r, fmt.Errorf("%w: event.stix_entity is not a JSON object", ErrInvalidMessage)
		}
		r.StixEntity = entity
	}
	objects, err := jsonStringField("stix_objects", m.Event.StixObjects)
	if err != nil {
		return r, err
	}
	if objects != nil {
		if err := json.Unmarshal(objects, &r.StixObjects); err != nil {
			return r, fmt.Errorf("%w: event.stix_objects is not an array of objects: %w", ErrInvalidMessage, err)
		}
		for i, o := range r.StixObjects {
			if !isJSONObject(o) {
				return r, fmt.Errorf("%w: event.stix_objects[%d] is not a JSON object", ErrInvalidMessage, i)
			}
		}
	}
	return r, nil
}

func parsePlaybook(r *Request, raw, bundle json.RawMessage) error {
	var pb Playbook
	if err := json.Unmarshal(raw, &pb); err != nil {
		return fmt.Errorf("%w: internal.playbook: %w", ErrInvalidMessage, err)
	}
	if pb.ExecutionID == "" || pb.StepID == "" || pb.PlaybookID == "" {
		return fmt.Errorf("%w: internal.playbook lacks execution_id, playbook_id or step_id", ErrInvalidMessage)
	}
	var b struct {
		Objects []json.RawMessage `json:"objects"`
	}
	if len(bundle) == 0 || !isJSONObject(bundle) {
		return fmt.Errorf("%w: playbook message without event.bundle object", ErrInvalidMessage)
	}
	if err := json.Unmarshal(bundle, &b); err != nil {
		return fmt.Errorf("%w: event.bundle: %w", ErrInvalidMessage, err)
	}
	pb.Bundle = bundle
	r.Playbook = &pb
	r.StixObjects = b.Objects
	for i, o := range b.Objects {
		var head struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(o, &head); err != nil {
			return fmt.Errorf("%w: event.bundle.objects[%d]: %w", ErrInvalidMessage, i, err)
		}
		if head.ID == r.EntityID {
			r.StixEntity = o
		}
	}
	if r.StixEntity == nil {
		return fmt.Errorf("%w: entity %s is not in the playbook bundle", ErrInvalidMessage, r.EntityID)
	}
	if r.EntityType == "" {
		r.EntityType = entityTypeOf(r.StixEntity)
	}
	return nil
}

// jsonStringField decodes a field that carries JSON encoded as a string
// (stix_entity, stix_objects). A null, absent or empty string gives nil. For
// robustness an already-decoded object or array is accepted too.
func jsonStringField(name string, raw json.RawMessage) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	switch raw[0] {
	case '{', '[':
		return raw, nil
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("%w: event.%s: %w", ErrInvalidMessage, name, err)
		}
		if s == "" {
			return nil, nil
		}
		if !json.Valid([]byte(s)) {
			return nil, fmt.Errorf("%w: event.%s does not hold valid JSON", ErrInvalidMessage, name)
		}
		return json.RawMessage(s), nil
	default:
		return nil, fmt.Errorf("%w: event.%s must be a JSON-encoded string", ErrInvalidMessage, name)
	}
}

func isJSONObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 1 && raw[0] == '{' && json.Valid(raw)
}

func nonEmpty(s *string) *string {
	if s == nil || *s == "" {
		return nil
	}
	return s
}

// entityTypeOf maps a STIX object's type to the OpenCTI entity type for the
// observable types enrichment connectors handle; other types are returned as
// their STIX type.
func entityTypeOf(obj json.RawMessage) string {
	var head struct {
		Type   string `json:"type"`
		XOType string `json:"x_opencti_type"`
	}
	if json.Unmarshal(obj, &head) != nil {
		return ""
	}
	if head.XOType != "" {
		return head.XOType
	}
	if t, ok := stixToEntityType[head.Type]; ok {
		return t
	}
	return head.Type
}

var stixToEntityType = map[string]string{
	"ipv4-addr":         "IPv4-Addr",
	"ipv6-addr":         "IPv6-Addr",
	"domain-name":       "Domain-Name",
	"email-addr":        "Email-Addr",
	"url":               "Url",
	"hostname":          "Hostname",
	"mac-addr":          "Mac-Addr",
	"file":              "StixFile",
	"autonomous-system": "Autonomous-System",
	"indicator":         "Indicator",
}
