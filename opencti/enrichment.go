package opencti

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/riskiq-opencti/connectors/opencti/api"
	"github.com/riskiq-opencti/connectors/opencti/broker"
	"github.com/riskiq-opencti/connectors/opencti/stix"
)

// Result is what an enrichment handler returns.
type Result struct {
	// Objects is the whole bundle to send back: usually the request's
	// StixObjects (the entity and its markings) plus the new objects. Empty
	// means nothing was found: nothing is sent and, in a playbook, the
	// incoming bundle goes on unchanged.
	Objects []any
	// Message is the summary written to the work; when objects are sent, the
	// runtime appends how many: "<Message> (12 objects sent)".
	Message string
}

// EnrichmentFunc handles one enrichment request. An error reports the work in
// error with the error's message (in a playbook, the incoming bundle is passed
// through unchanged so the playbook goes on).
type EnrichmentFunc func(ctx context.Context, r *Request) (Result, error)

// Retry policy of the requests whose outcome cannot be recorded (see
// docs/decisions/0001-ack-after-publish.md).
const (
	// MaxRequestAttempts is how many times a request is tried while the
	// platform refuses to record its outcome (workToReceived or workToProcessed
	// answered with an error about this request, not an outage). After the
	// last refusal the request is given up: logged at ERROR, counted in
	// requests_dropped_total, reported in error on its work when the platform
	// accepts it, and acknowledged.
	MaxRequestAttempts = 5
	// DefaultRetryPause is the pause before the second attempt of a request;
	// it doubles with each attempt, up to 30 times its value.
	DefaultRetryPause = time.Second
	// AttemptHeader is the AMQP header carrying the attempt number (2, 3…) of
	// a request put back at the tail of the listen queue by the runtime.
	AttemptHeader = "x-opencti-attempt"
	// RefusedHeader is the AMQP header carrying how many earlier attempts of
	// a request the platform refused.
	RefusedHeader = "x-opencti-refused"

	// maxRetryPauseFactor caps the retry pause at this many times the first one.
	maxRetryPauseFactor = 30
	// republishTimeout bounds putting a request back in its queue.
	republishTimeout = 30 * time.Second
)

// ListenEnrichment consumes the listen queue until ctx is done, calling fn for
// each request, up to CONNECTOR_CONCURRENCY at once (§4). A message is
// acknowledged only once its result is published and its work reported, or
// its failure reported; a malformed message is rejected without requeue and
// its work (when an id can be read) reported in error.
//
// When the outcome of a request cannot be recorded (workToReceived or
// workToProcessed failed), the request is put back at the tail of the queue
// after a pause growing with each attempt, so that it never holds up the
// requests behind it; after [MaxRequestAttempts] refusals by the platform it
// is given up (an unreachable platform is retried without limit).
//
// When ctx ends, no new request is taken; requests in flight keep their
// context, their OpenCTI calls and the publisher for CONNECTOR_SHUTDOWN_TIMEOUT.
// Those that cannot finish in time see their context cancelled and are handed
// back to RabbitMQ unacknowledged, never reported in error: the next instance
// processes them. ListenEnrichment then returns nil; call [Helper.Close] after it.
func (h *Helper) ListenEnrichment(ctx context.Context, fn EnrichmentFunc) error {
	if h.reg == nil {
		return errors.New("listen: the connector is not started")
	}
	h.metrics.SetState("running")
	defer h.metrics.SetState("stopped")
	consumer := broker.NewConsumer(h.mq, h.reg.Config.Listen,
		broker.WithPrefetch(max(1, h.cfg.Connector.Concurrency)),
		broker.WithGracePeriod(h.cfg.Connector.ShutdownTimeout),
		broker.WithLogger(h.log),
	)
	h.log.Info("Listening for enrichment requests", "queue", h.reg.Config.Listen, "concurrency", h.cfg.Connector.Concurrency)
	// Handlers get the consumer's context (alive through the grace period),
	// ctx only tells them the connector is stopping.
	if err := consumer.Run(ctx, func(dctx context.Context, d *broker.Delivery) { h.handleDelivery(ctx, dctx, d, fn) }); err != nil {
		return fmt.Errorf("listen on %s: %w", h.reg.Config.Listen, err)
	}
	return nil
}

// InScope reports whether an entity type is in CONNECTOR_SCOPE (compared
// case-insensitively, as the platform does).
func (h *Helper) InScope(entityType string) bool {
	for _, s := range h.cfg.Connector.Scope {
		if strings.EqualFold(s, entityType) {
			return true
		}
	}
	return false
}

