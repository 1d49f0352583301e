package stix

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestCanonicalStringsMatchesJCS: the direct writer of string-only maps
// gives what encoding/json + jcs give, on random keys and values holding
// every byte (control characters, '<', '&', U+2028, invalid UTF-8, encoded
// surrogates, 4-byte characters), nil values included.
func TestCanonicalStringsMatchesJCS(t *testing.T) {
	rng := rand.New(rand.NewPCG(8785, 13))
	pieces := []string{"a", "Z", "\"", "\\", "/", "<", ">", "&", "\x00", "\x01", "\x1f", "\x7f", "\b", "\f", "\n", "\r", "\t",
		"é", "\u2028", "\u2029", "\ufeff", "𝄞", "\xff", "\xc3", "\xed\xa0\x80", "\xf4\x90\x80\x80", " ", "--"}
	str := func() string {
		var b bytes.Buffer
		for range rng.IntN(12) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		return b.String()
	}
	keys := []string{"name", "value", "identity_class", "source_ref", "target_ref", "relationship_type", "start_time", "x_mitre_id", "a", "B", "_"}
	for i := range 5000 {
		m := map[string]any{}
		for range 1 + rng.IntN(4) {
			k := keys[rng.IntN(len(keys))]
			if rng.IntN(8) == 0 {
				m[k] = nil
			} else {
				m[k] = str()
			}
		}
		want, err := canonicalJSONGeneric(m)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := appendCanonicalStrings(nil, m)
		if !ok || !bytes.Equal(got, want) {
			t.Fatalf("case %d %q:\ngot  %q (%t)\nwant %q", i, m, got, ok, want)
		}
	}
	for _, m := range []map[string]any{{"é": "x"}, {"n": 1.5}, {"l": []string{"a"}}} {
		if _, ok := appendCanonicalStrings(nil, m); ok {
			t.Errorf("%v took the string-only path", m)
		}
	}
}
