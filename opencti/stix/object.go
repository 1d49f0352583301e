package stix

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/riskiq-opencti/connectors/opencti/internal/jsonstr"
)

// SpecVersion is the STIX version of every object and bundle this package writes.
const SpecVersion = "2.1"

// Object is a STIX object built by this package's constructors.
type Object interface {
	// ID returns the object's id, computed by its constructor.
	ID() string
	// Type returns the STIX type, e.g. "ipv4-addr".
	Type() string
	json.Marshaler
}

// ExternalReference is a STIX external reference. SourceName is required by STIX; pycti's
// splitter drops references that have neither URL nor both SourceName and ExternalID.
type ExternalReference struct {
	SourceName  string            `json:"source_name"`
	Description string            `json:"description,omitempty"`
	URL         string            `json:"url,omitempty"`
	Hashes      map[string]string `json:"hashes,omitempty"`
	ExternalID  string            `json:"external_id,omitempty"`
}

// Common holds the optional properties shared by the domain objects and relationships
// (SDOs and SROs). Created is required when the object is written; Modified defaults to
// Created. Extra holds further properties, typically x_opencti_* ones; its keys must not name
// a property the object already writes.
type Common struct {
	CreatedByRef       string
	Created            time.Time
	Modified           time.Time
	Description        string
	Labels             []string
	Confidence         *int
	Lang               string
	ExternalReferences []ExternalReference
	ObjectMarkingRefs  []string
	Extra              map[string]any
}

// ObservableCommon holds the optional properties of the observables (SCOs). STIX observables
// have no author, labels or description; OpenCTI reads them from custom properties, so
// CreatedByRef, Description, Labels, Score and ExternalReferences are written as
// x_opencti_created_by_ref, x_opencti_description, x_opencti_labels, x_opencti_score and
// x_opencti_external_references. Extra holds further properties, e.g.
// x_opencti_main_observable_type; its keys must not name a property the object already writes.
type ObservableCommon struct {
	ObjectMarkingRefs  []string
	CreatedByRef       string
	Description        string
	Labels             []string
	Score              *int
	ExternalReferences []ExternalReference
	Extra              map[string]any
}

// objectWriter writes one STIX object: the properties the STIX specification defines, in the
// order the stix2 library writes them, then the custom ones sorted by name, as stix2 does.
// Empty values are skipped, so no null or empty property is ever written.
type objectWriter struct {
	typ    string
	id     string
	buf    []byte
	keys   []string
	custom map[string]any
	err    error
}

func newObjectWriter(typ, id string) *objectWriter {
	w := &objectWriter{typ: typ, id: id, buf: make([]byte, 0, 256)}
	if id == "" {
		w.err = errors.New("no id: build the object with its constructor")
		return w
	}
	w.str("type", typ)
	w.str("spec_version", SpecVersion)
	w.str("id", id)
	return w
}

func (w *objectWriter) key(k string) {
	if len(w.keys) == 0 {
		w.buf = append(w.buf, '{')
	} else {
		w.buf = append(w.buf, ',')
	}
	w.keys = append(w.keys, k)
	w.buf = jsonstr.Append(w.buf, k)
	w.buf = append(w.buf, ':')
}

func (w *objectWriter) str(k, v string) {
	if v == "" {
		return
	}
	w.key(k)
	w.buf = jsonstr.Append(w.buf, v)
}

func (w *objectWriter) required(k, v string) {
	if v == "" {
		w.fail(fmt.Errorf("%s is required", k))
		return
	}
	w.str(k, v)
}

func (w *objectWriter) strs(k string, vs []string) {
	if len(vs) == 0 {
		return
	}
	w.key(k)
	w.buf = append(w.buf, '[')
	for i, v := range vs {
		if i > 0 {
			w.buf = append(w.buf, ',')
		}
		w.buf = jsonstr.Append(w.buf, v)
	}
	w.buf = append(w.buf, ']')
}

func (w *objectWriter) boolean(k string, v bool) {
	w.key(k)
	w.buf = strconv.AppendBool(w.buf, v)
}

func (w *objectWriter) integer(k string, v *int) {
	if v == nil {
		return
	}
	w.key(k)
	w.buf = strconv.AppendInt(w.buf, int64(*v), 10)
}

