package stix

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// joinParts renders parts as the golden files hold them: a JSON array with one part per line,
// each exactly as Split produced it.
func joinParts(parts [][]byte) []byte {
	var b bytes.Buffer
	b.WriteString("[\n")
	for i, p := range parts {
		if i > 0 {
			b.WriteString(",\n")
		}
		b.Write(p)
	}
	b.WriteString("\n]\n")
	return b.Bytes()
}

func readSplitOptions(t *testing.T, dir string) SplitOptions {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "options.json"))
	if errors.Is(err, os.ErrNotExist) {
		return SplitOptions{}
	}
	if err != nil {
		t.Fatal(err)
	}
	var o struct {
		Cleanup      bool   `json:"cleanup_inconsistent"`
		EventVersion string `json:"event_version"`
	}
	if err := json.Unmarshal(data, &o); err != nil {
		t.Fatal(err)
	}
	return SplitOptions{CleanupInconsistent: o.Cleanup, EventVersion: o.EventVersion}
}

// TestSplitGolden runs every case of testdata/split/<case>/{bundle.json, options.json}; the
// goldens parts.golden.json and incompatible.golden.json were cross-checked against a
// transcription of pycti's splitter running under Python 3.11.
func TestSplitGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/split/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no split cases: %v", err)
	}
	for _, dir := range dirs {
		name := filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			bundle, err := os.ReadFile(filepath.Join(dir, "bundle.json"))
			if err != nil {
				t.Fatal(err)
			}
			res, err := Split(bundle, readSplitOptions(t, dir))
			if err != nil {
				t.Fatalf("Split: %v", err)
			}
			checkParts(t, res.Parts)
			golden(t, filepath.Join("split", name, "parts.golden.json"), joinParts(res.Parts))
			incompatible := make([][]byte, len(res.Incompatible))
			for i, o := range res.Incompatible {
				incompatible[i] = o
			}
			golden(t, filepath.Join("split", name, "incompatible.golden.json"), joinParts(incompatible))
		})
	}
}

// checkParts verifies the invariants of every split: each part is JSON, a bundle of exactly
// one object carrying nb_deps equal to the part's x_opencti_seq, in ascending order.
func checkParts(t testing.TB, parts [][]byte) {
	t.Helper()
	prev := 0
	for i, p := range parts {
		var part struct {
			Type    string            `json:"type"`
			Seq     *int              `json:"x_opencti_seq"`
			Objects []json.RawMessage `json:"objects"`
		}
		if !json.Valid(p) {
			t.Fatalf("part %d is not valid JSON: %s", i, p)
		}
		if err := json.Unmarshal(p, &part); err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		if part.Type != "bundle" || part.Seq == nil || len(part.Objects) != 1 {
			t.Fatalf("part %d is not a one-object bundle: %s", i, p)
		}
		var obj struct {
			NbDeps *int `json:"nb_deps"`
		}
		if err := json.Unmarshal(part.Objects[0], &obj); err != nil || obj.NbDeps == nil || *obj.NbDeps != *part.Seq {
			t.Fatalf("part %d: nb_deps does not match x_opencti_seq %d: %s", i, *part.Seq, p)
		}
		if *part.Seq < prev {
			t.Fatalf("part %d: x_opencti_seq %d after %d", i, *part.Seq, prev)
		}
		prev = *part.Seq
		if bytes.IndexFunc(p, func(r rune) bool { return r > 0x7e || r == '\n' }) >= 0 {
			t.Fatalf("part %d is not ASCII on one line as json.dumps writes it: %s", i, p)
		}
	}
}

func TestSplitSpecExample(t *testing.T) {
	bundle, err := os.ReadFile("testdata/split/spec-example/bundle.json")
	if err != nil {
		t.Fatal(err)
	}
	ids := func(res *SplitResult) []string {
		var out []string
		for _, p := range res.Parts {
			var part struct {
				Seq     int `json:"x_opencti_seq"`
				Objects []struct {
					Type string `json:"type"`
				} `json:"objects"`
			}
			if err := json.Unmarshal(p, &part); err != nil {
				t.Fatal(err)
			}
			out = append(out, part.Objects[0].Type+"/"+string(rune('0'+part.Seq)))
		}
		return out
	}
	res, err := Split(bundle, SplitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// §7.2: marking (seq 1), identity (1), ipv4 (3), relationship (6); the custom object is dropped.
	if diff := cmp.Diff([]string{"marking-definition/1", "identity/1", "ipv4-addr/3", "relationship/6"}, ids(res)); diff != "" {
		t.Errorf("parts without cleanup (-want +got):\n%s", diff)
	}
	if len(res.Incompatible) != 1 || !strings.Contains(string(res.Incompatible[0]), "x-custom-thing") {
		t.Errorf("incompatible = %s", res.Incompatible)
	}
	res, err = Split(bundle, SplitOptions{CleanupInconsistent: true})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"marking-definition/1", "identity/1", "ipv4-addr/3"}, ids(res)); diff != "" {
		t.Errorf("parts with cleanup (-want +got):\n%s", diff)
	}
	if len(res.Incompatible) != 2 || !strings.Contains(string(res.Incompatible[0]), `"source_ref": null`) {
		t.Errorf("incompatible with cleanup = %s", res.Incompatible)
	}
}

