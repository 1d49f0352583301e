package enrichment

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/riskiq-opencti/connectors/internal/passivetotal"
	"github.com/riskiq-opencti/connectors/internal/passivetotal/passivetotaltest"
	"github.com/riskiq-opencti/connectors/opencti/stix"
)

// roundTripFunc adapts a function to http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// FuzzConvertPassiveDNS feeds any passive DNS answer (the body PassiveTotal sends for
// GET /v2/dns/passive) through the real client and the converter, for a domain or an IP
// entity: no panic; either a client error, or objects that form, with the entity and the
// author, a bundle the SDK's splitter sends in full (every id well formed and unique,
// every relationship between the entity and an observable of the bundle).
func FuzzConvertPassiveDNS(f *testing.F) {
	fsys := passivetotaltest.DataFS()
	// The fake's quota answer has searches left, so that the passive DNS call is made.
	quota, err := fs.ReadFile(fsys, "quota.json")
	if err != nil {
		f.Fatal(err)
	}
	paths, err := fs.Glob(fsys, "dns/*.json")
	if err != nil || len(paths) == 0 {
		f.Fatalf("dns seeds: %v, %v", paths, err)
	}
	for _, p := range paths {
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "passivetotal.org", false)
		f.Add(b, "54.153.123.93", true)
	}
	f.Add([]byte(`{"totalRecords": 2, "results": [`+
		`{"recordType": "A", "resolveType": "domain", "resolve": "x\u0000y", "firstSeen": "2019-10-05 21:51:41", "lastSeen": "2019-10-05 21:51:41"},`+
		`{"recordType": "AAAA", "resolveType": "ip", "resolve": "not an ip \ud800", "firstSeen": "9999-12-31 23:59:59", "lastSeen": "0001-01-01 00:00:00"},`+
		`{"recordType": "SOA", "resolveType": "email", "resolve": "\u001b[2J@example.com", "firstSeen": "2020-01-01 00:00:00", "lastSeen": "2020-01-02 00:00:00"}]}`),
		"example.com", false)
	now := time.Date(2025, 7, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte, value string, isIP bool) {
		if strings.TrimSpace(value) == "" {
			return // the platform's entity has a value; an empty one is refused before any call
		}
		hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			answer := string(body)
			if strings.HasSuffix(r.URL.Path, passivetotal.EndpointQuota) {
				answer = string(quota)
			}
			return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
				Body: io.NopCloser(strings.NewReader(answer)), ContentLength: int64(len(answer)), Request: r}, nil
		})}
		client, err := passivetotal.New("https://api.example.test/pt/v2", "fuzz@example.com", "fuzz-key",
			passivetotal.WithHTTPClient(hc), passivetotal.WithRetry(1, time.Minute), passivetotal.WithClock(func() time.Time { return now }),
			passivetotal.WithSleep(func(context.Context, time.Duration) error { return errors.New("no sleep in a fuzz target") }))
		if err != nil {
			t.Fatal(err)
		}
		records, err := PassiveTotal{Client: client}.Resolutions(t.Context(), value, time.Time{})
		if err != nil {
			return // a refused answer is reported on the work, nothing is converted
		}
		var entity stix.Object = stix.NewDomainName(value)
		if isIP {
			entity = stix.NewIPv4Addr(value)
		}
		objects, err := NewConverter(func() time.Time { return now }, nil).Convert(Entity{ID: entity.ID(), Value: value}, records)
		if err != nil {
			t.Fatalf("Convert() error = %v", err)
		}
		checkBundle(t, entity, objects)
	})
}

// checkBundle checks that objects, with the entity and the author, make a bundle whose
// ids are well formed and unique, whose relationships join the entity to an observable of
// the bundle, and which the splitter sends whole.
func checkBundle(t *testing.T, entity stix.Object, objects []stix.Object) {
	t.Helper()
	all := []any{Author(time.Date(2025, 7, 1, 12, 0, 0, 0, time.UTC)), entity}
	ids := map[string]bool{entity.ID(): true, Author(time.Time{}).ID(): true}
	for _, o := range objects {
		id := o.ID()
		typ, uuid, ok := strings.Cut(id, "--")
		if !ok || typ == "" || len(uuid) != 36 {
			t.Fatalf("malformed id %q", id)
		}
		if ids[id] {
			t.Fatalf("id %s twice", id)
		}
		ids[id] = true
		all = append(all, o)
	}
	raw, err := json.Marshal(stix.NewBundle(all...))
	if err != nil {
		t.Fatalf("marshal bundle: %v", err)
	}
	var decoded struct {
		Objects []struct {
			Type      string `json:"type"`
			SourceRef string `json:"source_ref"`
			TargetRef string `json:"target_ref"`
		} `json:"objects"`
	}
	if err := json.Unmarshal(raw, &decoded); err != nil {
		t.Fatalf("bundle is not JSON: %v", err)
	}
	for _, o := range decoded.Objects {
		if o.Type != "relationship" {
			continue
		}
		if !ids[o.SourceRef] || !ids[o.TargetRef] || (o.SourceRef != entity.ID() && o.TargetRef != entity.ID()) {
			t.Fatalf("relationship %s -> %s does not join the entity to an object of the bundle", o.SourceRef, o.TargetRef)
		}
	}
	res, err := stix.Split(raw, stix.SplitOptions{CleanupInconsistent: true})
	if err != nil {
		t.Fatalf("Split() error = %v", err)
	}
	if len(res.Parts) != len(all) || len(res.Incompatible) != 0 {
		t.Fatalf("Split() = %d parts, %d incompatible; want %d parts", len(res.Parts), len(res.Incompatible), len(all))
	}
}
