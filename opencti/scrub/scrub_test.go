package scrub_test

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/riskiq-opencti/connectors/opencti/scrub"
)

func TestURL(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "https://api.riskiq.net/pt/v2", "https://api.riskiq.net/pt/v2"},
		{"empty", "", ""},
		{"userinfo", "https://user:PW-secret@api.riskiq.net/pt", "https://REDACTED@api.riskiq.net/pt"},
		{"user only", "http://analyst@opencti:8080", "http://REDACTED@opencti:8080"},
		{"unparsable port with password", "https://user:PW-secret@host:badport/pt", "https://REDACTED@host:badport/pt"},
		{"unparsable escape in password", "https://user:PW%zz@host/pt", "https://REDACTED@host/pt"},
		{"slash in password", "https://user:PW/secret@host/pt", "https://REDACTED@host/pt"},
		{"digits and slash in password", "https://user:12/secret@host/pt", "https://REDACTED@host/pt"},
		{"at and question mark in password", "https://user:p@ss/w?rd@host/pt", "https://REDACTED@host/pt"},
		{"no scheme", "user:PW-secret@host/pt", "REDACTED@host/pt"},
		{"query api_key", "https://api.riskiq.net/pt?api_key=K-secret", "https://api.riskiq.net/pt?api_key=REDACTED"},
		{"query in OPENCTI_URL", "http://opencti:8080/?token=T-secret&x=1", "http://opencti:8080/?token=REDACTED&x=REDACTED"},
		{"query key without value", "http://opencti:8080/?debug&token=T-secret", "http://opencti:8080/?debug&token=REDACTED"},
		{"query with semicolons", "http://opencti:8080/?a=1;token=T-secret", "http://opencti:8080/?a=REDACTED&token=REDACTED"},
		{"unparsable with query", "http://host:badport/x?api_key=K-secret", "http://host:badport/x?api_key=REDACTED"},
		{"userinfo and query", "https://u:PW-secret@host/pt?api_key=K-secret", "https://REDACTED@host/pt?api_key=REDACTED"},
		{"unparsable userinfo and query", "https://u:PW-secret@host:x/pt?api_key=K-secret#frag", "https://REDACTED@host:x/pt?api_key=REDACTED#REDACTED"},
		{"fragment", "https://host/pt#access_token=F-secret", "https://host/pt#REDACTED"},
		{"digits and question mark in password", "https://user:12345678?x@host/pt", "https://REDACTED@host/pt"},
		{"digits and hash in password", "https://user:12345678#x@host/pt", "https://REDACTED@host/pt"},
		// An "@" outside the user information is read as the end of one:
		// over-redacting a rare URL beats printing a password.
		{"email in query, no userinfo", "https://host/pt?email=a@example.com", "https://REDACTED@example.com"},
		{"not a URL", "not a url", "not a url"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := scrub.URL(tc.in)
			if got != tc.want {
				t.Errorf("URL(%q) = %q, want %q", tc.in, got, tc.want)
			}
			for _, s := range []string{"PW", "secret", "K-secret", "T-secret", "F-secret", "p@ss"} {
				if strings.Contains(tc.in, s) && strings.Contains(got, s) {
					t.Errorf("URL(%q) = %q still shows %q", tc.in, got, s)
				}
			}
		})
	}
}

func TestSecrets(t *testing.T) {
	const msg = "passivetotal: articles page 0: HTTP 500"
	tests := []struct {
		name    string
		in      string
		secrets []string
		want    string
	}{
		{"one-letter password leaves the text alone", msg, []string{"p"}, msg},
		{"five letters are too short to tell apart", "the key abcde", []string{"abcde"}, "the key abcde"},
		{"long secret replaced everywhere", "key k3y-s3cret then k3y-s3cret", []string{"k3y-s3cret"}, "key REDACTED then REDACTED"},
		{"empty secret ignored", msg, []string{""}, msg},
		{"longest first", "token abcdefghij", []string{"abcdef", "abcdefghij"}, "token REDACTED"},
		{"several", "u=user-name-1 k=key-value-2", []string{"user-name-1", "key-value-2", "p"}, "u=REDACTED k=REDACTED"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := scrub.Secrets(tc.in, tc.secrets...); got != tc.want {
				t.Errorf("Secrets(%q, %q) = %q, want %q", tc.in, tc.secrets, got, tc.want)
			}
		})
	}
}

// TestSecretsBeforeCut puts a secret across the 1 KiB cut at every offset:
// redacting first never leaves a piece of it, cutting first would.
func TestSecretsBeforeCut(t *testing.T) {
	const secret = "0123456789abcdef-secret-key"
	const limit = 1 << 10
	for off := limit - len(secret) - 2; off <= limit+2; off++ {
		body := strings.Repeat("x", off) + secret + strings.Repeat("y", 100)
		got := scrub.Text(scrub.Secrets(body, secret), limit)
		if len(got) > limit {
			t.Fatalf("offset %d: %d bytes, want at most %d", off, len(got), limit)
		}
		for n := 4; n <= len(secret); n++ {
			if strings.Contains(got, secret[:n]) {
				t.Fatalf("offset %d: the first %d bytes of the secret survive: ...%q", off, n, got[max(len(got)-60, 0):])
			}
		}
	}
}