func TestSplitEventVersionAndBundleID(t *testing.T) {
	res, err := Split([]byte(`{"objects":[{"type":"ipv4-addr","id":"ipv4-addr--1","value":"1.1.1.1"}]}`), SplitOptions{EventVersion: "5"})
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^\{"type": "bundle", "id": "bundle--[0-9a-f-]{36}", "spec_version": "2.1", "x_opencti_seq": 1, "objects": \[\{"type": "ipv4-addr", "id": "ipv4-addr--1", "value": "1.1.1.1", "nb_deps": 1\}\], "x_opencti_event_version": "5"\}$`)
	if len(res.Parts) != 1 || !re.Match(res.Parts[0]) {
		t.Errorf("parts = %s", res.Parts)
	}
}

func TestSplitErrors(t *testing.T) {
	tests := map[string]string{
		"not json":                         `{"objects": [`,
		"not an object":                    `[{"objects": []}]`,
		"no objects":                       `{"type": "bundle", "id": "bundle--1"}`,
		"objects not a list":               `{"objects": {"a": 1}}`,
		"object not an object":             `{"objects": ["ipv4-addr--1"]}`,
		"object without id":                `{"objects": [{"type": "ipv4-addr"}]}`,
		"object with numeric id":           `{"objects": [{"type": "relationship", "id": 5}]}`,
		"object without type":              `{"objects": [{"id": "ipv4-addr--1"}]}`,
		"relationship without source_ref":  `{"objects": [{"type": "relationship", "id": "relationship--1", "target_ref": "x--1"}]}`,
		"refs is a number":                 `{"objects": [{"type": "note", "id": "note--1", "object_refs": 5}]}`,
		"refs holds a number":              `{"objects": [{"type": "note", "id": "note--1", "object_refs": ["a--1", 5]}]}`,
		"refs holds null":                  `{"objects": [{"type": "note", "id": "note--1", "object_refs": [null]}]}`,
		"ref is a number without cleanup":  `{"objects": [{"type": "note", "id": "note--1", "created_by_ref": 5}]}`,
		"ref is a list":                    `{"objects": [{"type": "note", "id": "note--1", "created_by_ref": ["identity--1"]}]}`,
		"external reference not an object": `{"objects": [{"type": "note", "id": "note--1", "external_references": ["https://x"]}]}`,
		"external references a string":     `{"objects": [{"type": "note", "id": "note--1", "external_references": "https://x"}]}`,
		"external references a number":     `{"objects": [{"type": "note", "id": "note--1", "external_references": 1}]}`,
		"kill chain phase not an object":   `{"objects": [{"type": "note", "id": "note--1", "kill_chain_phases": [1]}]}`,
		"extensions a list":                `{"objects": [{"type": "note", "id": "note--1", "extensions": [1]}]}`,
		"opencti extension a string": `{"objects": [{"type": "note", "id": "note--1", "extensions": ` +
			`{"extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba": "x"}}]}`,
		"x_opencti_id a list":         `{"objects": [{"type": "note", "id": "note--1", "x_opencti_id": ["a"]}]}`,
		"sighting null where_sighted": `{"objects": [{"type": "sighting", "id": "sighting--1", "sighting_of_ref": "indicator--1", "where_sighted_refs": null}]}`,
		"nan":                         `{"objects": [{"type": "note", "id": "note--1", "x": NaN}]}`,
		"float overflow":              `{"objects": [{"type": "note", "id": "note--1", "x": 1e999}]}`,
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			res, err := Split([]byte(in), SplitOptions{})
			if !errors.Is(err, ErrInvalidBundle) {
				t.Errorf("Split(%s) = %v, %v; want ErrInvalidBundle", in, res, err)
			}
		})
	}
}

func TestSplitNothingToImport(t *testing.T) {
	for name, in := range map[string]string{
		"empty":             `{"type": "bundle", "id": "bundle--1", "objects": []}`,
		"only custom":       `{"objects": [{"type": "x-thing", "id": "x-thing--1"}]}`,
		"only incompatible": `{"objects": [{"type": "relationship", "id": "relationship--1", "source_ref": "a--1", "target_ref": null}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			res, err := Split([]byte(in), SplitOptions{})
			if !errors.Is(err, ErrNothingToImport) || res == nil || len(res.Parts) != 0 {
				t.Errorf("Split(%s) = %v, %v; want ErrNothingToImport with a result", in, res, err)
			}
		})
	}
}

// TestSplitBundleFromModel splits what this package writes.
func TestSplitBundleFromModel(t *testing.T) {
	objs := sampleObjects(t)
	all := make([]any, 0, len(objs)+1)
	for _, o := range objs {
		all = append(all, o)
	}
	all = append(all, json.RawMessage(`{"type":"ipv4-addr","spec_version":"2.1","id":"ipv4-addr--2f689bf9-0ff2-545f-aa61-e495eb8cecc7","value":"8.8.8.8","x_opencti_id":"entity-internal-id"}`))
	data, err := json.Marshal(NewBundle(all...))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Split(data, SplitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkParts(t, res.Parts)
	// the platform's copy of 8.8.8.8 comes last and wins; the TLP:WHITE marking is
	// referenced but the statement marking and custom types are all supported.
	if got, want := len(res.Parts), len(objs); got != want {
		t.Errorf("%d parts, want %d (one per distinct id)", got, want)
	}
	if len(res.Incompatible) != 0 {
		t.Errorf("incompatible = %s", res.Incompatible)
	}
}
