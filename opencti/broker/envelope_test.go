package broker

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// envelopeVector is one case of testdata/envelopes.json, written by
// testdata/gen_envelopes.py with the encoding pycti uses.
type envelopeVector struct {
	Name  string `json:"name"`
	Input struct {
		Part          string   `json:"part"`
		ApplicantID   *string  `json:"applicant_id"`
		Seq           int      `json:"seq"`
		EntitiesTypes []string `json:"entities_types"`
		Update        bool     `json:"update"`
		DraftID       *string  `json:"draft_id"`
		WorkID        *string  `json:"work_id"`
	} `json:"input"`
	Want string `json:"want"`
}

func loadEnvelopeVectors(tb testing.TB) []envelopeVector {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "envelopes.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var vs []envelopeVector
	if err := json.Unmarshal(raw, &vs); err != nil {
		tb.Fatal(err)
	}
	if len(vs) == 0 {
		tb.Fatal("no envelope vectors")
	}
	return vs
}

func TestEnvelopeMarshalMatchesPycti(t *testing.T) {
	for _, v := range loadEnvelopeVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			workID := ""
			if v.Input.WorkID != nil {
				workID = *v.Input.WorkID
			}
			e := NewEnvelope([]byte(v.Input.Part), v.Input.Seq, v.Input.ApplicantID, v.Input.DraftID, workID)
			e.EntitiesTypes = v.Input.EntitiesTypes
			e.Update = v.Input.Update
			got, err := e.Marshal()
			if err != nil {
				t.Fatalf("Marshal() error = %v", err)
			}
			if diff := cmp.Diff(v.Want, string(got)); diff != "" {
				t.Errorf("Marshal() mismatch (-pycti +got):\n%s", diff)
			}
			// The output is JSON that decodes back to the envelope.
			var back Envelope
			if err := json.Unmarshal(got, &back); err != nil {
				t.Fatalf("json.Unmarshal(Marshal()) error = %v", err)
			}
			if diff := cmp.Diff(e, back); diff != "" {
				t.Errorf("round trip mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewEnvelope(t *testing.T) {
	applicant, draft := "user-1", "draft-1"
	part := []byte("{\"type\": \"bundle\", \"name\": \"caf\xc3\xa9\"}")
	got := NewEnvelope(part, 2, &applicant, &draft, "work-1")
	want := Envelope{
		BundleType:     "QUEUE_BUNDLE",
		ApplicantID:    &applicant,
		ActionSequence: 2,
		EntitiesTypes:  []string{},
		Content:        base64.StdEncoding.EncodeToString(part),
		DraftID:        &draft,
		WorkID:         "work-1",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("NewEnvelope() mismatch (-want +got):\n%s", diff)
	}
	decoded, err := base64.StdEncoding.DecodeString(got.Content)
	if err != nil || string(decoded) != string(part) {
		t.Errorf("Content decodes to %q, %v; want %q", decoded, err, part)
	}
}

func TestEnvelopeMarshalEdgeCases(t *testing.T) {
	tests := []struct {
		name    string
		env     Envelope
		want    string
		wantErr bool
	}{
		{
			name: "nil entities types are an empty list",
			env:  Envelope{BundleType: "QUEUE_BUNDLE", ActionSequence: 1},
			want: `{"bundle_type": "QUEUE_BUNDLE", "applicant_id": null, "action_sequence": 1, "entities_types": [], "content": "", "update": false, "draft_id": null}`,
		},
		{
			name: "invalid utf-8 becomes replacement character",
			env:  Envelope{BundleType: "QUEUE_BUNDLE", ActionSequence: 1, WorkID: "a\xffb"},
			want: `{"bundle_type": "QUEUE_BUNDLE", "applicant_id": null, "action_sequence": 1, "entities_types": [], "content": "", "update": false, "draft_id": null, "work_id": "a\ufffdb"}`,
		},
		{
			// A Go string from encoding/json never holds surrogates: these bytes are invalid
			// UTF-8, one \ufffd each, never \ud800\udc00 (which decodes as U+10000).
			name: "encoded surrogates are invalid bytes",
			env:  Envelope{BundleType: "QUEUE_BUNDLE", ActionSequence: 1, ApplicantID: ptr("\xed\xa0\x80\xed\xb0\x80")},
			want: `{"bundle_type": "QUEUE_BUNDLE", "applicant_id": "\ufffd\ufffd\ufffd\ufffd\ufffd\ufffd", "action_sequence": 1, "entities_types": [], "content": "", "update": false, "draft_id": null}`,
		},
		{
			name:    "empty bundle type",
			env:     Envelope{ActionSequence: 1},
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.env.Marshal()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Marshal() error = %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, string(got)); !tt.wantErr && diff != "" {
				t.Errorf("Marshal() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzEnvelopeMarshal checks that any envelope marshals to valid JSON that decodes to the
// same strings (invalid UTF-8 aside) and contains only ASCII.
func FuzzEnvelopeMarshal(f *testing.F) {
	f.Add("user", "draft", "work", "Report", []byte(`{"type": "bundle"}`), 1, true)
	f.Add("q\"\\\x00\x7f\u2028", "", "\U0001F600", "é", []byte{0xff}, 0, false)
	f.Fuzz(func(t *testing.T, applicant, draft, work, typ string, part []byte, seq int, update bool) {
		e := NewEnvelope(part, seq, &applicant, &draft, work)
		e.EntitiesTypes = []string{typ, typ}
		e.Update = update
		got, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range got {
			if c >= 0x80 || c < 0x20 {
				t.Fatalf("Marshal() = %q has a non-printable-ASCII byte", got)
			}
		}
		var back Envelope
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("json.Unmarshal(%q) error = %v", got, err)
		}
		want := e
		want.ApplicantID = ptr(toValidUTF8(applicant))
		want.DraftID = ptr(toValidUTF8(draft))
		want.WorkID = toValidUTF8(work)
		want.EntitiesTypes = []string{toValidUTF8(typ), toValidUTF8(typ)}
		if diff := cmp.Diff(want, back); diff != "" {
			t.Errorf("round trip mismatch (-want +got):\n%s", diff)
		}
	})
}

func ptr[T any](v T) *T { return &v }

// toValidUTF8 replaces each invalid byte with U+FFFD, as Marshal does.
func toValidUTF8(s string) string {
	var b []rune
	for _, r := range s { // range yields RuneError once per invalid byte
		b = append(b, r)
	}
	return string(b)
}

func BenchmarkEnvelopeMarshal(b *testing.B) {
	applicant := "88ec0c6a-13ce-5e39-b486-354fe4a7084f"
	part := make([]byte, 2048)
	for i := range part {
		part[i] = byte('a' + i%26)
	}
	e := NewEnvelope(part, 1, &applicant, nil, "work_5a8f3f1e-2b8e-4d0c-9f67-2f8f0f0b1c11_2024-01-15T10:30:00.000Z")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Marshal(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestEnvelopeMarshalPartMatchesPycti: MarshalPart writes the pycti vectors
// too, and the same bytes as NewEnvelope(part).Marshal() for any part.
func TestEnvelopeMarshalPartMatchesPycti(t *testing.T) {
	for _, v := range loadEnvelopeVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			workID := ""
			if v.Input.WorkID != nil {
				workID = *v.Input.WorkID
			}
			e := NewEnvelope(nil, v.Input.Seq, v.Input.ApplicantID, v.Input.DraftID, workID)
			e.EntitiesTypes = v.Input.EntitiesTypes
			e.Update = v.Input.Update
			got, err := e.MarshalPart([]byte(v.Input.Part))
			if err != nil {
				t.Fatalf("MarshalPart() error = %v", err)
			}
			if diff := cmp.Diff(v.Want, string(got)); diff != "" {
				t.Errorf("MarshalPart() mismatch (-pycti +got):\n%s", diff)
			}
		})
	}
	for _, part := range [][]byte{nil, {}, []byte("x"), []byte("{\"a\": \"\\u00e9\"}"), {0xff, 0xfe, 0, 1, 2}} {
		applicant := "user-é"
		want, err := NewEnvelope(part, 3, &applicant, nil, "work-1").Marshal()
		if err != nil {
			t.Fatal(err)
		}
		got, err := NewEnvelope(nil, 3, &applicant, nil, "work-1").MarshalPart(part)
		if err != nil || string(got) != string(want) {
			t.Errorf("MarshalPart(%q) = %s, %v; want %s", part, got, err, want)
		}
	}
}
