package opencti

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/renameio/v2"
)

// directoryEnvelope is what pycti writes for CONNECTOR_SEND_TO_DIRECTORY (§7.3 step 4).
type directoryEnvelope struct {
	BundleType    string             `json:"bundle_type"`
	ApplicantID   *string            `json:"applicant_id"`
	Connector     directoryConnector `json:"connector"`
	EntitiesTypes []string           `json:"entities_types"`
	Bundle        json.RawMessage    `json:"bundle"`
	Update        bool               `json:"update"`
}

type directoryConnector struct {
	ID                   string   `json:"id"`
	Name                 string   `json:"name"`
	Type                 string   `json:"type"`
	Scope                []string `json:"scope"`
	Auto                 bool     `json:"auto"`
	ValidateBeforeImport bool     `json:"validate_before_import"`
}

// writeDirectory writes the whole bundle into CONNECTOR_SEND_TO_DIRECTORY_PATH
// in pycti's envelope and file naming, atomically (a temporary name, fsync,
// then a rename), after deleting the files older than the retention.
func (h *Helper) writeDirectory(bundle []byte, applicant *string) (string, error) {
	c := h.cfg.Connector
	dir := c.SendToDirectoryPath
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("create bundle directory: %w", err)
	}
	now := h.now()
	if c.SendToDirectoryRetention > 0 {
		h.pruneDirectory(dir, now.Add(-time.Duration(c.SendToDirectoryRetention)*24*time.Hour))
	}
	scope := c.Scope
	if scope == nil {
		scope = []string{}
	}
	env := directoryEnvelope{
		BundleType:  "DIRECTORY_BUNDLE",
		ApplicantID: applicant,
		Connector: directoryConnector{
			ID: c.ID, Name: c.Name, Type: c.Type, Scope: scope, Auto: c.Auto, ValidateBeforeImport: c.ValidateBeforeImport,
		},
		EntitiesTypes: []string{},
		Bundle:        bundle,
	}
	body, err := json.Marshal(env)
	if err != nil {
		return "", fmt.Errorf("encode directory bundle: %w", err)
	}
	name := fmt.Sprintf("%s-%s-%s.json",
		strings.ReplaceAll(strings.ToLower(c.Name), " ", "_"),
		now.Format("20060102-150405"),
		strconv.FormatFloat(float64(now.UnixMicro())/1e6, 'f', -1, 64))
	final := filepath.Join(dir, name)
	if err := renameio.WriteFile(final, body, 0o600); err != nil {
		return "", fmt.Errorf("write bundle file: %w", err)
	}
	return final, nil
}

// pruneDirectory deletes the *.json files last modified before cutoff.
func (h *Helper) pruneDirectory(dir string, cutoff time.Time) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		h.log.Warn("Listing the bundle directory failed", "error", err)
		return
	}
	for _, e := range entries {
		if e.IsDir() || filepath.Ext(e.Name()) != ".json" {
			continue
		}
		info, err := e.Info()
		if err != nil || !info.ModTime().Before(cutoff) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			h.log.Warn("Deleting an expired bundle file failed", "file", e.Name(), "error", err)
		}
	}
}
