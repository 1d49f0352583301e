package broker

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/riskiq-opencti/connectors/opencti/internal/pyjson"
)

// BundleTypeQueue is the bundle_type of the envelopes connectors publish (spec §3.5).
const BundleTypeQueue = "QUEUE_BUNDLE"

// Envelope is the message a connector publishes to its push queue for the platform's
// workers: one split part of a STIX bundle (spec §3.5). Unmarshal it with encoding/json;
// marshal it with Marshal.
type Envelope struct {
	// BundleType is "QUEUE_BUNDLE".
	BundleType string `json:"bundle_type"`
	// ApplicantID is the user the worker impersonates, nil for null.
	ApplicantID *string `json:"applicant_id"`
	// ActionSequence is the 1-based index of the part within one send.
	ActionSequence int `json:"action_sequence"`
	// EntitiesTypes filters the types to import; empty imports everything. Marshal writes
	// nil as [].
	EntitiesTypes []string `json:"entities_types"`
	// Content is the part's bundle JSON in standard base64 with padding.
	Content string `json:"content"`
	// Update asks the worker to update existing entities.
	Update bool `json:"update"`
	// DraftID is the draft context, nil for null.
	DraftID *string `json:"draft_id"`
	// WorkID is the work the part belongs to; Marshal omits the key when it is empty.
	WorkID string `json:"work_id,omitempty"`
}

// NewEnvelope returns the envelope of one bundle part: bundle_type QUEUE_BUNDLE, the part
// base64-encoded, no entity type filter, update false.
func NewEnvelope(part []byte, seq int, applicantID, draftID *string, workID string) Envelope {
	return Envelope{
		BundleType:     BundleTypeQueue,
		ApplicantID:    applicantID,
		ActionSequence: seq,
		EntitiesTypes:  []string{},
		Content:        base64.StdEncoding.EncodeToString(part),
		DraftID:        draftID,
		WorkID:         workID,
	}
}

// Marshal encodes e exactly as pycti does with Python's json.dumps defaults: keys in the
// order bundle_type, applicant_id, action_sequence, entities_types, content, update,
// draft_id, work_id (omitted when empty), separators ", " and ": ", and every non-ASCII
// character escaped as \uXXXX. The strings are Go strings, read as UTF-8: each byte that is
// not part of a valid UTF-8 sequence becomes \ufffd, as with encoding/json, so the output
// always decodes to valid UTF-8 (bytes that encode a UTF-16 surrogate are invalid too: they
// are not written as \ud800-style escapes, which a JSON decoder could join into another
// character). It fails when BundleType is empty.
func (e Envelope) Marshal() ([]byte, error) {
	return e.marshal(nil)
}

// MarshalPart is Marshal with Content the base64 of part (e.Content is
// ignored): the same bytes as NewEnvelope(part, …).Marshal(), with the
// base64 written straight into the message.
func (e Envelope) MarshalPart(part []byte) ([]byte, error) {
	if part == nil {
		part = []byte{}
	}
	return e.marshal(part)
}

// marshal writes e; a non-nil part replaces Content by its base64.
func (e Envelope) marshal(part []byte) ([]byte, error) {
	if e.BundleType == "" {
		return nil, errors.New("marshal envelope: empty bundle_type")
	}
	content := len(e.Content)
	if part != nil {
		content = base64.StdEncoding.EncodedLen(len(part))
	}
	// Room for the keys and, unless strings need escaping, every value.
	n := 192 + len(e.BundleType) + content + len(e.WorkID)
	if e.ApplicantID != nil {
		n += len(*e.ApplicantID)
	}
	if e.DraftID != nil {
		n += len(*e.DraftID)
	}
	for _, t := range e.EntitiesTypes {
		n += len(t) + 4
	}
	b := make([]byte, 0, n)
	b = append(b, `{"bundle_type": `...)
	b = appendString(b, e.BundleType)
	b = append(b, `, "applicant_id": `...)
	b = appendPyNullableString(b, e.ApplicantID)
	b = append(b, `, "action_sequence": `...)
	b = strconv.AppendInt(b, int64(e.ActionSequence), 10)
	b = append(b, `, "entities_types": [`...)
	for i, t := range e.EntitiesTypes {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = appendString(b, t)
	}
	b = append(b, `], "content": `...)
	if part != nil {
		// The base64 alphabet and padding need no escaping.
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, part)
		b = append(b, '"')
	} else {
		b = pyjson.AppendString(b, e.Content)
	}
	b = append(b, `, "update": `...)
	b = strconv.AppendBool(b, e.Update)
	b = append(b, `, "draft_id": `...)
	b = appendPyNullableString(b, e.DraftID)
	if e.WorkID != "" {
		b = append(b, `, "work_id": `...)
		b = appendString(b, e.WorkID)
	}
	b = append(b, '}')
	return b, nil
}

func appendPyNullableString(b []byte, s *string) []byte {
	if s == nil {
		return append(b, "null"...)
	}
	return appendString(b, *s)
}

// appendString appends s as json.dumps writes a str, after replacing each byte of s that
// is not part of valid UTF-8 with U+FFFD (pyjson.AppendString alone would keep encoded
// surrogates, its representation of Python's lone surrogates).
func appendString(b []byte, s string) []byte {
	if !utf8.ValidString(s) {
		var v strings.Builder
		v.Grow(len(s) + 8)
		for _, r := range s { // one utf8.RuneError per invalid byte
			v.WriteRune(r)
		}
		s = v.String()
	}
	return pyjson.AppendString(b, s)
}
