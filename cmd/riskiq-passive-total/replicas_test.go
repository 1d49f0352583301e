package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/riskiq-opencti/connectors/internal/passivetotal/passivetotaltest"
	"github.com/riskiq-opencti/connectors/opencti/config"
	"github.com/riskiq-opencti/connectors/opencti/openctitest"
	"github.com/riskiq-opencti/connectors/opencti/redisstate"
	"github.com/riskiq-opencti/connectors/opencti/redisstate/redisstatetest"
)

// cluster is n replicas of the connector (run() each, the same CONNECTOR_ID
// and Redis) on one fake OpenCTI (real RabbitMQ) and one fake PassiveTotal.
type cluster struct {
	t        testing.TB
	octi     *openctitest.Server
	pt       *passivetotaltest.Server
	env      map[string]string
	logs     *syncBuffer
	ctx      context.Context
	stop     context.CancelFunc
	done     chan int
	n        int
	entities map[string]string // value → standard id
}

func startCluster(t testing.TB, n int, redisURL string, extra map[string]string) *cluster {
	t.Helper()
	c := &cluster{t: t, octi: openctitest.NewServer(t), pt: passivetotaltest.NewServer(t), logs: &syncBuffer{},
		done: make(chan int, n), n: n, entities: map[string]string{}}
	c.env = map[string]string{
		"OPENCTI_URL": c.octi.URL, "OPENCTI_TOKEN": c.octi.Token(), "CONNECTOR_ID": uuid.NewString(),
		"CONNECTOR_LOG_LEVEL": "info", "CONNECTOR_CONCURRENCY": "8",
		// An account of the test's own: budget and pause keys are per account.
		"RISKIQ_USERNAME": uuid.NewString() + "@example.com", "RISKIQ_API_KEY": "pt-key", "RISKIQ_MAX_TLP": "TLP:AMBER",
		"RISKIQ_IMPORT_LAST_SEEN_TIME_WINDOW": "P5000D", "RISKIQ_BASE_URL": c.pt.RootURL(),
	}
	if redisURL != "" {
		c.env["CONNECTOR_REDIS_URL"] = redisURL
	}
	for k, v := range extra {
		c.env[k] = v
	}
	c.pt.SetQuota(0, 1_000_000) // the recorded account has 500 searches: more than enough
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	c.ctx = ctx
	runCtx, stop := context.WithCancel(ctx)
	c.stop = stop
	for range n {
		go func() { c.done <- run(runCtx, nil, envOf(c.env), c.logs, c.logs) }()
	}
	t.Cleanup(c.shutdown)
	c.wait("every replica registered", func() bool {
		st, ok := c.octi.Connector(c.env["CONNECTOR_ID"])
		return ok && st.Registrations >= n && st.Pings >= n
	})
	return c
}

// shutdown stops the replicas (SIGTERM) and checks each exits 0.
func (c *cluster) shutdown() {
	if c.stop == nil {
		return
	}
	c.stop()
	c.stop = nil
	for range c.n {
		if code := <-c.done; code != 0 {
			c.t.Errorf("replica exit code = %d", code)
		}
	}
}

