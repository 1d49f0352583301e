package broker

import (
	"errors"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	amqp "github.com/rabbitmq/amqp091-go"
)

// recordingAcker is a hand-written Acknowledger recording its calls.
type recordingAcker struct {
	mu    sync.Mutex
	calls []string
	err   error
}

func (a *recordingAcker) Ack(tag uint64) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, "ack")
	return a.err
}

func (a *recordingAcker) Reject(tag uint64, requeue bool) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if requeue {
		a.calls = append(a.calls, "reject-requeue")
	} else {
		a.calls = append(a.calls, "reject-drop")
	}
	return a.err
}

func TestDeliverySettlesOnce(t *testing.T) {
	tests := []struct {
		name   string
		settle func(d *Delivery) error
		want   []string
	}{
		{name: "ack", settle: (*Delivery).Ack, want: []string{"ack"}},
		{name: "reject requeue", settle: func(d *Delivery) error { return d.Reject(true) }, want: []string{"reject-requeue"}},
		{name: "reject drop", settle: func(d *Delivery) error { return d.Reject(false) }, want: []string{"reject-drop"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &recordingAcker{}
			d := NewDelivery([]byte("x"), 7, false, a)
			if d.Settled() {
				t.Fatal("Settled() = true before settling")
			}
			if err := tt.settle(d); err != nil {
				t.Fatalf("first settle error = %v", err)
			}
			if !d.Settled() {
				t.Error("Settled() = false after settling")
			}
			for _, again := range []func() error{d.Ack, func() error { return d.Reject(true) }} {
				if err := again(); !errors.Is(err, ErrAlreadySettled) {
					t.Errorf("second settle error = %v, want ErrAlreadySettled", err)
				}
			}
			if diff := cmp.Diff(tt.want, a.calls); diff != "" {
				t.Errorf("acker calls mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDeliveryConcurrentSettleCallsAckerOnce(t *testing.T) {
	a := &recordingAcker{}
	d := NewDelivery(nil, 1, false, a)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { _ = d.Ack() })
	}
	wg.Wait()
	if len(a.calls) != 1 {
		t.Errorf("acker called %d times, want 1", len(a.calls))
	}
}

func TestDeliveryWithoutChannel(t *testing.T) {
	d := &Delivery{Body: []byte("x")}
	if err := d.Ack(); !errors.Is(err, ErrChannelClosed) {
		t.Errorf("Ack() of a delivery without channel = %v, want ErrChannelClosed", err)
	}
}

func TestMapClosed(t *testing.T) {
	if err := mapClosed(amqp.ErrClosed); !errors.Is(err, ErrChannelClosed) || !errors.Is(err, amqp.ErrClosed) {
		t.Errorf("mapClosed(amqp.ErrClosed) = %v, want it to wrap ErrChannelClosed and amqp.ErrClosed", err)
	}
	other := errors.New("other")
	if err := mapClosed(other); err != other { //nolint:errorlint // identity: the very same error must come back
		t.Errorf("mapClosed(other) = %v, want other", err)
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		want      error
		permanent bool
	}{
		{name: "not found", err: &amqp.Error{Code: amqp.NotFound, Reason: "NOT_FOUND - no queue 'q'", Server: true}, want: ErrNotFound, permanent: true},
		{name: "access refused", err: &amqp.Error{Code: amqp.AccessRefused, Reason: "ACCESS_REFUSED", Server: true}, want: ErrAccessRefused, permanent: true},
		{name: "resource locked", err: &amqp.Error{Code: amqp.ResourceLocked, Reason: "RESOURCE_LOCKED", Server: true}},
		{name: "connection forced", err: &amqp.Error{Code: amqp.ConnectionForced, Reason: "CONNECTION_FORCED", Server: true}},
		{name: "plain", err: errors.New("EOF")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := classify(tt.err)
			if !errors.Is(got, tt.err) {
				t.Errorf("classify(%v) = %v, does not wrap the input", tt.err, got)
			}
			if tt.want != nil && !errors.Is(got, tt.want) {
				t.Errorf("classify(%v) = %v, want it to wrap %v", tt.err, got, tt.want)
			}
			if isPermanent(got) != tt.permanent {
				t.Errorf("isPermanent(classify(%v)) = %v, want %v", tt.err, isPermanent(got), tt.permanent)
			}
		})
	}
}

func TestIsAuthError(t *testing.T) {
	if !isAuthError(amqp.ErrCredentials) || !isAuthError(&amqp.Error{Code: amqp.NotAllowed}) {
		t.Error("isAuthError() = false for refused credentials or vhost")
	}
	if isAuthError(errors.New("dial tcp: connection refused")) {
		t.Error("isAuthError() = true for a network error")
	}
}

func TestSessionBlocked(t *testing.T) {
	s := &session{unblocked: make(chan struct{})}
	close(s.unblocked)
	isOpen := func() bool {
		select {
		case <-s.whenUnblocked():
			return true
		default:
			return false
		}
	}
	steps := []struct {
		active bool
		open   bool
	}{{true, false}, {true, false}, {false, true}, {false, true}, {true, false}, {false, true}}
	for i, st := range steps {
		wait := s.whenUnblocked()
		s.setBlocked(st.active)
		if got := isOpen(); got != st.open {
			t.Fatalf("step %d: setBlocked(%v): unblocked = %v, want %v", i, st.active, got, st.open)
		}
		if !st.active {
			<-wait // a waiter from before unblocking is released
		}
	}
}

func TestBackoff(t *testing.T) {
	initial, maxDelay := normalizeBackoff(0, 0)
	if initial != DefaultReconnectInitial || maxDelay != DefaultReconnectMax {
		t.Errorf("normalizeBackoff(0, 0) = %v, %v; want defaults", initial, maxDelay)
	}
	if i, m := normalizeBackoff(5e9, 1e9); i != 5e9 || m != 5e9 {
		t.Errorf("normalizeBackoff(5s, 1s) = %v, %v; want 5s, 5s", i, m)
	}
	b := newReconnectBackoff(100e6, 400e6)
	for range 20 {
		if d := b.next(); d <= 0 || d > 400e6 {
			t.Fatalf("next() = %v, want within (0, 400ms]", d)
		}
	}
	b.reset()
	if d := b.next(); d > 125e6 {
		t.Errorf("next() after reset = %v, want at most 125ms (100ms + 25%% jitter)", d)
	}
}
