package articles

import (
	"testing"
	"time"
)

func TestPythonTime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw, want string // want "" means not reproducible
	}{
		{"2021-03-05T08:00:00.000+0000", "2021-03-05T08:00:00+00:00"},
		{"2021-03-05T08:00:00Z", "2021-03-05T08:00:00+00:00"},
		{"2021-03-05T08:00:00-00:00", "2021-03-05T08:00:00+00:00"},
		{"2021-03-05T08:00:00.123+0000", "2021-03-05T08:00:00.123000+00:00"},
		{"2021-03-05T08:00:00.1234567+00:00", "2021-03-05T08:00:00.123456+00:00"},
		{"2024-05-01T09:30:00.250+0200", "2024-05-01T09:30:00.250000+02:00"},
		{"2024-05-01T09:30:00-05:30", "2024-05-01T09:30:00-05:30"},
		{"2024-05-01T09:30:00+01", "2024-05-01T09:30:00+01:00"},
		{"2024-05-01 10:00:00", "2024-05-01T10:00:00"},
		{"  2024-05-01 10:00:00.5 ", "2024-05-01T10:00:00.500000"},
		{"2024-05-01", "2024-05-01T00:00:00"},
		{"2024-05-01T10:00", "2024-05-01T10:00:00"},
		{"2024-05-01T10:00:00 UTC", "2024-05-01T10:00:00+00:00"},
		{"Mon Aug 29 20:00:00 UTC 2016", "2016-08-29T20:00:00+00:00"},
		{"Mon Aug 29 20:00:00 VET 2016", "2016-08-29T20:00:00"},
		{"2024-02-30T00:00:00Z", ""},
		{"2024-05-01T25:00:00Z", ""},
		{"", ""},
		{"yesterday", ""},
		{"1614931200", ""},
	}
	for _, tt := range tests {
		got, ok := pythonTime(tt.raw)
		if tt.want == "" {
			if ok {
				t.Errorf("pythonTime(%q) = %q, want not reproducible", tt.raw, got)
			}
			continue
		}
		if !ok || got.String() != tt.want {
			t.Errorf("pythonTime(%q) = %q, %v, want %q", tt.raw, got, ok, tt.want)
		}
	}
}

func TestReportPublished(t *testing.T) {
	t.Parallel()
	created := time.Date(2024, 8, 14, 21, 45, 0, 0, time.UTC)
	tests := []struct {
		name string
		a    Article
		want string
	}{
		{"published", Article{PublishedRaw: "2021-03-05T08:00:00.000+0000", Published: time.Date(2021, 3, 5, 8, 0, 0, 0, time.UTC),
			CreatedRaw: "2024-08-14T21:45:00.000+0000", Created: created}, "2021-03-05T08:00:00+00:00"},
		{"null published: created", Article{CreatedRaw: "2024-08-14T21:45:00.000+0000", Created: created}, "2024-08-14T21:45:00+00:00"},
		{"unreadable published: created", Article{PublishedRaw: "soon", CreatedRaw: "2024-08-14T21:45:00.000+0000", Created: created}, "2024-08-14T21:45:00+00:00"},
		{"epoch published: the parsed instant", Article{PublishedRaw: "1614931200", Published: time.Unix(1614931200, 0).UTC(), Created: created}, "2021-03-05T08:00:00+00:00"},
		{"unreadable created: the parsed instant", Article{CreatedRaw: "1723671900000", Created: created}, "2024-08-14T21:45:00+00:00"},
	}
	for _, tt := range tests {
		got, ok := reportPublished(&tt.a)
		if !ok || got.String() != tt.want {
			t.Errorf("%s: reportPublished = %q, %v, want %q", tt.name, got, ok, tt.want)
		}
	}
	if got, ok := reportPublished(&Article{}); ok {
		t.Errorf("reportPublished(no dates) = %q, want none", got)
	}
}
