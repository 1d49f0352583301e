package config

import (
	"errors"
	"math"
	"strconv"
	"strings"
)

var errSyntax = errors.New("invalid syntax")

// parsePyInt parses s like Python's int(s): surrounding whitespace, an
// optional sign, decimal digits with single underscores between them. Unlike
// Python it is bounded to int64.
func parsePyInt(s string) (int64, error) {
	t := strings.TrimSpace(s)
	sign := ""
	if t != "" && (t[0] == '+' || t[0] == '-') {
		sign, t = t[:1], t[1:]
	}
	digits, ok := pyDigits(t)
	if !ok {
		return 0, errSyntax
	}
	v, err := strconv.ParseInt(sign+digits, 10, 64)
	if err != nil {
		return 0, errors.New("out of range")
	}
	return v, nil
}

// pyDigits checks t is one or more ASCII digits with single underscores
// between digits (PEP 515) and returns it without the underscores.
func pyDigits(t string) (string, bool) {
	if t == "" || !isDigit(t[0]) || !isDigit(t[len(t)-1]) {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(t); i++ {
		switch c := t[i]; {
		case isDigit(c):
			b.WriteByte(c)
		case c == '_' && isDigit(t[i+1]): // t[i-1] is a digit: a "__" pair fails here
		default:
			return "", false
		}
	}
	return b.String(), true
}

// parsePyFloat parses s like Python's float(s): surrounding whitespace, an
// optional sign, then "inf", "infinity" or "nan" in any case, or a decimal
// number with optional fraction and exponent and PEP 515 underscores. Hex
// floats, which Go would accept, are rejected. Overflow gives ±Inf as in
// Python.
func parsePyFloat(s string) (float64, error) {
	t := strings.TrimSpace(s)
	body := t
	if body != "" && (body[0] == '+' || body[0] == '-') {
		body = body[1:]
	}
	switch strings.ToLower(body) {
	case "inf", "infinity", "nan":
		v, err := strconv.ParseFloat(t, 64)
		if err != nil {
			return 0, errSyntax
		}
		return v, nil
	}
	mantissa, exponent := body, ""
	if i := strings.IndexAny(body, "eE"); i >= 0 {
		mantissa, exponent = body[:i], body[i+1:]
		if exponent != "" && (exponent[0] == '+' || exponent[0] == '-') {
			exponent = exponent[1:]
		}
		if _, ok := pyDigits(exponent); !ok {
			return 0, errSyntax
		}
	}
	intPart, fracPart, hasDot := strings.Cut(mantissa, ".")
	if intPart == "" && fracPart == "" {
		return 0, errSyntax
	}
	if intPart != "" {
		if _, ok := pyDigits(intPart); !ok {
			return 0, errSyntax
		}
	}
	if hasDot && fracPart != "" {
		if _, ok := pyDigits(fracPart); !ok {
			return 0, errSyntax
		}
	}
	v, err := strconv.ParseFloat(strings.ReplaceAll(t, "_", ""), 64)
	if err != nil && !(errors.Is(err, strconv.ErrRange) && math.IsInf(v, 0)) {
		return 0, errSyntax
	}
	return v, nil
}

// boolForm classifies a boolean string: pycti reads exactly yes/true/True and
// no/false/False; this SDK also accepts on/off/1/0 and any case, with a
// warning.
func boolForm(s string) (value, pycti, ok bool) {
	switch s {
	case "yes", "true", "True":
		return true, true, true
	case "no", "false", "False":
		return false, true, true
	}
	switch strings.ToLower(s) {
	case "yes", "true", "on", "1":
		return true, false, true
	case "no", "false", "off", "0":
		return false, false, true
	}
	return false, false, false
}

// yaml11Bool reports whether a plain (unquoted) YAML scalar is a boolean for
// PyYAML (YAML 1.1), which pycti's config files are read with.
func yaml11Bool(s string) (value, ok bool) {
	switch s {
	case "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON":
		return true, true
	case "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF":
		return false, true
	}
	return false, false
}
