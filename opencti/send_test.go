package opencti_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskiq-opencti/connectors/opencti"
	"github.com/riskiq-opencti/connectors/opencti/openctitest"
	"github.com/riskiq-opencti/connectors/opencti/stix"
)

// TestIntegrationSendBundlePipelined sends a bundle of more parts than the publish window
// holds: the worker receives every part once, in order, with action_sequence 1 to N, the
// work expects N and completes, and bundles_sent_total counts N.
func TestIntegrationSendBundlePipelined(t *testing.T) {
	t.Parallel()
	srv := openctitest.NewServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cfg := testConfig(srv, "EXTERNAL_IMPORT")
	cfg.Connector.Scope = []string{"riskiq"}
	h := startHelper(t, ctx, cfg)

	const count = 2500
	objects := make([]any, count)
	want := make([]string, count)
	for i := range objects {
		want[i] = fmt.Sprintf("10.%d.%d.%d", i/65536, i/256%256, i%256)
		objects[i] = stix.NewIPv4Addr(want[i])
	}
	bundle, err := opencti.MarshalBundle(objects)
	if err != nil {
		t.Fatal(err)
	}
	workID, err := h.InitiateWork(ctx, "pipelined")
	if err != nil {
		t.Fatalf("InitiateWork() = %v", err)
	}
	n, err := h.SendBundle(ctx, bundle, opencti.SendOptions{WorkID: workID})
	if n != count || err != nil {
		t.Fatalf("SendBundle() = %d, %v; want %d, nil", n, err, count)
	}
	if w := waitWork(t, ctx, srv, workID); w.Expected != count || w.Processed != count {
		t.Errorf("work expected %d, processed %d; want %d and %d", w.Expected, w.Processed, count, count)
	}

	var got []string
	for i, d := range srv.Deliveries() {
		if d.ConnectorID != cfg.Connector.ID {
			continue
		}
		if d.Envelope == nil || d.Envelope.ActionSequence == nil || *d.Envelope.ActionSequence != len(got)+1 {
			t.Fatalf("delivery %d: envelope %+v, want action_sequence %d", i, d.Envelope, len(got)+1)
		}
		if d.Outcome != openctitest.OutcomeImported {
			t.Errorf("delivery %d: outcome %s (%s), want imported", i, d.Outcome, d.Error)
		}
		objs, _ := d.Bundle["objects"].([]any)
		if len(objs) != 1 {
			t.Fatalf("delivery %d holds %d objects, want 1", i, len(objs))
		}
		value, _ := objs[0].(map[string]any)["value"].(string)
		got = append(got, value)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("imported values mismatch (-want +got):\n%s", diff)
	}
	if sent := bundlesSent(t, h); sent != fmt.Sprint(count) {
		t.Errorf("bundles_sent_total = %s, want %d", sent, count)
	}
}

// bundlesSent scrapes the helper's metrics for bundles_sent_total.
func bundlesSent(t *testing.T, h *opencti.Helper) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.Metrics().Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if ok && strings.HasSuffix(name, "bundles_sent_total") {
			return value
		}
	}
	t.Fatalf("no bundles_sent_total in the metrics:\n%s", rec.Body)
	return ""
}
