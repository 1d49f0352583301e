package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

// FuzzResponse feeds arbitrary 200 bodies to every decoder: no panic, and
// the token never reaches an error.
func FuzzResponse(f *testing.F) {
	for _, seed := range []string{
		`{"data":` + registrationAnswer + `}`,
		`{"data":{"stixCoreObject":` + entityAnswer + `}}`,
		`{"data":{"stixDomainObjects":{"edges":[{"node":{"id":"a","aliases":["x"]}}]}}}`,
		`{"data":{"work":{"id":"w","timestamp":"not a time"}}}`,
		`{"errors":[{"message":"` + testToken + `","path":[1,"a"],"extensions":{"code":7}}]}`,
		`{"data":{"registerConnector":{"config":{"s3":{"port":"x"}}}}}`,
		`{"data":null}`, `null`, `[]`, ``,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		hc := &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(body)), Header: http.Header{}}, nil
		})}
		c, err := New("http://opencti", testToken, WithHTTPClient(hc), WithRetry(1, 0))
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		var errs []error
		_, err = c.RegisterConnector(ctx, RegisterInput{ID: "c", Name: "nn", Type: "STREAM"}, &Capabilities{JWKS: true, S3: true})
		errs = append(errs, err)
		_, err = c.StixCoreObject(ctx, "e")
		errs = append(errs, err)
		_, err = c.StixDomainObjects(ctx, DomainObjectQuery{Values: []string{"v"}})
		errs = append(errs, err)
		_, err = c.Work(ctx, "w")
		errs = append(errs, err)
		_, err = c.PingConnector(ctx, "c", "null", ConnectorInfo{})
		errs = append(errs, err)
		_, err = c.Introspect(ctx)
		errs = append(errs, err)
		for _, err := range errs {
			if err != nil && strings.Contains(err.Error(), testToken) {
				t.Errorf("token in error: %v", err)
			}
		}
	})
}

// FuzzErrorResponse feeds arbitrary non-200 answers (status, body, announced length) to
// the client: no panic, an *HTTPError with the status and at most 1 KiB of body, a
// GraphQL error only when the body is a complete GraphQL error document, and never the
// token.
func FuzzErrorResponse(f *testing.F) {
	for _, s := range []struct {
		status int
		body   string
	}{
		{400, `{"errors":[{"message":"Syntax Error","extensions":{"code":"GRAPHQL_PARSE_FAILED"}}]}`},
		{401, `{"errors":[{"name":"AuthRequired","message":"` + testToken + `","path":["me",0]}]}`},
		{500, "<html>Bad gateway " + testToken + "</html>"},
		{502, strings.Repeat("x", 1020) + testToken},
		{503, ""},
		{404, `{"errors":[]}`},
		{429, `{"errors":[{"message":null,"path":null,"extensions":{"code":7}}]}`},
		{418, "\x1b[2J\xff\xfe" + strings.Repeat("é", 700)},
	} {
		f.Add(s.status, []byte(s.body), false)
	}
	f.Fuzz(func(t *testing.T, status int, body []byte, unknownLength bool) {
		status = 201 + int(uint(status)%399) // 201..599: every status but 200
		length := int64(len(body))
		if unknownLength {
			length = -1
		}
		hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: status, Body: io.NopCloser(strings.NewReader(string(body))),
				ContentLength: length, Header: http.Header{}, Request: r}, nil
		})}
		c, err := New("http://opencti", testToken, WithHTTPClient(hc), WithRetry(1, 0))
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.HealthCheck(context.Background())
		if err == nil {
			t.Fatalf("status %d: no error", status)
		}
		if strings.Contains(err.Error(), testToken) {
			t.Fatalf("status %d: token in error %q", status, err)
		}
		var he *HTTPError
		if !errors.As(err, &he) {
			t.Fatalf("status %d: error %T %v, want an *HTTPError", status, err, err)
		}
		if he.Status != status {
			t.Errorf("HTTPError.Status = %d, want %d", he.Status, status)
		}
		if he.Temporary() != (status >= 500) {
			t.Errorf("HTTPError.Temporary() = %v for status %d", he.Temporary(), status)
		}
		if strings.Contains(he.Body, testToken) || len(he.Body) > maxErrorBody+len("REDACTED") {
			t.Errorf("HTTPError.Body = %d bytes %q, want at most %d without the token", len(he.Body), he.Body, maxErrorBody)
		}
		if he.GraphQL != nil && len(body) > maxErrorBody {
			t.Errorf("a GraphQL error parsed from a truncated body of %d bytes", len(body))
		}
	})
}
