package openctitest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Outcomes of a push-queue message, as the worker handles it.
const (
	// OutcomeImported: a single-object bundle was imported and its
	// expectation reported.
	OutcomeImported = "imported"
	// OutcomeImportError: the object could not be imported; the
	// expectation was reported with an error.
	OutcomeImportError = "import_error"
	// OutcomeSplit: a multi-object bundle was split, its parts republished
	// and expectations added.
	OutcomeSplit = "split"
	// OutcomeDropped: the message's work is no longer alive; acked and dropped.
	OutcomeDropped = "dropped"
	// OutcomeRejected: the message is malformed; rejected without requeue.
	OutcomeRejected = "rejected"
)

// Envelope is the decoded JSON envelope of a push-queue message (spec §3.5).
type Envelope struct {
	Type           string   `json:"type"`
	BundleType     string   `json:"bundle_type"`
	ApplicantID    *string  `json:"applicant_id"`
	ActionSequence *int     `json:"action_sequence"`
	EntitiesTypes  []string `json:"entities_types"`
	Content        string   `json:"content"`
	Update         bool     `json:"update"`
	DraftID        *string  `json:"draft_id"`
	WorkID         *string  `json:"work_id"`
	NoSplit        bool     `json:"no_split"`
	// Raw holds every key as decoded, to check presence (work_id is absent
	// without a work) and extra keys.
	Raw map[string]any `json:"-"`
}

// Delivery is a message the worker consumed from a push queue.
type Delivery struct {
	ConnectorID     string
	Body            []byte
	DeliveryMode    uint8
	ContentEncoding string
	ContentType     string
	Headers         map[string]any
	Redelivered     bool
	// Envelope is nil when the body is not a JSON object.
	Envelope *Envelope
	// Bundle is the decoded content, nil when it could not be decoded.
	Bundle map[string]any
	// Outcome is one of the Outcome constants; Error says why for
	// rejected messages and import errors.
	Outcome string
	Error   string
	// Republished marks parts the worker itself published after a split.
	Republished bool
}

// Deliveries returns every message consumed from push queues, in order.
func (s *Server) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.deliveries)
}

// Envelopes returns the decoded envelopes of consumed messages, in order.
func (s *Server) Envelopes() []Envelope {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Envelope
	for _, d := range s.deliveries {
		if d.Envelope != nil {
			out = append(out, *d.Envelope)
		}
	}
	return out
}

// Bundles returns the decoded bundles consumed from a connector's push
// queue, in order (a split bundle and then its parts).
func (s *Server) Bundles(connectorID string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, d := range s.deliveries {
		if d.ConnectorID == connectorID && d.Bundle != nil {
			out = append(out, d.Bundle)
		}
	}
	return out
}

// Objects returns the objects the worker imported, in arrival order.
func (s *Server) Objects() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.objects)
}

// WaitObjects waits until at least n objects were imported and returns them.
func (s *Server) WaitObjects(ctx context.Context, n int) ([]map[string]any, error) {
	var out []map[string]any
	err := s.waitFor(ctx, func() bool {
		if len(s.objects) < n {
			return false
		}
		out = slices.Clone(s.objects)
		return true
	})
	return out, err
}

// WaitDeliveries waits until at least n push messages were handled.
func (s *Server) WaitDeliveries(ctx context.Context, n int) ([]Delivery, error) {
	var out []Delivery
	err := s.waitFor(ctx, func() bool {
		if len(s.deliveries) < n {
			return false
		}
		out = slices.Clone(s.deliveries)
		return true
	})
	return out, err
}

// WaitWork waits until a work has the given status and returns it.
func (s *Server) WaitWork(ctx context.Context, workID, status string) (Work, error) {
	var out Work
	err := s.waitFor(ctx, func() bool {
		w, ok := s.works.snapshot(workID)
		if !ok || w.Status != status {
			return false
		}
		out = w
		return true
	})
	if err != nil {
		w, _ := s.Work(workID)
		return w, fmt.Errorf("work %s still %q: %w", workID, w.Status, err)
	}
	return out, nil
}

