package main

import (
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestBinariesDoNotLinkTesting checks that the shipped binaries do not link
// package testing (and with it test flags and fixtures): the fakes riskiqctl
// simulate serves must keep their testing-based helpers out of the binary.
func TestBinariesDoNotLinkTesting(t *testing.T) {
	t.Parallel()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found:", err)
	}
	for _, pkg := range []string{"./", "../riskiq-passive-total", "../riskiq-import"} {
		cmd := exec.CommandContext(t.Context(), goBin, "list", "-deps", "-f", "{{.ImportPath}}", pkg)
		out, err := cmd.Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				t.Fatalf("go list %s: %v\n%s", pkg, err, ee.Stderr)
			}
			t.Fatalf("go list %s: %v", pkg, err)
		}
		if slices.Contains(strings.Fields(string(out)), "testing") {
			t.Errorf("go list -deps %s lists package testing", pkg)
		}
	}
}
