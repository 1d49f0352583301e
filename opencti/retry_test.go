package opencti

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskiq-opencti/connectors/opencti/api"
	"github.com/riskiq-opencti/connectors/opencti/broker"
)

func TestAttemptFromHeaders(t *testing.T) {
	tests := []struct {
		name    string
		headers map[string]any
		want    attempt
	}{
		{"first delivery", nil, attempt{number: 1}},
		{"republished", map[string]any{AttemptHeader: int64(3), RefusedHeader: int64(2)}, attempt{number: 3, refused: 2}},
		{"32-bit values", map[string]any{AttemptHeader: int32(2), RefusedHeader: int8(1)}, attempt{number: 2, refused: 1}},
		{"not integers", map[string]any{AttemptHeader: "7", RefusedHeader: 1.5}, attempt{number: 1}},
		{"out of range", map[string]any{AttemptHeader: int64(math.MaxInt64), RefusedHeader: int64(-4)}, attempt{number: math.MaxInt32}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := broker.NewDelivery(nil, 1, false, nil)
			d.Headers = tt.headers
			got := attemptOf(d)
			if got != tt.want {
				t.Errorf("attemptOf(%v) = %+v, want %+v", tt.headers, got, tt.want)
			}
		})
	}
}

func TestNextAttemptHeaders(t *testing.T) {
	current := map[string]any{"x-other": "kept", AttemptHeader: int64(2), RefusedHeader: int64(1)}
	a := attempt{number: 2, refused: 1}
	if diff := cmp.Diff(map[string]any{"x-other": "kept", AttemptHeader: int64(3), RefusedHeader: int64(2)}, a.headers(current, true)); diff != "" {
		t.Errorf("headers after a refusal (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]any{"x-other": "kept", AttemptHeader: int64(3), RefusedHeader: int64(1)}, a.headers(current, false)); diff != "" {
		t.Errorf("headers after an outage (-want +got):\n%s", diff)
	}
	if current[AttemptHeader] != int64(2) {
		t.Error("headers changed the delivery's headers")
	}
}

func TestRefusedByPlatform(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"functional error", &api.GraphQLError{Name: "FUNCTIONAL_ERROR", Message: "work not found"}, true},
		{"validation failed (400)", &api.HTTPError{Status: http.StatusBadRequest, GraphQL: &api.GraphQLError{Name: "GRAPHQL_VALIDATION_FAILED"}}, true},
		{"wrapped", fmt.Errorf("mark work received: %w", &api.GraphQLError{Name: "FUNCTIONAL_ERROR"}), true},
		{"auth required", &api.GraphQLError{Name: "AUTH_REQUIRED"}, false},
		{"forbidden", &api.HTTPError{Status: http.StatusForbidden}, false},
		{"too many requests", &api.HTTPError{Status: http.StatusTooManyRequests}, false},
		{"request timeout", &api.HTTPError{Status: http.StatusRequestTimeout}, false},
		{"unavailable", &api.HTTPError{Status: http.StatusServiceUnavailable}, false},
		{"network", errors.New("dial tcp 127.0.0.1:4000: connection refused"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := refusedByPlatform(tt.err); got != tt.want {
				t.Errorf("refusedByPlatform(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestRetryPause(t *testing.T) {
	h := &Helper{retryPause: time.Second}
	var got []time.Duration
	for n := 1; n <= 8; n++ {
		got = append(got, h.retryPauseFor(n))
	}
	want := []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second, 30 * time.Second}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("retry pauses (-want +got):\n%s", diff)
	}
	if p := (&Helper{}).retryPauseFor(4); p != 0 {
		t.Errorf("retryPauseFor with no pause = %s, want 0", p)
	}
}
