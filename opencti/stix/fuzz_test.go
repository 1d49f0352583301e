package stix

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzSplit checks that Split never panics and that whatever it returns is a list of valid,
// ordered, one-object bundles. Seeds are the bundles of testdata/split.
func FuzzSplit(f *testing.F) {
	paths, err := filepath.Glob("testdata/split/*/bundle.json")
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, false)
		f.Add(data, true)
	}
	f.Add([]byte(`{"objects":[{"type":"note","id":"note--1","object_refs":"note--1","x_ref":1}]}`), true)
	f.Fuzz(func(t *testing.T, data []byte, cleanup bool) {
		res, err := Split(data, SplitOptions{CleanupInconsistent: cleanup, EventVersion: "1"})
		switch {
		case err == nil:
			if len(res.Parts) == 0 {
				t.Fatal("no parts and no error")
			}
			checkParts(t, res.Parts)
		case errors.Is(err, ErrNothingToImport):
			if res == nil || len(res.Parts) != 0 {
				t.Fatalf("ErrNothingToImport with result %v", res)
			}
		case !errors.Is(err, ErrInvalidBundle):
			t.Fatalf("unexpected error %v", err)
		}
	})
}
