package stix

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/riskiq-opencti/connectors/opencti/internal/pyjson"
)

// pythonJSON re-encodes JSON the way Python's json.dumps writes it.
func pythonJSON(t *testing.T, b []byte) string {
	t.Helper()
	v, err := pyjson.Unmarshal(b)
	if err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	out, err := pyjson.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestTLPMarkingJSON(t *testing.T) {
	// §8.2: the stix2 constants and pycti's export form, as json.dumps writes them.
	tests := map[string]string{
		"TLP:WHITE":        `{"type": "marking-definition", "spec_version": "2.1", "id": "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9", "created": "2017-01-20T00:00:00.000Z", "definition_type": "tlp", "name": "TLP:WHITE", "definition": {"tlp": "white"}}`,
		"TLP:GREEN":        `{"type": "marking-definition", "spec_version": "2.1", "id": "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da", "created": "2017-01-20T00:00:00.000Z", "definition_type": "tlp", "name": "TLP:GREEN", "definition": {"tlp": "green"}}`,
		"TLP:AMBER":        `{"type": "marking-definition", "spec_version": "2.1", "id": "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82", "created": "2017-01-20T00:00:00.000Z", "definition_type": "tlp", "name": "TLP:AMBER", "definition": {"tlp": "amber"}}`,
		"TLP:RED":          `{"type": "marking-definition", "spec_version": "2.1", "id": "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed", "created": "2017-01-20T00:00:00.000Z", "definition_type": "tlp", "name": "TLP:RED", "definition": {"tlp": "red"}}`,
		"TLP:AMBER+STRICT": `{"type": "marking-definition", "spec_version": "2.1", "id": "marking-definition--826578e1-40ad-459f-bc73-ede076f81f37", "created": "2017-01-20T00:00:00.000Z", "definition_type": "tlp", "name": "TLP:AMBER+STRICT", "definition": {"tlp": "amber+strict"}}`,
		"TLP:CLEAR":        `{"type": "marking-definition", "spec_version": "2.1", "id": "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9", "created": "2017-01-20T00:00:00.000Z", "definition_type": "tlp", "name": "TLP:CLEAR", "definition": {"tlp": "clear"}}`,
	}
	for name, want := range tests {
		for _, spelling := range []string{name, strings.ToLower(name), strings.TrimPrefix(strings.ToLower(name), "tlp:")} {
			m, err := TLPMarking(spelling)
			if err != nil {
				t.Fatalf("TLPMarking(%q): %v", spelling, err)
			}
			b, err := m.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			if got := pythonJSON(t, b); got != want {
				t.Errorf("TLPMarking(%q) JSON =\n%s\nwant\n%s", spelling, got, want)
			}
			if m.ID() != MarkingDefinitionID("TLP", name) || m.Name() != name || m.Type() != "marking-definition" {
				t.Errorf("TLPMarking(%q) = %s %s, want id of %s", spelling, m.ID(), m.Name(), name)
			}
		}
	}
	if _, err := TLPMarking("TLP:PURPLE"); !errors.Is(err, ErrUnknownTLP) {
		t.Errorf("TLPMarking(TLP:PURPLE) error = %v, want ErrUnknownTLP", err)
	}
}

func TestNormalizeTLP(t *testing.T) {
	valid := map[string]string{
		"TLP:CLEAR": TLPClear, "tlp:clear": TLPClear, "clear": TLPClear, "CLEAR": TLPClear,
		"TLP:WHITE": TLPWhite, "white": TLPWhite, "TLP:GREEN": TLPGreen, "green": TLPGreen,
		"TLP:AMBER": TLPAmber, "tlp:amber": TLPAmber, "amber": TLPAmber, "Tlp:Amber": TLPAmber,
		"TLP:AMBER+STRICT": TLPAmberStrict, "amber+strict": TLPAmberStrict, "tlp:amber+strict": TLPAmberStrict,
		"TLP:RED": TLPRed, "red": TLPRed,
	}
	for in, want := range valid {
		if got, err := NormalizeTLP(in); err != nil || got != want {
			t.Errorf("NormalizeTLP(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "TLP:", "amber ", " amber", "TLP:AMBER+", "amber-strict", "TLP:TLP:RED", "purple", "PAP:RED"} {
		_, err := NormalizeTLP(in)
		if !errors.Is(err, ErrUnknownTLP) {
			t.Errorf("NormalizeTLP(%q) error = %v, want ErrUnknownTLP", in, err)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, "TLP:AMBER+STRICT") || !strings.Contains(msg, "amber+strict") {
			t.Errorf("NormalizeTLP(%q) error %q does not list the accepted values", in, msg)
		}
	}
}

func TestCheckMaxTLP(t *testing.T) {
	all := []string{TLPClear, TLPWhite, TLPGreen, TLPAmber, TLPAmberStrict, TLPRed}
	// pycti's table: max → allowed.
	allowed := map[string][]string{
		TLPClear:       {TLPWhite, TLPClear},
		TLPWhite:       {TLPWhite, TLPClear},
		TLPGreen:       {TLPWhite, TLPClear, TLPGreen},
		TLPAmber:       {TLPWhite, TLPClear, TLPGreen, TLPAmber},
		TLPAmberStrict: {TLPWhite, TLPClear, TLPGreen, TLPAmber, TLPAmberStrict},
		TLPRed:         all,
	}
	for maxTLP, ok := range allowed {
		for _, tlp := range all {
			want := false
			for _, a := range ok {
				want = want || a == tlp
			}
			for _, spelling := range []string{tlp, strings.ToLower(tlp)} {
				if got, err := CheckMaxTLP(spelling, maxTLP); err != nil || got != want {
					t.Errorf("CheckMaxTLP(%q, %q) = %v, %v; want %v", spelling, maxTLP, got, err, want)
				}
			}
		}
	}
	tests := []struct {
		tlp, maxTLP string
		want        bool
		wantErr     bool
	}{
		{"", TLPClear, true, false},
		{TLPRed, "", true, false},
		{"", "", true, false},
		{"", "bogus", true, false}, // pycti returns before looking max up
		{"TLP:UNKNOWN", TLPRed, false, false},
		{"amber", TLPRed, false, false}, // pycti does not normalise the entity's marking
		{TLPGreen, "amber", true, false},
		{TLPRed, "amber+strict", false, false},
		{TLPGreen, "TLP:AMBER+", false, true},
		{TLPGreen, "bogus", false, true},
	}
	for _, tt := range tests {
		got, err := CheckMaxTLP(tt.tlp, tt.maxTLP)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("CheckMaxTLP(%q, %q) = %v, %v; want %v, error %v", tt.tlp, tt.maxTLP, got, err, tt.want, tt.wantErr)
		}
		if tt.wantErr && !errors.Is(err, ErrUnknownTLP) {
			t.Errorf("CheckMaxTLP(%q, %q) error = %v, want ErrUnknownTLP", tt.tlp, tt.maxTLP, err)
		}
	}
}

func TestNewMarkingDefinition(t *testing.T) {
	created := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	tests := []struct {
		defType, def, wantID, wantJSON string
	}{
		{
			"statement", "custom", "marking-definition--624ceec7-626d-5808-a4b1-ec4447860f6c",
			`{"type": "marking-definition", "spec_version": "2.1", "id": "marking-definition--624ceec7-626d-5808-a4b1-ec4447860f6c", "created": "2024-05-06T07:08:09.000Z", "definition_type": "statement", "definition": {"statement": "custom"}}`,
		},
		{
			"PAP", "PAP:GREEN", MarkingDefinitionID("PAP", "PAP:GREEN"),
			`{"type": "marking-definition", "spec_version": "2.1", "id": "` + MarkingDefinitionID("PAP", "PAP:GREEN") + `", "created": "2024-05-06T07:08:09.000Z", "definition_type": "statement", "definition": {"statement": "custom"}, "x_opencti_definition": "PAP:GREEN", "x_opencti_definition_type": "PAP"}`,
		},
		{ // the connectors-sdk form of §8.2, resolved by the platform through the fixed id
			"TLP", "TLP:AMBER+STRICT", TLPAmberStrictID,
			`{"type": "marking-definition", "spec_version": "2.1", "id": "marking-definition--826578e1-40ad-459f-bc73-ede076f81f37", "created": "2024-05-06T07:08:09.000Z", "definition_type": "statement", "definition": {"statement": "custom"}, "x_opencti_definition": "TLP:AMBER+STRICT", "x_opencti_definition_type": "TLP"}`,
		},
	}
	for _, tt := range tests {
		m := NewMarkingDefinition(tt.defType, tt.def)
		if m.ID() != tt.wantID {
			t.Errorf("NewMarkingDefinition(%q, %q).ID() = %s, want %s", tt.defType, tt.def, m.ID(), tt.wantID)
		}
		if _, err := m.MarshalJSON(); err == nil {
			t.Errorf("NewMarkingDefinition(%q, %q) marshalled without Created", tt.defType, tt.def)
		}
		m.Created = created
		b, err := m.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if got := pythonJSON(t, b); got != tt.wantJSON {
			t.Errorf("NewMarkingDefinition(%q, %q) JSON =\n%s\nwant\n%s", tt.defType, tt.def, got, tt.wantJSON)
		}
	}
}
