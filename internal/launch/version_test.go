package launch

import (
	"runtime/debug"
	"testing"
)

func TestVersion(t *testing.T) {
	t.Parallel()
	module := func(v string) *debug.BuildInfo {
		return &debug.BuildInfo{Main: debug.Module{Path: "github.com/riskiq-opencti/connectors", Version: v}}
	}
	tests := []struct {
		name    string
		stamped string
		info    *debug.BuildInfo
		ok      bool
		want    string
	}{
		{"stamped wins", "1.4.0", module("v1.3.0"), true, "1.4.0"},
		{"go install @latest", "", module("v1.3.0"), true, "v1.3.0"},
		{"checkout pseudo-version", "", module("v0.0.0-20261201120000-abcdef123456+dirty"), true, "v0.0.0-20261201120000-abcdef123456+dirty"},
		{"devel", "", module("(devel)"), true, "dev"},
		{"no build info", "", nil, false, "dev"},
	}
	for _, tt := range tests {
		if got := versionOf(tt.stamped, tt.info, tt.ok); got != tt.want {
			t.Errorf("%s: versionOf(%q) = %q, want %q", tt.name, tt.stamped, got, tt.want)
		}
	}
	if got := Version("9.9.9"); got != "9.9.9" {
		t.Errorf("Version(9.9.9) = %q", got)
	}
}
