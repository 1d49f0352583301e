package config

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxShownValue is how many characters of a bad value a Problem prints.
const maxShownValue = 120

// Problem is one invalid or missing setting. Its message names the environment
// variable, the config.yml key, the offending value (REDACTED when Secret) and
// what is accepted, e.g.
//
//	CONNECTOR_TYPE (config.yml: connector.type) = "FOO": must be one of EXTERNAL_IMPORT, ...
type Problem struct {
	// Env is the environment variable name, "" when the setting has none.
	Env string
	// Key is the config.yml path "section.key", "" when the setting has none.
	Key string
	// Value is the offending value as read, "" when missing.
	Value string
	// Secret hides Value in the message.
	Secret bool
	// Reason says what is wrong and what is accepted.
	Reason string
}

// Error formats the problem; a secret value prints as REDACTED.
func (p *Problem) Error() string {
	var b strings.Builder
	b.WriteString(subject(p.Env, p.Key))
	if p.Value != "" {
		b.WriteString(" = ")
		if p.Secret {
			b.WriteString(redacted)
		} else {
			b.WriteString(strconv.Quote(shorten(p.Value)))
		}
	}
	b.WriteString(": ")
	b.WriteString(p.Reason)
	return b.String()
}

// subject names a setting by its environment variable and config.yml key.
func subject(env, key string) string {
	switch {
	case env != "" && key != "":
		return env + " (config.yml: " + key + ")"
	case env != "":
		return env
	case key != "":
		return "config.yml: " + key
	default:
		return "configuration"
	}
}

// shorten cuts long values (PEM blocks, pasted documents) for messages.
func shorten(s string) string {
	if utf8.RuneCountInString(s) <= maxShownValue {
		return s
	}
	r := []rune(s)
	return string(r[:maxShownValue]) + "..."
}