// handleDelivery runs one request. stopping ends when the connector stops;
// ctx, the handler's context, stays alive through the shutdown grace period.
func (h *Helper) handleDelivery(stopping, ctx context.Context, d *broker.Delivery, fn EnrichmentFunc) {
	req, err := ParseRequest(d.Body)
	if err != nil {
		h.rejectMalformed(ctx, d, req, err)
		return
	}
	try := attemptOf(d)
	req.Attempt = try.number
	req.Redelivered = d.Redelivered || try.number > 1
	log := h.log.With("work_id", req.WorkID, "entity_id", req.EntityID, "entity_type", req.EntityType)
	if req.Playbook != nil {
		log = log.With("playbook_id", req.Playbook.PlaybookID, "execution_id", req.Playbook.ExecutionID)
	}
	log.Debug("Enrichment request received", "redelivered", req.Redelivered, "attempt", req.Attempt)
	start := h.now().UTC()
	if req.Redelivered && req.WorkID != "" {
		done, err := h.workComplete(ctx, req.WorkID)
		if err != nil {
			h.retryLater(stopping, ctx, d, req, try, log, err)
			return
		}
		if done {
			if err := d.Ack(); err != nil {
				log.Warn("Acknowledging the request failed, RabbitMQ will redeliver it", "error", err)
				return
			}
			log.Info("Redelivered request acknowledged: its work is already complete")
			return
		}
	}
	if req.WorkID != "" {
		if err := h.api.WorkToReceived(ctx, req.WorkID, "Connector ready to process the operation"); err != nil {
			h.retryLater(stopping, ctx, d, req, try, log, fmt.Errorf("mark work received: %w", err))
			return
		}
	}
	msg, perr := h.process(ctx, req, fn, start, log)
	if perr != nil && ctx.Err() != nil {
		// Shutdown ran out of grace: leave the request to the next instance.
		h.handBack(d, log, perr)
		return
	}
	if perr != nil && errors.Is(perr, ErrWorkUnsettled) {
		// The work holds expectations this attempt could not match: the
		// next attempt reconciles it (SendOptions.Retry, decision 0006).
		h.retryLater(stopping, ctx, d, req, try, log, perr)
		return
	}
	if perr != nil {
		h.metrics.Error()
	}
	if req.WorkID != "" {
		report, inError, what := msg, false, "report work processed"
		if perr != nil {
			// perr is named but not wrapped: only the reporting error classifies the retry.
			report, inError, what = perr.Error(), true, fmt.Sprintf("report work in error (%v)", perr)
		}
		h.step(stepBeforeToProcessed)
		if err := h.api.WorkToProcessed(ctx, req.WorkID, report, inError); err != nil {
			h.retryLater(stopping, ctx, d, req, try, log, fmt.Errorf("%s: %w", what, err))
			return
		}
	}
	if err := d.Ack(); err != nil {
		log.Warn("Acknowledging the request failed, RabbitMQ will redeliver it", "error", err)
		return
	}
	took := h.now().Sub(start).Seconds()
	if perr != nil {
		log.Error("Enrichment request failed", "error", perr, "attempt", req.Attempt, "duration_seconds", took)
		return
	}
	log.Info("Enrichment request done", "message", msg, "attempt", req.Attempt, "duration_seconds", took)
}

// process runs one request: entity read, handler, then publish (or the
// playbook step). It returns the work message.
func (h *Helper) process(ctx context.Context, req *Request, fn EnrichmentFunc, start time.Time, log *slog.Logger) (string, error) {
	entity, err := h.api.StixCoreObject(ctx, req.EntityID)
	if err != nil {
		err = fmt.Errorf("read entity %s: %w", req.EntityID, err)
		if req.Playbook != nil {
			if perr := h.passThrough(ctx, req, start, log); perr != nil {
				return "", errors.Join(err, perr)
			}
		}
		return "", h.failed(ctx, req, err, log)
	}
	req.Entity = entity
	if req.EntityType == "" {
		req.EntityType = entity.EntityType
	}
	if req.Playbook == nil && req.StixObjects == nil {
		if err := rebuildStixObjects(req); err != nil {
			return "", err
		}
	}
	res, err := fn(ctx, req)
	if req.Playbook != nil {
		return h.finishPlaybook(ctx, req, res, err, start, log)
	}
	if err != nil {
		return "", h.failed(ctx, req, err, log)
	}
	if len(res.Objects) == 0 {
		if res.Message == "" {
			res.Message = "No information found"
		}
		return res.Message, h.settleWork(ctx, req, log)
	}
	n, err := h.SendObjects(ctx, res.Objects, SendOptions{WorkID: req.WorkID, ApplicantID: req.ApplicantID, DraftID: req.DraftID, Cleanup: true, Retry: req.Redelivered})
	if err != nil {
		return "", h.failed(ctx, req, err, log)
	}
	log.Debug("Bundle published", "parts", n)
	if res.Message == "" {
		return fmt.Sprintf("Sent %d objects", n), nil
	}
	return fmt.Sprintf("%s (%d objects sent)", res.Message, n), nil
}

