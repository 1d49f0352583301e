package openctitest

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// object is a JSON object that keeps its keys in insertion order, as a
// JavaScript object does: responses list fields in selection order and queue
// messages list keys in the order the platform builds them.
type object struct {
	keys []string
	vals map[string]any
}

// newObject returns an object holding the given key, value pairs in order.
func newObject(kv ...any) *object {
	o := &object{vals: make(map[string]any, len(kv)/2)}
	for i := 0; i+1 < len(kv); i += 2 {
		o.set(kv[i].(string), kv[i+1])
	}
	return o
}

// set adds or replaces a key; a new key goes last.
func (o *object) set(k string, v any) {
	if o.vals == nil {
		o.vals = map[string]any{}
	}
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

// MarshalJSON encodes the object compactly in key order.
func (o *object) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	if err := writeJSON(&b, o); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}

// compactJSON encodes v like JavaScript's JSON.stringify: no whitespace, no
// HTML escaping, maps with sorted keys and objects in insertion order.
func compactJSON(v any) ([]byte, error) {
	var b strings.Builder
	if err := writeJSON(&b, v); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}

// writeJSON appends the JSON encoding of v to b.
func writeJSON(b *strings.Builder, v any) error {
	switch v := v.(type) {
	case nil:
		b.WriteString("null")
	case *object:
		if v == nil {
			b.WriteString("null")
			return nil
		}
		b.WriteByte('{')
		for i, k := range v.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(b, k)
			b.WriteByte(':')
			if err := writeJSON(b, v.vals[k]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(b, k)
			b.WriteByte(':')
			if err := writeJSON(b, v[k]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeJSON(b, e); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case []string:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(b, e)
		}
		b.WriteByte(']')
	case string:
		writeString(b, v)
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case int:
		b.WriteString(strconv.Itoa(v))
	case int64:
		b.WriteString(strconv.FormatInt(v, 10))
	case float64:
		s, err := formatNumber(v)
		if err != nil {
			return err
		}
		b.WriteString(s)
	case json.Number:
		b.WriteString(v.String())
	case json.RawMessage:
		b.Write(v)
	case time.Time:
		writeString(b, isoTime(v))
	default:
		rv := reflect.ValueOf(v)
		switch rv.Kind() {
		case reflect.Pointer:
			if rv.IsNil() {
				b.WriteString("null")
				return nil
			}
			return writeJSON(b, rv.Elem().Interface())
		case reflect.Slice:
			if rv.IsNil() {
				b.WriteString("null")
				return nil
			}
			b.WriteByte('[')
			for i := range rv.Len() {
				if i > 0 {
					b.WriteByte(',')
				}
				if err := writeJSON(b, rv.Index(i).Interface()); err != nil {
					return err
				}
			}
			b.WriteByte(']')
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32:
			b.WriteString(strconv.FormatInt(rv.Int(), 10))
		case reflect.Float32:
			return writeJSON(b, rv.Float())
		case reflect.String:
			writeString(b, rv.String())
		default:
			raw, err := json.Marshal(v)
			if err != nil {
				return fmt.Errorf("encode %T: %w", v, err)
			}
			b.Write(raw)
		}
	}
	return nil
}

// formatNumber renders a float the way JavaScript's Number#toString does for
// the values the fake produces.
func formatNumber(f float64) (string, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "null", nil
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e21 {
		return strconv.FormatFloat(f, 'f', -1, 64), nil
	}
	abs := math.Abs(f)
	if abs >= 1e-6 && abs < 1e21 {
		return strconv.FormatFloat(f, 'f', -1, 64), nil
	}
	s := strconv.FormatFloat(f, 'e', -1, 64)
	// Go writes 1e-07, JavaScript 1e-7.
	mant, exp, _ := strings.Cut(s, "e")
	sign := exp[0]
	digits := strings.TrimLeft(exp[1:], "0")
	return mant + "e" + string(sign) + digits, nil
}

// writeString writes a JSON string escaped like JSON.stringify: only the
// quote, the backslash and control characters are escaped.
func writeString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20:
			fmt.Fprintf(b, `\u%04x`, r)
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\ufffd`)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	b.WriteByte('"')
}

// isoTime renders t like JavaScript's Date#toISOString.
func isoTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}
