package config

import (
	"fmt"
	"log/slog"
	"strconv"

	"github.com/riskiq-opencti/connectors/opencti/scrub"
)

// redacted is what a non-empty Secret prints everywhere.
const redacted = scrub.Redacted

// Secret is a configuration value that must never be printed: an API token, a
// password, a private key. Every way of printing or encoding it (fmt verbs,
// slog, JSON, YAML, text) yields "REDACTED", or "" when the secret is empty so
// that a missing value stays visible. Reveal returns the real value.
type Secret string

// Reveal returns the real value, for the one place that needs it (an HTTP
// header, a broker login).
func (s Secret) Reveal() string { return string(s) }

func (s Secret) shown() string {
	if s == "" {
		return ""
	}
	return redacted
}

// String returns "REDACTED", or "" when the secret is empty.
func (s Secret) String() string { return s.shown() }

// GoString returns "REDACTED", or "" when the secret is empty, so that %#v does
// not print the value either.
func (s Secret) GoString() string { return s.shown() }

// Format prints "REDACTED" (quoted for %q) whatever the verb and flags.
func (s Secret) Format(f fmt.State, verb rune) {
	out := s.shown()
	if verb == 'q' {
		out = strconv.Quote(out)
	}
	_, _ = f.Write([]byte(out))
}

// LogValue makes slog print "REDACTED" instead of the value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.shown()) }

// MarshalJSON encodes the secret as the JSON string "REDACTED".
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(s.shown())), nil }

// MarshalYAML encodes the secret as the YAML string "REDACTED".
func (s Secret) MarshalYAML() (any, error) { return s.shown(), nil }

// MarshalText encodes the secret as the text "REDACTED".
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.shown()), nil }