// finishPlaybook sends the result through playbookStepExecution, or the
// unchanged incoming bundle when the handler failed or found nothing, so the
// playbook always goes on (§4.3).
func (h *Helper) finishPlaybook(ctx context.Context, req *Request, res Result, herr error, start time.Time, log *slog.Logger) (string, error) {
	if herr != nil || len(res.Objects) == 0 {
		if err := h.passThrough(ctx, req, start, log); err != nil {
			return "", errors.Join(herr, err)
		}
		if herr != nil {
			return "", herr
		}
		if res.Message == "" {
			res.Message = "No information found"
		}
		return res.Message, nil
	}
	bundle, err := MarshalBundle(res.Objects)
	if err != nil {
		return "", err
	}
	if err := h.playbookStep(ctx, req, start, string(bundle)); err != nil {
		return "", err
	}
	if res.Message == "" {
		res.Message = fmt.Sprintf("Sent %d objects to the playbook", len(res.Objects))
	}
	return res.Message, nil
}

func (h *Helper) passThrough(ctx context.Context, req *Request, start time.Time, log *slog.Logger) error {
	log.Info("Passing the playbook bundle through unchanged")
	return h.playbookStep(ctx, req, start, string(req.Playbook.Bundle))
}

func (h *Helper) playbookStep(ctx context.Context, req *Request, start time.Time, bundle string) error {
	pb := req.Playbook
	err := h.api.PlaybookStepExecution(ctx, api.PlaybookStep{
		ExecutionID:    pb.ExecutionID,
		EventID:        pb.EventID,
		ExecutionStart: start.Truncate(time.Second).Format("2006-01-02T15:04:05+00:00"),
		DataInstanceID: pb.DataInstanceID,
		PlaybookID:     pb.PlaybookID,
		PreviousStepID: pb.PreviousStepID,
		StepID:         pb.StepID,
		PreviousBundle: string(pb.Bundle),
		Bundle:         bundle,
	})
	if err != nil {
		return fmt.Errorf("playbook step execution: %w", err)
	}
	return nil
}

// rejectMalformed drops a message that cannot be parsed: redelivering it
// would fail the same way. Its work, when readable, is reported in error.
func (h *Helper) rejectMalformed(ctx context.Context, d *broker.Delivery, req *Request, perr error) {
	h.metrics.Error()
	workID := ""
	if req != nil {
		workID = req.WorkID
	}
	h.log.Error("Malformed enrichment message rejected", "error", perr, "work_id", workID, "body", truncate(string(d.Body), 512))
	if workID != "" {
		if err := h.api.WorkToProcessed(ctx, workID, perr.Error(), true); err != nil {
			h.log.Warn("Reporting the malformed message on its work failed", "work_id", workID, "error", err)
		}
	}
	if err := d.Reject(false); err != nil {
		h.log.Warn("Rejecting the malformed message failed", "error", err)
	}
}

// attempt is where a request stands in its retries, read from its headers.
type attempt struct {
	number  int // 1 for the first attempt
	refused int // earlier attempts the platform refused
}

func attemptOf(d *broker.Delivery) attempt {
	return attempt{
		number:  max(1, headerInt(d.Headers, AttemptHeader)),
		refused: max(0, headerInt(d.Headers, RefusedHeader)),
	}
}

// headers returns the headers of the next attempt, after this one failed
// (refused by the platform or not).
func (a attempt) headers(current map[string]any, refused bool) map[string]any {
	out := make(map[string]any, len(current)+2)
	for k, v := range current {
		out[k] = v
	}
	next := a.refused
	if refused {
		next++
	}
	out[AttemptHeader] = int64(a.number + 1)
	out[RefusedHeader] = int64(next)
	return out
}

// headerInt reads an integer header (as AMQP tables carry them), 0 when
// absent or not an integer.
func headerInt(h map[string]any, key string) int {
	switch v := h[key].(type) {
	case int8:
		return int(v)
	case int16:
		return int(v)
	case int32:
		return int(v)
	case int64:
		if v > math.MaxInt32 {
			return math.MaxInt32
		}
		if v < 0 {
			return 0
		}
		return int(v)
	case uint8:
		return int(v)
	case uint16:
		return int(v)
	}
	return 0
}

