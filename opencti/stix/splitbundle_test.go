package stix

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// bytesPath is what callers holding objects did before SplitBundle: encode
// the bundle with encoding/json, then Split it.
func bytesPath(t testing.TB, b *Bundle, opts SplitOptions) ([][]byte, error) {
	t.Helper()
	data, err := json.Marshal(b)
	if err != nil {
		return nil, err
	}
	res, err := Split(data, opts)
	if err != nil {
		return nil, err
	}
	return res.Parts, nil
}

// typedPath is SplitBundle with every part appended.
func typedPath(b *Bundle, opts SplitOptions) ([][]byte, error) {
	parts, err := SplitBundle(b, opts)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, parts.Len())
	var scratch []byte
	for i := range parts.Len() {
		scratch, err = parts.Append(scratch[:0], i)
		if err != nil {
			return nil, err
		}
		out[i] = bytes.Clone(scratch)
	}
	return out, nil
}

func sameParts(t *testing.T, typed, want [][]byte) {
	t.Helper()
	if len(typed) != len(want) {
		t.Fatalf("SplitBundle: %d parts, Split: %d", len(typed), len(want))
	}
	for i := range want {
		if !bytes.Equal(typed[i], want[i]) {
			t.Fatalf("part %d differs:\nSplitBundle %s\nSplit       %s", i, typed[i], want[i])
		}
	}
}

// TestSplitBundleMatchesGoldens splits the objects of every testdata/split
// case with SplitBundle: the parts are those of the golden file (cases with
// a bundle id) and those of Split on the encoded bundle, byte for byte.
func TestSplitBundleMatchesGoldens(t *testing.T) {
	dirs, err := filepath.Glob("testdata/split/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no split cases: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, "bundle.json"))
			if err != nil {
				t.Fatal(err)
			}
			var in struct {
				ID      *string           `json:"id"`
				Objects []json.RawMessage `json:"objects"`
			}
			if err := json.Unmarshal(data, &in); err != nil {
				t.Fatal(err)
			}
			opts := readSplitOptions(t, dir)
			b := NewBundle()
			if in.ID != nil {
				b.id = *in.ID
			}
			for _, o := range in.Objects {
				b.Objects = append(b.Objects, o)
			}
			typed, err := typedPath(b, opts)
			if err != nil {
				t.Fatal(err)
			}
			want, err := bytesPath(t, b, opts)
			if err != nil {
				t.Fatal(err)
			}
			sameParts(t, typed, want)
			if in.ID != nil {
				golden, err := os.ReadFile(filepath.Join("testdata", "split", filepath.Base(dir), "parts.golden.json"))
				if err != nil {
					t.Fatal(err)
				}
				if got := joinParts(typed); !bytes.Equal(got, golden) {
					t.Fatalf("SplitBundle parts differ from the golden:\n%s", got)
				}
			}
		})
	}
}

