package pyjson

import (
	"encoding/json"
	"errors"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The expected outputs were produced by Python 3.11: json.dumps(json.loads(in)).
func TestRoundTripMatchesPython(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"separators", `{"a":1,"b":[true,false,null],"c":{"d":"e"}}`, `{"a": 1, "b": [true, false, null], "c": {"d": "e"}}`},
		{"duplicate key keeps first position last value", `{"a":1,"b":2,"a":3}`, `{"a": 3, "b": 2}`},
		{"numbers", `[1E2, 1e+2, -0, 0.0, -0.0, 1.5, 0.00001, 1e16, 12345678901234567890123, 1.0e-7, 5e-324, 2.5E+10]`,
			`[100.0, 100.0, 0, 0.0, -0.0, 1.5, 1e-05, 1e+16, 12345678901234567890123, 1e-07, 5e-324, 25000000000.0]`},
		{"escapes", `"\u00e9\ud83d\ude00\u2028<>&/\/\b\f\n\r\t\u0001\u007f"`, `"\u00e9\ud83d\ude00\u2028<>&//\b\f\n\r\t\u0001\u007f"`},
		{"raw non-ascii", "\"\u00e9\U0001F600\u2028 raw\"", `"\u00e9\ud83d\ude00\u2028 raw"`},
		{"lone surrogates", `"\ud800 lone \udc00 \ud800\u0041"`, `"\ud800 lone \udc00 \ud800A"`},
		{"whitespace and empties", `  {"nested": [[], {}, [{}]], "k\u00fc": "v"}  `, `{"nested": [[], {}, [{}]], "k\u00fc": "v"}`},
		{"extreme floats", `{"x": 1.7976931348623157e308, "y": -1e-300, "z": 100000000000000000000.0}`, `{"x": 1.7976931348623157e+308, "y": -1e-300, "z": 1e+20}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Unmarshal([]byte(tt.in))
			if err != nil {
				t.Fatalf("Unmarshal(%s) error: %v", tt.in, err)
			}
			got, err := Marshal(v)
			if err != nil {
				t.Fatalf("Marshal error: %v", err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("round trip of %s (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestUnmarshalRejects(t *testing.T) {
	for _, in := range []string{
		``, `{`, `[1,]`, `{"a":1,}`, `{"a" 1}`, `{1:2}`, `01`, `1.`, `1e`, `-`, `.5`, `NaN`, `Infinity`,
		`-Infinity`, `1e400`, `"\x01"`, `"abc`, `"\x"`, `"\u12"`, `tru`, `[1] 2`, "\"\xff\"", "\"a\\n\xc3\"",
		"\xef\xbb\xbf{}",
	} {
		if _, err := Unmarshal([]byte(in)); !errors.Is(err, ErrSyntax) {
			t.Errorf("Unmarshal(%q) error = %v, want ErrSyntax", in, err)
		}
	}
}

func TestUnmarshalDepthLimit(t *testing.T) {
	deep := make([]byte, 0, 2*maxDepth+2)
	for range maxDepth + 1 {
		deep = append(deep, '[')
	}
	for range maxDepth + 1 {
		deep = append(deep, ']')
	}
	if _, err := Unmarshal(deep); !errors.Is(err, ErrSyntax) {
		t.Errorf("Unmarshal(%d nested arrays) error = %v, want ErrSyntax", maxDepth+1, err)
	}
	if _, err := Unmarshal(deep[1 : len(deep)-1]); err != nil {
		t.Errorf("Unmarshal(%d nested arrays) error = %v, want nil", maxDepth, err)
	}
}

// Expected strings are Python 3.11 repr(float) values.
func TestFormatFloat(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{1e16, "1e+16"},
		{1e15, "1000000000000000.0"},
		{1234567890123456.7, "1234567890123456.8"},
		{0.0001, "0.0001"},
		{0.00001, "1e-05"},
		{1.5e300, "1.5e+300"},
		{math.Copysign(0, -1), "-0.0"},
		{0, "0.0"},
		{1, "1.0"},
		{100, "100.0"},
		{5e-324, "5e-324"},
		{math.MaxFloat64, "1.7976931348623157e+308"},
		{123456789012345680000.0, "1.2345678901234568e+20"},
		{0.30000000000000004, "0.30000000000000004"},
		{9999999999999998.0, "9999999999999998.0"},
		{-2.5, "-2.5"},
		{48.8566, "48.8566"},
	}
	for _, tt := range tests {
		if got := FormatFloat(tt.in); got != tt.want {
			t.Errorf("FormatFloat(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestObjectSetKeepsOrder(t *testing.T) {
	o := NewObject(0)
	for i := range 40 { // crosses the index threshold
		o.Set(string(rune('A'+i)), i)
	}
	o.Set("B", "changed")
	o.Set("new", true)
	if o.Len() != 41 || o.KeyAt(1) != "B" || o.KeyAt(40) != "new" {
		t.Fatalf("keys = %v", o.Keys())
	}
	if v, ok := o.Get("B"); !ok || v != "changed" {
		t.Errorf("Get(B) = %v, %v", v, ok)
	}
	if _, ok := o.Get("missing"); ok {
		t.Error("Get(missing) found a value")
	}
}

func TestMarshalTypes(t *testing.T) {
	o := NewObject(2)
	o.Set("n", 3)
	o.Set("f", 2.0)
	got, err := Marshal([]any{o, int64(-7), Number("1e+16"), (*Object)(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if want := `[{"n": 3, "f": 2.0}, -7, 1e+16, null]`; string(got) != want {
		t.Errorf("Marshal = %s, want %s", got, want)
	}
	for _, bad := range []any{math.NaN(), math.Inf(1), map[string]any{}, Number("")} {
		if _, err := Marshal(bad); err == nil {
			t.Errorf("Marshal(%#v) succeeded, want error", bad)
		}
	}
}

func TestNumber(t *testing.T) {
	if !Number("-12").IsInt() || Number("1.0").IsInt() || Number("1e+16").IsInt() {
		t.Error("IsInt misclassifies")
	}
	if f, err := Number("1e-05").Float64(); err != nil || f != 1e-05 {
		t.Errorf("Float64 = %v, %v", f, err)
	}
}

func TestCodePoints(t *testing.T) {
	v, err := Unmarshal([]byte(`"a\u00e9\ud83d\ude00\ud800z"`))
	if err != nil {
		t.Fatal(err)
	}
	got := CodePoints(v.(string))
	want := []string{"a", "\u00e9", "\U0001F600", "\xed\xa0\x80", "z"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CodePoints (-want +got):\n%s", diff)
	}
}

func FuzzRoundTrip(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5,"x\u00e9"],"b":null}`, `"\ud800"`, `[1e400]`, `{"a":1,"a":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Unmarshal(data)
		if err != nil {
			return
		}
		out, err := Marshal(v)
		if err != nil {
			t.Fatalf("Marshal after Unmarshal(%q): %v", data, err)
		}
		if !json.Valid(out) {
			t.Fatalf("Marshal output is not JSON: %q", out)
		}
		v2, err := Unmarshal(out)
		if err != nil {
			t.Fatalf("Unmarshal of own output %q: %v", out, err)
		}
		out2, err := Marshal(v2)
		if err != nil || string(out2) != string(out) {
			t.Fatalf("not idempotent: %q then %q (%v)", out, out2, err)
		}
	})
}
