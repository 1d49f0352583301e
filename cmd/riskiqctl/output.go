package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/google/renameio/v2"
	"github.com/riskiq-opencti/connectors/opencti"
	"github.com/riskiq-opencti/connectors/opencti/logging"
)

// logger returns the logger of a subcommand: text lines on stderr, without
// time stamps, at the given level.
func (c *cli) logger(level string) (*slog.Logger, error) {
	lvl, err := logging.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{
		Level: lvl,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	})), nil
}

// indentedBundle returns a STIX bundle of objects, indented, with a final
// newline.
func indentedBundle(objects []any) ([]byte, error) {
	raw, err := opencti.MarshalBundle(objects)
	if err != nil {
		return nil, err
	}
	return indent(raw)
}

// indent returns JSON indented by two spaces, with a final newline.
func indent(raw []byte) ([]byte, error) {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return nil, fmt.Errorf("indent bundle: %w", err)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// writeBundle writes a bundle of objects to path atomically: a temporary file
// in the same directory, then a rename. The directory is created if needed.
func writeBundle(path string, objects []any) error {
	b, err := indentedBundle(objects)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, b)
}

// writeFileAtomic writes b to path through a temporary file, fsync and a
// rename, so that readers never see a partial file, creating the directory
// (0750) when missing.
func writeFileAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("create directory %s: %w", dir, err)
	}
	// Bundles are meant to be read by others, like any output file (less the umask).
	if err := renameio.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// summarize prints on stderr where the bundles were written and how many
// objects of each STIX type they hold, and returns the exit status.
func (c *cli) summarize(name, dir string, files []string) int {
	counts := map[string]int{}
	total := 0
	for _, f := range files {
		b, err := os.ReadFile(f) //nolint:gosec // a file this command just wrote
		if err != nil {
			return c.fail(name, fmt.Errorf("read back %s: %w", f, err))
		}
		var bundle struct {
			Objects []struct {
				Type string `json:"type"`
			} `json:"objects"`
		}
		if err := json.Unmarshal(b, &bundle); err != nil {
			return c.fail(name, fmt.Errorf("read back %s: %w", f, err))
		}
		for _, o := range bundle.Objects {
			counts[o.Type]++
		}
		total += len(bundle.Objects)
	}
	fmt.Fprintf(c.stderr, "%s: wrote %d %s to %s (%d STIX objects)\n", name, len(files), plural(len(files), "bundle"), line(dir), total)
	for _, t := range slices.Sorted(maps.Keys(counts)) {
		fmt.Fprintf(c.stderr, "  %6d %s\n", counts[t], line(t))
	}
	return exitOK
}

// plural returns word, with an s unless n is 1.
func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
