package stix

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/gowebpki/jcs"

	"github.com/riskiq-opencti/connectors/opencti/internal/pyjson"
)

// openCTIExtension is the id of the OpenCTI extension whose "id" member holds an object's
// internal id.
const openCTIExtension = "extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba"

// ErrInvalidBundle is returned by Split for input that is not a bundle pycti could split:
// not JSON, no "objects" list, or objects of the wrong shape.
var ErrInvalidBundle = errors.New("file data is not a valid bundle")

// ErrNothingToImport is returned by Split when no object can be sent (pycti's "Nothing to
// import").
var ErrNothingToImport = errors.New("nothing to import")

// SplitOptions are the options of pycti's split_bundle_with_expectations.
type SplitOptions struct {
	// CleanupInconsistent drops references to objects absent from the bundle
	// (cleanup_inconsistent_bundle).
	CleanupInconsistent bool
	// EventVersion, when not empty, is written as x_opencti_event_version in every part.
	EventVersion string
}

// SplitResult is the outcome of Split.
type SplitResult struct {
	// Parts are the one-object bundles to publish, in order; their number is the work's
	// expectation count.
	Parts [][]byte
	// Incompatible are the objects pycti silently does not send (a relationship without
	// source or target, a sighting without sighting_of_ref or where_sighted_refs, an
	// unsupported type), as modified by the split.
	Incompatible []json.RawMessage
}

// Split is pycti's OpenCTIStix2Splitter.split_bundle_with_expectations (§7.2): it turns a
// bundle into one bundle per object, dependencies first.
//
// Objects are indexed by id (and by x_opencti_id and the OpenCTI extension's id); for a
// repeated id the last occurrence wins and is sent once. Each object is walked depth-first
// in bundle order: *_refs lists keep only references of a supported type that are not the
// object itself, not an ancestor in the walk, not a reference back to a referrer and, with
// CleanupInconsistent, present in the bundle; a failing *_ref becomes null (this breaks
// cycles). external_references are deduplicated and those with neither url nor source_name
// and external_id dropped; kill_chain_phases are deduplicated. Every object gets "nb_deps"
// (1 + the nb_deps of what it references in the bundle), parts are stably sorted by it, and
// each part is {"type":"bundle","id":<bundle id>,"spec_version":"2.1","x_opencti_seq":
// nb_deps,"objects":[object]} plus x_opencti_event_version when set.
//
// Parts are byte for byte what pycti 6.9 sends, quirks included: Python json.dumps
// formatting (", " and ": ", non-ASCII as \uXXXX, floats as repr), object members in input
// order with nb_deps appended last, and an object first reached through its internal id
// (x_opencti_id or the OpenCTI extension's id) sent twice. This was checked against a
// transcription of pycti's splitter on the testdata cases and on 5,000 random bundles. The
// differences are on input pycti cannot process either: where pycti raises (a reference that
// is not a string, a relationship without a source_ref member…) Split returns an error; NaN,
// Infinity and out-of-range floats, which Python would pass on as invalid JSON, are rejected;
// object ids must be strings; an empty EventVersion is not written.
//
// With no part to send, Split returns ErrNothingToImport together with a non-nil result
// holding the incompatible objects. Other errors wrap ErrInvalidBundle.
func Split(bundle []byte, opts SplitOptions) (*SplitResult, error) {
	root, err := pyjson.Unmarshal(bundle)
	if err != nil {
		return nil, fmt.Errorf("split bundle: %w: %w", ErrInvalidBundle, err)
	}
	top, ok := root.(*pyjson.Object)
	if !ok {
		return nil, fmt.Errorf("split bundle: %w: not a JSON object", ErrInvalidBundle)
	}
	objectsValue, ok := top.Get("objects")
	if !ok {
		return nil, fmt.Errorf("split bundle: %w: no objects", ErrInvalidBundle)
	}
	objects, ok := objectsValue.([]any)
	if !ok {
		return nil, fmt.Errorf("split bundle: %w: objects is not a list", ErrInvalidBundle)
	}
	bundleID, ok := top.Get("id")
	if !ok {
		bundleID = "bundle--" + uuid.NewString()
	}
	parts, err := split(bundleID, objects, opts)
	if err != nil {
		return nil, err
	}
	res := &SplitResult{Parts: make([][]byte, 0, parts.Len())}
	for i := range parts.Len() {
		b, err := parts.Append(nil, i)
		if err != nil {
			return nil, err
		}
		res.Parts = append(res.Parts, b)
	}
	for _, el := range parts.incompatible {
		b, err := pyjson.Marshal(el)
		if err != nil {
			return nil, fmt.Errorf("split bundle: encode incompatible object: %w", err)
		}
		res.Incompatible = append(res.Incompatible, b)
	}
	if len(res.Parts) == 0 {
		return res, fmt.Errorf("split bundle: %w", ErrNothingToImport)
	}
	return res, nil
}

