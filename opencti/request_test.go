package opencti

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func readRequest(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "requests", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseRequest(t *testing.T) {
	t.Parallel()
	type view struct {
		WorkID, EntityID, EntityType, EventType, Trigger, Mode string
		ApplicantID, DraftID                                   string
		Playbook                                               bool
		StixEntityType                                         string
		StixObjects                                            int
	}
	str := func(p *string) string {
		if p == nil {
			return "<nil>"
		}
		return *p
	}
	tests := []struct {
		file    string
		want    view
		wantErr string
	}{
		{file: "auto.json", want: view{
			WorkID: "work_5a8f3f1e-2b8e-4d0c-9f67-2f8f0f0b1c11_2024-01-15T10:30:00.000Z", EntityID: "ipv4-addr--2f689bf9-0ff2-545f-aa61-e495eb8cecc7",
			EntityType: "IPv4-Addr", EventType: "INTERNAL_ENRICHMENT", Trigger: "create", Mode: "auto",
			ApplicantID: "<nil>", DraftID: "<nil>", StixEntityType: "ipv4-addr",
		}},
		{file: "manual_draft.json", want: view{
			WorkID: "work_5a8f3f1e-2b8e-4d0c-9f67-2f8f0f0b1c11_2024-01-15T10:31:00.000Z", EntityID: "domain-name--bedb4899-d24b-5401-bc86-8f6b4cc18ec7",
			EntityType: "Domain-Name", EventType: "INTERNAL_ENRICHMENT", Trigger: "update", Mode: "manual",
			ApplicantID: "<nil>", DraftID: "6f1d8c36-1f7e-4b53-8d55-0c9b6a0f1a10",
		}},
		{file: "playbook.json", want: view{
			EntityID: "domain-name--bedb4899-d24b-5401-bc86-8f6b4cc18ec7", EntityType: "Domain-Name", Trigger: "update", Mode: "auto",
			ApplicantID: "c49fe040-2dad-412d-af07-ce639204ad55", DraftID: "<nil>", Playbook: true, StixEntityType: "domain-name", StixObjects: 1,
		}},
		{file: "no_entity_id.json", want: view{WorkID: "work_x_2024-01-15T10:30:00.000Z"}, wantErr: "internal enrichment must be based on a specific id"},
		{file: "not_json.json", wantErr: "not a JSON object"},
		{file: "broken_stix_entity.json", want: view{WorkID: "work_y"}, wantErr: "event.stix_entity does not hold valid JSON"},
		{file: "playbook_missing_entity.json", wantErr: "is not in the playbook bundle"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			r, err := ParseRequest(readRequest(t, tt.file))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalidMessage) {
					t.Fatalf("ParseRequest(%s) error = %v, want one containing %q", tt.file, err, tt.wantErr)
				}
				if tt.want.WorkID != "" && (r == nil || r.WorkID != tt.want.WorkID) {
					t.Fatalf("ParseRequest(%s) lost the work id of an invalid message: %+v", tt.file, r)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRequest(%s) = %v", tt.file, err)
			}
			got := view{
				WorkID: r.WorkID, EntityID: r.EntityID, EntityType: r.EntityType, EventType: r.EventType,
				Trigger: r.Trigger, Mode: r.Mode, ApplicantID: str(r.ApplicantID), DraftID: str(r.DraftID),
				Playbook: r.InPlaybook(), StixObjects: len(r.StixObjects),
			}
			if r.StixEntity != nil {
				var head struct{ Type string }
				if err := json.Unmarshal(r.StixEntity, &head); err != nil {
					t.Fatal(err)
				}
				got.StixEntityType = head.Type
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseRequest(%s) mismatch (-want +got):\n%s", tt.file, diff)
			}
		})
	}
}

// FuzzParseRequest checks the queue-message parser never panics and that a
// request it accepts is usable: an entity id, and a playbook bundle holding it.
func FuzzParseRequest(f *testing.F) {
	entries, err := os.ReadDir(filepath.Join("testdata", "requests"))
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		f.Add(readRequest(f, e.Name()))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseRequest(body)
		if err != nil {
			if !errors.Is(err, ErrInvalidMessage) {
				t.Fatalf("error %v does not wrap ErrInvalidMessage", err)
			}
			return
		}
		if r.EntityID == "" {
			t.Fatal("accepted a request without entity id")
		}
		if r.Playbook != nil && (r.StixEntity == nil || len(r.Playbook.Bundle) == 0) {
			t.Fatal("accepted a playbook request without its entity in the bundle")
		}
		if r.StixEntity != nil && !json.Valid(r.StixEntity) {
			t.Fatal("accepted an invalid stix_entity")
		}
	})
}
