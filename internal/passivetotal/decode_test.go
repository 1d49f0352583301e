package passivetotal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/riskiq-opencti/connectors/internal/passivetotal/passivetotaltest"
)

func TestParseTime(t *testing.T) {
	utc := func(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
		return time.Date(y, mo, d, h, mi, s, ns, time.UTC)
	}
	tests := []struct {
		in     string
		want   time.Time
		wantOK bool
	}{
		{"2019-10-05 21:51:41", utc(2019, 10, 5, 21, 51, 41, 0), true},
		{"2015-02-09", utc(2015, 2, 9, 0, 0, 0, 0), true},
		{"2021-03-05T08:00:00.000+0000", utc(2021, 3, 5, 8, 0, 0, 0), true},
		{"2021-03-05T10:00:00.250+0200", utc(2021, 3, 5, 8, 0, 0, 250_000_000), true},
		{"2021-03-05T08:00:00Z", utc(2021, 3, 5, 8, 0, 0, 0), true},
		{"2021-03-05T08:00:00.123456789-05:00", utc(2021, 3, 5, 13, 0, 0, 123456789), true},
		{"2021-03-05T08:00:00", utc(2021, 3, 5, 8, 0, 0, 0), true},
		{"2021-03-05 08:00:00.5", utc(2021, 3, 5, 8, 0, 0, 500_000_000), true},
		{"2021-03-05T08:00Z", utc(2021, 3, 5, 8, 0, 0, 0), true},
		{"Mon Aug 29 20:00:00 VET 2016", utc(2016, 8, 29, 20, 0, 0, 0), true}, // unknown zone read as UTC
		{"Mon Aug 29 20:00:00 UTC 2016", utc(2016, 8, 29, 20, 0, 0, 0), true},
		{"Feb 04 00:00:00 2015 GMT", utc(2015, 2, 4, 0, 0, 0, 0), true},
		{"Fri, 05 Mar 2021 08:00:00 +0100", utc(2021, 3, 5, 7, 0, 0, 0), true},
		{"1614931200", utc(2021, 3, 5, 8, 0, 0, 0), true},
		{"1614931200000", utc(2021, 3, 5, 8, 0, 0, 0), true},
		{"  2019-10-05 21:51:41  ", utc(2019, 10, 5, 21, 51, 41, 0), true},
		{"", time.Time{}, false},
		{"N/A", time.Time{}, false},
		{"2019-13-05 21:51:41", time.Time{}, false},
		{"-5", time.Time{}, false},
		{"1e300", time.Time{}, false},
	}
	for _, tt := range tests {
		got, ok := parseTime(tt.in)
		if ok != tt.wantOK || !got.Equal(tt.want) || (ok && got.Location() != time.UTC) {
			t.Errorf("parseTime(%q) = %v, %v, want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestParseErrorBody(t *testing.T) {
	tests := []struct {
		body, want string
		isJSON     bool
	}{
		{`{"error":{"message":"Bad","developer_message":"worse"}}`, "Bad: worse", true},
		{`{"error":{"message":"Same","developer_message":"Same"}}`, "Same", true},
		{`{"error":"invalid_request","message":"query is required"}`, "invalid_request: query is required", true},
		{`{"message":"quota_exceeded"}`, "quota_exceeded", true},
		{`{"error":true}`, "error reported without a message", true},
		{`{"error":null,"message":null}`, "", true},
		{`{"other":1}`, "", true},
		{`<html>502</html>`, "", false},
		{``, "", false},
		{`[1]`, "", false},
	}
	for _, tt := range tests {
		got, isJSON := parseErrorBody([]byte(tt.body))
		if got != tt.want || isJSON != tt.isJSON {
			t.Errorf("parseErrorBody(%s) = %q, %v, want %q, %v", tt.body, got, isJSON, tt.want, tt.isJSON)
		}
	}
}

func TestIsQuotaMessage(t *testing.T) {
	for msg, want := range map[string]bool{
		"quota_exceeded":                          true,
		"Quota has been exceeded!":                true,
		"Quota exceeded for operation search_api": true,
		"QUOTA_EXCEEDED: monthly":                 true,
		"Rate limit reached":                      false,
		"":                                        false,
	} {
		if got := isQuotaMessage(msg); got != want {
			t.Errorf("isQuotaMessage(%q) = %v, want %v", msg, got, want)
		}
	}
}

// TestDecodeShapes checks how each decoder classifies answers of an
// unexpected shape.
func TestDecodeShapes(t *testing.T) {
	type decoder func([]byte) error
	dns := func(b []byte) error { _, err := decodePassiveDNS(b); return err }
	list := func(b []byte) error { _, err := decodeArticlesPage(b); return err }
	detail := func(b []byte) error { _, err := decodeArticle(b); return err }
	quota := func(b []byte) error { _, err := decodeQuota(b); return err }
	const (
		ok = iota
		decodeErr
		apiErr
	)
	tests := []struct {
		name string
		dec  decoder
		body string
		want int
		err  error
	}{
		{"dns ok", dns, `{"results":[]}`, ok, nil},
		{"dns results missing", dns, `{"queryValue":"x"}`, decodeErr, errNoResults},
		{"dns results null", dns, `{"results":null}`, decodeErr, errNoResults},
		{"dns results not array", dns, `{"results":{}}`, decodeErr, nil},
		{"dns success false", dns, `{"success":false,"results":[]}`, decodeErr, errUnsuccessful},
		{"dns top-level array", dns, `[]`, decodeErr, errNotObject},
		{"dns null", dns, `null`, decodeErr, errNotObject},
		{"dns empty", dns, ``, decodeErr, errNotObject},
		{"dns error key", dns, `{"error":"x"}`, apiErr, nil},
		{"dns message without results", dns, `{"message":"x"}`, apiErr, nil},
		{"dns message with results ignored", dns, `{"message":"note","results":[]}`, ok, nil},
		{"dns source as string", dns, `{"results":[{"source":"riskiq"}]}`, ok, nil},
		{"dns source with object", dns, `{"results":[{"source":[{}]}]}`, decodeErr, errNestedInList},
		{"dns date as number", dns, `{"results":[{"firstSeen":5}]}`, decodeErr, nil},
		{"dns trailing garbage", dns, `{"results":[]} x`, decodeErr, nil},
		{"list ok", list, `{"success":true,"articles":[]}`, ok, nil},
		{"list success missing", list, `{"articles":[]}`, decodeErr, errNoSuccess},
		{"list success false", list, `{"success":false,"articles":[]}`, decodeErr, errUnsuccessful},
		{"list articles missing", list, `{"success":true}`, decodeErr, errNoArticles},
		{"list success false with message", list, `{"success":false,"message":"try later"}`, apiErr, nil},
		{"list indicators not array", list, `{"success":true,"articles":[{"indicators":"x"}]}`, decodeErr, nil},
		{"list created date as number", list, `{"success":true,"articles":[{"createdDate":1614931200}]}`, ok, nil},
		{"list created date as object", list, `{"success":true,"articles":[{"createdDate":{}}]}`, decodeErr, errNotDate},
		{"detail ok", detail, `{"guid":"e86878b1"}`, ok, nil},
		{"detail empty", detail, `{}`, decodeErr, errNotArticle},
		{"detail success false", detail, `{"success":false,"guid":"x"}`, decodeErr, errUnsuccessful},
		{"detail error", detail, `{"error":{"message":"nope"}}`, apiErr, nil},
		{"quota ok", quota, `{"user":{}}`, ok, nil},
		{"quota empty object", quota, `{}`, ok, nil},
		{"quota message only", quota, `{"message":"quota_exceeded"}`, apiErr, nil},
		{"quota array", quota, `[]`, decodeErr, errNotObject},
		{"quota licence wrong type", quota, `{"user":{"licenseCounts":{"searchApi":"3"}}}`, decodeErr, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.dec([]byte(tt.body))
			var de *DecodeError
			var ae *APIError
			got := ok
			switch {
			case errors.As(err, &de):
				got = decodeErr
			case errors.As(err, &ae):
				got = apiErr
			case err != nil:
				t.Fatalf("untyped error %v", err)
			}
			if got != tt.want {
				t.Fatalf("decode(%s) = %v, want kind %d", tt.body, err, tt.want)
			}
			if tt.err != nil && !errors.Is(err, tt.err) {
				t.Errorf("decode(%s) = %v, want %v", tt.body, err, tt.err)
			}
		})
	}
}

func TestQuotaExceededRule(t *testing.T) {
	tests := []struct {
		body string
		want bool
	}{
		{`{"user":{"licenseCounts":{"searchApi":1},"licenseLimits":{"searchApi":2}}}`, false},
		{`{"user":{"licenseCounts":{"searchApi":2},"licenseLimits":{"searchApi":2}}}`, true},
		{`{"user":{"licenseCounts":{"searchApi":3},"licenseLimits":{"searchApi":2}}}`, true},
		{`{"user":{"licenseCounts":{"enterprise":{"searchApi":1}},"licenseLimits":{"enterprise":{"searchApi":2}}}}`, false},
		{`{"user":{"licenseLimits":{"searchApi":2}}}`, true},
		{`{"user":{"counts":{"search_api":1},"limits":{"search_api":2}}}`, true},
		{`{"organization":{}}`, true},
	}
	for _, tt := range tests {
		q, err := decodeQuota([]byte(tt.body))
		if err != nil {
			t.Fatalf("decodeQuota(%s): %v", tt.body, err)
		}
		if got := q.Exceeded(); got != tt.want {
			t.Errorf("Exceeded() for %s = %v, want %v", tt.body, got, tt.want)
		}
	}
}

func TestStringList(t *testing.T) {
	tests := []struct {
		in   string
		want stringList
	}{
		{`["a","b"]`, stringList{"a", "b"}},
		{`"a"`, stringList{"a"}},
		{`null`, nil},
		{`[]`, stringList{}},
		{`["a",1,true,null]`, stringList{"a", "1", "true"}},
		{` [ "a" ,	"b" ] `, stringList{"a", "b"}},
		{`["a\"b","\u00e9"]`, stringList{`a"b`, "é"}},
		{`["é"]`, stringList{"é"}},
	}
	for _, tt := range tests {
		var got stringList
		if err := got.UnmarshalJSON([]byte(tt.in)); err != nil {
			t.Fatalf("UnmarshalJSON(%s): %v", tt.in, err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("UnmarshalJSON(%s) (-want +got):\n%s", tt.in, diff)
		}
	}
}

// FuzzStringList checks the fast path of stringList against encoding/json.
func FuzzStringList(f *testing.F) {
	for _, s := range []string{`["a","b"]`, `[]`, ` [ "x" ] `, `["a",]`, `["a"`, `["a\\b"]`, `[1]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var want []string
		if json.Unmarshal(b, &want) != nil {
			return // only valid arrays of strings reach the fast path
		}
		got, ok := asciiStrings(bytes.TrimSpace(b))
		if ok && !cmp.Equal(want, got, cmpopts.EquateEmpty()) {
			t.Fatalf("asciiStrings(%s) = %q, encoding/json %q", b, got, want)
		}
	})
}

// seeds returns the recorded answers of the fake's data set under dir.
func seeds(f *testing.F, dir string) [][]byte {
	f.Helper()
	fsys := passivetotaltest.DataFS()
	var out [][]byte
	err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		out = append(out, b)
		return err
	})
	if err != nil || len(out) == 0 {
		f.Fatalf("read seeds from %s: %d files, %v", dir, len(out), err)
	}
	return out
}

func FuzzDecodePassiveDNS(f *testing.F) {
	for _, b := range seeds(f, "dns") {
		f.Add(b)
	}
	for _, s := range []string{`{"results":[{"source":"x","firstSeen":"2019-10-05 21:51:41"}]}`, `{"error":{"message":1}}`, `{"results":[{"source":[1,null,"a"]}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := decodePassiveDNS(body)
		if err != nil {
			var de *DecodeError
			var ae *APIError
			if !errors.As(err, &de) && !errors.As(err, &ae) {
				t.Fatalf("untyped error %T: %v", err, err)
			}
			return
		}
		if p.Results == nil {
			t.Fatal("nil results without an error")
		}
		for _, r := range p.Results {
			if !r.FirstSeen.IsZero() && r.FirstSeen.Location() != time.UTC {
				t.Fatalf("first seen %v not UTC", r.FirstSeen)
			}
		}
	})
}

func FuzzDecodeArticles(f *testing.F) {
	articles := seeds(f, "articles")
	for _, b := range articles {
		f.Add(b)
		f.Add([]byte(fmt.Sprintf(`{"success":true,"totalRecords":1,"articles":[%s]}`, b)))
	}
	f.Add([]byte(`{"success":true,"articles":[{"publishedDate":null,"createdDate":1614931200,"tags":"x","indicators":[{"values":null}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		check := func(err error) {
			var de *DecodeError
			var ae *APIError
			if err != nil && !errors.As(err, &de) && !errors.As(err, &ae) {
				t.Fatalf("untyped error %T: %v", err, err)
			}
		}
		if p, err := decodeArticlesPage(body); err == nil {
			for _, a := range p.Articles {
				if a.Tags == nil || a.Categories == nil || a.Indicators == nil {
					t.Fatal("nil slice in a decoded article")
				}
			}
		} else {
			check(err)
		}
		_, err := decodeArticle(body)
		check(err)
		_, err = decodeQuota(body)
		check(err)
	})
}

// largePassiveDNS builds an answer of n records in the recorded shape.
func largePassiveDNS(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"pager":null,"queryValue":"example.org","queryType":"domain","firstSeen":"2015-04-27 11:05:10","lastSeen":"2025-06-12 17:40:02","totalRecords":`)
	fmt.Fprintf(&b, "%d", n)
	b.WriteString(`,"results":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"firstSeen":"2019-03-11 04:22:31","lastSeen":"2025-06-12 17:40:02","source":["riskiq","pingly"],"value":"example.org","collected":"2025-06-13 10:04:22","recordType":"A","resolve":"10.%d.%d.%d","resolveType":"ip","recordHash":"%064x"}`,
			i>>16&255, i>>8&255, i&255, i)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

func BenchmarkDecodePassiveDNS(b *testing.B) {
	body := largePassiveDNS(10000)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		p, err := decodePassiveDNS(body)
		if err != nil || len(p.Results) != 10000 {
			b.Fatalf("decode: %d results, %v", len(p.Results), err)
		}
	}
}
