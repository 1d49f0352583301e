package stix

import (
	"testing"
	"time"
)

func TestTimeForms(t *testing.T) {
	paris := time.FixedZone("CEST", 2*3600)
	odd := time.FixedZone("LMT", -(9*3600 + 30*60 + 15))
	tests := []struct {
		name      string
		in        Time
		wantID    string // Python isoformat() or the verbatim string
		wantJSON  string // stix2 serialisation
		wantError bool
	}{
		{"naive", NaiveTime(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)), "2024-01-01T00:00:00", `"2024-01-01T00:00:00Z"`, false},
		{"naive keeps wall clock of other zones", NaiveTime(time.Date(2024, 1, 1, 10, 0, 0, 0, paris)), "2024-01-01T10:00:00", `"2024-01-01T10:00:00Z"`, false},
		{"naive micro", NaiveTime(time.Date(2024, 1, 1, 0, 0, 0, 123_000_000, time.UTC)), "2024-01-01T00:00:00.123000", `"2024-01-01T00:00:00.123Z"`, false},
		{"naive nanos truncated", NaiveTime(time.Date(2024, 1, 1, 0, 0, 0, 999, time.UTC)), "2024-01-01T00:00:00", `"2024-01-01T00:00:00Z"`, false},
		{"utc", UTCTime(time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC)), "2024-01-15T10:30:00+00:00", `"2024-01-15T10:30:00Z"`, false},
		{"utc converts", UTCTime(time.Date(2024, 1, 15, 12, 30, 0, 0, paris)), "2024-01-15T10:30:00+00:00", `"2024-01-15T10:30:00Z"`, false},
		{"utc micro", UTCTime(time.Date(2024, 1, 15, 10, 30, 0, 123_000_000, time.UTC)), "2024-01-15T10:30:00.123000+00:00", `"2024-01-15T10:30:00.123Z"`, false},
		{"aware", AwareTime(time.Date(2024, 1, 15, 12, 30, 0, 1000, paris)), "2024-01-15T12:30:00.000001+02:00", `"2024-01-15T10:30:00.000001Z"`, false},
		{"aware seconds offset", AwareTime(time.Date(1900, 1, 1, 0, 0, 0, 0, odd)), "1900-01-01T00:00:00-09:30:15", `"1900-01-01T09:30:15Z"`, false},
		{"small year", NaiveTime(time.Date(33, 1, 1, 0, 0, 0, 0, time.UTC)), "0033-01-01T00:00:00", `"0033-01-01T00:00:00Z"`, false},
		{"verbatim Z", VerbatimTime("2024-01-01T00:00:00Z"), "2024-01-01T00:00:00Z", `"2024-01-01T00:00:00Z"`, false},
		{"verbatim offset", VerbatimTime("2024-01-01T02:00:00.500+02:00"), "2024-01-01T02:00:00.500+02:00", `"2024-01-01T00:00:00.5Z"`, false},
		{"verbatim naive", VerbatimTime("2024-01-01T00:00:00.000"), "2024-01-01T00:00:00.000", `"2024-01-01T00:00:00Z"`, false},
		{"verbatim unparsable", VerbatimTime("2023-05-01 10:20:30"), "2023-05-01 10:20:30", "", true},
		{"zero", Time{}, "", "null", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.String(); got != tt.wantID {
				t.Errorf("String() = %q, want %q", got, tt.wantID)
			}
			got, err := tt.in.MarshalJSON()
			if (err != nil) != tt.wantError || string(got) != tt.wantJSON {
				t.Errorf("MarshalJSON() = %s, %v; want %s, error %v", got, err, tt.wantJSON, tt.wantError)
			}
		})
	}
	if !(Time{}).IsZero() || NaiveTime(time.Time{}).IsZero() {
		t.Error("IsZero is wrong")
	}
	if _, err := (Time{}).Instant(); err == nil {
		t.Error("Instant of the zero Time succeeded")
	}
}

func TestFormatTimestampPrecision(t *testing.T) {
	tests := []struct {
		in     time.Time
		millis bool
		want   string
	}{
		{time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), true, "2024-01-01T00:00:00.000Z"},
		{time.Date(2024, 1, 1, 0, 0, 0, 100_000_000, time.UTC), true, "2024-01-01T00:00:00.100Z"},
		{time.Date(2024, 1, 1, 0, 0, 0, 123_456_000, time.UTC), true, "2024-01-01T00:00:00.123456Z"},
		{time.Date(2024, 1, 1, 0, 0, 0, 123_450_000, time.UTC), true, "2024-01-01T00:00:00.12345Z"},
		{time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), false, "2024-01-01T00:00:00Z"},
		{time.Date(2024, 1, 1, 0, 0, 0, 100_000_000, time.UTC), false, "2024-01-01T00:00:00.1Z"},
	}
	for _, tt := range tests {
		if got := formatTimestamp(tt.in, tt.millis); got != tt.want {
			t.Errorf("formatTimestamp(%v, %v) = %s, want %s", tt.in, tt.millis, got, tt.want)
		}
	}
}