// wait polls cond, failing when a replica exits or after the bound.
func (c *cluster) wait(what string, cond func() bool) {
	c.t.Helper()
	for !cond() {
		select {
		case code := <-c.done:
			c.t.Fatalf("a replica exited with %d before %s:\n%s", code, what, tail(c.logs.String()))
		case <-c.ctx.Done():
			c.t.Fatalf("timed out waiting for %s:\n%s", what, tail(c.logs.String()))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func tail(s string) string {
	if len(s) > 8000 {
		return "…" + s[len(s)-8000:]
	}
	return s
}

// entity returns the standard id of the observable with value, adding it.
func (c *cluster) entity(value string) string {
	if id, ok := c.entities[value]; ok {
		return id
	}
	typ := "Domain-Name"
	if net.ParseIP(value) != nil {
		typ = "IPv4-Addr"
	}
	e, err := c.octi.AddEntity(openctitest.Entity{EntityType: typ, Value: value, Markings: []openctitest.Marking{openctitest.MustTLP("TLP:GREEN")}})
	if err != nil {
		c.t.Fatal(err)
	}
	c.entities[value] = e.StandardID
	return e.StandardID
}

// enrich publishes one request per value, in order, and returns the works.
func (c *cluster) enrich(values []string) []string {
	c.t.Helper()
	works := make([]string, 0, len(values))
	for _, v := range values {
		w, err := c.octi.Enrich(c.ctx, c.env["CONNECTOR_ID"], openctitest.EnrichmentRequest{EntityID: c.entity(v), Mode: openctitest.ModeManual})
		if err != nil {
			c.t.Fatal(err)
		}
		works = append(works, w)
	}
	return works
}

// settle waits until every work is complete and returns them.
func (c *cluster) settle(ids []string) []openctitest.Work {
	c.t.Helper()
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	var out []openctitest.Work
	c.wait(fmt.Sprintf("%d works complete", len(ids)), func() bool {
		out = out[:0]
		for _, w := range c.octi.Works() {
			if want[w.ID] {
				if w.Status != openctitest.StatusComplete {
					return false
				}
				out = append(out, w)
			}
		}
		return len(out) == len(ids)
	})
	return out
}

// calls is the number of passive DNS calls PassiveTotal received.
func (c *cluster) calls() int { return c.pt.Calls(passivetotaltest.EndpointPassiveDNS) }

// workload returns n lookups of which 30 % are new values and 70 % repeat
// an earlier one (deterministic), and the number of distinct values. The
// first values are those the fake knows (with records), the others have
// none.
func workload(n int) (values []string, distinct int) {
	known := passivetotaltest.DefaultData().Queries()
	var seen []string
	for i := range n {
		if i%10 < 3 || len(seen) == 0 {
			v := fmt.Sprintf("host-%d.replicas.example", len(seen))
			if len(seen) < len(known) {
				v = known[len(seen)]
			}
			seen = append(seen, v)
			values = append(values, v)
			continue
		}
		values = append(values, seen[(i*7919)%len(seen)])
	}
	return values, len(seen)
}

// TestIntegrationReplicasShareTheCache: 3 replicas answer 3,000 requests
// (300 with -short) of which 70 % repeat earlier values: PassiveTotal is
// called once per distinct value, and every request is answered.
func TestIntegrationReplicasShareTheCache(t *testing.T) {
	t.Parallel()
	n := 3000
	if testing.Short() {
		n = 300
	}
	c := startCluster(t, 3, redisstatetest.URL(t), nil)
	values, distinct := workload(n)
	works := c.settle(c.enrich(values))
	failed := 0
	for _, w := range works {
		if len(w.Errors) != 0 {
			failed++
		}
	}
	t.Logf("%d requests, %d distinct values: %d PassiveTotal calls, %d saved by the cache, %d failed",
		n, distinct, c.calls(), n-c.calls(), failed)
	if failed != 0 {
		t.Errorf("%d requests failed", failed)
	}
	if got := c.calls(); got != distinct {
		t.Errorf("PassiveTotal calls = %d, want one per distinct value (%d)", got, distinct)
	}
}

// TestIntegrationReplicasShareTheBudget: the account has 50 searches left;
// 3 replicas get 200 requests for distinct values. At most 50 calls are made
// across the replicas, the other requests fail with the reset time.
func TestIntegrationReplicasShareTheBudget(t *testing.T) {
	t.Parallel()
	const budget, n = 50, 200
	c := startCluster(t, 3, redisstatetest.URL(t), map[string]string{"CONNECTOR_CACHE_TTL": "PT0S"})
	// Set before any lookup: each replica reads the quota at its first one.
	c.pt.SetQuota(1000-budget, 1000)
	values := make([]string, n)
	for i := range values {
		values[i] = fmt.Sprintf("budget-%d.example", i)
	}
	works := c.settle(c.enrich(values))
	var failed int
	for _, w := range works {
		if len(w.Errors) == 0 {
			continue
		}
		failed++
		if !strings.Contains(w.Errors[0], "passivetotal quota reached, next reset at ") {
			t.Errorf("error = %q, want the quota message with the reset time", w.Errors[0])
			break
		}
	}
	t.Logf("budget %d: %d calls, %d requests in error", budget, c.calls(), failed)
	if got := c.calls(); got > budget {
		t.Errorf("PassiveTotal calls = %d, want at most the budget %d", got, budget)
	}
	if failed != n-c.calls() {
		t.Errorf("%d requests in error, want %d", failed, n-c.calls())
	}
}

// TestIntegrationReplicasShareThePause: one request gets a 429 with
// Retry-After 3 s; while its replica pauses, 30 more requests spread over
// the 3 replicas. PassiveTotal keeps refusing (and extends its limit) any
// request arriving during the pause: it refuses none but the first, so no
// replica called during the pause; all requests are answered.
func TestIntegrationReplicasShareThePause(t *testing.T) {
	t.Parallel()
	redisURL := redisstatetest.URL(t)
	c := startCluster(t, 3, redisURL, map[string]string{"CONNECTOR_CACHE_TTL": "PT0S"})
	store, err := redisstate.Open(redisstate.Settings{URL: config.Secret(redisURL), ConnectorID: c.env["CONNECTOR_ID"]})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = store.Close() }()
	account := store.Account("passivetotal", c.env["RISKIQ_USERNAME"])
	c.pt.Throttle(passivetotaltest.EndpointPassiveDNS, 3*time.Second, 0)
	first := c.enrich([]string{"pause-0.example"})
	c.wait("the 429 and the shared pause", func() bool {
		until, err := account.PausedUntil(c.ctx)
		return err == nil && !until.IsZero() && c.pt.Throttled(passivetotaltest.EndpointPassiveDNS) == 1
	})
	values := make([]string, 30)
	for i := range values {
		values[i] = fmt.Sprintf("pause-%d.example", i+1)
	}
	works := c.settle(append(first, c.enrich(values)...))
	for _, w := range works {
		if len(w.Errors) != 0 {
			t.Errorf("work in error: %v", w.Errors)
		}
	}
	if n := c.pt.Throttled(passivetotaltest.EndpointPassiveDNS); n != 1 {
		t.Errorf("429 answers = %d, want 1: a replica called during the pause", n)
	}
	if got := c.calls(); got != 32 {
		t.Errorf("PassiveTotal calls = %d, want 32 (31 lookups and the refused one)", got)
	}
}

// TestIntegrationReplicasSurviveRedisStopping: 3 replicas on a Redis of the
// test's own, stopped (killed) after a third of 600 requests (150 with
// -short) were answered: every request is still answered, none in error,
// and the replicas say Redis is gone.
func TestIntegrationReplicasSurviveRedisStopping(t *testing.T) {
	t.Parallel()
	n := 600
	if testing.Short() {
		n = 150
	}
	priv := redisstatetest.Start(t)
	c := startCluster(t, 3, priv.URL, nil)
	values, distinct := workload(n)
	ids := c.enrich(values[:n/3])
	c.settle(ids)
	priv.Stop()
	ids = append(ids, c.enrich(values[n/3:])...)
	works := c.settle(ids)
	for _, w := range works {
		if len(w.Errors) != 0 {
			t.Errorf("work in error: %v", w.Errors)
		}
	}
	if len(works) != n {
		t.Errorf("%d requests answered, want %d", len(works), n)
	}
	if !strings.Contains(c.logs.String(), "Redis unavailable, replicas fall back to local state") {
		t.Error("the loss of Redis was not logged")
	}
	t.Logf("%d requests, %d distinct values, Redis stopped after %d: %d calls", n, distinct, n/3, c.calls())
}

// BenchmarkIntegrationReplicas answers b.N requests (70 % repeats) with 1
// replica without Redis, 1 replica with Redis and 3 replicas with Redis, all
// in this process with the fakes, PassiveTotal answering at once or after
// 50 ms (a remote API), and reports requests per second, CPU
// (user+system, fakes included) per request and PassiveTotal calls per
// request. Run it with a fixed count, e.g.
//
//	go test -run '^$' -bench Replicas -benchtime 1500x ./cmd/riskiq-passive-total/
func BenchmarkIntegrationReplicas(b *testing.B) {
	redisURL := redisstatetest.URL(b)
	for _, bc := range []struct {
		name     string
		replicas int
		redis    string
		latency  time.Duration
	}{
		{"pt=0ms/replicas=1/redis=off", 1, "", 0}, {"pt=0ms/replicas=1", 1, redisURL, 0}, {"pt=0ms/replicas=3", 3, redisURL, 0},
		{"pt=50ms/replicas=1/redis=off", 1, "", 50 * time.Millisecond}, {"pt=50ms/replicas=1", 1, redisURL, 50 * time.Millisecond},
		{"pt=50ms/replicas=3", 3, redisURL, 50 * time.Millisecond},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := startCluster(b, bc.replicas, bc.redis, nil)
			c.pt.SetLatency(bc.latency)
			values, _ := workload(b.N)
			ids := make([]string, len(values))
			for i, v := range values {
				ids[i] = c.entity(v)
			}
			cpu0 := cpuTime()
			b.ResetTimer()
			start := time.Now()
			works := make([]string, len(ids))
			var wg sync.WaitGroup
			const publishers = 4
			for p := range publishers {
				wg.Go(func() {
					for i := p; i < len(ids); i += publishers {
						w, err := c.octi.Enrich(c.ctx, c.env["CONNECTOR_ID"], openctitest.EnrichmentRequest{EntityID: ids[i], Mode: openctitest.ModeManual})
						if err != nil {
							b.Error(err)
							return
						}
						works[i] = w
					}
				})
			}
			wg.Wait()
			c.settle(works)
			elapsed := time.Since(start)
			b.StopTimer()
			cpu := cpuTime() - cpu0
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/req")
			b.ReportMetric(float64(c.calls())/float64(b.N), "calls/req")
		})
	}
}

// cpuTime is the CPU time (user and system) the process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