// timestamp writes t as a STIX timestamp; created and modified use millisecond precision.
func (w *objectWriter) timestamp(k string, t time.Time, millis bool) {
	if t.IsZero() {
		return
	}
	if y := t.UTC().Year(); y < 0 || y > 9999 {
		w.fail(fmt.Errorf("%s: year %d outside 0000-9999", k, y))
		return
	}
	w.key(k)
	w.buf = append(w.buf, '"')
	w.buf = append(w.buf, formatTimestamp(t, millis)...)
	w.buf = append(w.buf, '"')
}

// value writes any JSON-marshalable value, skipping null, "", [] and {}.
func (w *objectWriter) value(k string, v any) {
	if v == nil {
		return
	}
	b, err := marshalJSON(v)
	if err != nil {
		w.fail(fmt.Errorf("%s: %w", k, err))
		return
	}
	switch string(b) {
	case "null", `""`, "[]", "{}":
		return
	}
	w.key(k)
	w.buf = append(w.buf, b...)
}

// setCustom queues a custom property, written sorted by finish; empty values are skipped.
func (w *objectWriter) setCustom(k string, v any) {
	if w.custom == nil {
		w.custom = make(map[string]any, 4)
	}
	if _, dup := w.custom[k]; dup {
		w.fail(fmt.Errorf("property %q set twice", k))
		return
	}
	w.custom[k] = v
}

func (w *objectWriter) extra(m map[string]any) {
	for k, v := range m {
		if k == "" {
			w.fail(errors.New("extra property with an empty name"))
			return
		}
		w.setCustom(k, v)
	}
}

func (w *objectWriter) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

func (w *objectWriter) finish() ([]byte, error) {
	keys := make([]string, 0, len(w.custom))
	for k := range w.custom {
		if slices.Contains(w.keys, k) {
			w.fail(fmt.Errorf("extra property %q is already written by the object", k))
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		w.value(k, w.custom[k])
	}
	if w.err != nil {
		return nil, fmt.Errorf("marshal %s %s: %w", w.typ, w.id, w.err)
	}
	return append(w.buf, '}'), nil
}

// sdoHead writes the leading properties of an SDO or SRO.
func (w *objectWriter) sdoHead(c *Common) {
	w.str("created_by_ref", c.CreatedByRef)
	if c.Created.IsZero() {
		w.fail(errors.New("created is required: set Created"))
		return
	}
	modified := c.Modified
	if modified.IsZero() {
		modified = c.Created
	}
	if modified.Before(c.Created) {
		w.fail(errors.New("modified is before created"))
	}
	w.timestamp("created", c.Created, true)
	w.timestamp("modified", modified, true)
}

// sdoTail writes the trailing common properties of an SDO or SRO and queues Extra.
func (w *objectWriter) sdoTail(c *Common) {
	w.strs("labels", c.Labels)
	if c.Confidence != nil && (*c.Confidence < 0 || *c.Confidence > 100) {
		w.fail(fmt.Errorf("confidence %d outside 0-100", *c.Confidence))
	}
	w.integer("confidence", c.Confidence)
	w.str("lang", c.Lang)
	w.externalRefs("external_references", c.ExternalReferences)
	w.strs("object_marking_refs", c.ObjectMarkingRefs)
	w.extra(c.Extra)
}

// scoTail writes the trailing properties of an SCO and queues its custom ones.
func (w *objectWriter) scoTail(c *ObservableCommon) {
	w.strs("object_marking_refs", c.ObjectMarkingRefs)
	if c.CreatedByRef != "" {
		w.setCustom("x_opencti_created_by_ref", c.CreatedByRef)
	}
	if c.Description != "" {
		w.setCustom("x_opencti_description", c.Description)
	}
	if len(c.Labels) > 0 {
		w.setCustom("x_opencti_labels", c.Labels)
	}
	if c.Score != nil {
		w.setCustom("x_opencti_score", *c.Score)
	}
	if len(c.ExternalReferences) > 0 {
		w.checkExternalRefs("x_opencti_external_references", c.ExternalReferences)
		w.setCustom("x_opencti_external_references", c.ExternalReferences)
	}
	w.extra(c.Extra)
}

func (w *objectWriter) externalRefs(k string, refs []ExternalReference) {
	if len(refs) == 0 {
		return
	}
	w.checkExternalRefs(k, refs)
	w.value(k, refs)
}

func (w *objectWriter) checkExternalRefs(k string, refs []ExternalReference) {
	for i, r := range refs {
		if r.SourceName == "" {
			w.fail(fmt.Errorf("%s[%d]: source_name is required", k, i))
			return
		}
	}
}

// marshalJSON is json.Marshal without HTML escaping.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}