// handlePush processes one push-queue message like opencti-worker's
// push_handler, then acks or rejects it.
func (s *Server) handlePush(ctx context.Context, connectorID string, d amqp.Delivery) {
	del := Delivery{
		ConnectorID: connectorID, Body: slices.Clone(d.Body), DeliveryMode: d.DeliveryMode,
		ContentEncoding: d.ContentEncoding, ContentType: d.ContentType, Headers: maps.Clone(d.Headers),
		Redelivered: d.Redelivered, Republished: d.Headers["x-openctitest-split"] != nil,
	}
	// Imported objects are recorded by importObjects, under the lock that
	// reports their expectations: one waiting for the work sees them.
	_, err := s.processPush(ctx, connectorID, d.Body, &del)
	if err != nil {
		del.Outcome, del.Error = OutcomeRejected, err.Error()
	}
	s.mu.Lock()
	s.deliveries = append(s.deliveries, del)
	if c := s.connectors[connectorID]; c != nil {
		c.pushBytes += len(d.Body)
		c.pushCount++
	}
	if err != nil {
		s.recordError(Error{Kind: ErrorPush, ConnectorID: connectorID, Message: err.Error()})
	}
	if del.Outcome == OutcomeImportError {
		s.recordError(Error{Kind: ErrorPush, ConnectorID: connectorID, Message: del.Error})
	}
	s.notify()
	s.mu.Unlock()
	if err != nil {
		_ = d.Reject(false)
		return
	}
	_ = d.Ack(false)
}

// processPush decodes and imports a message; it returns the imported
// objects, or an error when the message must be rejected.
func (s *Server) processPush(ctx context.Context, connectorID string, body []byte, del *Delivery) ([]map[string]any, error) {
	var raw map[string]any
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("message is not a JSON object: %w", err)
	}
	var env Envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("decode envelope: %w", err)
	}
	env.Raw = raw
	del.Envelope = &env
	var workID string
	if env.WorkID != nil {
		workID = *env.WorkID
	}
	if workID != "" {
		s.mu.Lock()
		alive := s.works.alive(workID)
		s.mu.Unlock()
		if !alive {
			del.Outcome = OutcomeDropped
			return nil, nil
		}
	}
	typ := env.Type
	if typ == "" {
		typ = "bundle"
	}
	if typ != "bundle" {
		return nil, fmt.Errorf("unsupported event type %q (the fake worker imports bundles only)", typ)
	}
	if _, ok := raw["content"].(string); !ok {
		return nil, errors.New("envelope has no string content")
	}
	content, err := base64.StdEncoding.DecodeString(env.Content)
	if err != nil {
		return nil, fmt.Errorf("content is not standard base64: %w", err)
	}
	var bundle map[string]any
	if err := json.Unmarshal(content, &bundle); err != nil {
		return nil, fmt.Errorf("content is not a JSON object: %w", err)
	}
	del.Bundle = bundle
	objects, _ := bundle["objects"].([]any)
	if len(objects) == 0 {
		return nil, platformMessage("JSON data type is not a STIX2 bundle")
	}
	if len(objects) == 1 || env.NoSplit {
		return s.importObjects(workID, objects, del), nil
	}
	return nil, s.splitAndRepublish(ctx, connectorID, workID, raw, bundle, del)
}

// importObjects imports single-object bundles: each object is recorded and
// its expectation reported (with an error when the object is unusable).
func (s *Server) importObjects(workID string, objects []any, del *Delivery) []map[string]any {
	var imported []map[string]any
	del.Outcome = OutcomeImported
	for _, o := range objects {
		obj, _ := o.(map[string]any)
		problem := checkObject(obj)
		now := s.now()
		s.mu.Lock()
		if problem == "" {
			imported = append(imported, obj)
			s.objects = append(s.objects, obj)
			if workID != "" {
				s.works.reportExpectation(workID, nil, nil, now)
			}
		} else {
			del.Outcome, del.Error = OutcomeImportError, problem
			if workID != "" {
				src, _ := compactJSON(o)
				source := string(src)
				if len(source) >= 50000 {
					source = "Bundle too large"
				}
				s.works.reportExpectation(workID, &problem, &source, now)
			}
		}
		s.notify()
		s.mu.Unlock()
	}
	return imported
}