// refusedByPlatform tells whether the platform answered a work call with an
// error about this request (a GraphQL error, a 4xx), which retrying may not
// cure, rather than being unreachable, overloaded or refusing the connector
// itself (transport errors, 5xx, 408, 429, authentication), which affects
// every request and must never make one be given up.
func refusedByPlatform(err error) bool {
	if isAuthError(err) {
		return false
	}
	var httpErr *api.HTTPError
	if errors.As(err, &httpErr) {
		return httpErr.Status >= 400 && httpErr.Status < 500 &&
			httpErr.Status != http.StatusRequestTimeout && httpErr.Status != http.StatusTooManyRequests
	}
	var gqlErr *api.GraphQLError
	return errors.As(err, &gqlErr)
}

// retryLater deals with a request whose outcome could not be recorded. On
// shutdown it is handed back to RabbitMQ as it is. Otherwise, after a pause,
// it is put back at the tail of the listen queue with its attempt count (the
// original is acknowledged once the copy is confirmed), so that the requests
// behind it go on; after MaxRequestAttempts refusals it is given up.
func (h *Helper) retryLater(stopping, ctx context.Context, d *broker.Delivery, req *Request, try attempt, log *slog.Logger, cause error) {
	if ctx.Err() != nil || stopping.Err() != nil {
		h.handBack(d, log, cause)
		return
	}
	refused := refusedByPlatform(cause)
	if refused && try.refused+1 >= MaxRequestAttempts {
		h.giveUp(ctx, d, req, try, log, cause)
		return
	}
	h.metrics.Error()
	pause := h.retryPauseFor(try.number)
	log.Warn("Recording the request's outcome failed, retrying it later", "error", cause,
		"attempt", try.number, "refused_by_platform", refused, "retry_in", pause.String())
	timer := time.NewTimer(pause)
	defer timer.Stop()
	select {
	case <-stopping.Done():
		h.handBack(d, log, cause)
		return
	case <-ctx.Done():
		h.handBack(d, log, cause)
		return
	case <-timer.C:
	}
	pctx, cancel := context.WithTimeout(ctx, republishTimeout)
	defer cancel()
	if err := h.publisher.PublishWithHeaders(pctx, "", h.reg.Config.Listen, try.headers(d.Headers, refused), d.Body); err != nil {
		log.Warn("Putting the request back at the tail of its queue failed, requeueing it", "error", err)
		h.handBack(d, log, cause)
		return
	}
	if err := d.Ack(); err != nil {
		log.Warn("Acknowledging a request put back in its queue failed: it may be processed twice", "error", err)
	}
}

// retryPauseFor is the pause before the attempt after attempt n.
func (h *Helper) retryPauseFor(n int) time.Duration {
	p := max(h.retryPause, 0)
	for i := 1; i < n && p < maxRetryPauseFactor*h.retryPause; i++ {
		p *= 2
	}
	return min(p, maxRetryPauseFactor*h.retryPause)
}

// giveUp drops a request the platform refused MaxRequestAttempts times:
// loudly, counted, reported in error on its work when the platform accepts
// it, then acknowledged.
func (h *Helper) giveUp(ctx context.Context, d *broker.Delivery, req *Request, try attempt, log *slog.Logger, cause error) {
	h.metrics.Error()
	h.metrics.RequestDropped()
	log.Error("Enrichment request given up: the platform refused to record its outcome",
		"error", cause, "attempt", try.number, "refused", try.refused+1, "max_refusals", MaxRequestAttempts)
	if req.WorkID != "" {
		msg := fmt.Sprintf("Request given up after %d refused attempts: %v", try.refused+1, cause)
		if err := h.api.WorkToProcessed(ctx, req.WorkID, msg, true); err != nil {
			log.Warn("Reporting the given-up request on its work failed", "error", err)
		}
	}
	if err := d.Ack(); err != nil {
		log.Warn("Acknowledging the given-up request failed, RabbitMQ will redeliver it", "error", err)
	}
}

// handBack returns a request to RabbitMQ unacknowledged (requeued at the head
// of the queue, or redelivered when the channel closes), without counting an
// attempt: shutdown interrupted it, or it could not be put back at the tail.
func (h *Helper) handBack(d *broker.Delivery, log *slog.Logger, cause error) {
	log.Warn("Request not finished, handing it back to RabbitMQ", "error", cause)
	if err := d.Reject(true); err != nil {
		log.Debug("Requeue failed; RabbitMQ redelivers unacknowledged messages when the channel closes", "error", err)
	}
}

