// Package launchtest checks a connector's documentation against its
// configuration variables.
package launchtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
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

// CheckConfigSchema checks that the connector's connector_config_schema.json
// (schemaPath) is what [launch.ConfigSchema] generates from vars and the
// README, so that it never drifts from the Variables table; with update set it
// rewrites the file instead (go test -run TestConfigSchema -update).
func CheckConfigSchema(tb testing.TB, slug string, vars []launch.Variable, readmePath, schemaPath string, update bool) {
	tb.Helper()
	readme, err := os.ReadFile(readmePath) //nolint:gosec // G304: a test helper reading the README path its test gives
	if err != nil {
		tb.Fatal(err)
	}
	want, err := launch.ConfigSchema(slug, vars, readme)
	if err != nil {
		tb.Fatal(err)
	}
	if update {
		if err := os.WriteFile(schemaPath, want, 0o644); err != nil { //nolint:gosec // G306: a repository file, world-readable
			tb.Fatal(err)
		}
	}
	got, err := os.ReadFile(schemaPath) //nolint:gosec // G304: the schema path its test gives
	if err != nil {
		tb.Fatalf("%v (generate it with go test -run TestConfigSchema -update)", err)
	}
	if !bytes.Equal(got, want) {
		tb.Errorf("%s is out of date with the Variables table and the README; regenerate it with "+
			"go test -run TestConfigSchema -update and review the diff.\nwant:\n%s", schemaPath, want)
	}
}

// manifestKeys are the keys of OpenCTI's connector manifest template
// (connectors repository, templates/*/__metadata__/connector_manifest.json),
// in its order.
var manifestKeys = []string{
	"title", "slug", "description", "short_description", "logo", "use_cases", "solution_categories",
	"license_type", "contact", "verified", "last_verified_date", "playbook_supported", "max_confidence_level",
	"support_version", "subscription_link", "source_code", "manager_supported", "container_version",
	"container_image", "container_type",
}

// The values the connectors repository's manifest schema accepts
// (shared/tools/composer/generate_manifest_fragment/connector_manifest_schema.json).
var (
	manifestUseCases = []string{
		"Adversary & Campaign Insights", "Vulnerability & Exploit Awareness", "Infrastructure & Attack Surface Visibility",
		"Detection & Response Enablement", "Fraud, Financial Crime & Cryptocurrency Monitoring",
		"Brand, Digital Risk & Underground Exposure", "Third-Party & Supply Chain Oversight", "Cloud, SaaS & Platform Security",
		"Geopolitical, Physical & Hybrid Risk Analysis", "Market Vertical & Mission-Specific Intelligence",
		"FIMI & Disinformation", "Other",
	}
	manifestSolutionCategories = []string{
		"Threat Intelligence Feed", "Endpoint Detection & Response", "SIEM & Security Analytics", "Malware Analysis & Sandbox",
		"SOAR & Security Automation", "Vulnerability & Exposure Management", "Attack Surface Management", "Network Security",
		"Email Security", "AI Security", "Incident Response & Case Management", "Digital Risk Protection",
		"Governance, Risk & Compliance", "Cloud Security", "Enrichment & Reputation", "Import, Export & Sharing", "Other",
	}
)

// CheckManifest checks a connector_manifest.json against OpenCTI's template:
// every key present (null where none) in the template's order and no other,
// the slug and container type given, 1 to 3 valid use cases and solution
// categories, a license type of the schema, and source_code an https URL.
func CheckManifest(tb testing.TB, path, slug, containerType string) {
	tb.Helper()
	raw, err := os.ReadFile(path) //nolint:gosec // G304: the manifest path its test gives
	if err != nil {
		tb.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	var keys []string
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		tb.Fatalf("%s: not a JSON object", path)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			tb.Fatalf("%s: %v", path, err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			tb.Fatalf("%s: %v", path, err)
		}
	}
	if !slices.Equal(keys, manifestKeys) {
		tb.Errorf("%s keys = %v, want the template's %v", path, keys, manifestKeys)
	}
	var m struct {
		Slug               string   `json:"slug"`
		UseCases           []string `json:"use_cases"`
		SolutionCategories []string `json:"solution_categories"`
		LicenseType        string   `json:"license_type"`
		SourceCode         string   `json:"source_code"`
		ContainerType      string   `json:"container_type"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	if m.Slug != slug || m.ContainerType != containerType {
		tb.Errorf("%s: slug %q, container_type %q; want %q, %q", path, m.Slug, m.ContainerType, slug, containerType)
	}
	for name, list := range map[string][2][]string{
		"use_cases":           {m.UseCases, manifestUseCases},
		"solution_categories": {m.SolutionCategories, manifestSolutionCategories},
	} {
		if n := len(list[0]); n < 1 || n > 3 {
			tb.Errorf("%s: %d %s, want 1 to 3", path, n, name)
		}
		for _, v := range list[0] {
			if !slices.Contains(list[1], v) {
				tb.Errorf("%s: %s value %q is not one of %q", path, name, v, list[1])
			}
		}
	}
	if !slices.Contains([]string{"Free", "Commercial", ""}, m.LicenseType) {
		tb.Errorf("%s: license_type %q, want Free or Commercial", path, m.LicenseType)
	}
	if u, err := url.Parse(m.SourceCode); err != nil || u.Scheme != "https" || u.Host == "" {
		tb.Errorf("%s: source_code %q, want an https URL", path, m.SourceCode)
	}
}

// Image is what a connector's Dockerfile sets in its final stage.
type Image struct {
	// Workdir is the last WORKDIR.
	Workdir string
	// Env holds the ENV settings (KEY=value form).
	Env map[string]string
	// MultiArch reports a build stage that compiles for TARGETARCH.
	MultiArch bool
}

// ReadDockerfile reads what a connector's Dockerfile sets in its final stage.
func ReadDockerfile(tb testing.TB, path string) Image {
	tb.Helper()
	raw, err := os.ReadFile(path) //nolint:gosec // G304: the Dockerfile path its test gives
	if err != nil {
		tb.Fatal(err)
	}
	img := Image{Env: map[string]string{}}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		switch strings.ToUpper(fields[0]) {
		case "FROM":
			img.Workdir, img.Env = "", map[string]string{}
		case "WORKDIR":
			if len(fields) > 1 {
				img.Workdir = fields[1]
			}
		case "ENV":
			for _, kv := range fields[1:] {
				if k, v, ok := strings.Cut(kv, "="); ok {
					img.Env[k] = v
				}
			}
		}
		if strings.Contains(sc.Text(), "GOARCH=$TARGETARCH") {
			img.MultiArch = true
		}
	}
	return img
}
