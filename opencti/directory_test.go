package opencti

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/riskiq-opencti/connectors/opencti/config"
	"github.com/riskiq-opencti/connectors/opencti/stix"
)

func TestSendBundleToDirectory(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "bundles")
	var cfg config.Config
	cfg.OpenCTI.URL = "http://127.0.0.1:1"
	cfg.Connector = config.Connector{
		ID: "5a8f3f1e-2b8e-4d0c-9f67-2f8f0f0b1c11", Name: "RiskIQ PassiveTotal", Type: config.TypeInternalEnrichment,
		Scope: []string{"IPv4-Addr"}, SendToDirectory: true, SendToDirectoryPath: dir, SendToDirectoryRetention: 7,
		SendToQueue: false,
	}
	now := time.Date(2024, 1, 15, 10, 30, 0, 123456000, time.UTC)
	h, err := New(cfg, WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(dir, "expired.json")
	keep := filepath.Join(dir, "notes.txt")
	for _, f := range []string{old, keep} {
		if err := os.WriteFile(f, []byte("{}"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(f, now.Add(-8*24*time.Hour), now.Add(-8*24*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	bundle, err := MarshalBundle([]any{stix.NewIPv4Addr("8.8.8.8"), stix.NewDomainName("example.com")})
	if err != nil {
		t.Fatal(err)
	}
	n, err := h.SendBundle(t.Context(), bundle, SendOptions{})
	if err != nil || n != 2 {
		t.Fatalf("SendBundle() = %d, %v; want 2 parts and no queue", n, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("expired bundle file kept: %v", names)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("a non-JSON file was deleted: %v", names)
	}
	re := regexp.MustCompile(`^riskiq_passivetotal-20240115-103000-1705314600\.123456\.json$`)
	var written string
	for _, name := range names {
		if re.MatchString(name) {
			written = name
		}
	}
	if written == "" || len(names) != 2 {
		t.Fatalf("directory holds %v, want notes.txt and riskiq_passivetotal-20240115-103000-1705314600.123456.json", names)
	}
	raw, err := os.ReadFile(filepath.Join(dir, written))
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		BundleType string `json:"bundle_type"`
		Connector  struct {
			ID, Name, Type string
			Scope          []string
		} `json:"connector"`
		Bundle struct {
			Type    string            `json:"type"`
			Objects []json.RawMessage `json:"objects"`
		} `json:"bundle"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatal(err)
	}
	if env.BundleType != "DIRECTORY_BUNDLE" || env.Connector.ID != cfg.Connector.ID || env.Connector.Name != cfg.Connector.Name ||
		env.Bundle.Type != "bundle" || len(env.Bundle.Objects) != 2 {
		t.Errorf("directory envelope = %s", raw)
	}
}
