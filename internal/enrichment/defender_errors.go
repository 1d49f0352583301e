package enrichment

import (
	"errors"
	"fmt"

	"github.com/riskiq-opencti/connectors/internal/defenderti"
)

// isNotFound reports a Graph 404: a host Defender TI does not know.
func isNotFound(err error) bool { return errors.Is(err, defenderti.ErrNotFound) }

// isAccessDenied reports a Graph 403 (permission, consent, licence, tenant
// verification): nothing changes until an administrator acts.
func isAccessDenied(err error) bool { return errors.Is(err, defenderti.ErrAccessDenied) }

// describeDefender turns client errors into the messages operators read on
// the work. The client's errors already name the endpoint, status, Graph code
// and message (or the AADSTS code and a hint); this says what to check.
func describeDefender(err error) error {
	switch {
	case errors.Is(err, defenderti.ErrAuthentication):
		return fmt.Errorf("microsoft defender ti lookup failed, check DEFENDER_TI_TENANT_ID, DEFENDER_TI_CLIENT_ID and the client secret or certificate: %w", err)
	case errors.Is(err, defenderti.ErrAccessDenied):
		return fmt.Errorf("microsoft defender ti lookup refused, an administrator must act (Microsoft's message follows): %w", err)
	default:
		return fmt.Errorf("microsoft defender ti lookup failed: %w", err)
	}
}
