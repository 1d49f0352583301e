// Package scrub makes text safe to print or to send to the platform: URLs
// without their credentials, known secrets replaced, control characters and
// terminal escape sequences removed, length bounded.
//
// Every URL the connectors print (configuration problems, client errors,
// retry logs, command output) goes through [URL], and every message sent to
// a work or a terminal through [Text]. [Secrets] is the last line of defence
// for text the connector does not control (an error body that echoes the
// credentials); the real protection is not to echo secrets at all, so it only
// replaces secrets long enough to be told apart from ordinary words.
//
// Apply [Secrets] and [URL] before cutting text: a secret split by a cut is no
// longer recognised.
package scrub

import (
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"
)

// Redacted replaces a credential in printed text.
const Redacted = "REDACTED"

// MinSecretLen is the length below which [Secrets] leaves a secret in place:
// replacing every "p" of a message because a password is "p" corrupts it and
// protects nothing.
const MinSecretLen = 6

// URL returns raw with its credentials removed where they stand: the user
// information (user and password) becomes REDACTED, each query value becomes
// REDACTED (keys are kept, e.g. "?api_key=REDACTED"), and so does a fragment.
// A URL that does not parse is redacted textually: everything between
// "scheme://" and the last "@" is replaced, then the query values and the
// fragment, so that a password holding a reserved character is not printed
// either.
func URL(raw string) string {
	u, err := url.Parse(raw)
	// A second "@", or one outside the user information, may be a password
	// with a reserved character left unescaped, which net/url splits in the
	// middle. Redact textually rather than trust that split.
	if err != nil || u.Opaque != "" || strings.Count(raw, "@") > 1 || (u.User == nil && strings.Contains(raw, "@")) {
		return textualURL(raw)
	}
	if u.User == nil && u.RawQuery == "" && u.Fragment == "" && u.RawFragment == "" {
		return raw // nothing to hide: print it as given
	}
	if u.User != nil {
		u.User = url.User(Redacted)
	}
	if u.RawQuery != "" {
		u.RawQuery = redactQuery(u.RawQuery)
	}
	if u.Fragment != "" || u.RawFragment != "" {
		u.Fragment, u.RawFragment = Redacted, ""
	}
	return u.String()
}

// textualURL redacts a URL that net/url cannot be trusted to split.
func textualURL(raw string) string {
	prefix, rest := "", raw
	if i := strings.Index(raw, "://"); i >= 0 {
		prefix, rest = raw[:i+3], raw[i+3:]
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		return prefix + Redacted + "@" + redactTail(rest[at+1:])
	}
	return prefix + redactTail(rest)
}

// redactTail redacts the query values and the fragment of the part of a URL
// after its user information.
func redactTail(s string) string {
	i := strings.IndexAny(s, "?#")
	if i < 0 {
		return s
	}
	head, tail := s[:i], s[i:]
	var frag string
	if j := strings.IndexByte(tail, '#'); j >= 0 {
		tail, frag = tail[:j], tail[j:]
	}
	if tail != "" { // "?..."
		head += "?" + redactQuery(tail[1:])
	}
	if len(frag) > 1 {
		head += "#" + Redacted
	} else {
		head += frag
	}
	return head
}

// redactQuery replaces every value of a raw query by REDACTED, keeping the
// keys and their order.
func redactQuery(q string) string {
	var b strings.Builder
	for i, pair := range strings.FieldsFunc(q, func(r rune) bool { return r == '&' || r == ';' }) {
		if i > 0 {
			b.WriteByte('&')
		}
		key, _, hasValue := strings.Cut(pair, "=")
		b.WriteString(key)
		if hasValue {
			b.WriteString("=" + Redacted)
		}
	}
	return b.String()
}

// Secrets returns s with every occurrence of each secret of at least
// [MinSecretLen] bytes replaced by REDACTED; shorter and empty secrets are
// ignored. Longer secrets are replaced first, so that a secret containing
// another is replaced whole.
func Secrets(s string, secrets ...string) string {
	list := make([]string, 0, len(secrets))
	for _, sec := range secrets {
		if len(sec) >= MinSecretLen {
			list = append(list, sec)
		}
	}
	slices.SortFunc(list, func(a, b string) int { return len(b) - len(a) })
	for _, sec := range list {
		s = strings.ReplaceAll(s, sec, Redacted)
	}
	return s
}

