package openctitest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// connector is the stored Connector entity.
type connector struct {
	id, name, typ        string
	scope                string // comma-joined, as the platform stores connector_scope
	auto, autoUpdate     *bool
	onlyContextual       *bool
	playbookCompatible   bool
	enrichmentResolution *string
	listenCallbackURI    *string
	state                *string
	stateReset           bool
	info                 map[string]any
	createdAt, updatedAt time.Time
	pings, registrations int
	queueOverride        *QueueDetails
	pushBytes, pushCount int
}

// scopes splits connector_scope like the platform's completeConnector.
func (c *connector) scopes() []string {
	if c.scope == "" {
		return []string{}
	}
	return strings.Split(c.scope, ",")
}

// ConnectorState is a snapshot of a registered connector.
type ConnectorState struct {
	ID   string
	Name string
	Type string
	// Registered is true once registerConnector succeeded (always true for
	// a snapshot returned by Connector).
	Registered bool
	// Registrations counts registerConnector calls.
	Registrations int
	// Scope is connector_scope as the platform returns it.
	Scope              []string
	Auto               *bool
	AutoUpdate         *bool
	OnlyContextual     *bool
	PlaybookCompatible bool
	// EnrichmentResolution and ListenCallbackURI are nil when sent as null.
	EnrichmentResolution *string
	ListenCallbackURI    *string
	// State is connector_state: nil for null, "" after a reset.
	State *string
	// StateReset is the connector_state_reset flag.
	StateReset bool
	// Info is the last connector_info a ping carried (DateTime values are
	// time.Time), nil before.
	Info map[string]any
	// Pings counts pingConnector calls, including those answered during a reset.
	Pings     int
	CreatedAt time.Time
	UpdatedAt time.Time
	// ListenQueue and PushQueue are the connector's queue names.
	ListenQueue string
	PushQueue   string
}

// Connector returns a snapshot of a connector.
func (s *Server) Connector(id string) (ConnectorState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.connectors[id]
	if c == nil {
		return ConnectorState{}, false
	}
	n := names(s.broker.prefix, id)
	return ConnectorState{
		ID: c.id, Name: c.name, Type: c.typ, Registered: true, Registrations: c.registrations,
		Scope: c.scopes(), Auto: c.auto, AutoUpdate: c.autoUpdate, OnlyContextual: c.onlyContextual,
		PlaybookCompatible: c.playbookCompatible, EnrichmentResolution: c.enrichmentResolution,
		ListenCallbackURI: c.listenCallbackURI, State: c.state, StateReset: c.stateReset,
		Info: maps.Clone(c.info), Pings: c.pings, CreatedAt: c.createdAt, UpdatedAt: c.updatedAt,
		ListenQueue: n.listen, PushQueue: n.push,
	}, true
}

// Connectors returns snapshots of every connector in registration order.
func (s *Server) Connectors() []ConnectorState {
	s.mu.Lock()
	ids := slices.Clone(s.connOrder)
	s.mu.Unlock()
	out := make([]ConnectorState, 0, len(ids))
	for _, id := range ids {
		if c, ok := s.Connector(id); ok {
			out = append(out, c)
		}
	}
	return out
}

// QueueDetails is what connector { connector_queue_details } reports.
type QueueDetails struct {
	MessagesNumber float64
	MessagesSize   float64
}

// SetQueueDetails makes connector_queue_details report d for a connector
// (nil restores the live figures), e.g. to drive a connector into buffering.
func (s *Server) SetQueueDetails(connectorID string, d *QueueDetails) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.connectors[connectorID]; c != nil {
		c.queueOverride = d
	}
}

// ResetState is the UI's "reset state": connector_state becomes "", the
// reset flag is set and both queues are purged. The next ping only clears
// the flag (spec §6.2).
func (s *Server) ResetState(id string) error {
	s.mu.Lock()
	c := s.connectors[id]
	if c != nil {
		empty := ""
		c.state = &empty
		c.stateReset = true
		s.notify()
	}
	s.mu.Unlock()
	if c == nil {
		return fmt.Errorf("openctitest: reset state: no connector %q", id)
	}
	n := names(s.broker.prefix, id)
	if err := s.broker.purge(n.listen, n.push); err != nil {
		return fmt.Errorf("openctitest: reset state: %w", err)
	}
	return nil
}

