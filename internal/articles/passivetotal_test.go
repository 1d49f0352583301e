package articles

import (
	"strings"
	"testing"

	"github.com/riskiq-opencti/connectors/internal/passivetotal"
	"github.com/riskiq-opencti/connectors/internal/passivetotal/passivetotaltest"
)

// TestArticleListWrongBaseURL checks a base URL without /v2 is reported as a
// configuration problem, not as a missing article.
func TestArticleListWrongBaseURL(t *testing.T) {
	t.Parallel()
	srv := passivetotaltest.NewServer(t)
	c, err := passivetotal.New(srv.RootURL(), "analyst@example.com", "k3y", passivetotal.WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range (PassiveTotal{Client: c}).Articles(t.Context(), nil) { // the first item tells
		if err == nil {
			t.Fatal("articles listed from a base URL without /v2")
		}
		if !strings.Contains(err.Error(), "check RISKIQ_BASE_URL") || strings.Contains(err.Error(), "article not found") {
			t.Errorf("error = %v, want a hint about RISKIQ_BASE_URL", err)
		}
		return
	}
	t.Fatal("no error from a base URL without /v2")
}
