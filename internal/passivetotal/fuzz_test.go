package passivetotal

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// fuzzKey is the API key of the fuzzed clients: no answer may bring it into an error.
const fuzzKey = "pt-FUZZ-KEY-3b9d2f7a1c5e"

// roundTripFunc adapts a function to http.RoundTripper: the fuzz targets answer without a
// network.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// FuzzErrorResponse feeds arbitrary non-2xx answers (status, Retry-After header, body) to
// the client: it never panics, it returns a typed error (*APIError, or the quota error for
// 402 and quota messages) with the status, a valid UTF-8 message and excerpt, a
// non-negative Retry-After, and never the API key.
func FuzzErrorResponse(f *testing.F) {
	for _, s := range []struct {
		status int
		retry  string
		body   string
	}{
		{500, "", `{"error": {"message": "boom", "developer_message": "trace"}}`},
		{429, "7", `{"error": "rate limited", "message": "slow down"}`},
		{429, "Wed, 21 Oct 2015 07:28:00 GMT", `{"message": "quota_exceeded"}`},
		{402, "", `{"message": "Your quota has been exceeded"}`},
		{403, "-1", `{"error": true}`},
		{404, "  12  ", `{"error": {"message": null}}`},
		{401, "99999999999999999999", "<html>" + fuzzKey + "</html>"},
		{503, "", strings.Repeat("é", 600) + fuzzKey},
		{400, "", "{\"message\": \"\x1b[2J\\u0000\xff" + fuzzKey + "\"}"},
		{418, "1e3", `{"error": {"message": "` + fuzzKey + `"}, "message": "` + fuzzKey + `"}`},
	} {
		f.Add(s.status, s.retry, []byte(s.body))
	}
	now := time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, status int, retryAfter string, body []byte) {
		status = 400 + int(uint(status)%200) // every non-2xx status the client can see
		hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			h := http.Header{}
			h.Set("Retry-After", retryAfter)
			return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(strings.NewReader(string(body))),
				ContentLength: int64(len(body)), Request: r}, nil
		})}
		c, err := New("https://api.example.test/pt/v2", "fuzz@example.com", fuzzKey, WithHTTPClient(hc),
			WithRetry(1, time.Minute), WithClock(func() time.Time { return now }),
			WithSleep(func(context.Context, time.Duration) error { return errors.New("no sleep in a fuzz target") }))
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Article(t.Context(), "guid-1")
		if err == nil {
			t.Fatalf("status %d: no error", status)
		}
		if strings.Contains(err.Error(), fuzzKey) {
			t.Fatalf("status %d: the API key is in the error %q", status, err)
		}
		if !utf8.ValidString(err.Error()) {
			t.Errorf("status %d: error %q is not valid UTF-8", status, err)
		}
		var ae *APIError
		if !errors.As(err, &ae) {
			if !errors.Is(err, ErrQuotaExceeded) {
				t.Fatalf("status %d: untyped error %T: %v", status, err, err)
			}
			return
		}
		if ae.Status != status {
			t.Errorf("APIError.Status = %d, want %d", ae.Status, status)
		}
		if !utf8.ValidString(ae.Message) || !utf8.ValidString(ae.Body) {
			t.Errorf("APIError message %q or body %q is not valid UTF-8", ae.Message, ae.Body)
		}
		if ae.RetryAfter < 0 {
			t.Errorf("APIError.RetryAfter = %v, want >= 0", ae.RetryAfter)
		}
	})
}
