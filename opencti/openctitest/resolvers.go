package openctitest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// PlaybookExecution is a recorded playbookStepExecution call.
type PlaybookExecution struct {
	ExecutionID    string
	EventID        string
	ExecutionStart time.Time
	DataInstanceID string
	PlaybookID     string
	PreviousStepID string
	StepID         string
	PreviousBundle string
	Bundle         string
}

// PlaybookExecutions returns the recorded playbookStepExecution calls.
func (s *Server) PlaybookExecutions() []PlaybookExecution {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.playbooks)
}

// guard wraps a root resolver with the platform's authentication check.
func guard(authed bool, fn lazy) lazy {
	return func(args map[string]any) (any, error) {
		if !authed {
			return nil, authRequired()
		}
		return fn(args)
	}
}

// queryRoot returns the Query resolvers for one request.
func (s *Server) queryRoot(authed bool) map[string]any {
	in := introspection{schema: s.schema}
	root := map[string]any{
		"__type": func(args map[string]any) (any, error) {
			name, _ := args["name"].(string)
			return in.typeByName(name), nil
		},
		"__schema": func(map[string]any) (any, error) { return in.schemaObject(), nil },
		"about":    func(map[string]any) (any, error) { return map[string]any{"version": s.cfg.version}, nil },
		"connector": func(args map[string]any) (any, error) {
			id, _ := args["id"].(string)
			c := s.lookupConnector(id)
			if c == nil {
				return nil, nil
			}
			return s.connectorObject(c), nil
		},
		"connectors": func(map[string]any) (any, error) {
			s.mu.Lock()
			list := make([]*connector, 0, len(s.connOrder))
			for _, id := range s.connOrder {
				list = append(list, s.connectors[id])
			}
			s.mu.Unlock()
			out := make([]any, 0, len(list))
			for _, c := range list {
				out = append(out, s.connectorObject(c))
			}
			return out, nil
		},
		"work": func(args map[string]any) (any, error) {
			id, _ := args["id"].(string)
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.works.works[id] == nil {
				return nil, nil
			}
			return s.workObjectLocked(id), nil
		},
		"isWorkAlive": func(args map[string]any) (any, error) {
			id, _ := args["id"].(string)
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.works.alive(id), nil
		},
		"stixCoreObject": func(args map[string]any) (any, error) {
			return s.entityByID(args, func(kind) bool { return true }), nil
		},
		"stixCyberObservable": func(args map[string]any) (any, error) {
			return s.entityByID(args, func(k kind) bool { return k.sco }), nil
		},
		"stixDomainObject": func(args map[string]any) (any, error) {
			return s.entityByID(args, func(k kind) bool { return !k.sco }), nil
		},
		"stixDomainObjects": s.stixDomainObjects,
	}
	for name, v := range root {
		fn := lazy(v.(func(map[string]any) (any, error)))
		root[name] = guard(authed, fn)
	}
	return root
}

