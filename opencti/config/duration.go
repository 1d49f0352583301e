package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ParseDuration parses an ISO-8601 duration the way pydantic v2 validates a
// Python timedelta (its speedate parser), which is what pycti and the
// connectors-sdk use for CONNECTOR_DURATION_PERIOD:
//
//   - an optional sign "+" or "-", then "P", then components "<number><unit>";
//     date units Y (365 days), M (30 days), W (7 days), D before an optional
//     "T", time units H, M, S after it;
//   - units may come in any order and repeat (they add up); only the last
//     component may have a fraction, written with "." or "," (P0.5D is 12h);
//   - the result has microsecond resolution (fractions are rounded the way
//     speedate rounds them);
//   - "P", "PT", "", lower-case letters, spaces and trailing characters are
//     rejected, and so are the non-ISO forms pydantic also knows
//     ("1 day, 01:00:00", "01:00:00").
//
// Durations beyond time.Duration's range (about 292 years) are rejected. The
// pycti special case "0" is not handled here but by Source.Duration.
func ParseDuration(s string) (time.Duration, error) {
	d, detail := parseISODuration(s)
	if detail != "" {
		return 0, errors.New("parse duration " + strconv.Quote(shorten(s)) + ": " + detail)
	}
	return d, nil
}

// u32max is the bound of speedate's u32 arithmetic.
const u32max = math.MaxUint32

// parseISODuration returns the duration, or a non-empty description of what is
// wrong. It mirrors speedate's Duration::parse_bytes for the "P" form.
func parseISODuration(s string) (time.Duration, string) {
	if s == "" {
		return 0, "empty value, want an ISO-8601 duration such as PT1H or P1D"
	}
	negative := false
	rest, base := s, 0
	switch s[0] {
	case '-':
		negative, rest, base = true, s[1:], 1
	case '+':
		rest, base = s[1:], 1
	}
	if rest == "" || rest[0] != 'P' {
		return 0, `must start with "P" (upper case), e.g. PT1H or P1D`
	}
	b := rest[1:]
	base++ // offset of b[0] in s

	var day, second, micro uint64
	add := func(acc, v uint64) (uint64, bool) {
		if acc+v > u32max {
			return 0, false
		}
		return acc + v, true
	}
	const tooLarge = "value too large"
	gotT, lastHadFraction := false, false
	pos := 0
	for pos < len(b) {
		c := b[pos]
		if c == 'T' {
			if gotT {
				return 0, fmt.Sprintf(`"T" repeated at offset %d`, base+pos)
			}
			gotT = true
			pos++
			continue
		}
		value, frac, hasFrac, next, ok := parseNumberFrac(b, pos)
		if !ok {
			if next < 0 {
				return 0, tooLarge
			}
			return 0, fmt.Sprintf("expected a number at offset %d, found %s", base+pos, describeByte(b, pos))
		}
		if lastHadFraction {
			return 0, "only the last component may have a fraction"
		}
		if hasFrac {
			lastHadFraction = true
		}
		pos = next
		var unit byte
		if pos < len(b) {
			unit = b[pos]
		}
		if gotT {
			var mult uint64
			switch unit {
			case 'H':
				mult = 3600
			case 'M':
				mult = 60
			case 'S':
				mult = 1
			default:
				return 0, fmt.Sprintf("expected a time unit H, M or S at offset %d, found %s", base+pos, describeByte(b, pos))
			}
			if value*mult > u32max {
				return 0, tooLarge
			}
			if second, ok = add(second, value*mult); !ok {
				return 0, tooLarge
			}
			if hasFrac {
				extra := float64(frac * float64(mult))
				full := math.Trunc(extra)
				if second, ok = add(second, saturateU32(full)); !ok {
					return 0, tooLarge
				}
				if micro, ok = add(micro, saturateU32(math.Round(float64((extra-full)*1e6)))); !ok {
					return 0, tooLarge
				}
			}
		} else {
			var mult uint64
			switch unit {
			case 'Y':
				mult = 365
			case 'M':
				mult = 30
			case 'W':
				mult = 7
			case 'D':
				mult = 1
			default:
				return 0, fmt.Sprintf("expected a date unit Y, M, W or D at offset %d, found %s (time units need a \"T\" first)", base+pos, describeByte(b, pos))
			}
			if value*mult > u32max {
				return 0, tooLarge
			}
			if day, ok = add(day, value*mult); !ok {
				return 0, tooLarge
			}
			if hasFrac {
				extraDays := float64(frac * float64(mult))
				fullDays := math.Trunc(extraDays)
				if day, ok = add(day, saturateU32(fullDays)); !ok {
					return 0, tooLarge
				}
				extraSeconds := float64((extraDays - fullDays) * 86400)
				fullSeconds := math.Trunc(extraSeconds)
				if second, ok = add(second, saturateU32(fullSeconds)); !ok {
					return 0, tooLarge
				}
				micro += saturateU32(math.Round(float64((extraSeconds - fullSeconds) * 1e6)))
			}
		}
		pos++
	}
	if pos < 2 {
		return 0, `no component after "P", want e.g. PT1H or P1D`
	}
	// speedate's normalisation, with its u32 and 999,999,999-day limits.
	if micro >= 1e6 {
		var ok bool
		if second, ok = add(second, micro/1e6); !ok {
			return 0, tooLarge
		}
		micro %= 1e6
	}
	if second >= 86400 {
		var ok bool
		if day, ok = add(day, second/86400); !ok {
			return 0, tooLarge
		}
		second %= 86400
	}
	const maxDays = uint64(math.MaxInt64 / int64(24*time.Hour))
	if day > maxDays {
		return 0, "duration exceeds the maximum of about 292 years"
	}
	total := time.Duration(day)*24*time.Hour + time.Duration(second)*time.Second + time.Duration(micro)*time.Microsecond
	if total < 0 { // wrapped past math.MaxInt64
		return 0, "duration exceeds the maximum of about 292 years"
	}
	if negative {
		total = -total
	}
	return total, ""
}

