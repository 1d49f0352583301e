package opencti

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/riskiq-opencti/connectors/opencti/api"
	"github.com/riskiq-opencti/connectors/opencti/broker"
	"github.com/riskiq-opencti/connectors/opencti/stix"
)

// SendOptions are the options of [Helper.SendBundle] (pycti's send_stix2_bundle).
type SendOptions struct {
	// WorkID is the work the parts count against; expectations are added to it
	// before publishing (§5.2 rule 1). Empty: no work.
	WorkID string
	// ApplicantID overrides the connector's user as the applicant (playbooks).
	ApplicantID *string
	// DraftID is the draft workspace context, or nil.
	DraftID *string
	// Cleanup drops references to objects absent from the bundle (pycti's
	// cleanup_inconsistent_bundle).
	Cleanup bool
	// Retry tells that an earlier attempt of the same request may have added
	// expectations to WorkID and published some of its parts (the request
	// was redelivered: [Request.Redelivered]). SendBundle then reads the work
	// first: when it is already complete nothing is sent; otherwise, with E
	// expectations recorded and N parts to send, it adds max(E, N) - E
	// expectations and publishes max(E, N) messages (the parts, repeated
	// when E > N), so the work's processed count reaches its expected count
	// whatever the earlier attempt did (docs/decisions/0006).
	Retry bool
}

// ErrNothingToImport is returned by [Helper.SendBundle] when splitting leaves
// no object to send.
var ErrNothingToImport = stix.ErrNothingToImport

// SendBundle splits a STIX bundle into one-object messages (§7.2), adds the
// expectations to the work, then publishes every part to the push exchange,
// pipelined, and waits for the broker's confirms (§3.5; see
// [broker.Publisher.PublishBatch]). It returns the number of messages
// published; on a publishing error, the number of those confirmed (not
// necessarily the first ones). With [SendOptions.Retry] it reconciles the
// work with an earlier attempt first (it may then publish more messages than
// parts, or none when the work is already complete). With
// CONNECTOR_SEND_TO_DIRECTORY the whole bundle is also written to a file
// (§7.3); with CONNECTOR_SEND_TO_QUEUE=false nothing is published and no work
// call is made.
//
// When the work may hold expectations that the messages published will not
// match (the addExpectations outcome is unknown, or publishing failed after
// it), the error wraps [ErrWorkUnsettled]: reporting the work processed would
// leave it in progress for ever; the request should be attempted again with
// Retry.
func (h *Helper) SendBundle(ctx context.Context, bundle []byte, o SendOptions) (int, error) {
	res, err := stix.Split(bundle, stix.SplitOptions{CleanupInconsistent: o.Cleanup})
	if err != nil {
		return 0, fmt.Errorf("split bundle: %w", err)
	}
	if len(res.Parts) == 0 {
		return 0, ErrNothingToImport
	}
	return h.sendParts(ctx, len(res.Parts), func() ([]byte, error) { return bundle, nil },
		func(i int, e broker.Envelope) ([]byte, error) {
			body, err := e.MarshalPart(res.Parts[i])
			res.Parts[i] = nil // only the envelope is needed from now on
			return body, err
		}, o)
}

// SendObjects is [Helper.SendBundle] for objects not yet encoded (model
// values or raw JSON, as [MarshalBundle] takes them): it publishes the same
// messages, byte for byte, as SendBundle(MarshalBundle(objects)), but splits
// the objects it is given ([stix.SplitBundle]) instead of encoding a bundle
// to parse it again, and encodes each part once, straight into its message.
// Options, work reconciliation (SendOptions.Retry) and errors are those of
// SendBundle; an object that cannot be encoded is an error before any work
// call.
func (h *Helper) SendObjects(ctx context.Context, objects []any, o SendOptions) (int, error) {
	bundle := stix.NewBundle(objects...)
	parts, err := stix.SplitBundle(bundle, stix.SplitOptions{CleanupInconsistent: o.Cleanup})
	if errors.Is(err, stix.ErrNothingToImport) {
		return 0, ErrNothingToImport
	}
	if err != nil {
		return 0, fmt.Errorf("split bundle: %w", err)
	}
	var scratch []byte // one part at a time: only its message is kept
	return h.sendParts(ctx, parts.Len(), func() ([]byte, error) { return marshalBundle(bundle) },
		func(i int, e broker.Envelope) ([]byte, error) {
			var err error
			if scratch, err = parts.Append(scratch[:0], i); err != nil {
				return nil, err
			}
			return e.MarshalPart(scratch)
		}, o)
}