// mutationRoot returns the Mutation resolvers for one request.
func (s *Server) mutationRoot(authed bool) map[string]any {
	root := map[string]any{
		"registerConnector": func(args map[string]any) (any, error) {
			input, _ := args["input"].(map[string]any)
			c, err := s.registerConnector(input)
			if err != nil {
				return nil, err
			}
			if err := s.ensureConsumer(c.id); err != nil {
				return nil, err
			}
			return s.connectorObject(c), nil
		},
		"pingConnector": func(args map[string]any) (any, error) {
			id, _ := args["id"].(string)
			state, haveState := args["state"]
			info, _ := args["connectorInfo"].(map[string]any)
			c, err := s.pingConnector(id, state, haveState, info)
			if err != nil {
				return nil, err
			}
			if err := s.ensureConsumer(c.id); err != nil {
				return nil, err
			}
			return s.connectorObject(c), nil
		},
		"resetStateConnector": func(args map[string]any) (any, error) {
			id, _ := args["id"].(string)
			c := s.lookupConnector(id)
			if c == nil {
				return nil, functionalError("No connector found with the specified ID", map[string]any{"id": id})
			}
			if err := s.ResetState(id); err != nil {
				return nil, err
			}
			return s.connectorObject(c), nil
		},
		"deleteConnector": func(args map[string]any) (any, error) {
			id, _ := args["id"].(string)
			if err := s.deleteConnector(id); err != nil {
				return nil, err
			}
			return id, nil
		},
		"workAdd": func(args map[string]any) (any, error) {
			connectorID, _ := args["connectorId"].(string)
			name, _ := args["friendlyName"].(string)
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.connectors[connectorID] == nil {
				return nil, functionalError("No connector found with the specified ID", map[string]any{"id": connectorID})
			}
			w := s.createWorkLocked(connectorID, name, connectorID, "", true)
			return s.workObjectLocked(w.ID), nil
		},
		"workEdit": func(args map[string]any) (any, error) {
			id, _ := args["id"].(string)
			return s.workEditObject(id), nil
		},
		"playbookStepExecution": s.playbookStepExecution,
	}
	for name, v := range root {
		fn := lazy(v.(func(map[string]any) (any, error)))
		root[name] = guard(authed, fn)
	}
	return root
}

// lookupConnector returns a connector or nil.
func (s *Server) lookupConnector(id string) *connector {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connectors[id]
}

// createWorkLocked creates a work with the platform's id format
// work_<connectorId>_<ISO ms>; colliding timestamps (a fixed test clock)
// are shifted by a millisecond. s.mu must be held.
func (s *Server) createWorkLocked(connectorID, name, sourceID, draft string, received bool) *work {
	now := s.now()
	ts := now
	id := "work_" + connectorID + "_" + isoTime(ts)
	for s.works.works[id] != nil {
		ts = ts.Add(time.Millisecond)
		id = "work_" + connectorID + "_" + isoTime(ts)
	}
	w := s.works.create(id, name, connectorID, sourceID, draft, now, received)
	w.Timestamp = ts
	s.notify()
	return w
}

// workEditObject returns WorkEditMutations for a work id.
func (s *Server) workEditObject(id string) map[string]any {
	edit := func(fn func(args map[string]any, now time.Time)) lazy {
		return func(args map[string]any) (any, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			fn(args, s.now())
			s.notify()
			return id, nil
		}
	}
	str := func(args map[string]any, k string) string { v, _ := args[k].(string); return v }
	return s.refusable(id, map[string]any{
		"delete": edit(func(map[string]any, time.Time) { s.works.remove(id) }),
		"ping":   edit(func(_ map[string]any, now time.Time) { s.works.ping(id, now) }),
		"reportExpectation": edit(func(args map[string]any, now time.Time) {
			var msg, source *string
			if e, ok := args["error"].(map[string]any); ok {
				msg, source = stringPtr(e["error"]), stringPtr(e["source"])
			}
			s.works.reportExpectation(id, msg, source, now)
		}),
		"addExpectations": edit(func(args map[string]any, now time.Time) {
			n, _ := args["expectations"].(int)
			s.works.addExpectations(id, n, now)
		}),
		"addDraftContext": edit(func(args map[string]any, now time.Time) {
			s.works.addDraftContext(id, str(args, "draftContext"), now)
		}),
		"toReceived": edit(func(args map[string]any, now time.Time) {
			s.works.toReceived(id, str(args, "message"), now)
		}),
		"toProcessed": edit(func(args map[string]any, now time.Time) {
			inError, _ := args["inError"].(bool)
			s.works.toProcessed(id, str(args, "message"), inError, now)
		}),
	})
}