// SplitBundle is Split for a bundle not yet encoded: it gives the parts that
// Split(json.Marshal(b)) gives, byte for byte, without encoding the whole
// bundle and parsing it again (each object is encoded once, as
// Bundle.MarshalJSON does, then split), and it encodes each part only when
// asked ([Parts.Append]). Objects that do not marshal to a JSON object are an
// error; with no part to send, it returns ErrNothingToImport.
func SplitBundle(b *Bundle, opts SplitOptions) (*Parts, error) {
	if b.id == "" {
		return nil, fmt.Errorf("split bundle: no id: build it with NewBundle")
	}
	objects := make([]any, len(b.Objects))
	for i, o := range b.Objects {
		if raw, ok := o.([]byte); ok {
			o = json.RawMessage(raw)
		}
		var (
			raw []byte
			err error
		)
		if m, ok := o.(Object); ok {
			// The JSON is parsed next: encoding/json would only check and
			// compact it first.
			raw, err = m.MarshalJSON()
			raw = bytes.TrimSpace(raw)
		} else {
			raw, err = marshalJSON(o)
		}
		if err != nil {
			return nil, fmt.Errorf("marshal bundle object %d: %w", i, err)
		}
		if len(raw) == 0 || raw[0] != '{' {
			return nil, fmt.Errorf("marshal bundle object %d: %T is not a JSON object", i, o)
		}
		v, err := pyjson.Unmarshal(raw)
		if err != nil {
			// Split would have refused the bundle.
			return nil, fmt.Errorf("split bundle: %w: object %d: %w", ErrInvalidBundle, i, err)
		}
		objects[i] = v
	}
	parts, err := split(b.id, objects, opts)
	if err != nil {
		return nil, err
	}
	if parts.Len() == 0 {
		return parts, fmt.Errorf("split bundle: %w", ErrNothingToImport)
	}
	return parts, nil
}

// Parts are the one-object bundles of a split (SplitBundle), in order, each
// encoded when appended.
type Parts struct {
	bundleID     any
	eventVersion string
	elements     []*pyjson.Object
	nbDeps       map[*pyjson.Object]int
	incompatible []*pyjson.Object
}

// Len is the number of parts: the work's expectation count.
func (p *Parts) Len() int { return len(p.elements) }

// Append appends part i, as Split encodes it, to dst.
func (p *Parts) Append(dst []byte, i int) ([]byte, error) {
	el := p.elements[i]
	part := pyjson.NewObject(6)
	part.Set("type", "bundle")
	part.Set("id", p.bundleID)
	part.Set("spec_version", SpecVersion)
	part.Set("x_opencti_seq", p.nbDeps[el])
	part.Set("objects", []any{el})
	if p.eventVersion != "" {
		part.Set("x_opencti_event_version", p.eventVersion)
	}
	b, err := pyjson.Append(dst, part)
	if err != nil {
		return dst, fmt.Errorf("split bundle: encode part: %w", err)
	}
	return b, nil
}

// split walks the decoded objects of a bundle whose id is bundleID.
func split(bundleID any, objects []any, opts SplitOptions) (*Parts, error) {
	s := &splitter{
		cleanup:    opts.CleanupInconsistent,
		raw:        make(map[string]*pyjson.Object, len(objects)),
		cacheIndex: make(map[string]*pyjson.Object, len(objects)),
		cacheRefs:  make(map[string][]string, len(objects)),
		nbDeps:     make(map[*pyjson.Object]int, len(objects)),
		internal:   make(map[*pyjson.Object][]string),
	}
	ids := make([]string, len(objects))
	for i, o := range objects {
		item, ok := o.(*pyjson.Object)
		if !ok {
			return nil, fmt.Errorf("split bundle: %w: object %d is not a JSON object", ErrInvalidBundle, i)
		}
		idValue, _ := item.Get("id")
		id, ok := idValue.(string)
		if !ok {
			return nil, fmt.Errorf("split bundle: %w: object %d has no string id", ErrInvalidBundle, i)
		}
		internal, err := internalIDs(item)
		if err != nil {
			return nil, fmt.Errorf("split bundle: %w: object %s: %w", ErrInvalidBundle, id, err)
		}
		ids[i] = id
		s.raw[id] = item
		for _, iid := range internal {
			s.raw[iid] = item
		}
		if len(internal) > 0 {
			s.internal[item] = internal
		}
	}
	for _, id := range ids {
		if _, err := s.enlist(id); err != nil {
			return nil, fmt.Errorf("split bundle: %w: %w", ErrInvalidBundle, err)
		}
	}
	slices.SortStableFunc(s.elements, func(a, b *pyjson.Object) int { return cmp.Compare(s.nbDeps[a], s.nbDeps[b]) })
	return &Parts{bundleID: bundleID, eventVersion: opts.EventVersion, elements: s.elements, nbDeps: s.nbDeps, incompatible: s.incompatible}, nil
}

