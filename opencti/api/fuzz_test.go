package api

import (
	"context"
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
