package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"

	"github.com/riskiq-opencti/connectors/opencti"
	"github.com/riskiq-opencti/connectors/opencti/redisstate"
)

// importLease is the name of the import lock of the replicas.
const importLease = "import"

// leasedPlatform is the runtime of an import run under the lease: each
// state push is also saved beside the lease, where the next holder finds it.
type leasedPlatform struct {
	*opencti.Helper
	lease *redisstate.Lease
	log   *slog.Logger
}

// PushState sends the state to the platform and saves it beside the lease.
func (p leasedPlatform) PushState(ctx context.Context) error {
	err := p.Helper.PushState(ctx)
	var raw json.RawMessage
	found, serr := p.State(&raw)
	if serr == nil {
		if !found {
			raw = json.RawMessage("null")
		}
		if serr = p.lease.SaveState(ctx, raw); serr != nil {
			p.log.Debug("Import state not saved in Redis", "error", serr.Error())
		}
	}
	return err
}

// runLeased runs one tick of the schedule when this replica holds the
// import lease (or Redis is down); otherwise it stands by. Either way the
// replica first adopts the state the last holder saved, so that it resumes
// from there and its pings do not send the platform an older state.
func runLeased(ctx context.Context, lease *redisstate.Lease, helper *opencti.Helper, log *slog.Logger, run opencti.RunFunc) error {
	err := lease.Run(ctx, func(ctx context.Context) error {
		adoptState(ctx, lease, helper, log)
		return run(ctx)
	})
	if errors.Is(err, redisstate.ErrStandby) {
		log.Info("Another replica is importing, standing by")
		adoptState(ctx, lease, helper, log)
		return nil
	}
	return err
}

// adoptState replaces the local state with the one saved beside the lease,
// when there is one.
func adoptState(ctx context.Context, lease *redisstate.Lease, helper *opencti.Helper, log *slog.Logger) {
	raw, found, err := lease.LoadState(ctx)
	if err != nil || !found {
		return
	}
	var st map[string]any
	if err := json.Unmarshal(raw, &st); err != nil {
		log.Warn("Import state saved in Redis ignored: not a JSON object", "error", err.Error())
		return
	}
	if len(st) == 0 {
		st = nil
	}
	if err := helper.SetState(st); err != nil {
		log.Warn("Import state saved in Redis ignored", "error", err.Error())
	}
}