// rebuildStixObjects fills StixObjects with the entity, its author (created_by)
// identity and its marking definitions: what pycti rebuilds with
// prepare_export(generate_export(entity)) when the platform sends stix_objects
// null (enrichment_resolution none). The platform's stix_entity is kept; when
// it is empty (the platform could not export it) a minimal object is built
// from the GraphQL read.
func rebuildStixObjects(req *Request) error {
	e := req.Entity
	if req.StixEntity == nil {
		obj := map[string]any{"id": e.StandardID, "spec_version": "2.1", "x_opencti_id": e.ID}
		if i := strings.Index(e.StandardID, "--"); i > 0 {
			obj["type"] = e.StandardID[:i]
		}
		if e.ObservableValue != "" {
			obj["value"] = e.ObservableValue
		}
		if e.CreatedBy != nil && e.CreatedBy.StandardID != "" {
			// pycti: x_opencti_created_by_ref on observables, created_by_ref
			// on the others.
			if slices.Contains(e.ParentTypes, "Stix-Cyber-Observable") {
				obj["x_opencti_created_by_ref"] = e.CreatedBy.StandardID
			} else {
				obj["created_by_ref"] = e.CreatedBy.StandardID
			}
		}
		var refs []string
		for _, m := range e.Markings {
			refs = append(refs, m.StandardID)
		}
		if len(refs) > 0 {
			obj["object_marking_refs"] = refs
		}
		b, err := json.Marshal(obj)
		if err != nil {
			return fmt.Errorf("build stix entity: %w", err)
		}
		req.StixEntity = b
	}
	req.StixObjects = []json.RawMessage{req.StixEntity}
	if e.CreatedBy != nil && e.CreatedBy.StandardID != "" {
		b, err := json.Marshal(creatorObject(e.CreatedBy))
		if err != nil {
			return fmt.Errorf("build created_by identity %s: %w", e.CreatedBy.StandardID, err)
		}
		req.StixObjects = append(req.StixObjects, b)
	}
	for _, m := range e.Markings {
		b, err := json.Marshal(markingObject(m))
		if err != nil {
			return fmt.Errorf("build marking definition %s: %w", m.StandardID, err)
		}
		req.StixObjects = append(req.StixObjects, b)
	}
	return nil
}

// creatorObject renders an entity's author as pycti's generate_export does:
// the STIX identity with the fields pycti reads, x_opencti_id (internal id)
// and x_opencti_type (OpenCTI type), labels from objectLabel, and no empty
// field (pycti's not_empty: a list is kept when one element is non-empty).
func creatorObject(c *api.Identity) map[string]any {
	obj := map[string]any{
		"id":             c.StandardID,
		"type":           "identity",
		"x_opencti_id":   c.ID,
		"x_opencti_type": c.EntityType,
	}
	str := func(k, v string) {
		if v != "" {
			obj[k] = v
		}
	}
	list := func(k string, vs []string) {
		if slices.ContainsFunc(vs, func(v string) bool { return v != "" }) {
			obj[k] = vs
		}
	}
	str("spec_version", c.SpecVersion)
	str("identity_class", c.IdentityClass)
	str("name", c.Name)
	str("description", c.Description)
	list("roles", c.Roles)
	str("contact_information", c.ContactInformation)
	list("x_opencti_aliases", c.Aliases)
	str("created", c.Created)
	str("modified", c.Modified)
	var labels []string
	for _, l := range c.Labels {
		labels = append(labels, l.Value)
	}
	list("labels", labels)
	str("x_opencti_organization_type", c.OrganizationType)
	str("x_opencti_reliability", c.Reliability)
	str("x_opencti_firstname", c.Firstname)
	str("x_opencti_lastname", c.Lastname)
	return obj
}

// markingObject renders a platform marking as a STIX marking definition: the
// library form for TLP markings, the connectors-sdk form for the others.
func markingObject(m api.Marking) any {
	if m.DefinitionType == "TLP" {
		if md, err := stix.TLPMarking(m.Definition); err == nil {
			return md
		}
	}
	obj := map[string]any{
		"type":                      "marking-definition",
		"spec_version":              "2.1",
		"id":                        m.StandardID,
		"definition_type":           "statement",
		"definition":                map[string]string{"statement": "custom"},
		"name":                      m.Definition,
		"x_opencti_definition_type": m.DefinitionType,
		"x_opencti_definition":      m.Definition,
	}
	if m.Created != "" {
		obj["created"] = m.Created
	}
	if m.Color != "" {
		obj["x_opencti_color"] = m.Color
	}
	if m.Order != 0 {
		obj["x_opencti_order"] = m.Order
	}
	return obj
}