// parseNumberFrac reads digits at b[pos:] and an optional fraction introduced
// by "." or ",", as speedate does: the integer part must fit a u32 and the
// fraction is accumulated in float64. ok is false when there is no digit at pos
// (next >= 0) or the integer part overflows (next < 0).
func parseNumberFrac(b string, pos int) (value uint64, frac float64, hasFrac bool, next int, ok bool) {
	if pos >= len(b) || !isDigit(b[pos]) {
		return 0, 0, false, pos, false
	}
	for pos < len(b) && isDigit(b[pos]) {
		value = value*10 + uint64(b[pos]-'0')
		if value > u32max {
			return 0, 0, false, -1, false
		}
		pos++
	}
	if pos < len(b) && (b[pos] == '.' || b[pos] == ',') {
		decimal, denominator := 0.0, 1.0
		pos++
		for pos < len(b) && isDigit(b[pos]) {
			// Explicit conversions keep each operation separately rounded,
			// as in Rust (no fused multiply-add).
			decimal = float64(decimal*10) + float64(b[pos]-'0')
			denominator = float64(denominator * 10)
			pos++
		}
		return value, decimal / denominator, true, pos, true
	}
	return value, 0, false, pos, true
}

// saturateU32 converts like Rust's "f64 as u32": NaN and negatives give 0,
// values above the range give the maximum.
func saturateU32(f float64) uint64 {
	switch {
	case math.IsNaN(f) || f <= 0:
		return 0
	case f >= u32max:
		return u32max
	default:
		return uint64(f)
	}
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// describeByte names the character at b[pos] for an error message.
func describeByte(b string, pos int) string {
	if pos >= len(b) {
		return "end of value"
	}
	return strconv.QuoteRune(rune(b[pos]))
}

// FormatDuration formats d as a canonical ISO-8601 duration that ParseDuration
// reads back to the same value when d is a whole number of microseconds:
// days, then hours, minutes and seconds (with a decimal fraction), e.g.
// "P1DT2H30M", "PT1.5S", "-PT0.000001S"; zero is "PT0S".
func FormatDuration(d time.Duration) string {
	var b strings.Builder
	u := uint64(d) //nolint:gosec // G115: the sign is handled just below
	if d < 0 {
		b.WriteByte('-')
		u = uint64(-(d + 1)) + 1 //nolint:gosec // G115: d < 0, so -(d+1) >= 0; no overflow for math.MinInt64
	}
	b.WriteByte('P')
	const day = uint64(24 * time.Hour)
	if days := u / day; days > 0 {
		b.WriteString(strconv.FormatUint(days, 10))
		b.WriteByte('D')
	}
	u %= day
	if u == 0 {
		if d == 0 {
			b.WriteString("T0S")
		}
		return b.String()
	}
	b.WriteByte('T')
	if h := u / uint64(time.Hour); h > 0 {
		b.WriteString(strconv.FormatUint(h, 10))
		b.WriteByte('H')
	}
	u %= uint64(time.Hour)
	if m := u / uint64(time.Minute); m > 0 {
		b.WriteString(strconv.FormatUint(m, 10))
		b.WriteByte('M')
	}
	u %= uint64(time.Minute)
	if u > 0 {
		b.WriteString(strconv.FormatUint(u/uint64(time.Second), 10))
		if ns := u % uint64(time.Second); ns > 0 {
			frac := strconv.FormatUint(ns+uint64(time.Second), 10)[1:] // 9 digits
			b.WriteByte('.')
			b.WriteString(strings.TrimRight(frac, "0"))
		}
		b.WriteByte('S')
	}
	return b.String()
}
