package enrichment

import (
	"errors"
	"fmt"
)

// TEMPORARY until the defenderti client lands (merge defclient).
var (
	errTmpNotFound = errors.New("not found")
	errTmpDenied   = errors.New("access denied")
)

func isNotFound(err error) bool     { return errors.Is(err, errTmpNotFound) }
func isAccessDenied(err error) bool { return errors.Is(err, errTmpDenied) }

func describeDefender(err error) error { return fmt.Errorf("defender ti lookup failed: %w", err) }
