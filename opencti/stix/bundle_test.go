package stix

import (
	"encoding/json"
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNewBundle(t *testing.T) {
	ip := NewIPv4Addr("8.8.8.8")
	entity := json.RawMessage(`{"type": "domain-name", "id": "domain-name--x", "value": "a<b>&c.example", "x_opencti_id": "123"}`)
	marking := map[string]any{"type": "marking-definition", "id": "marking-definition--y"}
	b := NewBundle(ip, entity, marking, []byte(`{"type":"note","id":"note--z"}`))
	other := NewBundle()
	if !regexp.MustCompile(`^bundle--[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(b.ID()) || b.ID() == other.ID() {
		t.Errorf("bundle ids %s, %s", b.ID(), other.ID())
	}
	got, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	var decoded struct {
		Type, ID    string
		SpecVersion string `json:"spec_version"`
		Objects     []map[string]any
	}
	if err := json.Unmarshal(got, &decoded); err != nil {
		t.Fatalf("%s: %v", got, err)
	}
	if decoded.Type != "bundle" || decoded.ID != b.ID() || decoded.SpecVersion != "2.1" || len(decoded.Objects) != 4 {
		t.Errorf("bundle = %s", got)
	}
	if decoded.Objects[1]["value"] != "a<b>&c.example" || decoded.Objects[3]["id"] != "note--z" {
		t.Errorf("raw objects altered: %s", got)
	}
	// Field order of §7.1.
	if want := `{"type":"bundle","id":"` + other.ID() + `","spec_version":"2.1","objects":[]}`; mustMarshal(t, other) != want {
		t.Errorf("empty bundle = %s, want %s", mustMarshal(t, other), want)
	}
}

func mustMarshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestBundleMarshalErrors(t *testing.T) {
	for name, objs := range map[string][]any{
		"invalid raw json":   {json.RawMessage(`{"type":`)},
		"not an object":      {"ipv4-addr--1"},
		"raw array":          {json.RawMessage(`[1]`)},
		"object that fails":  {NewIPv4Addr("")},
		"unmarshalable type": {make(chan int)},
	} {
		t.Run(name, func(t *testing.T) {
			if b, err := NewBundle(objs...).MarshalJSON(); err == nil {
				t.Errorf("MarshalJSON = %s, want error", b)
			}
		})
	}
	if b, err := (&Bundle{}).MarshalJSON(); err == nil {
		t.Errorf("zero Bundle MarshalJSON = %s, want error", b)
	}
}

func TestDeduplicate(t *testing.T) {
	first := NewIPv4Addr("8.8.8.8")
	second := NewIPv4Addr("8.8.8.8")
	second.Labels = []string{"second"}
	raw := json.RawMessage(`{"id": "ipv4-addr--2f689bf9-0ff2-545f-aa61-e495eb8cecc7", "value": "8.8.8.8"}`)
	m1 := map[string]any{"id": "note--1"}
	m2 := map[string]any{"id": "note--1", "n": 2}
	noID := map[string]any{"type": "x"}
	badRaw := json.RawMessage(`not json`)
	bytesObj := []byte(`{"id": "note--1"}`)
	got := Deduplicate([]any{first, raw, m1, second, noID, m2, badRaw, noID, bytesObj})
	want := []any{first, m1, noID, badRaw, noID}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(IPv4Addr{}, valueObservable{})); diff != "" {
		t.Errorf("Deduplicate (-want +got):\n%s", diff)
	}
}