// splitter holds the state of one split, named after pycti's.
type splitter struct {
	cleanup      bool
	raw          map[string]*pyjson.Object   // raw_data: id or internal id → object
	cacheIndex   map[string]*pyjson.Object   // cache_index: walked ids
	cacheRefs    map[string][]string         // cache_refs: id → references followed from it
	nbDeps       map[*pyjson.Object]int      // the object's current "nb_deps" member
	internal     map[*pyjson.Object][]string // get_internal_ids_in_extension, computed once
	parents      []string                    // parent_acc: the references followed to get here
	elements     []*pyjson.Object
	incompatible []*pyjson.Object
}

// enlist is pycti's enlist_element: it walks the object known as itemID and returns its
// nb_deps (0 when it is not in the bundle).
func (s *splitter) enlist(itemID string) (int, error) {
	item, ok := s.raw[itemID]
	if !ok {
		return 0, nil
	}
	if existing, ok := s.cacheIndex[itemID]; ok {
		return s.nbDeps[existing], nil
	}
	nb := 1
	// Keys are only ever appended ("nb_deps"), so the first n positions stay those of
	// Python's list(item.keys()); values are read afresh as a nested walk may change them.
	n := item.Len()
	for i := range n {
		key, value := item.KeyAt(i), item.ValueAt(i)
		switch {
		case strings.HasSuffix(key, "_refs") && value != nil:
			refs, err := iterateRefs(value)
			if err != nil {
				return 0, fmt.Errorf("object %s: %s: %w", itemID, key, err)
			}
			toKeep := []any{}
			var kept map[string]bool // membership of toKeep for long lists
			if len(refs) > 16 {
				kept = make(map[string]bool, len(refs))
			}
			for _, ref := range refs {
				if s.follow(itemID, ref) {
					d, err := s.enlistChild(itemID, ref)
					if err != nil {
						return 0, err
					}
					nb += d
					switch {
					case kept != nil:
						if !kept[ref] {
							kept[ref] = true
							toKeep = append(toKeep, ref)
						}
					case !slices.Contains(toKeep, any(ref)):
						toKeep = append(toKeep, ref)
					}
				}
				// pycti assigns inside the loop: a nested walk of this object sees the
				// references kept so far.
				item.Set(key, toKeep)
			}
		case strings.HasSuffix(key, "_ref"):
			switch v := value.(type) {
			case nil:
				item.Set(key, nil)
			case string:
				if s.follow(itemID, v) {
					d, err := s.enlistChild(itemID, v)
					if err != nil {
						return 0, err
					}
					nb += d
				} else {
					item.Set(key, nil)
				}
			case *pyjson.Object, []any:
				return 0, fmt.Errorf("object %s: %s is not a reference", itemID, key)
			default: // number or boolean: pycti only survives it when cleanup drops it first
				if !s.cleanup {
					return 0, fmt.Errorf("object %s: %s is not a reference", itemID, key)
				}
				item.Set(key, nil)
			}
		case key == "external_references" && value != nil:
			refs, err := iterateObjects(value)
			if err != nil {
				return 0, fmt.Errorf("object %s: %s: %w", itemID, key, err)
			}
			kept := []any{}
			seen := map[string]bool{}
			for _, ref := range refs {
				k, ok := externalReferenceKey(ref)
				if ok && !seen[k] {
					seen[k] = true
					kept = append(kept, ref)
				}
			}
			item.Set(key, kept)
		case key == "kill_chain_phases" && value != nil:
			phases, err := iterateObjects(value)
			if err != nil {
				return 0, fmt.Errorf("object %s: %s: %w", itemID, key, err)
			}
			kept := []any{}
			seen := map[string]bool{}
			for _, p := range phases {
				name, _ := p.Get("phase_name")
				chain, _ := p.Get("kill_chain_name")
				k := canonicalKey(name) + "," + canonicalKey(chain)
				if !seen[k] {
					seen[k] = true
					kept = append(kept, p)
				}
			}
			item.Set(key, kept)
		}
	}

	item.Set("nb_deps", nb)
	s.nbDeps[item] = nb
	if _, ok := s.cacheIndex[itemID]; !ok {
		compatible, err := isCompatible(itemID, item)
		if err != nil {
			return 0, fmt.Errorf("object %s: %w", itemID, err)
		}
		if compatible {
			s.elements = append(s.elements, item)
		} else {
			s.incompatible = append(s.incompatible, item)
		}
		s.cacheIndex[itemID] = item
		for _, iid := range s.internal[item] {
			s.cacheIndex[iid] = item
		}
	}
	return nb, nil
}

