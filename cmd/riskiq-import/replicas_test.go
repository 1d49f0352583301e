package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/riskiq-opencti/connectors/opencti/config"
	"github.com/riskiq-opencti/connectors/opencti/openctitest"
	"github.com/riskiq-opencti/connectors/opencti/redisstate"
	"github.com/riskiq-opencti/connectors/opencti/redisstate/redisstatetest"
)

// TestIntegrationImportLockTakeover: a replica holds the import lock (a
// lease renewed by the test) and has saved its state after article
// bb000003. A second replica started with the same CONNECTOR_ID and Redis
// stands by while the lease is renewed. The holder then dies (the test stops
// renewing): once the lease expires the standby takes over and imports from
// the holder's state, so only bb000004 and bb000005 are imported, once each.
func TestIntegrationImportLockTakeover(t *testing.T) {
	t.Parallel()
	redisURL := redisstatetest.URL(t)
	octi := openctitest.NewServer(t)
	pt := fakeRiskIQ(t)
	env := connectorEnv(octi, pt, map[string]string{
		"CONNECTOR_REDIS_URL": redisURL, "RISKIQ_INTERVAL_SEC": "1", "CONNECTOR_LOG_LEVEL": "info",
	})
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()

	// The holder: same connector, its own lease of 2 s.
	store, err := redisstate.Open(redisstate.Settings{URL: config.Secret(redisURL), ConnectorID: env["CONNECTOR_ID"]})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = store.Close() }()
	holder := store.Lease(importLease, 2*time.Second)
	if ok, err := holder.Acquire(ctx); !ok || err != nil {
		t.Fatalf("Acquire = %v, %v", ok, err)
	}
	if err := holder.SaveState(ctx, []byte(`{"latest_article_timestamp": 1723626000, "latest_run_timestamp": 1723626000}`)); err != nil {
		t.Fatal(err)
	}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var logs syncBuffer
	done := make(chan int, 1)
	go func() { done <- runContext(runCtx, nil, envOf(env), &logs, &logs) }()
	wait := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			select {
			case code := <-done:
				t.Fatalf("the connector exited with %d before %s:\n%s", code, what, logs.String())
			case <-ctx.Done():
				t.Fatalf("timed out waiting for %s:\n%s", what, logs.String())
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	// Alive: the holder renews, the replica stands by (twice: two ticks).
	wait("the replica to stand by twice", func() bool {
		if ok, err := holder.Renew(ctx); !ok || err != nil {
			t.Fatalf("Renew = %v, %v", ok, err)
		}
		return strings.Count(logs.String(), "Another replica is importing, standing by") >= 2
	})
	if n := len(connectorWorks(octi, env["CONNECTOR_ID"])); n != 0 {
		t.Fatalf("%d works while another replica holds the lock, want 0", n)
	}
	// Killed: no more renewals. The replica takes over after the lease.
	wait("the takeover import", func() bool { return len(importedReports(octi)) >= 2 })
	waitWorksComplete(t, ctx, octi, env["CONNECTOR_ID"], 2)
	got := importedReports(octi)
	if got["bb000003"] != 0 || got["bb000004"] != 1 || got["bb000005"] != 1 {
		t.Errorf("reports imported = %v, want bb000004 and bb000005 once each (the holder's state)", got)
	}
	stop()
	if code := <-done; code != 0 {
		t.Errorf("exit code = %d\n%s", code, logs.String())
	}
}
