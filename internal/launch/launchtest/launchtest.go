// Package launchtest checks a connector's documentation against its
// configuration variables.
package launchtest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/riskiq-opencti/connectors/internal/launch"
)

// ReadmeRows parses the configuration tables of a connector README (columns
// Parameter | config.yml | Docker environment variable | Default | Mandatory
// | Description): environment variable → (config.yml key, default, mandatory).
func ReadmeRows(tb testing.TB, path string) map[string][3]string {
	tb.Helper()
	raw, err := os.ReadFile(path) //nolint:gosec // G304: a test helper reading the README path its test gives
	if err != nil {
		tb.Fatal(err)
	}
	rows := map[string][3]string{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		cells := strings.Split(sc.Text(), "|")
		if len(cells) != 8 {
			continue
		}
		env := strings.Trim(strings.TrimSpace(cells[3]), "`")
		if env == "" || strings.HasPrefix(env, "-") || env == "Docker environment variable" {
			continue
		}
		rows[env] = [3]string{strings.TrimSpace(cells[2]), strings.TrimSpace(cells[4]), strings.TrimSpace(cells[5])}
	}
	return rows
}

// CheckDocs checks that every variable is in the README's configuration
// tables with its config.yml key, default and mandatory flag, that the README
// documents no other variable, and that config.yml.sample holds every
// variable with its default (an optional variable without default may be a
// comment "# key: …").
func CheckDocs(tb testing.TB, vars []launch.Variable, readmePath, sample string) {
	tb.Helper()
	rows := ReadmeRows(tb, readmePath)
	var doc map[string]map[string]any
	if err := yaml.Unmarshal([]byte(sample), &doc); err != nil {
		tb.Fatalf("config.yml.sample: %v", err)
	}
	for _, v := range vars {
		section, key, _ := strings.Cut(v.Key, ".")
		row, ok := rows[v.Env]
		switch {
		case !ok:
			tb.Errorf("README has no row for %s", v.Env)
		case row[0] != key:
			tb.Errorf("README row %s: config.yml key %q, want %q", v.Env, row[0], key)
		case row[1] != v.Default:
			tb.Errorf("README row %s: default %q, want %q", v.Env, row[1], v.Default)
		case row[2] != map[bool]string{true: "Yes", false: "No"}[v.Mandatory]:
			tb.Errorf("README row %s: mandatory %q, want %v", v.Env, row[2], v.Mandatory)
		}
		got, ok := doc[section][key]
		switch {
		case !ok && v.Default == "" && !v.Mandatory:
			if !regexp.MustCompile(`(?m)^\s*# ` + regexp.QuoteMeta(key) + `: `).MatchString(sample) {
				tb.Errorf("config.yml.sample has no %s, not even as a comment", v.Key)
			}
		case !ok:
			tb.Errorf("config.yml.sample has no %s", v.Key)
		case v.Default != "" && fmt.Sprint(got) != v.Default:
			tb.Errorf("config.yml.sample %s = %v, want the default %q", v.Key, got, v.Default)
		}
	}
	if len(rows) != len(vars) {
		tb.Errorf("README documents %d variables, the connector reads %d", len(rows), len(vars))
	}
}
