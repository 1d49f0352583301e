package passivetotal_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/riskiq-opencti/connectors/internal/passivetotal"
	"github.com/riskiq-opencti/connectors/internal/passivetotal/passivetotaltest"
)

func TestCheckQuotaCachesWithinTTL(t *testing.T) {
	e := setup(t, nil, passivetotal.WithQuotaCacheTTL(time.Minute))
	for i := range 10 {
		if err := e.client.CheckQuota(t.Context()); err != nil {
			t.Fatalf("CheckQuota #%d: %v", i, err)
		}
		if _, err := e.client.PassiveDNS(t.Context(), "passivetotal.org", time.Time{}); err != nil {
			t.Fatalf("PassiveDNS #%d: %v", i, err)
		}
		e.clock.Advance(5 * time.Second)
	}
	if n := e.srv.Calls(passivetotaltest.EndpointQuota); n != 1 {
		t.Errorf("10 checks within 50 s made %d quota calls, want 1", n)
	}
	e.clock.Advance(11 * time.Second) // 61 s after the reading
	if err := e.client.CheckQuota(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := e.srv.Calls(passivetotaltest.EndpointQuota); n != 2 {
		t.Errorf("check after the TTL made %d quota calls in all, want 2", n)
	}
}

func TestCheckQuotaZeroTTLReadsEveryTime(t *testing.T) {
	e := setup(t, nil, passivetotal.WithQuotaCacheTTL(0))
	for range 3 {
		if err := e.client.CheckQuota(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.srv.Calls(passivetotaltest.EndpointQuota); n != 3 {
		t.Errorf("%d quota calls, want 3", n)
	}
}

// TestCheckQuotaExhaustion counts the searches made since the reading: the
// check that would exceed the limit fails without calling, and so does every
// search until the reset, after which a new reading is taken.
func TestCheckQuotaExhaustion(t *testing.T) {
	e := setup(t, nil, passivetotal.WithQuotaCacheTTL(time.Hour))
	e.srv.SetQuota(497, 500)
	for i := range 3 {
		if err := e.client.CheckQuota(t.Context()); err != nil {
			t.Fatalf("CheckQuota #%d: %v", i, err)
		}
		if _, err := e.client.PassiveDNS(t.Context(), "54.153.123.93", time.Time{}); err != nil {
			t.Fatalf("PassiveDNS #%d: %v", i, err)
		}
	}
	err := e.client.CheckQuota(t.Context())
	var qe *passivetotal.QuotaError
	if !errors.Is(err, passivetotal.ErrQuotaExceeded) || !errors.As(err, &qe) {
		t.Fatalf("CheckQuota after 3 searches = %v, want a QuotaError", err)
	}
	wantReset := time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)
	if qe.Used != 500 || qe.Limit != 500 || !qe.NextReset.Equal(wantReset) {
		t.Errorf("QuotaError = %+v, want 500 of 500, reset %v", qe, wantReset)
	}
	if want := "search quota exceeded (500 of 500 searches used), next reset 2025-07-01T00:00:00Z"; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}

	// Fail fast: no call while exhausted, even long after the TTL.
	e.clock.Advance(2 * time.Hour)
	if err := e.client.CheckQuota(t.Context()); !errors.Is(err, passivetotal.ErrQuotaExceeded) {
		t.Errorf("CheckQuota while exhausted = %v", err)
	}
	if _, err := e.client.PassiveDNS(t.Context(), "54.153.123.93", time.Time{}); !errors.Is(err, passivetotal.ErrQuotaExceeded) {
		t.Errorf("PassiveDNS while exhausted = %v", err)
	}
	if q, d := e.srv.Calls(passivetotaltest.EndpointQuota), e.srv.Calls(passivetotaltest.EndpointPassiveDNS); q != 1 || d != 3 {
		t.Errorf("fake got %d quota and %d dns calls, want 1 and 3", q, d)
	}

	// After the reset (the fake rolls its meter over too) searching resumes.
	e.clock.Advance(wantReset.Sub(e.clock.Now()) + time.Second)
	if err := e.client.CheckQuota(t.Context()); err != nil {
		t.Fatalf("CheckQuota after the reset: %v", err)
	}
	if n := e.srv.Calls(passivetotaltest.EndpointQuota); n != 2 {
		t.Errorf("%d quota calls after the reset, want 2", n)
	}
	if _, err := e.client.PassiveDNS(t.Context(), "54.153.123.93", time.Time{}); err != nil {
		t.Errorf("PassiveDNS after the reset: %v", err)
	}
}

func TestCheckQuotaOverLimit(t *testing.T) {
	e := setup(t, nil)
	e.srv.SetQuota(612, 500) // counts above the limit: the original == test missed this
	if err := e.client.CheckQuota(t.Context()); !errors.Is(err, passivetotal.ErrQuotaExceeded) {
		t.Errorf("CheckQuota over the limit = %v, want ErrQuotaExceeded", err)
	}
}

func TestCheckQuotaMissingMeters(t *testing.T) {
	data, err := passivetotaltest.LoadData(fstest.MapFS{
		"quota.json": {Data: []byte(`{"user":{"owner":"a@example.com","next_reset":"2025-07-01 00:00:00","last_reset":"2025-06-01 00:00:00"}}`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	e := setup(t, []passivetotaltest.Option{passivetotaltest.WithData(data)})
	err = e.client.CheckQuota(t.Context())
	var qe *passivetotal.QuotaError
	if !errors.As(err, &qe) || qe.Reason == "" || !qe.NextReset.Equal(time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("CheckQuota without licence meters = %v, want a QuotaError with a reason and the reset", err)
	}
}

// TestQuotaExhaustedByAPI: a search refused by the API for quota is not
// retried and makes later searches fail fast.
func TestQuotaExhaustedByAPI(t *testing.T) {
	tests := []struct {
		name   string
		inject func(*passivetotaltest.Server)
	}{
		{"429 with quota message", func(s *passivetotaltest.Server) { s.SetQuota(500, 500) }},
		{"402", func(s *passivetotaltest.Server) { s.Fail(passivetotaltest.EndpointPassiveDNS, 402, 1, "") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, nil)
			tt.inject(e.srv)
			_, err := e.client.PassiveDNS(t.Context(), "passivetotal.org", time.Time{})
			var qe *passivetotal.QuotaError
			if !errors.As(err, &qe) || qe.Reason == "" {
				t.Fatalf("PassiveDNS = %v, want a QuotaError with the API's reason", err)
			}
			_, err = e.client.PassiveDNS(t.Context(), "passivetotal.org", time.Time{})
			if !errors.Is(err, passivetotal.ErrQuotaExceeded) {
				t.Errorf("second PassiveDNS = %v, want ErrQuotaExceeded", err)
			}
			if n := e.srv.Calls(passivetotaltest.EndpointPassiveDNS); n != 1 {
				t.Errorf("fake got %d dns calls, want 1 (no retry, then fail fast)", n)
			}
			if len(e.sleep.Slept()) != 0 {
				t.Errorf("slept %v, want no retry", e.sleep.Slept())
			}
		})
	}
}

func TestCheckQuotaConcurrent(t *testing.T) {
	e := setup(t, nil, passivetotal.WithQuotaCacheTTL(time.Hour))
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 8 {
		wg.Go(func() {
			for range 2 {
				if err := e.client.CheckQuota(t.Context()); err != nil {
					errs <- err
					return
				}
				if _, err := e.client.PassiveDNS(t.Context(), "www.riskiq.com", time.Time{}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := e.srv.Calls(passivetotaltest.EndpointQuota); n != 1 {
		t.Errorf("16 concurrent checks made %d quota calls, want 1", n)
	}
	if used, _ := e.srv.QuotaUsage(); used != 37+16 {
		t.Errorf("fake counted %d searches, want %d", used, 37+16)
	}
}

// waitFor polls cond for up to 10 s; it never asserts a duration.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestCheckQuotaSharesOneRead holds the quota answer while 8 checks (the
// connector's default concurrency) wait: exactly one request reaches the
// endpoint and every check gets its outcome. Before, checks were serialised
// and each one whose predecessor failed, or gave up, read again.
func TestCheckQuotaSharesOneRead(t *testing.T) {
	tests := []struct {
		name        string
		ttl         time.Duration
		fail        bool // the held answer is a 500
		cancelFirst bool // the check that started the read gives up
	}{
		{name: "answer shared", ttl: time.Hour},
		{name: "answer shared without cache", ttl: 0},
		{name: "failure shared", ttl: time.Hour, fail: true},
		{name: "first caller gives up", ttl: time.Hour, cancelFirst: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, nil, passivetotal.WithQuotaCacheTTL(tt.ttl), passivetotal.WithRetry(1, time.Minute))
			if tt.fail {
				e.srv.Fail(passivetotaltest.EndpointQuota, 500, 0, "")
			}
			release := e.srv.Hold(passivetotaltest.EndpointQuota)
			defer release()

			const n = 8
			results := make([]chan error, n)
			firstCtx, cancelFirst := context.WithCancel(t.Context())
			defer cancelFirst()
			for i := range n {
				results[i] = make(chan error, 1)
				ctx := t.Context()
				if i == 0 {
					ctx = firstCtx
				}
				go func() { results[i] <- e.client.CheckQuota(ctx) }()
				if i == 0 { // the first check starts the read
					waitFor(t, "the read reaches the endpoint", func() bool { return e.srv.Calls(passivetotaltest.EndpointQuota) == 1 })
				}
			}
			waitFor(t, "8 checks wait for the read", func() bool { return passivetotal.QuotaWaiters(e.client) == n })

			first := 0
			if tt.cancelFirst {
				cancelFirst()
				if err := <-results[0]; !errors.Is(err, context.Canceled) {
					t.Errorf("first check after its cancellation = %v, want context.Canceled", err)
				}
				if w := passivetotal.QuotaWaiters(e.client); w != n-1 {
					t.Errorf("%d checks still wait, want %d: the read must go on for them", w, n-1)
				}
				first = 1
			}
			release()
			for i := first; i < n; i++ {
				err := <-results[i]
				var ae *passivetotal.APIError
				switch {
				case tt.fail && (!errors.As(err, &ae) || ae.Status != 500):
					t.Errorf("check %d = %v, want the read's HTTP 500", i, err)
				case !tt.fail && err != nil:
					t.Errorf("check %d = %v, want nil", i, err)
				}
			}
			if calls := e.srv.Calls(passivetotaltest.EndpointQuota); calls != 1 {
				t.Errorf("%d concurrent checks made %d quota calls, want 1", n, calls)
			}
		})
	}
}

// TestCheckQuotaRemembersFailedRead: while the quota endpoint fails, one
// request per error TTL reaches it, whatever the number of checks; the
// others fail at once with the remembered error.
func TestCheckQuotaRemembersFailedRead(t *testing.T) {
	e := setup(t, nil, passivetotal.WithQuotaErrorTTL(5*time.Second), passivetotal.WithRetry(1, time.Minute))
	e.srv.Fail(passivetotaltest.EndpointQuota, 500, 0, "")
	check := func(period int) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Go(func() { errs <- e.client.CheckQuota(t.Context()) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			var ae *passivetotal.APIError
			if !errors.As(err, &ae) || ae.Status != 500 || !strings.HasPrefix(err.Error(), "passivetotal: check quota: ") {
				t.Errorf("period %d: check = %v, want the read's HTTP 500", period, err)
			}
		}
		if n := e.srv.Calls(passivetotaltest.EndpointQuota); n != period {
			t.Errorf("period %d: %d quota calls in all, want %d (one per period)", period, n, period)
		}
	}
	check(1)
	e.clock.Advance(4 * time.Second)
	check(1)
	err := e.client.CheckQuota(t.Context())
	if want := "passivetotal: check quota: not read again for 1s after a failed read: giving up after 1 attempts: GET /account/quota: HTTP 500"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("remembered failure = %v, want it to start with %q", err, want)
	}
	e.clock.Advance(time.Second) // the error TTL has passed
	check(2)
	e.clock.Advance(5 * time.Second)
	e.srv.ClearFaults()
	if err := e.client.CheckQuota(t.Context()); err != nil {
		t.Fatalf("check once the endpoint recovered: %v", err)
	}
	if err := e.client.CheckQuota(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := e.srv.Calls(passivetotaltest.EndpointQuota); n != 3 {
		t.Errorf("%d quota calls in all, want 3 (the recovered reading is cached)", n)
	}
	if !strings.Contains(e.logs.String(), `"msg":"passivetotal quota read failed"`) {
		t.Errorf("failed read not logged:\n%s", e.logs)
	}
}

// TestCheckQuotaAbandonedRead: when every waiting check gives up, the read
// is cancelled, its failure is not remembered and the next check reads again.
func TestCheckQuotaAbandonedRead(t *testing.T) {
	e := setup(t, nil)
	release := e.srv.Hold(passivetotaltest.EndpointQuota)
	defer release()
	ctx, cancel := context.WithCancel(t.Context())
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- e.client.CheckQuota(ctx) }()
	}
	waitFor(t, "2 checks wait for the read", func() bool { return passivetotal.QuotaWaiters(e.client) == 2 })
	// The read must have reached the API before it is abandoned, else it
	// could be cancelled before sending and the call count would not tell.
	waitFor(t, "the read reaches the API", func() bool { return e.srv.Calls(passivetotaltest.EndpointQuota) == 1 })
	cancel()
	for range 2 {
		if err := <-errs; !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled check = %v, want context.Canceled", err)
		}
	}
	release()
	if err := e.client.CheckQuota(t.Context()); err != nil {
		t.Errorf("check after an abandoned read = %v, want a fresh read", err)
	}
	if n := e.srv.Calls(passivetotaltest.EndpointQuota); n != 2 {
		t.Errorf("%d quota calls, want 2", n)
	}
}
