package enrichment

import "testing"

// TestVariablesAreNotShared checks that the table other packages read cannot
// be changed through a returned slice.
func TestVariablesAreNotShared(t *testing.T) {
	t.Parallel()
	vars := Variables()
	env := vars[0].Env
	vars[0].Env = "CHANGED"
	if got := Variables()[0].Env; got != env {
		t.Errorf("Variables()[0].Env = %q after a caller changed its copy, want %q", got, env)
	}
}