func TestText(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		want string
	}{
		{"plain", "no information found", 0, "no information found"},
		{"erase screen", "a\x1b[2Jb", 0, "ab"},
		{"colours", "\x1b[1;31mred\x1b[0m text", 0, "red text"},
		{"osc title with bel", "\x1b]0;pwned\x07after", 0, "after"},
		{"osc title with st", "\x1b]0;pwned\x1b\\after", 0, "after"},
		{"c1 csi", "a\u009b2Jb", 0, "ab"},
		{"single esc", "a\x1bcb", 0, "ab"},
		{"esc at end", "a\x1b", 0, "a"},
		{"line breaks", "first\nsecond\r\nthird\n\n", 0, "first; second; third"},
		{"unicode line separators", "a\u2028b\u2029c\u0085d", 0, "a; b; c; d"},
		{"tabs and spaces", "a\t\t b", 0, "a b"},
		{"other controls", "a\x00b\x07c\x7fd\u0080e", 0, "abcde"},
		{"bidi overrides", "evil\u202egnp.exe\u2066x\u2069", 0, "evilgnp.exex"},
		{"invalid utf-8", "a\xffb", 0, "a\uFFFDb"},
		{"trimmed", "  \n spaced \n ", 0, "spaced"},
		{"fits exactly", "abcdef", 6, "abcdef"},
		{"cut", strings.Repeat("a", 40), 20, strings.Repeat("a", 20-len(scrub.Truncated)) + scrub.Truncated},
		{"tiny bound", "abcdef", 3, "abc"[:0]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := scrub.Text(tc.in, tc.max); got != tc.want {
				t.Errorf("Text(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
			}
		})
	}
}

// TestTextHostile is the case: a 50 KB message full of escape
// sequences and line breaks becomes one bounded, printable line.
func TestTextHostile(t *testing.T) {
	var b strings.Builder
	for b.Len() < 50_000 {
		b.WriteString("quota \x1b[2J\x1b[H exceeded\r\n\x1b]0;owned\x07 é\u009b31m\u202e\x00;")
	}
	for _, limit := range []int{1 << 10, 1000, 77} {
		got := scrub.Text(b.String(), limit)
		checkClean(t, got, limit)
		if !strings.HasSuffix(got, scrub.Truncated) {
			t.Errorf("Text(50 KB, %d) does not say it was cut: ...%q", limit, got[max(len(got)-40, 0):])
		}
	}
}

// checkClean fails unless s is valid UTF-8 of at most limit bytes without
// control or bidirectional formatting characters.
func checkClean(t *testing.T, s string, limit int) {
	t.Helper()
	if len(s) > limit {
		t.Errorf("%d bytes, want at most %d", len(s), limit)
	}
	if !utf8.ValidString(s) {
		t.Errorf("not valid UTF-8: %q", s)
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			t.Fatalf("control character %U in %q", r, s)
		}
	}
}

// TestTextMultibyteCut cuts inside multi-byte runes at every bound.
func TestTextMultibyteCut(t *testing.T) {
	in := strings.Repeat("é€😀", 50)
	for limit := 1; limit < 120; limit++ {
		checkClean(t, scrub.Text(in, limit), limit)
	}
}

func FuzzText(f *testing.F) {
	f.Add("a\x1b[2Jb\nc", 1024)
	f.Add("\x1b]0;x", 5)
	f.Add("\xff\xfe\u009b", 3)
	f.Fuzz(func(t *testing.T, s string, limit int) {
		limit = limit%4096 + 1
		if limit <= 0 {
			limit += 4096
		}
		checkClean(t, scrub.Text(s, limit), limit)
	})
}

func FuzzURL(f *testing.F) {
	f.Add("https://user:pass-secret@host:badport/pt?api_key=pass-secret")
	f.Add("http://h/?a=pass-secret#pass-secret")
	f.Fuzz(func(t *testing.T, raw string) {
		got := scrub.URL(raw)
		u, p, ok := strings.Cut(raw, "://")
		if !ok || strings.ContainsAny(u, "@?#/") {
			return
		}
		// A password between "://user:" and the last "@" never survives.
		at := strings.LastIndex(p, "@")
		if _, pw, found := strings.Cut(p[:max(at, 0)], ":"); at > 0 && found && len(pw) >= 8 &&
			!strings.Contains(scrub.Redacted, pw) && !strings.Contains(p[at:], pw) && strings.Contains(got, pw) {
			t.Errorf("URL(%q) = %q shows the password %q", raw, got, pw)
		}
	})
}
