package opencti

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/riskiq-opencti/connectors/opencti/api"
)

// A redelivered enrichment request may follow an attempt that was killed at
// any step: before or after adding expectations to its work, halfway through
// publishing, before reporting the work. The functions here, with
// SendOptions.Retry, make such a request end with its work complete
// (docs/decisions/0006).

// workComplete reads the work of a redelivered request before anything else
// is done for it: when an earlier attempt's result already completed it, the
// request is acknowledged without being run again (toReceived would set the
// work back to progress).
func (h *Helper) workComplete(ctx context.Context, workID string) (bool, error) {
	w, err := h.api.Work(ctx, workID)
	if err != nil {
		return false, fmt.Errorf("read work %s of a redelivered request: %w", workID, err)
	}
	return w.Status == api.WorkStatusComplete, nil
}

// settleWork runs on a redelivered request that ends without sending a
// bundle (the handler failed or found nothing). An earlier attempt may have
// added E expectations and published fewer than E messages: reporting the
// work processed would then leave it in progress for ever. settleWork
// publishes the request's own objects (the entity and its markings, which
// already exist: an upsert that changes nothing) E times, so the processed
// count reaches E. It does nothing when the work is complete or expects
// nothing.
func (h *Helper) settleWork(ctx context.Context, req *Request, log *slog.Logger) error {
	if req.WorkID == "" || !req.Redelivered || req.Playbook != nil || !h.cfg.Connector.SendToQueue {
		return nil
	}
	w, err := h.api.Work(ctx, req.WorkID)
	if err != nil {
		return fmt.Errorf("read work %s to settle it: %w", req.WorkID, err)
	}
	if w.Status == api.WorkStatusComplete || w.Tracking.ImportExpectedNumber == 0 {
		return nil
	}
	if req.Entity == nil || len(req.StixObjects) == 0 {
		// Without the entity (it could not be read: it may be deleted)
		// there is nothing safe to re-send.
		// Retrying would fail the same way: this is reported, not retried.
		log.Warn("An earlier attempt left expectations on the work and the entity cannot be re-sent: the work stays in progress",
			"expected", w.Tracking.ImportExpectedNumber, "processed", w.Tracking.ImportProcessedNumber)
		return fmt.Errorf("settle work %s: entity unavailable, the work stays in progress", req.WorkID)
	}
	objects := make([]any, len(req.StixObjects))
	for i, o := range req.StixObjects {
		objects[i] = o
	}
	bundle, err := MarshalBundle(objects)
	if err != nil {
		return err
	}
	n, err := h.SendBundle(ctx, bundle, SendOptions{WorkID: req.WorkID, ApplicantID: req.ApplicantID, DraftID: req.DraftID, Cleanup: true, Retry: true})
	if err != nil {
		// A publishing failure wraps ErrWorkUnsettled: the request is then
		// attempted again.
		return fmt.Errorf("settle work %s: %w", req.WorkID, err)
	}
	log.Info("Work settled: the request's own objects sent again for an earlier attempt's expectations",
		"messages", n, "expected_before", w.Tracking.ImportExpectedNumber)
	return nil
}

// failed returns the error of a request that ends without its bundle sent,
// after settling its work when it was redelivered (see settleWork). An error
// that already wraps ErrWorkUnsettled is returned as is: the request will be
// attempted again.
func (h *Helper) failed(ctx context.Context, req *Request, err error, log *slog.Logger) error {
	if errors.Is(err, ErrWorkUnsettled) {
		return err
	}
	if serr := h.settleWork(ctx, req, log); serr != nil {
		return errors.Join(err, serr)
	}
	return err
}