// Truncated ends a text that [Text] cut.
const Truncated = "… (truncated)"

// Text returns s as one printable line of at most maxBytes bytes (no bound
// when maxBytes <= 0): invalid UTF-8 replaced by U+FFFD; terminal escape
// sequences (ESC and C1 CSI/OSC sequences) removed; line breaks, including
// U+2028 and U+2029, joined with "; "; tabs and other white space runs
// collapsed to one space; other C0 and C1 controls, DEL and the bidirectional
// overrides removed; surrounding space trimmed. A cut text ends with
// [Truncated] and still fits in maxBytes.
func Text(s string, maxBytes int) string {
	var b strings.Builder
	b.Grow(min(len(s), max(maxBytes, 0)+len(Truncated)))
	pendingSpace, pendingBreak := false, false
	limit := maxBytes
	if limit <= 0 {
		limit = int(^uint(0) >> 1)
	}
	cut := false
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:]) // invalid UTF-8 gives U+FFFD, size 1
		switch {
		case r == 0x1b: // ESC
			i += size + escapeLen(s[i+size:])
			continue
		case r == 0x9b: // C1 CSI
			i += size + csiLen(s[i+size:])
			continue
		case r == 0x9d || r == 0x90 || r == 0x98 || r == 0x9e || r == 0x9f: // C1 OSC, DCS, SOS, PM, APC
			i += size + stringLen(s[i+size:])
			continue
		case r == '\n' || r == '\r' || r == '\v' || r == '\f' || r == 0x85 || r == 0x2028 || r == 0x2029:
			pendingBreak = true
			i += size
			continue
		case r == ' ' || r == '\t' || r == 0xa0:
			pendingSpace = true
			i += size
			continue
		case r < 0x20 || (r >= 0x7f && r < 0xa0) || isBidiControl(r):
			i += size
			continue
		}
		sep := ""
		if b.Len() > 0 {
			switch {
			case pendingBreak:
				sep = "; "
			case pendingSpace:
				sep = " "
			}
		}
		pendingSpace, pendingBreak = false, false
		if b.Len()+len(sep)+utf8.RuneLen(r) > limit {
			cut = true
			break
		}
		b.WriteString(sep)
		b.WriteRune(r)
		i += size
	}
	if !cut {
		return b.String()
	}
	out := b.String()
	keep := max(limit-len(Truncated), 0)
	for keep > 0 && keep < len(out) && !utf8.RuneStart(out[keep]) {
		keep--
	}
	out = strings.TrimRight(out[:min(keep, len(out))], " ;")
	if len(out)+len(Truncated) > limit {
		return out
	}
	return out + Truncated
}

// escapeLen is the length of the escape sequence after an ESC: a CSI
// ("[" parameters, final byte), an OSC, DCS, SOS, PM or APC string, or one
// character.
func escapeLen(s string) int {
	if s == "" {
		return 0
	}
	switch s[0] {
	case '[':
		return 1 + csiLen(s[1:])
	case ']', 'P', 'X', '^', '_':
		return 1 + stringLen(s[1:])
	}
	if s[0] < 0x20 || s[0] >= 0x7f {
		return 0 // not part of a sequence: handle it on its own
	}
	return 1
}

// csiLen is the length of a control sequence's parameters, intermediates and
// final byte (0x40-0x7e); it stops at anything else.
func csiLen(s string) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 0x20 && c <= 0x3f:
			continue
		case c >= 0x40 && c <= 0x7e:
			return i + 1
		default:
			return i
		}
	}
	return len(s)
}

// stringLen is the length of a control string up to and including its
// terminator: BEL, ESC \ or C1 ST.
func stringLen(s string) int {
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == 0x07:
			return i + 1
		case s[i] == 0x1b && i+1 < len(s) && s[i+1] == '\\':
			return i + 2
		case strings.HasPrefix(s[i:], "\u009c"):
			return i + len("\u009c")
		}
	}
	return len(s)
}

// isBidiControl reports the Unicode bidirectional formatting characters,
// which reorder what a terminal shows.
func isBidiControl(r rune) bool {
	return r == 0x061c || r == 0x200e || r == 0x200f || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
}
