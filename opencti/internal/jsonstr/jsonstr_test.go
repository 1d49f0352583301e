package jsonstr

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestAppend(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", `""`},
		{"plain ascii", `"plain ascii"`},
		{`a "q" \ <b>&`, `"a \"q\" \\ <b>&"`},
		{"\n\r\t\x00\x01\x08\x0c\x1f\x7f", `"\n\r\t\u0000\u0001\u0008\u000c\u001f` + "\x7f" + `"`},
		{"ü € 😀", `"ü € 😀"`},
		{"\u2028\u2029", `"\u2028\u2029"`},
		{"a\xffb\xc3", `"a\ufffdb\ufffd"`},
		{"\xed\xa0\x80", `"\ufffd\ufffd\ufffd"`}, // a UTF-16 surrogate is not UTF-8
	}
	for _, tt := range tests {
		if got := string(Append([]byte("x"), tt.in)); got != "x"+tt.want {
			t.Errorf("Append(%q) = %s, want x%s", tt.in, got, tt.want)
		}
	}
}

// FuzzAppend checks that the output is JSON that decodes to s, bytes that
// are not UTF-8 replaced one by one with U+FFFD.
func FuzzAppend(f *testing.F) {
	for _, s := range []string{"", "a\"b\\c\n", "\x01\u2028\xff", "<&>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Append(nil, s)
		var got string
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("Append(%q) = %s: %v", s, out, err)
		}
		var want strings.Builder
		for i := 0; i < len(s); {
			r, n := utf8.DecodeRuneInString(s[i:])
			want.WriteRune(r) // RuneError for an invalid byte
			i += n
		}
		if got != want.String() {
			t.Fatalf("Append(%q) decodes to %q, want %q", s, got, want.String())
		}
	})
}
