package opencti

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// RunFunc is one run of an external-import connector.
type RunFunc func(ctx context.Context) error

// Schedule runs an external-import connector the way pycti's schedule_process
// does (§9.3). In run-once mode (CONNECTOR_RUN_AND_TERMINATE, or a zero
// period) it checks the queue, runs once unless the push queue is above
// CONNECTOR_QUEUE_THRESHOLD, sends a final ping carrying the state and
// returns. Otherwise it runs at once, then again `period` after the end of
// each run (fixed delay), skipping runs while the queue is above the
// threshold, until ctx is done. A failed run is logged and counted; it never
// stops the schedule.
func (h *Helper) Schedule(ctx context.Context, period time.Duration, run RunFunc) error {
	if h.reg == nil {
		return errors.New("schedule: the connector is not started")
	}
	if h.cfg.Connector.RunAndTerminate || period <= 0 {
		h.mu.Lock()
		h.info.RunAndTerminate = true
		h.mu.Unlock()
		if !h.buffering(ctx) {
			h.runOnce(ctx, run)
		}
		return h.finalPing(ctx)
	}
	first := true
	for {
		if first || !h.buffering(ctx) {
			h.runOnce(ctx, run)
		}
		if first {
			h.buffering(ctx) // fills connector_info after the first run, like pycti
			first = false
		}
		next := h.now().UTC().Add(period)
		h.mu.Lock()
		h.info.NextRunDatetime = &next
		h.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(period):
		}
	}
}

func (h *Helper) runOnce(ctx context.Context, run RunFunc) {
	if err := run(ctx); err != nil && ctx.Err() == nil {
		h.metrics.Error()
		h.log.Error("Connector run failed", "error", err)
	}
	last := h.now().UTC()
	h.mu.Lock()
	h.info.LastRunDatetime = &last
	h.mu.Unlock()
}

// FinalPingTimeout bounds the final ping of a run-once connector. The ping
// runs on a context of its own: after SIGTERM the connector's context is
// done, and the state must still reach the platform.
const FinalPingTimeout = 10 * time.Second

// finalPing is pycti's force_ping: one ping carrying the state. It uses a
// fresh context bounded by FinalPingTimeout, not ctx, which is done when
// the connector is stopping.
func (h *Helper) finalPing(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), FinalPingTimeout)
	defer cancel()
	if err := h.ping(ctx); err != nil {
		return fmt.Errorf("final ping: %w", err)
	}
	return nil
}

// buffering reads the push queue size and reports whether it is at or above
// the threshold; it records both in connector_info. A failed read is logged
// and treated as "not buffering".
func (h *Helper) buffering(ctx context.Context) bool {
	st, err := h.api.Connector(ctx, h.cfg.Connector.ID)
	if err != nil {
		h.log.Warn("Reading the push queue size failed", "error", err)
		return false
	}
	sizeMB := st.QueueDetails.MessagesSize / 1e6
	over := h.cfg.Connector.QueueThreshold > 0 && sizeMB >= h.cfg.Connector.QueueThreshold
	h.mu.Lock()
	h.info.QueueMessagesSize = sizeMB
	h.info.QueueThreshold = h.cfg.Connector.QueueThreshold
	h.info.Buffering = over
	h.mu.Unlock()
	if over {
		h.log.Info("Connector will not run until the queue messages size is reduced under queue threshold",
			"queue_messages_size_mb", sizeMB, "queue_threshold_mb", h.cfg.Connector.QueueThreshold)
	}
	return over
}

// InitiateWork creates a work for an import run (pycti's initiate_work). It
// returns "" without calling the API when CONNECTOR_SEND_TO_QUEUE is false.
func (h *Helper) InitiateWork(ctx context.Context, friendlyName string) (string, error) {
	if !h.cfg.Connector.SendToQueue {
		return "", nil
	}
	id, err := h.api.WorkAdd(ctx, h.cfg.Connector.ID, friendlyName)
	if err != nil {
		return "", fmt.Errorf("initiate work %q: %w", friendlyName, err)
	}
	return id, nil
}

// WorkToProcessed closes a work with a message, in error or not. It does
// nothing for an empty work id.
func (h *Helper) WorkToProcessed(ctx context.Context, workID, message string, inError bool) error {
	if workID == "" {
		return nil
	}
	if err := h.api.WorkToProcessed(ctx, workID, message, inError); err != nil {
		return fmt.Errorf("close work %s: %w", workID, err)
	}
	return nil
}
