package articles

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzPythonTime: dates from the API never panic the spelling emulation, and
// a spelled date stands for a real instant.
func FuzzPythonTime(f *testing.F) {
	for _, s := range []string{
		"2021-03-05T08:00:00.000+0000", "2024-05-01T09:30:00.250+0200", "2024-05-01 10:00:00", "2024-05-01",
		"Mon Aug 29 20:00:00 VET 2016", "2024-02-30T00:00:00Z", "9999-12-31T23:59:59.9999999-23:59", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		pt, ok := pythonTime(raw)
		if !ok {
			return
		}
		if _, err := pt.Instant(); err != nil {
			t.Errorf("pythonTime(%q) = %q without an instant: %v", raw, pt, err)
		}
		if pt.String() == "" {
			t.Errorf("pythonTime(%q) has an empty spelling", raw)
		}
	})
}

// FuzzConvert: any indicator type and value maps without panicking, to
// objects that all marshal, or is skipped with a reason.
func FuzzConvert(f *testing.F) {
	for typ := range indicatorTypes {
		f.Add(typ, "example.com", "public", "APT29")
	}
	f.Add("ip", "2001:db8::1", "riskiq", "T1566.001 - Spearphishing Attachment")
	f.Add("filepath", `C:\it's`, "", "")
	f.Add(" Domain ", "a\x00b", "public", "")
	f.Fuzz(func(t *testing.T, typ, val, source, tag string) {
		a := &Article{
			GUID: "fuzz", Title: tag, Created: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), CreatedRaw: "2024-01-01",
			Tags: []string{tag}, Indicators: []IndicatorGroup{{Type: typ, Values: []string{val, val}, Source: source}},
		}
		entities := []Entity{{Type: EntityMalware, Name: tag}, {Type: EntityAttackPattern, Name: tag, MitreID: TagLookupValue(tag)}}
		res, err := NewConverter(Options{CreateObservables: true}, nil).Convert(a, entities)
		if err != nil {
			t.Fatalf("Convert(%q, %q) = %v", typ, val, err)
		}
		for _, s := range res.Skipped {
			if s.Reason == "" {
				t.Errorf("value %q skipped without a reason", s.Value)
			}
		}
		for _, o := range res.Objects {
			b, err := json.Marshal(o)
			if err != nil {
				t.Fatalf("marshal %s: %v", o.ID(), err)
			}
			if !json.Valid(b) {
				t.Fatalf("invalid JSON for %s", o.ID())
			}
		}
		if res.Indicators > 1 {
			t.Errorf("%d indicators for one value given twice", res.Indicators)
		}
		if res.Indicators == 1 && utf8.ValidString(val) && !strings.Contains(string(mustJSON(t, res.Objects)), "indicator--") {
			t.Error("indicator counted but not in the objects")
		}
	})
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestStateTimestamp reads timestamps as the SDK hands them (json.Number) and as
// Python's int() reads the state's values.
func TestStateTimestamp(t *testing.T) {
	tests := []struct {
		in   any
		want int64
		ok   bool
	}{
		{json.Number("1723705200"), 1723705200, true},
		{json.Number("1723705200.9"), 1723705200, true}, // int() truncates
		{json.Number("1.7237052e9"), 1723705200, true},
		{json.Number("1e999"), 0, false},
		{json.Number("-5"), 0, false},
		{json.Number("99999999999999999999"), 0, false},
		{float64(1723705200), 1723705200, true},
		{" 17 ", 17, true},
		{"x", 0, false},
		{nil, 0, false},
	}
	for _, tt := range tests {
		got, ok := state{StateLatestRun: tt.in}.timestamp(StateLatestRun)
		if ok != tt.ok || ok && got != tt.want {
			t.Errorf("timestamp(%#v) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