// follow is pycti's test for keeping and walking reference ref of the object itemID.
func (s *splitter) follow(itemID, ref string) bool {
	_, present := s.raw[ref]
	mustBeCleaned := !present && s.cleanup
	notDependencyRef := !slices.Contains(s.cacheRefs[ref], itemID)
	return isIDSupported(ref) && !mustBeCleaned && !slices.Contains(s.parents, ref) && ref != itemID && notDependencyRef
}

func (s *splitter) enlistChild(itemID, ref string) (int, error) {
	s.cacheRefs[itemID] = append(s.cacheRefs[itemID], ref)
	s.parents = append(s.parents, ref)
	d, err := s.enlist(ref)
	s.parents = s.parents[:len(s.parents)-1]
	return d, err
}

// isCompatible is pycti's test for sending an object.
func isCompatible(itemID string, item *pyjson.Object) (bool, error) {
	typ, ok := item.Get("type")
	if !ok {
		return false, errors.New("no type")
	}
	switch typ {
	case "relationship":
		src, ok1 := item.Get("source_ref")
		dst, ok2 := item.Get("target_ref")
		if !ok1 || !ok2 {
			return false, errors.New("relationship without source_ref or target_ref")
		}
		return src != nil && dst != nil, nil
	case "sighting":
		if of, _ := item.Get("sighting_of_ref"); of == nil {
			return false, nil
		}
		where, ok := item.Get("where_sighted_refs")
		if !ok {
			return false, nil
		}
		var n int
		switch w := where.(type) {
		case []any:
			n = len(w)
		case string:
			n = len(w)
		case *pyjson.Object:
			n = w.Len()
		default:
			return false, errors.New("where_sighted_refs has no length")
		}
		return n > 0, nil
	default:
		return isIDSupported(itemID), nil
	}
}

// iterateRefs returns what Python's "for ref in value" yields, which must be strings.
func iterateRefs(value any) ([]string, error) {
	switch v := value.(type) {
	case []any:
		out := make([]string, len(v))
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("reference %d is not a string", i)
			}
			out[i] = s
		}
		return out, nil
	case string:
		return pyjson.CodePoints(v), nil
	case *pyjson.Object:
		return v.Keys(), nil
	default:
		return nil, errors.New("not a list")
	}
}

// iterateObjects returns what Python's "for x in value" yields, which must be objects.
func iterateObjects(value any) ([]*pyjson.Object, error) {
	switch v := value.(type) {
	case []any:
		out := make([]*pyjson.Object, len(v))
		for i, e := range v {
			o, ok := e.(*pyjson.Object)
			if !ok {
				return nil, fmt.Errorf("entry %d is not an object", i)
			}
			out[i] = o
		}
		return out, nil
	case string:
		if v == "" {
			return nil, nil
		}
	case *pyjson.Object:
		if v.Len() == 0 {
			return nil, nil
		}
	}
	return nil, errors.New("not a list of objects")
}

