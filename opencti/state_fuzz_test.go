package opencti

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzParseState feeds any state string the platform may return on a ping (an operator
// can edit it) to the state parsing: no panic; a kept state is a non-empty JSON object
// that the connector can decode, that it sends back unchanged and that compares equal to
// itself; anything else is no state, as pycti's get_state.
func FuzzParseState(f *testing.F) {
	for _, s := range []string{
		`{"latest_run_timestamp": 1723705200}`, ` {"a":1} `, `{}`, `null`, `[]`, `"x"`, `1`, ``,
		`{"a":1}{"b":2}`, `{"a":1e999}`, `{"a":"\ud800"}`, "{\"a\":\"\xff\"}", `{"a":{"b":[1,2,{"c":null}]}}`,
		`{"a":1,"a":2}`, "\ufeff{\"a\":1}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		st := parseState(&s)
		if st == nil {
			if stateString(st) != "null" {
				t.Fatalf("stateString(nil) = %q, want null", stateString(st))
			}
			return
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(st, &obj); err != nil || len(obj) == 0 {
			t.Fatalf("parseState(%q) = %s, not a non-empty JSON object: %v", s, st, err)
		}
		if !bytes.Equal(bytes.TrimSpace(st), st) {
			t.Errorf("parseState(%q) = %q keeps surrounding white space", s, st)
		}
		sent := stateString(st)
		if again := parseState(&sent); !bytes.Equal(again, st) {
			t.Errorf("state %s sent as %q parses back as %s", st, sent, again)
		}
		if !sameState(st, st) {
			t.Errorf("sameState(%s, itself) = false", st)
		}
		if sameState(st, nil) || sameState(nil, st) {
			t.Errorf("sameState(%s, nil) = true", st)
		}
		// Whatever the platform holds, the connector can read it and write it back.
		h := &Helper{state: st}
		var m map[string]any
		if found, err := h.State(&m); !found || err != nil {
			t.Fatalf("State() on %s = %v, %v; want found", st, found, err)
		}
		if err := h.SetState(m); err != nil {
			t.Fatalf("SetState(State() of %s) = %v", st, err)
		}
		if !sameState(h.state, st) {
			t.Errorf("state %s read and written back as %s", st, h.state)
		}
	})
}

// TestSameState: the comparison behind the remote-reset detection follows Python's ==
// on the json.loads of each side; a state it cannot read as Go float64 (1e999) is still
// equal to itself, so pinging with it never looks like a reset.
func TestSameState(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{`{"a": 1, "b": [1, "x", null, true]}`, `{"b":[1,"x",null,true],"a":1}`, true},
		{`{"a": 1}`, `{"a": 1.0}`, true},
		{`{"a": 1e999}`, `{"a": 1e999}`, true},
		{`{"a": 1e999}`, `{"a": 2e999}`, true}, // both inf in Python
		{`{"a": -1e999}`, `{"a": 1e999}`, false},
		{`{"a": 9007199254740993}`, `{"a": 9007199254740992}`, false}, // Python ints are exact
		{`{"a": 100000000000000000000000}`, `{"a": 1e23}`, false},     // 1e23 is not exactly 10^23 as a float
		{`{"a": 1}`, `{"a": "1"}`, false},
		{`{"a": {"b": 1}}`, `{"a": {"b": 1, "c": 2}}`, false},
		{`{"a": [1, 2]}`, `{"a": [2, 1]}`, false},
	}
	for _, tt := range tests {
		if got := sameState(json.RawMessage(tt.a), json.RawMessage(tt.b)); got != tt.want {
			t.Errorf("sameState(%s, %s) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

// TestStateKeepsNumbers: a state holding numbers float64 cannot carry decodes, and is
// written back with the same numbers.
func TestStateKeepsNumbers(t *testing.T) {
	raw := `{"big": 12345678901234567890, "inf": 1e999, "n": 1723705200}`
	h := &Helper{state: parseState(&raw)}
	var m map[string]any
	if found, err := h.State(&m); !found || err != nil {
		t.Fatalf("State() = %v, %v; want found", found, err)
	}
	if err := h.SetState(m); err != nil {
		t.Fatalf("SetState() = %v", err)
	}
	if got, want := string(h.state), `{"big":12345678901234567890,"inf":1e999,"n":1723705200}`; got != want {
		t.Errorf("state written back = %s, want %s", got, want)
	}
}
