package logging_test

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/riskiq-opencti/connectors/opencti/config"
	"github.com/riskiq-opencti/connectors/opencti/logging"
)

// TestSecretIsRedacted is in the external test package: config imports
// logging (for ParseLevel), so logging's own tests cannot import config.
func TestSecretIsRedacted(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l, err := logging.New(&buf, logging.Options{Name: "RiskIQ PassiveTotal", Level: "debug", JSON: true})
	if err != nil {
		t.Fatal(err)
	}
	l.Info("m", slog.Any("token", config.Secret("hunter2")), slog.Any("empty", config.Secret("")))
	const want = `,"level":"INFO","name":"RiskIQ PassiveTotal","message":"m","attributes":{"token":"REDACTED","empty":""}}` + "\n"
	if got := buf.String(); !bytes.HasSuffix([]byte(got), []byte(want)) || bytes.Contains(buf.Bytes(), []byte("hunter2")) {
		t.Errorf("line = %s, want it to end with %s", got, want)
	}
}
