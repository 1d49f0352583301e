package opencti_test

import (
	"context"
	"testing"
	"time"

	"github.com/riskiq-opencti/connectors/opencti/openctitest"
)

// TestIntegrationRunOnceStoppedDuringRun: a run-once connector stopped by a
// signal in the middle of its run (its context done) still sends its final
// ping, with a context of its own, so the state the run saved reaches the
// platform, and Schedule returns nil: a stop is not a failure.
func TestIntegrationRunOnceStoppedDuringRun(t *testing.T) {
	t.Parallel()
	srv := openctitest.NewServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cfg := testConfig(srv, "EXTERNAL_IMPORT")
	cfg.Connector.RunAndTerminate = true
	cfg.Connector.Scope = []string{"riskiq"}
	sctx, stop := context.WithCancel(ctx)
	h := startHelper(t, sctx, cfg)
	err := h.Schedule(sctx, 0, func(ctx context.Context) error {
		if err := h.SetState(map[string]int{"progress": 42}); err != nil {
			return err
		}
		stop() // SIGTERM in the middle of the run
		<-ctx.Done()
		return ctx.Err()
	})
	if err != nil {
		t.Errorf("Schedule() after a stop during the run = %v, want nil", err)
	}
	c, _ := srv.Connector(cfg.Connector.ID)
	if c.State == nil || *c.State != `{"progress":42}` {
		t.Errorf("platform state = %v, want the state the run saved", c.State)
	}
}