// workObjectLocked builds the GraphQL Work object; s.mu must be held.
func (s *Server) workObjectLocked(id string) map[string]any {
	w := s.works.works[id]
	msgs := func(list []WorkMessage) []any {
		out := make([]any, 0, len(list))
		for _, m := range list {
			out = append(out, map[string]any{"timestamp": m.Timestamp, "message": m.Message, "sequence": nil, "source": m.Source})
		}
		return out
	}
	expected, processed, last := s.works.tracking(id)
	connectorID := w.ConnectorID
	var draft any
	if w.DraftContext != "" {
		draft = w.DraftContext
	}
	return map[string]any{
		"id": w.ID, "name": nonEmpty(w.Name), "user": creatorObject(ConnectorUserID),
		"connector": lazy(func(map[string]any) (any, error) {
			c := s.lookupConnector(connectorID)
			if c == nil {
				return nil, nil
			}
			return s.connectorObject(c), nil
		}),
		"timestamp": w.Timestamp, "status": w.Status, "event_source_id": nonEmpty(w.EventSourceID),
		"received_time": w.ReceivedTime, "processed_time": w.ProcessedTime, "completed_time": w.CompletedTime,
		"completed_number": w.CompletedNumber, "messages": msgs(w.messages), "errors": msgs(w.errors),
		"tracking": map[string]any{
			"import_expected_number": expected, "import_processed_number": processed, "import_last_processed": last,
		},
		"draft_context": draft,
	}
}

// Work returns a snapshot of a work.
func (s *Server) Work(id string) (Work, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.works.snapshot(id)
}

// Works returns snapshots of every work in creation order.
func (s *Server) Works() []Work {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Work, 0, len(s.works.order))
	for _, id := range s.works.order {
		w, _ := s.works.snapshot(id)
		out = append(out, w)
	}
	return out
}

// AddWork creates a work for a registered connector, as workAdd does
// (status progress), and returns its id.
func (s *Server) AddWork(connectorID, name string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.connectors[connectorID] == nil {
		return "", fmt.Errorf("openctitest: add work: no connector %q", connectorID)
	}
	return s.createWorkLocked(connectorID, name, connectorID, "", true).ID, nil
}

// AddEntity stores an entity and returns it with its defaults filled in.
func (s *Server) AddEntity(e Entity) (Entity, error) {
	e = e.clone()
	if err := e.normalize(s.now()); err != nil {
		return Entity{}, fmt.Errorf("openctitest: add entity: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, old := range s.entities {
		if old.ID == e.ID || old.StandardID == e.StandardID {
			return Entity{}, fmt.Errorf("openctitest: add entity: %s already exists", e.StandardID)
		}
	}
	stored := e.clone()
	s.entities = append(s.entities, &stored)
	return e, nil
}

// AddDomainObject stores a domain object of entityType (one of
// EntityTypes, e.g. "Sector", "Country", "Threat-Actor-Group") named name;
// fields holds other GraphQL fields (for example "x_mitre_id", "aliases").
// The fields the fake models go to their Entity field: "x_mitre_id",
// "description", "aliases" and "x_opencti_aliases" (both Aliases, a
// []string or []any), "identity_class", and "created" and "modified" (a
// time.Time or an RFC 3339 string; created contributes to an Incident's
// standard id).
func (s *Server) AddDomainObject(entityType, name string, fields map[string]any) (Entity, error) {
	e := Entity{EntityType: entityType, Name: name, Fields: map[string]any{}}
	if k, ok := kindOf(entityType); ok && k.sco {
		return Entity{}, fmt.Errorf("openctitest: add domain object: %s is an observable type", entityType)
	}
	for k, v := range fields {
		switch k {
		case "x_mitre_id":
			e.XMitreID, _ = v.(string)
		case "description":
			e.Description, _ = v.(string)
		case "identity_class":
			e.IdentityClass, _ = v.(string)
		case "aliases", "x_opencti_aliases":
			switch a := v.(type) {
			case []string:
				e.Aliases = a
			case []any:
				for _, x := range a {
					if str, ok := x.(string); ok {
						e.Aliases = append(e.Aliases, str)
					}
				}
			}
		case "created", "modified":
			t, err := fieldTime(v)
			if err != nil {
				return Entity{}, fmt.Errorf("openctitest: add domain object: %s: %w", k, err)
			}
			if k == "created" {
				e.Created = t
			} else {
				e.Modified = t
			}
		default:
			e.Fields[k] = v
		}
	}
	return s.AddEntity(e)
}

// fieldTime reads a date field given as a time.Time or an RFC 3339 string.
func fieldTime(v any) (time.Time, error) {
	switch t := v.(type) {
	case time.Time:
		return t, nil
	case string:
		return parseDateTime(t)
	}
	return time.Time{}, fmt.Errorf("want a time.Time or an RFC 3339 string, got %T", v)
}

// Entities returns the stored entities in insertion order.
func (s *Server) Entities() []Entity {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Entity, 0, len(s.entities))
	for _, e := range s.entities {
		out = append(out, e.clone())
	}
	return out
}

