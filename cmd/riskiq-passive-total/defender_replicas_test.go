package main

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/riskiq-opencti/connectors/internal/defenderti/defendertitest"
	"github.com/riskiq-opencti/connectors/opencti/openctitest"
	"github.com/riskiq-opencti/connectors/opencti/redisstate/redisstatetest"
)

// TestIntegrationReplicasDefenderShareTheCache: 3 replicas with
// RISKIQ_SOURCE=defender and one Redis answer 30 requests for 3 values
// (forward for the domain, reverse for the addresses): Graph is asked once
// per value and direction, every request is answered.
func TestIntegrationReplicasDefenderShareTheCache(t *testing.T) {
	t.Parallel()
	octi := openctitest.NewServer(t)
	graph := defendertitest.NewServer(t)
	env := map[string]string{
		"OPENCTI_URL": octi.URL, "OPENCTI_TOKEN": octi.Token(), "CONNECTOR_ID": uuid.NewString(),
		"CONNECTOR_LOG_LEVEL": "info", "CONNECTOR_REDIS_URL": redisstatetest.URL(t),
		"RISKIQ_SOURCE": "defender", "RISKIQ_IMPORT_LAST_SEEN_TIME_WINDOW": "P5000D",
		"DEFENDER_TI_TENANT_ID": graph.TenantID(), "DEFENDER_TI_CLIENT_ID": graph.ClientID(),
		"DEFENDER_TI_CLIENT_SECRET": graph.ClientSecret(), "DEFENDER_TI_BASE_URL": graph.URL(),
		"DEFENDER_TI_AUTHORITY_URL": graph.AuthorityURL(),
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	var logs syncBuffer
	const replicas = 3
	done := make(chan int, replicas)
	for range replicas {
		go func() { done <- runWith(runCtx, nil, envOf(env), &logs, &logs, deps{graphHTTP: graph.Client()}) }()
	}
	defer func() {
		stop()
		for range replicas {
			if code := <-done; code != 0 {
				t.Errorf("replica exit code = %d", code)
			}
		}
	}()
	wait := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			select {
			case code := <-done:
				t.Fatalf("a replica exited with %d before %s:\n%s", code, what, tail(logs.String()))
			case <-ctx.Done():
				t.Fatalf("timed out waiting for %s:\n%s", what, tail(logs.String()))
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	wait("every replica registered", func() bool {
		st, ok := octi.Connector(env["CONNECTOR_ID"])
		return ok && st.Registrations >= replicas && st.Pings >= replicas
	})
	var ids []string
	for _, e := range []openctitest.Entity{
		{EntityType: "Domain-Name", Value: "malicious.example"},
		{EntityType: "IPv4-Addr", Value: "192.0.2.10"},
		{EntityType: "IPv6-Addr", Value: "2001:db8::10"},
	} {
		e.Markings = []openctitest.Marking{openctitest.MustTLP("TLP:GREEN")}
		added, err := octi.AddEntity(e)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, added.StandardID)
	}
	var works []string
	for i := range 30 {
		w, err := octi.Enrich(ctx, env["CONNECTOR_ID"], openctitest.EnrichmentRequest{EntityID: ids[i%len(ids)], Mode: openctitest.ModeManual})
		if err != nil {
			t.Fatal(err)
		}
		works = append(works, w)
	}
	for _, id := range works {
		w, err := octi.WaitWork(ctx, id, openctitest.StatusComplete)
		if err != nil {
			t.Fatalf("work %s: %v\n%s", id, err, tail(logs.String()))
		}
		if len(w.Errors) != 0 {
			t.Errorf("work %s errors = %v", id, w.Errors)
		}
	}
	fwd, rev := graph.Calls(defendertitest.EndpointPassiveDNS), graph.Calls(defendertitest.EndpointPassiveDNSReverse)
	t.Logf("30 requests for 3 values over %d replicas: %d forward and %d reverse Graph calls", replicas, fwd, rev)
	if fwd != 1 || rev != 2 {
		t.Errorf("Graph calls: forward %d, reverse %d; want 1 and 2 (one per value, the cache serves the rest)", fwd, rev)
	}
}
