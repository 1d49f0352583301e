package articles

import (
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/riskiq-opencti/connectors/opencti/stix"
)

// isoDate matches the ISO 8601 forms the API sends: a date, optionally a time
// with seconds and a fraction, optionally a zone (Z, UTC, GMT, ±HH, ±HHMM,
// ±HH:MM).
var isoDate = regexp.MustCompile(`^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?\s*(Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?$`)

// pythonTime returns a date as the Python connector handed it to pycti's
// Report.generate_id: parsed by dateutil.parser.parse, then rendered by
// datetime.isoformat(). A date with a zone is aware and keeps its offset
// ("2021-03-05T08:00:00.000+0000" → "2021-03-05T08:00:00+00:00"), one without
// is naive ("2021-03-05 08:00:00" → "2021-03-05T08:00:00"); fractions are cut
// to microseconds as dateutil does. ok is false for text outside these forms
// and the Java Date.toString form ("Mon Aug 29 20:00:00 UTC 2016").
func pythonTime(raw string) (t stix.Time, ok bool) {
	s := strings.TrimSpace(raw)
	if m := isoDate.FindStringSubmatch(s); m != nil {
		return isoPythonTime(m)
	}
	return javaPythonTime(s)
}

func isoPythonTime(m []string) (stix.Time, bool) {
	num := func(s string) int {
		n, _ := strconv.Atoi(s) // the pattern admits digits only
		return n
	}
	year, month, day := num(m[1]), num(m[2]), num(m[3])
	hour, minute, sec := num(m[4]), num(m[5]), num(m[6])
	usec := 0
	if m[7] != "" {
		frac := m[7]
		if len(frac) > 6 {
			frac = frac[:6]
		}
		usec = num(frac + strings.Repeat("0", 6-len(frac)))
	}
	zone := m[8]
	loc := time.UTC
	if zone != "" && zone != "Z" && zone != "UTC" && zone != "GMT" {
		off := num(zone[1:3]) * 3600
		if rest := strings.TrimPrefix(zone[3:], ":"); rest != "" {
			off += num(rest) * 60
		}
		if zone[0] == '-' {
			off = -off
		}
		if off != 0 {
			loc = time.FixedZone("", off)
		}
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, usec*1000, loc)
	if t.Year() != year || int(t.Month()) != month || t.Day() != day || t.Hour() != hour || t.Minute() != minute || t.Second() != sec {
		return stix.Time{}, false // out of range: Python raises
	}
	if zone == "" {
		return stix.NaiveTime(t), true
	}
	return stix.AwareTime(t), true
}

// javaPythonTime reads "Mon Aug 29 20:00:00 VET 2016": dateutil makes UTC and
// GMT aware and ignores other zone names, giving a naive datetime.
func javaPythonTime(s string) (stix.Time, bool) {
	t, err := time.Parse("Mon Jan _2 15:04:05 MST 2006", s)
	if err != nil {
		return stix.Time{}, false
	}
	if name, _ := t.Zone(); name == "UTC" || name == "GMT" {
		return stix.UTCTime(t), true
	}
	return stix.NaiveTime(t), true
}

// reportPublished returns the report's publication date as the Python
// connector passed it to generate_id: the published date, or the created
// date when there is none (or it cannot be read). When the text is in no form
// dateutil is known to read the same way, the instant the provider parsed is
// used as an aware UTC datetime.
func reportPublished(a *Article) (stix.Time, bool) {
	for _, c := range [...]struct {
		raw    string
		parsed time.Time
	}{{a.PublishedRaw, a.Published}, {a.CreatedRaw, a.Created}} {
		if t, ok := pythonTime(c.raw); ok {
			return t, true
		}
		if !c.parsed.IsZero() {
			return stix.UTCTime(c.parsed), true
		}
	}
	return stix.Time{}, false
}