// sendParts is SendBundle after the split: n parts, the whole bundle for
// CONNECTOR_SEND_TO_DIRECTORY, and encode writing the message of part i
// from its envelope (the content left empty).
func (h *Helper) sendParts(ctx context.Context, n int, bundle func() ([]byte, error), encode func(i int, e broker.Envelope) ([]byte, error), o SendOptions) (int, error) {
	applicant := o.ApplicantID
	if applicant == nil && h.reg != nil && h.reg.UserID != "" {
		applicant = &h.reg.UserID
	}
	if h.cfg.Connector.SendToDirectory {
		raw, err := bundle()
		if err != nil {
			return 0, err
		}
		file, err := h.writeDirectory(raw, applicant)
		if err != nil {
			return 0, err
		}
		h.log.Debug("Bundle written to the directory", "file", file)
	}
	if !h.cfg.Connector.SendToQueue {
		h.log.Info("Bundle not sent: CONNECTOR_SEND_TO_QUEUE is false", "parts", n)
		return n, nil
	}
	if h.publisher == nil {
		return 0, errors.New("send bundle: the connector is not started")
	}
	// Encode first: a part that cannot be encoded must not leave expectations behind.
	bodies := make([][]byte, n)
	for i := range n {
		body, err := encode(i, broker.Envelope{
			BundleType: broker.BundleTypeQueue, ApplicantID: applicant, ActionSequence: i + 1,
			EntitiesTypes: []string{}, DraftID: o.DraftID, WorkID: o.WorkID,
		})
		if err != nil {
			return 0, fmt.Errorf("encode message %d: %w", i+1, err)
		}
		bodies[i] = body
	}
	if o.WorkID == "" {
		n, err := h.publish(ctx, bodies)
		if err != nil {
			return n, fmt.Errorf("publish %d parts (%d confirmed): %w", len(bodies), n, err)
		}
		return n, nil
	}
	bodies, err := h.expect(ctx, o.WorkID, o.Retry, bodies)
	if err != nil {
		return 0, err
	}
	sent, err := h.publish(ctx, bodies)
	if err != nil {
		return sent, fmt.Errorf("publish %d messages (%d confirmed): %w: %w", len(bodies), sent, ErrWorkUnsettled, err)
	}
	return sent, nil
}

// ErrWorkUnsettled is wrapped by the error of [Helper.SendBundle] when the
// work may be left expecting messages that were not published.
var ErrWorkUnsettled = errors.New("work expectations not matched by published messages")

// expect records on the work the messages about to be published and returns
// them: the bodies, padded on a retry. It returns nil bodies when a retry
// finds the work already complete.
func (h *Helper) expect(ctx context.Context, workID string, retry bool, bodies [][]byte) ([][]byte, error) {
	n := len(bodies)
	h.step(stepBeforeAddExpectations)
	if !retry {
		if err := h.api.AddExpectations(ctx, workID, n); err != nil {
			err = fmt.Errorf("add %d expectations to work %s: %w", n, workID, err)
			if errors.Is(err, api.ErrOutcomeUnknown) {
				err = fmt.Errorf("%w: %w", ErrWorkUnsettled, err)
			}
			return nil, err
		}
		h.step(stepAfterAddExpectations)
		return bodies, nil
	}
	w, err := h.api.Work(ctx, workID)
	if err != nil {
		err = fmt.Errorf("read work %s before sending again: %w", workID, err)
		if !errors.Is(err, api.ErrNotFound) {
			// An earlier attempt may have left expectations: try again later.
			err = fmt.Errorf("%w: %w", ErrWorkUnsettled, err)
		}
		return nil, err
	}
	if w.Status == api.WorkStatusComplete {
		h.log.Info("Work already complete: an earlier attempt's result landed, nothing sent again",
			"work_id", workID, "parts", n)
		return nil, nil
	}
	expected := w.Tracking.ImportExpectedNumber
	total := max(expected, n)
	if add := total - expected; add > 0 {
		if err := h.api.AddExpectations(ctx, workID, add); err != nil {
			return nil, fmt.Errorf("add %d expectations to work %s: %w: %w", add, workID, ErrWorkUnsettled, err)
		}
	}
	h.step(stepAfterAddExpectations)
	if total > n {
		// Each message counts one processed report; re-sending a part is an
		// upsert of the same object.
		padded := make([][]byte, total)
		for i := range padded {
			padded[i] = bodies[i%n]
		}
		bodies = padded
	}
	h.log.Info("Work reconciled with an earlier attempt",
		"work_id", workID, "expected_before", expected, "processed_before", w.Tracking.ImportProcessedNumber,
		"parts", n, "messages", total)
	return bodies, nil
}

// publish sends the bodies to the push queue. Under a test hook it publishes
// them one by one, calling the hook after each (stepPublished).
func (h *Helper) publish(ctx context.Context, bodies [][]byte) (int, error) {
	if len(bodies) == 0 {
		return 0, nil
	}
	exchange, routing := h.reg.Config.PushExchange, h.reg.Config.PushRouting
	if h.testHook == nil {
		n, err := h.publisher.PublishBatch(ctx, exchange, routing, bodies)
		h.metrics.BundleSent(n)
		if err == nil {
			h.setBuffering(false)
		}
		return n, err
	}
	for i, b := range bodies {
		n, err := h.publisher.PublishBatch(ctx, exchange, routing, [][]byte{b})
		h.metrics.BundleSent(n)
		if err != nil {
			return i, err
		}
		h.step(stepPublished(i + 1))
	}
	h.setBuffering(false)
	return len(bodies), nil
}

// Steps of a request at which a test hook (export_test.go) can stop it, to
// simulate a kill.
const (
	// stepBeforeAddExpectations is before the work is read or its
	// expectations added.
	stepBeforeAddExpectations = "before-add-expectations"
	// stepAfterAddExpectations is after the expectations, before publishing.
	stepAfterAddExpectations = "after-add-expectations"
	// stepBeforeToProcessed is after publishing, before the work is reported.
	stepBeforeToProcessed = "before-to-processed"
)

// stepPublished is the step after k messages were published.
func stepPublished(k int) string { return fmt.Sprintf("published-%d", k) }

// step calls the test hook, if any.
func (h *Helper) step(name string) {
	if h.testHook != nil {
		h.testHook(name)
	}
}

// MarshalBundle builds a bundle of objects (model values or raw JSON) with a
// fresh bundle id.
func MarshalBundle(objects []any) ([]byte, error) {
	return marshalBundle(stix.NewBundle(objects...))
}

func marshalBundle(bundle *stix.Bundle) ([]byte, error) {
	b, err := json.Marshal(bundle)
	if err != nil {
		return nil, fmt.Errorf("encode bundle: %w", err)
	}
	return b, nil
}
