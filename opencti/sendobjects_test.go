package opencti_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"regexp"
	"testing"
	"time"

	"github.com/riskiq-opencti/connectors/opencti"
	"github.com/riskiq-opencti/connectors/opencti/openctitest"
	"github.com/riskiq-opencti/connectors/opencti/stix"
)

// TestIntegrationSendObjectsMatchesSendBundle sends the same objects with
// SendBundle(MarshalBundle(objects)) and with SendObjects, each to its own
// work, first and again as a retry (SendOptions.Retry pads to the work's
// expectations): the worker receives the same messages, byte for byte once
// the work and bundle ids are put aside, and both works complete.
func TestIntegrationSendObjectsMatchesSendBundle(t *testing.T) {
	t.Parallel()
	srv := openctitest.NewServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cfg := testConfig(srv, "EXTERNAL_IMPORT")
	cfg.Connector.Scope = []string{"riskiq"}
	h := startHelper(t, ctx, cfg)

	org := stix.NewOrganization("Author <&> é")
	org.Created = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	ip, domain := stix.NewIPv4Addr("192.0.2.1"), stix.NewDomainName("example.com")
	rel, err := stix.NewRelationship("resolves-to", domain.ID(), ip.ID(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rel.Created, rel.CreatedByRef = org.Created, org.ID()
	objects := []any{rel, org, ip, domain,
		json.RawMessage(`{"type": "note", "id": "note--7c3b6f4e-0000-4000-8000-000000000001", "spec_version": "2.1", "content": "line\u2028sep", "object_refs": ["` + ip.ID() + `", "indicator--00000000-0000-4000-8000-000000000000"]}`)}

	bundleID := regexp.MustCompile(`bundle--[0-9a-f-]{36}`)
	// messages are the bodies published for a work, with the work id and
	// the bundle id inside the content replaced by fixed texts.
	messages := func(workID string) [][]byte {
		t.Helper()
		var out [][]byte
		for _, d := range srv.Deliveries() {
			if d.Envelope == nil || d.Envelope.WorkID == nil || *d.Envelope.WorkID != workID || d.Republished {
				continue
			}
			content, err := base64.StdEncoding.DecodeString(d.Envelope.Content)
			if err != nil {
				t.Fatal(err)
			}
			content = bundleID.ReplaceAll(content, []byte("bundle--x"))
			body := bytes.Replace(d.Body, []byte(d.Envelope.Content), []byte(base64.StdEncoding.EncodeToString(content)), 1)
			out = append(out, bytes.ReplaceAll(body, []byte(workID), []byte("work-x")))
		}
		return out
	}
	// send publishes the objects twice: once as a first attempt, once as a
	// retry of an attempt that added its expectations and died before
	// publishing (a work of its own, which nothing can complete before the
	// retry: the comparison never depends on the worker's speed).
	send := func(typed bool) [][]byte {
		t.Helper()
		var out [][]byte
		for _, retry := range []bool{false, true} {
			workID, err := h.InitiateWork(ctx, "typed or not")
			if err != nil {
				t.Fatal(err)
			}
			if retry {
				if err := h.API().AddExpectations(ctx, workID, 5); err != nil {
					t.Fatal(err)
				}
			}
			o := opencti.SendOptions{WorkID: workID, Cleanup: true, Retry: retry}
			var n int
			if typed {
				n, err = h.SendObjects(ctx, objects, o)
			} else {
				var bundle []byte
				if bundle, err = opencti.MarshalBundle(objects); err == nil {
					n, err = h.SendBundle(ctx, bundle, o)
				}
			}
			if err != nil || n != 5 {
				t.Fatalf("send (typed %t, retry %t) = %d, %v; want 5 messages", typed, retry, n, err)
			}
			if w := waitWork(t, ctx, srv, workID); w.Expected != 5 {
				t.Errorf("work (retry %t) expected %d, want 5", retry, w.Expected)
			}
			for len(messages(workID)) < 5 {
				select {
				case <-ctx.Done():
					t.Fatalf("work %s: %d messages consumed, want 5", workID, len(messages(workID)))
				case <-time.After(20 * time.Millisecond):
				}
			}
			out = append(out, messages(workID)...)
		}
		return out
	}
	want, got := send(false), send(true)
	if len(got) != len(want) || len(got) != 10 {
		t.Fatalf("SendObjects published %d messages, SendBundle %d; want 10", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("message %d differs:\nSendObjects %s\nSendBundle  %s", i, got[i], want[i])
		}
	}
}
