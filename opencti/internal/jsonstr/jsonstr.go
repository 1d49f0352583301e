// Package jsonstr writes JSON strings the way encoding/json does without
// HTML escaping, for the SDK's hand-written encoders (log lines, STIX
// objects). Python's json.dumps form (ensure_ascii) is pyjson.AppendString.
package jsonstr

import "unicode/utf8"

// Append appends s to b as a JSON string: ", \ and control characters
// escaped (\n, \r, \t, else \u00XX), U+2028 and U+2029 escaped, other
// characters kept as UTF-8; each byte that is not valid UTF-8 becomes
// \ufffd. Unlike encoding/json it does not escape <, > and &, nor \b and \f
// by their short forms.
func Append(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