// checkObject returns why the platform could not import obj, or "".
func checkObject(obj map[string]any) string {
	if obj == nil {
		return "Element is not a JSON object"
	}
	typ, _ := obj["type"].(string)
	id, _ := obj["id"].(string)
	if typ == "" || id == "" {
		return "Element has no type or no id"
	}
	if prefix, _, ok := strings.Cut(id, "--"); ok && prefix != typ {
		return fmt.Sprintf("Element id %s does not match its type %s", id, typ)
	}
	switch typ {
	case "relationship":
		if s, _ := obj["source_ref"].(string); s == "" {
			return "Incompatible element in bundle: relationship without source_ref"
		}
		if t, _ := obj["target_ref"].(string); t == "" {
			return "Incompatible element in bundle: relationship without target_ref"
		}
	case "sighting":
		if s, _ := obj["sighting_of_ref"].(string); s == "" {
			return "Incompatible element in bundle: sighting without sighting_of_ref"
		}
	}
	return ""
}

// splitAndRepublish is the worker's split path: expectations for every
// part, then each part republished to the same push queue.
func (s *Server) splitAndRepublish(ctx context.Context, connectorID, workID string, envelope, bundle map[string]any, del *Delivery) error {
	parts := splitBundle(bundle)
	del.Outcome = OutcomeSplit
	if workID != "" {
		now := s.now()
		s.mu.Lock()
		s.works.addExpectations(workID, len(parts), now)
		alive := s.works.alive(workID)
		s.notify()
		s.mu.Unlock()
		if !alive {
			del.Outcome = OutcomeDropped
			return nil
		}
	}
	n := names(s.broker.prefix, connectorID)
	for _, p := range parts {
		raw, err := compactJSON(p)
		if err != nil {
			return err
		}
		env := maps.Clone(envelope)
		env["content"] = base64.StdEncoding.EncodeToString(raw)
		body, err := compactJSON(env)
		if err != nil {
			return err
		}
		msg := publishing(body)
		msg.ContentEncoding = "utf-8"
		msg.Headers = amqp.Table{"x-openctitest-split": true}
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = s.broker.publish(pctx, n.pushExchange, n.pushRouting, msg)
		cancel()
		if err != nil {
			return fmt.Errorf("republish split part: %w", err)
		}
	}
	return nil
}

// splitBundle splits a bundle like pycti's splitter, simplified: one part
// per distinct id (the last occurrence wins), relationships and sightings
// without their references dropped, parts ordered by dependency count
// (nb_deps, added to each object; x_opencti_seq on the part). It neither
// prunes references nor drops unsupported types.
func splitBundle(bundle map[string]any) []*object {
	objects, _ := bundle["objects"].([]any)
	byID := map[string]map[string]any{}
	var order []string
	for _, o := range objects {
		obj, _ := o.(map[string]any)
		id, _ := obj["id"].(string)
		if obj == nil || id == "" {
			continue
		}
		if _, seen := byID[id]; !seen {
			order = append(order, id)
		}
		byID[id] = maps.Clone(obj)
	}
	memo := map[string]int{}
	var deps func(id string, ancestors map[string]bool) int
	deps = func(id string, ancestors map[string]bool) int {
		if n, ok := memo[id]; ok {
			return n
		}
		obj := byID[id]
		ancestors[id] = true
		n := 1
		for k, v := range obj {
			var refs []string
			switch {
			case strings.HasSuffix(k, "_ref"):
				if r, ok := v.(string); ok {
					refs = []string{r}
				}
			case strings.HasSuffix(k, "_refs"):
				list, _ := v.([]any)
				for _, x := range list {
					if r, ok := x.(string); ok {
						refs = append(refs, r)
					}
				}
			}
			for _, r := range refs {
				if _, present := byID[r]; present && !ancestors[r] {
					n += deps(r, ancestors)
				}
			}
		}
		delete(ancestors, id)
		memo[id] = n
		return n
	}
	type part struct {
		obj map[string]any
		n   int
	}
	var parts []part
	for _, id := range order {
		obj := byID[id]
		if checkObject(obj) != "" && (obj["type"] == "relationship" || obj["type"] == "sighting") {
			continue
		}
		n := deps(id, map[string]bool{})
		obj["nb_deps"] = n
		parts = append(parts, part{obj, n})
	}
	sort.SliceStable(parts, func(i, j int) bool { return parts[i].n < parts[j].n })
	bundleID, _ := bundle["id"].(string)
	out := make([]*object, 0, len(parts))
	for _, p := range parts {
		out = append(out, newObject("type", "bundle", "id", bundleID, "spec_version", "2.1",
			"x_opencti_seq", p.n, "objects", []any{p.obj}))
	}
	return out
}