// internalIDs is pycti's get_internal_ids_in_extension. Truthy non-string ids that Python
// can hash (numbers, true) can never be referenced, so they are ignored.
func internalIDs(item *pyjson.Object) ([]string, error) {
	var ids []string
	add := func(v any) error {
		switch v := v.(type) {
		case string:
			ids = append(ids, v)
		case *pyjson.Object, []any:
			return errors.New("internal id is not a string")
		}
		return nil
	}
	if v, _ := item.Get("x_opencti_id"); truthy(v) {
		if err := add(v); err != nil {
			return nil, err
		}
	}
	ext, _ := item.Get("extensions")
	if !truthy(ext) {
		return ids, nil
	}
	extObj, ok := ext.(*pyjson.Object)
	if !ok {
		return nil, errors.New("extensions is not an object")
	}
	octi, _ := extObj.Get(openCTIExtension)
	if !truthy(octi) {
		return ids, nil
	}
	octiObj, ok := octi.(*pyjson.Object)
	if !ok {
		return nil, errors.New("OpenCTI extension is not an object")
	}
	if v, _ := octiObj.Get("id"); truthy(v) {
		if err := add(v); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// truthy is Python's bool() of a decoded JSON value.
func truthy(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case bool:
		return v
	case string:
		return v != ""
	case pyjson.Number:
		f, err := v.Float64()
		return err != nil || f != 0
	case []any:
		return len(v) > 0
	case *pyjson.Object:
		return v.Len() > 0
	default:
		return true
	}
}

// externalReferenceKey identifies an external reference as pycti's
// external_reference_generate_id does: by url when not null, else by source_name and
// external_id when neither is null; ok is false when the reference has no id.
func externalReferenceKey(ref *pyjson.Object) (string, bool) {
	if url, _ := ref.Get("url"); url != nil {
		return "u" + canonicalKey(url), true
	}
	name, _ := ref.Get("source_name")
	extID, _ := ref.Get("external_id")
	if name != nil && extID != nil {
		return "s" + canonicalKey(name) + "," + canonicalKey(extID), true
	}
	return "", false
}

// canonicalKey returns a text that is equal for two values exactly when their RFC 8785
// canonical forms are (integers verbatim, floats in ECMAScript form, members sorted).
func canonicalKey(v any) string {
	return string(appendCanonicalKey(nil, v))
}

func appendCanonicalKey(b []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		if v {
			return append(b, "true"...)
		}
		return append(b, "false"...)
	case string:
		return pyjson.AppendString(b, v)
	case int:
		return fmt.Appendf(b, "%d", v)
	case pyjson.Number:
		if v.IsInt() {
			return append(b, v...)
		}
		f, err := v.Float64()
		if err != nil {
			return append(b, v...)
		}
		s, err := jcs.NumberToJSON(f)
		if err != nil {
			return append(b, v...)
		}
		return append(b, s...)
	case []any:
		b = append(b, '[')
		for i, e := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendCanonicalKey(b, e)
		}
		return append(b, ']')
	case *pyjson.Object:
		keys := v.Keys()
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = pyjson.AppendString(b, k)
			b = append(b, ':')
			e, _ := v.Get(k)
			b = appendCanonicalKey(b, e)
		}
		return append(b, '}')
	default:
		return fmt.Appendf(b, "%v", v)
	}
}

// isIDSupported is pycti's is_id_supported: the type before "--" must be one pycti 6.9
// imports; a value without "--" (an internal id) passes.
func isIDSupported(id string) bool {
	typ, _, found := strings.Cut(id, "--")
	if !found {
		return true
	}
	switch typ {
	case // STIX meta objects
		"label", "vocabulary", "kill-chain-phase",
		// STIX core objects
		"attack-pattern", "campaign", "case-incident", "x-opencti-case-incident", "case-rfi",
		"x-opencti-case-rfi", "case-rft", "x-opencti-case-rft", "channel", "course-of-action",
		"data-component", "x-mitre-data-component", "data-source", "x-mitre-data-source", "event",
		"external-reference", "feedback", "x-opencti-feedback", "grouping", "identity", "incident",
		"indicator", "infrastructure", "intrusion-set", "language", "location", "malware",
		"malware-analysis", "marking-definition", "narrative", "note", "observed-data", "opinion",
		"report", "task", "x-opencti-task", "threat-actor", "tool", "vulnerability",
		"security-coverage",
		// internal objects
		"user", "group", "capability", "role", "settings", "notification", "work", "trash",
		"draftworkspace", "playbook", "deleteoperation", "workspace", "publicdashboard",
		// observables
		"autonomous-system", "directory", "domain-name", "email-addr", "email-message",
		"email-mime-part-type", "artifact", "file", "x509-certificate", "ipv4-addr", "ipv6-addr",
		"mac-addr", "mutex", "network-traffic", "process", "software", "url", "user-account",
		"windows-registry-key", "windows-registry-value-type", "hostname", "cryptographic-key",
		"cryptocurrency-wallet", "text", "user-agent", "bank-account", "phone-number", "credential",
		"tracking-number", "payment-card", "media-content", "simple-observable", "persona", "ssh-key",
		// relationships and others
		"relationship", "sighting", "pir":
		return true
	default:
		return false
	}
}