// TestSplitBundleMatchesSplitOnRandomBundles compares SplitBundle with Split
// on random bundles of model objects and raw JSON: references inside and
// outside the bundle, cycles, repeated ids, internal ids, strings that
// encoding/json escapes (<, >, &, U+2028) or pyjson escapes (non-ASCII),
// numbers, nested values, with and without cleanup.
func TestSplitBundleMatchesSplitOnRandomBundles(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 2026))
	compared := 0
	texts := []string{"plain", "<b>&amp;</b>", "line\u2028sep", "café ☕ 𝄞", "quote\"back\\slash", "tab\tnl\n", ""}
	for iter := range 500 {
		n := 1 + rng.IntN(25)
		ids := make([]string, 0, n)
		var objects []any
		for i := range n {
			switch rng.IntN(6) {
			case 0:
				o := NewIPv4Addr(fmt.Sprintf("10.0.%d.%d", iter%250, i))
				ids = append(ids, o.ID())
				objects = append(objects, o)
			case 1:
				o := NewDomainName(fmt.Sprintf("host-%d-%s.example.com", i, texts[rng.IntN(len(texts))]))
				ids = append(ids, o.ID())
				objects = append(objects, o)
			case 2:
				if len(ids) >= 2 {
					r, err := NewRelationship("resolves-to", ids[rng.IntN(len(ids))], ids[rng.IntN(len(ids))], nil, nil)
					if err == nil {
						r.Created = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
						ids = append(ids, r.ID())
						objects = append(objects, r)
					}
				}
			case 3:
				o := NewOrganization(texts[rng.IntN(len(texts))] + fmt.Sprint(i))
				o.Created = time.Date(2024, 1, 2, 3, 4, 5, 600_000_000, time.UTC)
				o.Extra = map[string]any{"x_opencti_reliability": texts[rng.IntN(len(texts))]}
				ids = append(ids, o.ID())
				objects = append(objects, o)
			default:
				id := fmt.Sprintf("note--%08d-0000-4000-8000-%012d", iter, i)
				if len(ids) > 0 && rng.IntN(4) == 0 {
					id = ids[rng.IntN(len(ids))] // a repeated id
				}
				refs := []string{}
				for range rng.IntN(4) {
					switch {
					case len(ids) > 0 && rng.IntN(3) > 0:
						refs = append(refs, ids[rng.IntN(len(ids))])
					case rng.IntN(2) == 0:
						refs = append(refs, "indicator--00000000-0000-4000-8000-000000000000") // absent
					default:
						refs = append(refs, id) // itself
					}
				}
				raw, err := json.Marshal(map[string]any{
					"type": "note", "id": id, "spec_version": "2.1", "content": texts[rng.IntN(len(texts))],
					"object_refs": refs, "x_score": rng.IntN(100), "x_ratio": 0.5 + float64(rng.IntN(9)),
					"x_nested":            map[string]any{"k": []any{1, "two", nil, true}},
					"x_opencti_id":        fmt.Sprintf("internal-%d", rng.IntN(n+1)),
					"external_references": []any{map[string]any{"source_name": "s", "external_id": "1"}, map[string]any{"source_name": "s", "external_id": "1"}},
				})
				if err != nil {
					t.Fatal(err)
				}
				// Raw JSON as the platform sends it: with spaces.
				objects = append(objects, json.RawMessage(bytes.ReplaceAll(raw, []byte(`,"`), []byte(`, "`))))
			}
		}
		if len(objects) == 0 {
			continue
		}
		opts := SplitOptions{CleanupInconsistent: rng.IntN(2) == 0}
		if rng.IntN(4) == 0 {
			opts.EventVersion = "7"
		}
		b := NewBundle(objects...)
		want, werr := bytesPath(t, b, opts)
		typed, terr := typedPath(b, opts)
		if (werr == nil) != (terr == nil) || errors.Is(werr, ErrNothingToImport) != errors.Is(terr, ErrNothingToImport) {
			t.Fatalf("bundle %d: Split error %v, SplitBundle error %v", iter, werr, terr)
		}
		if werr == nil {
			sameParts(t, typed, want)
			compared++
		}
	}
	if compared < 300 {
		t.Fatalf("only %d bundles compared", compared)
	}
}

// TestSplitBundleErrors: what MarshalBundle or Split refused is refused.
func TestSplitBundleErrors(t *testing.T) {
	for name, b := range map[string]*Bundle{
		"not an object": NewBundle(json.RawMessage(`[1]`)),
		"invalid JSON":  NewBundle(json.RawMessage(`{"id":`)),
		"no id":         NewBundle(json.RawMessage(`{"type":"note"}`)),
		"no bundle id":  {Objects: []any{NewIPv4Addr("1.2.3.4")}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := SplitBundle(b, SplitOptions{}); err == nil {
				t.Error("SplitBundle succeeded")
			}
		})
	}
	_, err := SplitBundle(NewBundle(json.RawMessage(`{"type":"bogus-type","id":"bogus-type--1"}`)), SplitOptions{})
	if !errors.Is(err, ErrNothingToImport) {
		t.Errorf("nothing to send: %v, want ErrNothingToImport", err)
	}
}