// registerConnector implements the mutation (domain registerConnector).
func (s *Server) registerConnector(input map[string]any) (*connector, error) {
	if input == nil {
		return nil, functionalError("Connector registration needs an input", nil)
	}
	id, _ := input["id"].(string)
	name, _ := input["name"].(string)
	typ, _ := input["type"].(string)
	if len(name) < 2 || strings.TrimSpace(name) == "" {
		return nil, functionalError("Connector name must be at least 2 characters and not blank", map[string]any{"name": name})
	}
	var scope []string
	if list, ok := input["scope"].([]any); ok {
		for _, v := range list {
			if str, ok := v.(string); ok {
				scope = append(scope, str)
			}
		}
	}
	if err := s.broker.declareConnector(id, name, typ, scope); err != nil {
		return nil, fmt.Errorf("register connector queues: %w", err)
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.connectors[id]
	if c == nil {
		c = &connector{id: id, createdAt: now}
		s.connectors[id] = c
		s.connOrder = append(s.connOrder, id)
	}
	c.name, c.typ, c.updatedAt = name, typ, now
	c.scope = strings.Join(scope, ",")
	c.auto = boolPtr(input["auto"])
	c.autoUpdate = boolPtr(input["auto_update"])
	c.onlyContextual = boolPtr(input["only_contextual"])
	c.playbookCompatible = input["playbook_compatible"] == true
	c.enrichmentResolution = stringPtr(input["enrichment_resolution"])
	c.listenCallbackURI = stringPtr(input["listen_callback_uri"])
	c.registrations++
	s.notify()
	return c, nil
}

// pingConnector implements the mutation (domain pingConnector).
func (s *Server) pingConnector(id string, state any, haveState bool, info map[string]any) (*connector, error) {
	s.mu.Lock()
	c := s.connectors[id]
	var name, typ string
	var scope []string
	if c != nil {
		name, typ, scope = c.name, c.typ, c.scopes()
	}
	s.mu.Unlock()
	if c == nil {
		return nil, functionalError("No connector found with the specified ID", map[string]any{"id": id})
	}
	if err := s.broker.declareConnector(id, name, typ, scope); err != nil {
		return nil, fmt.Errorf("register connector queues: %w", err)
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	c.pings++
	if c.stateReset {
		c.stateReset = false
	} else {
		c.updatedAt = now
		c.state = nil
		if str, ok := state.(string); ok && haveState {
			c.state = &str
		}
		if info != nil {
			c.info = info
		}
	}
	s.notify()
	return c, nil
}

// deleteConnector removes a connector, its queues and its works.
func (s *Server) deleteConnector(id string) error {
	s.mu.Lock()
	c := s.connectors[id]
	if c != nil {
		delete(s.connectors, id)
		s.connOrder = slices.DeleteFunc(s.connOrder, func(x string) bool { return x == id })
		for _, wid := range slices.Clone(s.works.order) {
			if s.works.works[wid].ConnectorID == id {
				s.works.remove(wid)
			}
		}
	}
	ch := s.channels[id]
	delete(s.channels, id)
	s.notify()
	s.mu.Unlock()
	if c == nil {
		return functionalError("No connector found with the specified ID", map[string]any{"id": id})
	}
	if ch != nil {
		_ = ch.Close()
	}
	n := names(s.broker.prefix, id)
	return s.broker.deleteQueues(n.listen, n.push)
}

// queueDetails computes connector_queue_details for the push queue: the
// message count from a passive declare and a size estimated from the mean
// size of the messages the worker has consumed from that queue.
func (s *Server) queueDetails(id string) (map[string]any, error) {
	s.mu.Lock()
	c := s.connectors[id]
	var override *QueueDetails
	var meanSize float64
	if c != nil {
		override = c.queueOverride
		if c.pushCount > 0 {
			meanSize = float64(c.pushBytes) / float64(c.pushCount)
		}
	}
	s.mu.Unlock()
	if override != nil {
		return map[string]any{"messages_number": override.MessagesNumber, "messages_size": override.MessagesSize}, nil
	}
	n, err := s.broker.messageCount(names(s.broker.prefix, id).push)
	if err != nil {
		return nil, err
	}
	return map[string]any{"messages_number": float64(n), "messages_size": float64(n) * meanSize}, nil
}

// connectorObject builds the GraphQL Connector object.
func (s *Server) connectorObject(c *connector) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := names(s.broker.prefix, c.id)
	now := s.now()
	var info any
	if c.info != nil {
		info = maps.Clone(c.info)
	}
	var state any
	if c.state != nil {
		state = *c.state
	}
	config := map[string]any{
		"connection":          connectionObject(s.amqp),
		"listen":              n.listen,
		"listen_routing":      n.listenRouting,
		"listen_exchange":     n.listenExchange,
		"listen_callback_uri": c.listenCallbackURI,
		"push":                n.push,
		"push_routing":        n.pushRouting,
		"push_exchange":       n.pushExchange,
		"dead_letter_routing": n.deadLetterRouting,
	}
	id := c.id
	obj := map[string]any{
		"id": c.id, "standard_id": "connector--" + c.id, "entity_type": "Connector",
		"parent_types": []string{"Basic-Object", "Internal-Object"}, "metrics": nil,
		"name": c.name, "title": c.name, "active": now.Sub(c.updatedAt) < activeWindow,
		"auto": c.auto, "auto_update": c.autoUpdate, "enrichment_resolution": c.enrichmentResolution,
		"only_contextual": c.onlyContextual, "playbook_compatible": c.playbookCompatible,
		"connector_trigger_filters": nil, "connector_type": c.typ, "connector_scope": c.scopes(),
		"connector_state": state, "connector_schema": nil, "connector_schema_ui": nil,
		"connector_state_reset": c.stateReset, "connector_state_timestamp": nil,
		"connector_user_id": ConnectorUserID,
		"connector_user": map[string]any{
			"id": ConnectorUserID, "standard_id": "user--" + ConnectorUserID, "entity_type": "User",
			"parent_types": []string{"Basic-Object", "Internal-Object"}, "metrics": nil,
			"user_email": "admin@opencti.io", "name": connectorUserName, "description": nil,
			"firstname": nil, "lastname": nil, "user_service_account": false,
			"created_at": c.createdAt, "updated_at": c.createdAt,
		},
		"connector_queue_details":  lazy(func(map[string]any) (any, error) { return s.queueDetails(id) }),
		"connector_info":           info,
		"connector_priority_group": "DEFAULT",
		"updated_at":               c.updatedAt, "refreshed_at": nil, "created_at": c.createdAt,
		"config": config,
		"works": lazy(func(args map[string]any) (any, error) {
			status, _ := args["status"].(string)
			s.mu.Lock()
			defer s.mu.Unlock()
			var out []any
			for _, wid := range slices.Backward(s.works.order) {
				w := s.works.works[wid]
				if w.ConnectorID == id && (status == "" || w.Status == status) {
					out = append(out, s.workObjectLocked(wid))
				}
			}
			return orEmpty(out), nil
		}),
		"is_managed": false, "manager_current_status": nil, "manager_requested_status": nil,
		"manager_contract_image": nil, "manager_contract_definition": nil, "manager_contract_excerpt": nil,
		"manager_contract_configuration": nil, "manager_connector_logs": nil, "manager_contract_hash": nil,
		"manager_health_metrics": nil, "manager_connector_uptime": nil, "built_in": false, "configurations": nil,
	}
	if s.cfg.v7 {
		s.addGuardedFields(obj, config)
	}
	return obj
}

// workerTag is the consumer tag of the worker on a connector's push queue.
func workerTag(id string) string { return "openctitest-worker-" + id }

// ensureConsumer starts the worker on a connector's push queue.
func (s *Server) ensureConsumer(id string) error {
	s.mu.Lock()
	if s.closed || s.channels[id] != nil {
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	ch, err := s.broker.channel()
	if err != nil {
		return fmt.Errorf("open worker channel: %w", err)
	}
	if err := ch.Qos(1, 0, false); err != nil {
		_ = ch.Close()
		return fmt.Errorf("set worker prefetch: %w", err)
	}
	queue := names(s.broker.prefix, id).push
	deliveries, err := ch.Consume(queue, workerTag(id), false, false, false, false, nil)
	if err != nil {
		_ = ch.Close()
		return fmt.Errorf("consume %s: %w", queue, err)
	}
	s.mu.Lock()
	if s.closed || s.channels[id] != nil {
		s.mu.Unlock()
		_ = ch.Close()
		return nil
	}
	s.channels[id] = ch
	s.consumers.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.consumers.Done()
		for d := range deliveries {
			s.handlePush(context.Background(), id, d)
		}
	}()
	return nil
}

func boolPtr(v any) *bool {
	if b, ok := v.(bool); ok {
		return &b
	}
	return nil
}

func stringPtr(v any) *string {
	if str, ok := v.(string); ok {
		return &str
	}
	return nil
}

// publishing is a persistent message as the platform and workers send them.
func publishing(body []byte) amqp.Publishing {
	return amqp.Publishing{DeliveryMode: amqp.Persistent, Body: body}
}

// Values of the 7.x guarded fields when the connector user may read them.
const (
	// fakeJWKS is the key set Connector.jwks returns (a JSON text).
	fakeJWKS = `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"opencti"}]}`
	// fakeS3Secret is the secret key ConnectorConfig.s3 returns.
	fakeS3Secret = "fake-s3-secret-key"
)

// forbiddenAccess is OpenCTI's ForbiddenAccess.
func forbiddenAccess() *apiError {
	return &apiError{code: "FORBIDDEN_ACCESS", msg: "You are not allowed to do this.",
		data: map[string]any{"http_status": 403, "genre": "TECHNICAL"}}
}

// addGuardedFields adds OpenCTI 7.x's Connector.jwks and ConnectorConfig.s3
// to a connector object: resolved when the server grants the connector-API
// permission, refused with FORBIDDEN_ACCESS otherwise (both fields are
// non-null, so the executor nulls their nearest nullable parent).
func (s *Server) addGuardedFields(obj, config map[string]any) {
	permitted := s.cfg.connectorAPI
	obj["jwks"] = lazy(func(map[string]any) (any, error) {
		if !permitted {
			return nil, forbiddenAccess()
		}
		return fakeJWKS, nil
	})
	config["s3"] = lazy(func(map[string]any) (any, error) {
		if !permitted {
			return nil, forbiddenAccess()
		}
		return map[string]any{
			"endpoint": "127.0.0.1", "port": 9000, "use_ssl": false,
			"bucket_name": "opencti-bucket", "bucket_region": "us-east-1",
			"access_key": "opencti", "secret_key": fakeS3Secret,
		}, nil
	})
}
