package passivetotal

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Wire formats of request parameters (spec §1.4).
const (
	dateTimeLayout = "2006-01-02 15:04:05"
	dateLayout     = "2006-01-02"
)

// timeLayouts are tried in order by parseTime. Layouts without a zone give
// UTC; Go accepts fractional seconds after the seconds field even when the
// layout has none.
var timeLayouts = []string{
	dateTimeLayout,                 // 2019-10-05 21:51:41 (pDNS, quota)
	"2006-01-02T15:04:05Z07:00",    // RFC 3339: Z or ±hh:mm
	"2006-01-02T15:04:05-0700",     // 2021-03-05T08:00:00.000+0000 (articles)
	"2006-01-02T15:04:05",          // no zone
	"2006-01-02 15:04:05Z07:00",    // space instead of T
	"2006-01-02 15:04:05-0700",     //
	"2006-01-02T15:04Z07:00",       // no seconds
	"2006-01-02T15:04",             //
	dateLayout,                     // 2015-02-09
	"Mon Jan _2 15:04:05 MST 2006", // Java Date.toString (articles/indicator)
	time.RFC1123Z,
	time.RFC1123,
	"Jan _2 15:04:05 2006 MST", // OpenSSL text form
}

// parseTime parses the date and time formats the API was seen to use (spec
// §1.4), leniently, and returns the instant in UTC. A missing zone means UTC.
// A zone abbreviation Go does not know (e.g. "VET") is read as UTC.
func parseTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	if t, ok := parseEpoch(s); ok {
		return t, true
	}
	return time.Time{}, false
}

// parseEpoch reads a decimal Unix time: seconds, or milliseconds when the
// value is too large to be seconds of a plausible date.
func parseEpoch(s string) (time.Time, bool) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > 1e15 {
		return time.Time{}, false
	}
	if f >= 1e11 { // beyond year 5138 in seconds: milliseconds
		f /= 1000
	}
	sec := int64(f)
	nsec := int64((f - float64(sec)) * 1e9)
	return time.Unix(sec, nsec).UTC(), true
}

// flexTime is a date the API may send as a string, a number or null. Raw keeps
// the text as received ("" for null); Time is zero when absent or unparsable.
type flexTime struct {
	Raw  string
	Time time.Time
}

// UnmarshalJSON accepts a string, a number or null.
func (f *flexTime) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*f = flexTime{}
		return nil
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		f.Raw = s
		f.Time, _ = parseTime(s)
		return nil
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9'):
		f.Raw = string(b)
		f.Time, _ = parseEpoch(f.Raw)
		return nil
	}
	return errNotDate
}

var (
	errNotDate      = errors.New("date is neither a string, a number nor null")
	errNestedInList = errors.New("string list holds an object or an array")
)

// stringList is a list of strings the API may send as an array, a single
// string or null. Numbers and booleans inside the array are kept as their
// JSON text.
type stringList []string

// UnmarshalJSON accepts an array of scalars, a single string or null.
func (l *stringList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		*l = nil
		return nil
	}
	if b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*l = stringList{s}
		return nil
	}
	if fast, ok := asciiStrings(b); ok {
		*l = fast
		return nil
	}
	var plain []string
	if err := json.Unmarshal(b, &plain); err == nil {
		*l = plain
		return nil
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(b, &raws); err != nil {
		return err
	}
	out := make([]string, 0, len(raws))
	for _, r := range raws {
		r = bytes.TrimSpace(r)
		switch {
		case len(r) == 0 || string(r) == "null":
			continue
		case r[0] == '{' || r[0] == '[':
			return errNestedInList
		}
		out = append(out, jsonText(r))
	}
	*l = out
	return nil
}

// asciiStrings reads the common case, an array of ASCII strings without
// escapes, without a second pass of the JSON decoder. The decoder has
// already checked that b is valid JSON. ok is false for anything else.
func asciiStrings(b []byte) (out []string, ok bool) {
	if len(b) < 2 || b[0] != '[' {
		return nil, false
	}
	out = []string{}
	i := skipSpace(b, 1)
	if i < len(b) && b[i] == ']' {
		return out, i == len(b)-1
	}
	for i < len(b) {
		if b[i] != '"' {
			return nil, false
		}
		j := i + 1
		for j < len(b) && b[j] != '"' {
			if b[j] == '\\' || b[j] >= 0x80 || b[j] < 0x20 {
				return nil, false
			}
			j++
		}
		if j >= len(b) {
			return nil, false
		}
		out = append(out, string(b[i+1:j]))
		i = skipSpace(b, j+1)
		if i >= len(b) {
			return nil, false
		}
		switch b[i] {
		case ']':
			return out, i == len(b)-1
		case ',':
			i = skipSpace(b, i+1)
		default:
			return nil, false
		}
	}
	return nil, false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}
