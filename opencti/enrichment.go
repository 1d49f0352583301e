package opencti

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
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

// retryPause is how long a request whose outcome could not be reported waits
// before it is handed back to RabbitMQ for another attempt.
const retryPause = 5 * time.Second

// ListenEnrichment consumes the listen queue until ctx is done, calling fn for
// each request, up to CONNECTOR_CONCURRENCY at once (§4). A message is
// acknowledged only once its result is published and its work reported, or
// its failure reported; a malformed message is rejected without requeue and
// its work (when an id can be read) reported in error. On shutdown in-flight
// requests get CONNECTOR_SHUTDOWN_TIMEOUT to finish; the others stay in the
// queue for the next instance.
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
	if err := consumer.Run(ctx, func(dctx context.Context, d *broker.Delivery) { h.handleDelivery(dctx, d, fn) }); err != nil {
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

func (h *Helper) handleDelivery(ctx context.Context, d *broker.Delivery, fn EnrichmentFunc) {
	req, err := ParseRequest(d.Body)
	if err != nil {
		h.rejectMalformed(ctx, d, req, err)
		return
	}
	req.Redelivered = d.Redelivered
	log := h.log.With("work_id", req.WorkID, "entity_id", req.EntityID, "entity_type", req.EntityType)
	if req.Playbook != nil {
		log = log.With("playbook_id", req.Playbook.PlaybookID, "execution_id", req.Playbook.ExecutionID)
	}
	log.Debug("Enrichment request received", "redelivered", d.Redelivered)
	start := h.now().UTC()
	if req.Redelivered && req.WorkID != "" {
		done, err := h.workComplete(ctx, req.WorkID)
		if err != nil {
			h.giveBack(ctx, d, log, err)
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
			h.giveBack(ctx, d, log, fmt.Errorf("mark work received: %w", err))
			return
		}
	}
	msg, err := h.process(ctx, req, fn, start, log)
	if err != nil && (ctx.Err() != nil || errors.Is(err, ErrWorkUnsettled)) {
		// Shutdown ran out of grace, or the work holds expectations this
		// attempt could not match: leave the request to the next attempt,
		// which reconciles the work (SendOptions.Retry).
		h.giveBack(ctx, d, log, err)
		return
	}
	if err != nil {
		h.metrics.Error()
		log.Error("Error in message processing, reporting error to API", "error", err)
		if req.WorkID != "" {
			if rerr := h.api.WorkToProcessed(ctx, req.WorkID, err.Error(), true); rerr != nil {
				h.giveBack(ctx, d, log, fmt.Errorf("report work in error: %w", rerr))
				return
			}
		}
	} else if req.WorkID != "" {
		h.step(stepBeforeToProcessed)
		if rerr := h.api.WorkToProcessed(ctx, req.WorkID, msg, false); rerr != nil {
			h.giveBack(ctx, d, log, fmt.Errorf("report work processed: %w", rerr))
			return
		}
	}
	if err := d.Ack(); err != nil {
		log.Warn("Acknowledging the request failed, RabbitMQ will redeliver it", "error", err)
		return
	}
	log.Info("Enrichment request done", "message", msg, "duration_seconds", h.now().Sub(start).Seconds())
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
	bundle, err := MarshalBundle(res.Objects)
	if err != nil {
		return "", err
	}
	n, err := h.SendBundle(ctx, bundle, SendOptions{WorkID: req.WorkID, ApplicantID: req.ApplicantID, DraftID: req.DraftID, Cleanup: true, Retry: req.Redelivered})
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

// giveBack returns a request to RabbitMQ after a pause, when its outcome could
// not be reported (OpenCTI unreachable) or shutdown interrupted it.
func (h *Helper) giveBack(ctx context.Context, d *broker.Delivery, log *slog.Logger, err error) {
	h.metrics.Error()
	log.Error("Request not finished, handing it back to RabbitMQ", "error", err)
	if ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-time.After(retryPause):
		}
	}
	if rerr := d.Reject(true); rerr != nil {
		log.Debug("Requeue failed; RabbitMQ redelivers unacknowledged messages when the channel closes", "error", rerr)
	}
}

// rebuildStixObjects fills StixObjects with the entity and its marking
// definitions (what pycti rebuilds when the platform sends stix_objects null).
// The platform's stix_entity is kept; when it is empty (the platform could not
// export it) a minimal object is built from the GraphQL read.
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
	for _, m := range e.Markings {
		b, err := json.Marshal(markingObject(m))
		if err != nil {
			return fmt.Errorf("build marking definition %s: %w", m.StandardID, err)
		}
		req.StixObjects = append(req.StixObjects, b)
	}
	return nil
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
