package opencti

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

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
}

// ErrNothingToImport is returned by [Helper.SendBundle] when splitting leaves
// no object to send.
var ErrNothingToImport = stix.ErrNothingToImport

// SendBundle splits a STIX bundle into one-object messages (§7.2), adds the
// expectations to the work, then publishes every part to the push exchange,
// pipelined, and waits for the broker's confirms (§3.5; see
// [broker.Publisher.PublishBatch]). It returns the number of parts published;
// on a publishing error, the number of those confirmed (not necessarily the
// first ones). With CONNECTOR_SEND_TO_DIRECTORY the whole bundle is also written
// to a file (§7.3); with CONNECTOR_SEND_TO_QUEUE=false nothing is published
// and no work call is made.
func (h *Helper) SendBundle(ctx context.Context, bundle []byte, o SendOptions) (int, error) {
	res, err := stix.Split(bundle, stix.SplitOptions{CleanupInconsistent: o.Cleanup})
	if err != nil {
		return 0, fmt.Errorf("split bundle: %w", err)
	}
	if len(res.Parts) == 0 {
		return 0, ErrNothingToImport
	}
	applicant := o.ApplicantID
	if applicant == nil && h.reg != nil && h.reg.UserID != "" {
		applicant = &h.reg.UserID
	}
	if h.cfg.Connector.SendToDirectory {
		file, err := h.writeDirectory(bundle, applicant)
		if err != nil {
			return 0, err
		}
		h.log.Debug("Bundle written to the directory", "file", file)
	}
	if !h.cfg.Connector.SendToQueue {
		h.log.Info("Bundle not sent: CONNECTOR_SEND_TO_QUEUE is false", "parts", len(res.Parts))
		return len(res.Parts), nil
	}
	if h.publisher == nil {
		return 0, errors.New("send bundle: the connector is not started")
	}
	// Encode first: a part that cannot be encoded must not leave expectations behind.
	bodies := make([][]byte, len(res.Parts))
	for i, part := range res.Parts {
		body, err := broker.NewEnvelope(part, i+1, applicant, o.DraftID, o.WorkID).Marshal()
		if err != nil {
			return 0, fmt.Errorf("encode message %d: %w", i+1, err)
		}
		bodies[i] = body
		res.Parts[i] = nil // only the envelope is needed from now on
	}
	if o.WorkID != "" {
		if err := h.api.AddExpectations(ctx, o.WorkID, len(res.Parts)); err != nil {
			return 0, fmt.Errorf("add %d expectations to work %s: %w", len(res.Parts), o.WorkID, err)
		}
	}
	n, err := h.publisher.PublishBatch(ctx, h.reg.Config.PushExchange, h.reg.Config.PushRouting, bodies)
	h.metrics.BundleSent(n)
	if err != nil {
		return n, fmt.Errorf("publish %d parts (%d confirmed): %w", len(bodies), n, err)
	}
	h.setBuffering(false)
	return n, nil
}

// MarshalBundle builds a bundle of objects (model values or raw JSON) with a
// fresh bundle id.
func MarshalBundle(objects []any) ([]byte, error) {
	b, err := json.Marshal(stix.NewBundle(objects...))
	if err != nil {
		return nil, fmt.Errorf("encode bundle: %w", err)
	}
	return b, nil
}
