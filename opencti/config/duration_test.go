package config

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

type durationCase struct {
	line int
	in   string
	want time.Duration
	err  bool
}

// readDurationCases loads testdata/durations.txt: a Go-quoted input, then the
// expected value in microseconds (computed with pydantic) or "error".
func readDurationCases(tb testing.TB) []durationCase {
	tb.Helper()
	f, err := os.Open("testdata/durations.txt")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var cases []durationCase
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		quoted, err := strconv.QuotedPrefix(line)
		if err != nil {
			tb.Fatalf("durations.txt:%d: %v", n, err)
		}
		in, err := strconv.Unquote(quoted)
		if err != nil {
			tb.Fatalf("durations.txt:%d: %v", n, err)
		}
		fields := strings.Fields(line[len(quoted):])
		if len(fields) == 0 {
			tb.Fatalf("durations.txt:%d: no expected value", n)
		}
		c := durationCase{line: n, in: in}
		if fields[0] == "error" {
			c.err = true
		} else {
			us, err := strconv.ParseInt(fields[0], 10, 64)
			if err != nil {
				tb.Fatalf("durations.txt:%d: %v", n, err)
			}
			c.want = time.Duration(us) * time.Microsecond
		}
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	if len(cases) < 50 {
		tb.Fatalf("only %d cases read from durations.txt", len(cases))
	}
	return cases
}

func TestParseDurationPydanticVectors(t *testing.T) {
	for _, c := range readDurationCases(t) {
		t.Run(strconv.Itoa(c.line), func(t *testing.T) {
			got, err := ParseDuration(c.in)
			switch {
			case c.err && err == nil:
				t.Errorf("ParseDuration(%q) = %v, want an error", c.in, got)
			case !c.err && err != nil:
				t.Errorf("ParseDuration(%q) error: %v, want %v", c.in, err, c.want)
			case !c.err && got != c.want:
				t.Errorf("ParseDuration(%q) = %v, want %v", c.in, got, c.want)
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"P30D", 30 * day},
		{"PT12H", 12 * time.Hour},
		{"P1W", 7 * day},
		{"P1M", 30 * day},
		{"P1Y", 365 * day},
		{"P0.5D", 12 * time.Hour},
		{"PT1.5S", 1500 * time.Millisecond},
		{"-P1D", -day},
		{"P1DT2H30M", day + 2*time.Hour + 30*time.Minute},
		{"PT1,5S", 1500 * time.Millisecond},
		{"P1D1D", 2 * day},
		{"PT0S", 0},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if err != nil || got != tt.want {
				t.Errorf("ParseDuration(%q) = %v, %v, want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseDurationErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `parse duration "": empty value, want an ISO-8601 duration such as PT1H or P1D`},
		{"P", `parse duration "P": no component after "P", want e.g. PT1H or P1D`},
		{"PT", `parse duration "PT": no component after "P", want e.g. PT1H or P1D`},
		{"-PT", `parse duration "-PT": no component after "P", want e.g. PT1H or P1D`},
		{"p1d", `parse duration "p1d": must start with "P" (upper case), e.g. PT1H or P1D`},
		{" P1D", `parse duration " P1D": must start with "P" (upper case), e.g. PT1H or P1D`},
		{"1 day", `parse duration "1 day": must start with "P" (upper case), e.g. PT1H or P1D`},
		{"P1D ", `parse duration "P1D ": expected a number at offset 3, found ' '`},
		{"P1Dx", `parse duration "P1Dx": expected a number at offset 3, found 'x'`},
		{"P1d", `parse duration "P1d": expected a date unit Y, M, W or D at offset 2, found 'd' (time units need a "T" first)`},
		{"P1H", `parse duration "P1H": expected a date unit Y, M, W or D at offset 2, found 'H' (time units need a "T" first)`},
		{"P1", `parse duration "P1": expected a date unit Y, M, W or D at offset 2, found end of value (time units need a "T" first)`},
		{"PT1D", `parse duration "PT1D": expected a time unit H, M or S at offset 3, found 'D'`},
		{"-PT1", `parse duration "-PT1": expected a time unit H, M or S at offset 4, found end of value`},
		{"PTT1H", `parse duration "PTT1H": "T" repeated at offset 2`},
		{"P1.5DT1H", `parse duration "P1.5DT1H": only the last component may have a fraction`},
		{"PT4294967296S", `parse duration "PT4294967296S": value too large`},
		{"P106752D", `parse duration "P106752D": duration exceeds the maximum of about 292 years`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if err == nil {
				t.Fatalf("ParseDuration(%q) = %v, want error %q", tt.in, got, tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("ParseDuration(%q) error:\n got %s\nwant %s", tt.in, err, tt.want)
			}
		})
	}
}

func TestFormatDuration(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "PT0S"},
		{time.Hour, "PT1H"},
		{30 * day, "P30D"},
		{day + 2*time.Hour + 30*time.Minute, "P1DT2H30M"},
		{1500 * time.Millisecond, "PT1.5S"},
		{-day, "-P1D"},
		{time.Microsecond, "PT0.000001S"},
		{time.Nanosecond, "PT0.000000001S"},
		{day + time.Second, "P1DT1S"},
		{time.Duration(-1 << 63), "-P106751DT23H47M16.854775808S"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := FormatDuration(tt.in); got != tt.want {
				t.Errorf("FormatDuration(%v) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzParseDuration(f *testing.F) {
	for _, c := range readDurationCases(f) {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			if d != 0 {
				t.Fatalf("ParseDuration(%q) = %v with error %v", s, d, err)
			}
			if !strings.HasPrefix(err.Error(), "parse duration ") {
				t.Fatalf("ParseDuration(%q) error %q lacks context", s, err)
			}
			return
		}
		if d%time.Microsecond != 0 {
			t.Fatalf("ParseDuration(%q) = %v, not a whole number of microseconds", s, d)
		}
		if s[0] == '-' && d > 0 || s[0] != '-' && d < 0 {
			t.Fatalf("ParseDuration(%q) = %v has the wrong sign", s, d)
		}
		canonical := FormatDuration(d)
		back, err := ParseDuration(canonical)
		if err != nil || back != d {
			t.Fatalf("ParseDuration(FormatDuration(%v) = %q) = %v, %v; input %q", d, canonical, back, err, s)
		}
		if s[0] != '-' && s[0] != '+' {
			if neg, err := ParseDuration("-" + s); err != nil || neg != -d {
				t.Fatalf("ParseDuration(%q) = %v, %v, want %v", "-"+s, neg, err, -d)
			}
		}
	})
}
