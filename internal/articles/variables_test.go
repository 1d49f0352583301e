package articles_test

import (
	"testing"

	"github.com/riskiq-opencti/connectors/internal/articles"
)

// TestTablesAreNotShared checks that the tables other packages read cannot be
// changed through a returned slice.
func TestTablesAreNotShared(t *testing.T) {
	t.Parallel()
	vars := articles.Variables()
	env := vars[0].Env
	vars[0].Env = "CHANGED"
	if got := articles.Variables()[0].Env; got != env {
		t.Errorf("Variables()[0].Env = %q after a caller changed its copy, want %q", got, env)
	}
	types := articles.TagEntityTypes()
	first := types[0]
	types[0] = "Changed"
	if got := articles.TagEntityTypes()[0]; got != first {
		t.Errorf("TagEntityTypes()[0] = %q after a caller changed its copy, want %q", got, first)
	}
}
