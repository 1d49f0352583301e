package stix

import (
	"encoding/json"
	"fmt"

	"github.com/google/uuid"

	"github.com/riskiq-opencti/connectors/opencti/internal/jsonstr"
)

// Bundle is a STIX 2.1 bundle, as pycti's stix2_create_bundle builds it.
//
// Objects may be this package's objects, raw JSON received from the platform
// (json.RawMessage or []byte, e.g. the entity being enriched or its markings), decoded JSON
// (map[string]any), or any other value whose JSON is an object. NewBundle does not
// deduplicate; see Deduplicate.
type Bundle struct {
	id string
	// Objects are the bundle's objects, written in this order.
	Objects []any
}

// NewBundle returns a bundle with a random id (bundle--<UUIDv4>) holding objects.
func NewBundle(objects ...any) *Bundle {
	return &Bundle{id: "bundle--" + uuid.NewString(), Objects: objects}
}

// ID returns the bundle's id.
func (b *Bundle) ID() string { return b.id }

// MarshalJSON writes {"type":"bundle","id":…,"spec_version":"2.1","objects":[…]}. It fails
// when an object does not marshal to a JSON object.
func (b *Bundle) MarshalJSON() ([]byte, error) {
	if b.id == "" {
		return nil, fmt.Errorf("marshal bundle: no id: build it with NewBundle")
	}
	out := make([]byte, 0, 128+256*len(b.Objects))
	out = append(out, `{"type":"bundle","id":`...)
	out = jsonstr.Append(out, b.id)
	out = append(out, `,"spec_version":"2.1","objects":[`...)
	for i, o := range b.Objects {
		if i > 0 {
			out = append(out, ',')
		}
		if raw, ok := o.([]byte); ok {
			o = json.RawMessage(raw)
		}
		raw, err := marshalJSON(o)
		if err != nil {
			return nil, fmt.Errorf("marshal bundle object %d: %w", i, err)
		}
		if len(raw) == 0 || raw[0] != '{' {
			return nil, fmt.Errorf("marshal bundle object %d: %T is not a JSON object", i, o)
		}
		out = append(out, raw...)
	}
	return append(out, "]}"...), nil
}

// Deduplicate returns objects without repeated ids, keeping the first occurrence of each
// (pycti's stix2_deduplicate_objects). The id is read from ID() for this package's objects,
// from the "id" member of json.RawMessage, []byte and map[string]any values; objects whose id
// cannot be read are kept.
func Deduplicate(objects []any) []any {
	seen := make(map[string]bool, len(objects))
	out := make([]any, 0, len(objects))
	for _, o := range objects {
		if id, ok := objectID(o); ok {
			if seen[id] {
				continue
			}
			seen[id] = true
		}
		out = append(out, o)
	}
	return out
}

func objectID(o any) (string, bool) {
	switch v := o.(type) {
	case interface{ ID() string }:
		return v.ID(), v.ID() != ""
	case map[string]any:
		id, ok := v["id"].(string)
		return id, ok
	case json.RawMessage:
		return rawID(v)
	case []byte:
		return rawID(v)
	default:
		return "", false
	}
}

func rawID(b []byte) (string, bool) {
	var head struct {
		ID *string `json:"id"`
	}
	if err := json.Unmarshal(b, &head); err != nil || head.ID == nil {
		return "", false
	}
	return *head.ID, true
}
