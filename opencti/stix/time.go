package stix

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

type timeKind uint8

const (
	timeUnset timeKind = iota
	timeNaive
	timeAware
	timeVerbatim
)

// Time is an instant that remembers how pycti would have written it into an id.
//
// Python connectors hand pycti's generate_id either a datetime, rendered with isoformat(), or
// a string, used verbatim; the three spellings of one instant give three different ids. Build
// a Time with NaiveTime, AwareTime, UTCTime or VerbatimTime to reproduce the spelling the
// Python connector used. The zero Time means "not given".
//
// As a STIX property (start_time, published…) a Time is always written in UTC as stix2 does:
// 2024-01-01T00:00:00Z, with the fractional seconds only when non-zero and without trailing
// zeros (2024-01-01T00:00:00.5Z). Go times are truncated to microseconds, Python's precision.
type Time struct {
	t    time.Time
	raw  string
	kind timeKind
}

// NaiveTime is a Python naive datetime: the wall clock of t, without zone. Its id form is
// 2024-01-01T00:00:00 (with .ffffff when the microseconds are non-zero); as a STIX property
// the wall clock is read as UTC, as stix2 does.
func NaiveTime(t time.Time) Time {
	wall := time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
	return Time{t: wall.Truncate(time.Microsecond), kind: timeNaive}
}

// AwareTime is a Python timezone-aware datetime in t's zone. Its id form carries t's UTC
// offset: 2024-01-15T10:30:00+02:00 (with .ffffff when the microseconds are non-zero).
func AwareTime(t time.Time) Time {
	return Time{t: t.Truncate(time.Microsecond), kind: timeAware}
}

// UTCTime is AwareTime(t.UTC()): its id form is 2024-01-15T10:30:00+00:00.
func UTCTime(t time.Time) Time {
	return AwareTime(t.UTC())
}

// VerbatimTime is a string passed to pycti as is (for example "2024-01-01T00:00:00Z"); the id
// uses s unchanged. Constructors that also write it as a STIX property parse it as RFC 3339,
// or as a zone-less ISO 8601 date-time read as UTC, and fail when it is neither.
func VerbatimTime(s string) Time {
	return Time{raw: s, kind: timeVerbatim}
}

// IsZero reports whether t is the zero Time ("not given").
func (t Time) IsZero() bool { return t.kind == timeUnset }

// String returns the text pycti hashes into ids: Python's isoformat() for naive and aware
// times, the string itself for verbatim times, "" for the zero Time.
func (t Time) String() string {
	switch t.kind {
	case timeNaive:
		return isoFormat(t.t, false)
	case timeAware:
		return isoFormat(t.t, true)
	case timeVerbatim:
		return t.raw
	default:
		return ""
	}
}

// isoFormat formats like Python's datetime.isoformat().
func isoFormat(t time.Time, aware bool) string {
	b := t.AppendFormat(make([]byte, 0, 32), "2006-01-02T15:04:05")
	if us := t.Nanosecond() / 1000; us != 0 {
		b = append(b, '.')
		b = appendPadded(b, us, 6)
	}
	if aware {
		_, off := t.Zone()
		sign := byte('+')
		if off < 0 {
			sign, off = '-', -off
		}
		b = append(b, sign)
		b = appendPadded(b, off/3600, 2)
		b = append(b, ':')
		b = appendPadded(b, off/60%60, 2)
		if off%60 != 0 {
			b = append(b, ':')
			b = appendPadded(b, off%60, 2)
		}
	}
	return string(b)
}

func appendPadded(b []byte, v, width int) []byte {
	s := strconv.Itoa(v)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

var errUnparsableTime = errors.New("not an RFC 3339 or ISO 8601 date-time")

// Instant returns the instant t stands for (naive times read as UTC).
func (t Time) Instant() (time.Time, error) {
	switch t.kind {
	case timeNaive, timeAware:
		return t.t, nil
	case timeVerbatim:
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
			if v, err := time.Parse(layout, t.raw); err == nil {
				return v.Truncate(time.Microsecond), nil
			}
		}
		return time.Time{}, fmt.Errorf("parse time %q: %w", t.raw, errUnparsableTime)
	default:
		return time.Time{}, errors.New("zero Time")
	}
}

// MarshalJSON writes t as a STIX timestamp (see Time); the zero Time is null.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	v, err := t.Instant()
	if err != nil {
		return nil, err
	}
	b := append([]byte{'"'}, formatTimestamp(v, false)...)
	return append(b, '"'), nil
}

// formatTimestamp writes t in UTC as stix2 serialises timestamps: precision "any" (no
// fraction when zero, trailing zeros stripped) or, for created/modified, millisecond
// precision with constraint "min" (at least three fractional digits).
func formatTimestamp(t time.Time, millis bool) string {
	t = t.UTC()
	b := t.AppendFormat(make([]byte, 0, 30), "2006-01-02T15:04:05")
	us := t.Nanosecond() / 1000
	frac := string(appendPadded(nil, us, 6))
	if millis {
		for len(frac) > 3 && frac[len(frac)-1] == '0' {
			frac = frac[:len(frac)-1]
		}
	} else {
		for len(frac) > 0 && frac[len(frac)-1] == '0' {
			frac = frac[:len(frac)-1]
		}
	}
	if frac != "" {
		b = append(b, '.')
		b = append(b, frac...)
	}
	return string(append(b, 'Z'))
}
