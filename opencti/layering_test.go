package opencti_test

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// module is the import path of this module, whose SDK lives under module/opencti.
const module = "github.com/riskiq-opencti/connectors"

// TestSDKImportsNothingOfTheApplication checks that the SDK stands on its own:
// no package under opencti/ (tests included) depends on a package of the module
// outside opencti/, such as internal/ code of the RiskIQ connectors, which other
// modules could not import. opencti/internal/... is the SDK's own.
func TestSDKImportsNothingOfTheApplication(t *testing.T) {
	t.Parallel()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found:", err)
	}
	cmd := exec.CommandContext(t.Context(), goBin, "list", "-deps", "-test", "-f", "{{.ImportPath}}", module+"/opencti/...")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	if bad := outsideSDK(string(out)); len(bad) > 0 {
		t.Errorf("the SDK depends on packages of the module outside opencti/:\n%s", strings.Join(bad, "\n"))
	}
}

// outsideSDK returns the packages of the module, listed one per line by
// go list (test variants included), that are not part of the SDK.
func outsideSDK(list string) []string {
	var bad []string
	for line := range strings.Lines(list) {
		pkg, _, _ := strings.Cut(strings.TrimSpace(line), " ") // "p [p.test]" for test variants
		pkg = strings.TrimSuffix(pkg, ".test")
		pkg = strings.TrimSuffix(pkg, "_test")
		if pkg != module && !strings.HasPrefix(pkg, module+"/") {
			continue // standard library or another module
		}
		if pkg == module+"/opencti" || strings.HasPrefix(pkg, module+"/opencti/") {
			continue
		}
		bad = append(bad, strings.TrimSpace(line))
	}
	return bad
}

func TestOutsideSDK(t *testing.T) {
	t.Parallel()
	list := strings.Join([]string{
		"fmt",
		"github.com/google/renameio/v2",
		module + "/opencti",
		module + "/opencti/internal/testenv",
		module + "/opencti/openctitest [" + module + "/opencti/openctitest.test]",
		module + "/opencti_test [" + module + "/opencti.test]",
		module + "/opencti.test",
		module + "/internal/atomicfile",
		module + "/internal/testenv [" + module + "/opencti/openctitest.test]",
		module + "/openctiextra",
	}, "\n") + "\n"
	got := outsideSDK(list)
	want := []string{
		module + "/internal/atomicfile",
		module + "/internal/testenv [" + module + "/opencti/openctitest.test]",
		module + "/openctiextra",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("outsideSDK() = %q, want %q", got, want)
	}
}
