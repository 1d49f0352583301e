package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFileAtomic(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "new", "dir")
	path := filepath.Join(dir, "bundle.json")
	for _, body := range []string{`{"a":1}`, `{"a":2}`} {
		if err := writeFileAtomic(path, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != `{"a":2}` {
		t.Fatalf("ReadFile() = %q, %v", got, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 {
		t.Errorf("directory holds %d entries (%v), want the file alone (no temporary left)", len(entries), err)
	}
	if err := writeFileAtomic(filepath.Join(path, "under-a-file.json"), nil); err == nil {
		t.Error("writeFileAtomic() under a regular file succeeded")
	}
}