// findEntityLocked returns the entity known by id; s.mu must be held.
func (s *Server) findEntityLocked(id string) *Entity {
	for _, e := range s.entities {
		if e.knows(id) {
			return e
		}
	}
	return nil
}

// entityByID resolves stixCoreObject-like queries.
func (s *Server) entityByID(args map[string]any, accept func(kind) bool) any {
	id, _ := args["id"].(string)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.findEntityLocked(id)
	if e == nil {
		return nil
	}
	if k, _ := kindOf(e.EntityType); !accept(k) {
		return nil
	}
	return entityObject(e, ConnectorUserID)
}

// stixDomainObjects lists domain objects with types, filters, search,
// ordering and offset pagination.
func (s *Server) stixDomainObjects(args map[string]any) (any, error) {
	types, _ := args["types"].([]any)
	filters, _ := args["filters"].(map[string]any)
	search, _ := args["search"].(string)
	orderBy, _ := args["orderBy"].(string)
	orderMode, _ := args["orderMode"].(string)
	after, _ := args["after"].(string)
	s.mu.Lock()
	var list []*Entity
	for _, e := range s.entities {
		if k, _ := kindOf(e.EntityType); k.sco {
			continue
		}
		if !typeMatch(e, types) {
			continue
		}
		if filters != nil {
			ok, err := matchGroup(filters, e)
			if err != nil {
				s.mu.Unlock()
				return nil, err
			}
			if !ok {
				continue
			}
		}
		if search != "" && !searchMatch(e, search) {
			continue
		}
		list = append(list, e)
	}
	sortEntities(list, orderBy, orderMode)
	nodes := make([]map[string]any, 0, len(list))
	for _, e := range list {
		nodes = append(nodes, entityObject(e, ConnectorUserID))
	}
	s.mu.Unlock()
	offset := 0
	if after != "" {
		offset = decodeCursor(after)
	}
	return connectionFrom(nodes, offset, firstArg(args, 500)), nil
}

// playbookStepExecution records the call; the bundle must be JSON, as the
// platform parses it to continue the playbook.
func (s *Server) playbookStepExecution(args map[string]any) (any, error) {
	str := func(k string) string { v, _ := args[k].(string); return v }
	start, _ := args["execution_start"].(time.Time)
	p := PlaybookExecution{
		ExecutionID: str("execution_id"), EventID: str("event_id"), ExecutionStart: start,
		DataInstanceID: str("data_instance_id"), PlaybookID: str("playbook_id"),
		PreviousStepID: str("previous_step_id"), StepID: str("step_id"),
		PreviousBundle: str("previous_bundle"), Bundle: str("bundle"),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.playbooks = append(s.playbooks, p)
	s.notify()
	for _, b := range []string{p.Bundle, p.PreviousBundle} {
		var v any
		if err := json.Unmarshal([]byte(b), &v); err != nil {
			s.recordError(Error{Kind: ErrorPlaybook, OperationName: "playbookStepExecution", Message: "bundle is not JSON: " + err.Error()})
			return nil, &apiError{code: codeInternal, msg: strings.TrimPrefix(err.Error(), "json: ")}
		}
	}
	return true, nil
}
