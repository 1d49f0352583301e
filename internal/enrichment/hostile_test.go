package enrichment

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/riskiq-opencti/connectors/opencti/stix"
)

// TestConvertSkipsValuesWithControlCharacters: a record whose value holds a
// control or bidirectional formatting character is skipped with a warning, as
// the import does for indicator values; the other records are kept.
func TestConvertSkipsValuesWithControlCharacters(t *testing.T) {
	t.Parallel()
	first, last := seen("2024-02-03 04:05:06"), seen("2024-03-04 05:06:07")
	entity := Entity{ID: stix.NewDomainName("example.com").ID(), Value: "example.com"}
	hostile := []struct{ name, resolve string }{
		{"escape sequence", "ns1.example.net\x1b[2J"},
		{"line break", "mx.example.net\r\nX-Injected: 1"},
		{"nul", "192.0.2.1\x00"},
		{"c1 csi", "host\u009b31m.example.net"},
		{"bidi override", "evil\u202eten.elpmaxe"},
	}
	for _, tc := range hostile {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			c := NewConverter(func() time.Time { return fixedNow }, slog.New(slog.NewJSONHandler(&logs, nil)))
			recs := []Resolution{
				{RecordType: "NS", ResolveType: "domain", Resolve: tc.resolve, FirstSeen: first, LastSeen: last},
				{RecordType: "NS", ResolveType: "domain", Resolve: "ns2.example.net", FirstSeen: first, LastSeen: last},
			}
			got, err := c.Convert(entity, recs)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 {
				t.Fatalf("Convert() = %d objects, want the clean record's 2 only: %v", len(got), got)
			}
			var obs struct {
				Value string `json:"value"`
			}
			mustDecode(t, got[0], &obs)
			if obs.Value != "ns2.example.net" {
				t.Errorf("kept %q, want ns2.example.net", obs.Value)
			}
			out := logs.String()
			if !strings.Contains(out, `"level":"WARN","msg":"Record value skipped"`) || !strings.Contains(out, `"reason":"value contains control characters"`) {
				t.Errorf("no warning for the skipped record:\n%s", out)
			}
			if strings.ContainsAny(out, "\x1b\x00\u009b\u202e") {
				t.Errorf("the log holds the raw value:\n%q", out)
			}
		})
	}
}
