package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDemo runs the README's quick start, "make demo", on a copy of the
// repository's working tree (tracked and new files, as a clone of the next
// commit would hold, without ./out or ./bin), with a caller environment that
// holds connector settings the demo must ignore, and checks it exits 0, writes
// bundles and stops its simulator.
func TestDemo(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds riskiqctl and runs the demo")
	}
	for _, tool := range []string{"make", "bash", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	copyWorkingTree(t, root, dst)

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "make", "demo")
	cmd.Dir = dst
	cmd.Env = append(os.Environ(),
		"OPENCTI_URL=http://127.0.0.1:1", "OPENCTI_TOKEN=caller-token", // would make import resolve tags there
		"RISKIQ_BASE_URL=http://127.0.0.1:1/pt", "RISKIQ_MAX_TLP=not-a-tlp",
		"DEFENDER_TI_PAGE_SIZE=not-a-number", "DEFENDER_TI_HOST_REPUTATION=maybe")
	cmd.WaitDelay = 10 * time.Second
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("make demo took %s", time.Since(start).Round(time.Second))
	if err != nil {
		t.Fatalf("make demo: %v\n%s", err, out)
	}
	noStackTrace(t, string(out))
	for _, want := range []string{
		"lookup: wrote 1 bundle to out/lookup (",
		"import: wrote ",
		" to out/import (",
		" report\n",
		"Done: STIX 2.1 bundles in out/lookup/ and out/import/",
		"lookup: wrote 2 bundles to out/defender/lookup (",
		" to out/defender/import (",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("make demo output lacks %q:\n%s", want, out)
		}
	}

	checkBundles(t, filepath.Join(dst, "out", "lookup"), "domain-name", 1)
	checkBundles(t, filepath.Join(dst, "out", "import"), "report", 2)
	checkBundles(t, filepath.Join(dst, "out", "defender", "lookup"), "domain-name", 2)
	checkBundles(t, filepath.Join(dst, "out", "defender", "import"), "report", 2)
	log, err := os.ReadFile(filepath.Join(dst, "out", "simulator.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "PassiveTotal simulator stopped") {
		t.Errorf("the simulator was not stopped cleanly:\n%s", log)
	}
}

// copyWorkingTree copies the files git tracks or would add (not ignored),
// without ./out and ./bin, from root to dst.
func copyWorkingTree(t *testing.T, root, dst string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = root
	list, err := cmd.Output()
	if err != nil {
		t.Skipf("not a git working tree: %v", err)
	}
	for name := range strings.SplitSeq(strings.TrimRight(string(list), "\x00"), "\x00") {
		if strings.HasPrefix(name, "out/") || strings.HasPrefix(name, "bin/") {
			continue
		}
		src := filepath.Join(root, filepath.FromSlash(name))
		info, err := os.Lstat(src)
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted in the working tree
		}
		if err != nil {
			t.Fatal(err)
		}
		if !info.Mode().IsRegular() {
			continue
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		target := filepath.Join(dst, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(target), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(target, b, info.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
}

// checkBundles checks dir holds at least minFiles STIX bundles, each with an
// object of type wantType.
func checkBundles(t *testing.T, dir, wantType string, minFiles int) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < minFiles {
		t.Fatalf("%s holds %d bundles, want at least %d", dir, len(files), minFiles)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var bundle struct {
			Type    string `json:"type"`
			Objects []struct {
				Type string `json:"type"`
			} `json:"objects"`
		}
		if err := json.NewDecoder(bytes.NewReader(b)).Decode(&bundle); err != nil || bundle.Type != "bundle" {
			t.Errorf("%s is not a STIX bundle: %v", f, err)
			continue
		}
		found := false
		for _, o := range bundle.Objects {
			found = found || o.Type == wantType
		}
		if !found {
			t.Errorf("%s has no %s object", f, wantType)
		}
	}
}
