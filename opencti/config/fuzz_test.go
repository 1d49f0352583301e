package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzLoad feeds random config.yml documents and environments to the loader:
// it must never panic, never leak a secret, and a configuration it accepts
// must satisfy every documented constraint.
func FuzzLoad(f *testing.F) {
	for _, c := range readLoadCases(f) {
		var env strings.Builder
		for _, k := range sortedKeys(c.env) {
			env.WriteString(k + "=" + c.env[k] + "\n")
		}
		f.Add(c.yaml, env.String())
	}
	f.Fuzz(func(t *testing.T, doc []byte, envText string) {
		const token, pass = "fuzz-token-SECRET-9c1d", "fuzz-pass-SECRET-4b7e"
		env := parseEnvText(envText)
		inject := !strings.Contains(string(doc)+envText, "SECRET")
		if inject {
			env["OPENCTI_TOKEN"] = token
			env["MQ_PASS"] = pass
		}
		src, err := NewSource(envOf(env), doc)
		if err != nil {
			if src != nil {
				t.Fatalf("NewSource returned a source with error %v", err)
			}
			return
		}
		cfg := Load(src, Defaults{Type: TypeInternalEnrichment, Name: "Fuzz"})
		verr := src.Validate()
		warnings := src.Warnings()
		if inject {
			js, _ := json.Marshal(cfg)
			all := fmt.Sprintf("%v\n%q\n%+v\n%#v\n%s", verr, warnings, cfg, cfg, js)
			if strings.Contains(all, token) || strings.Contains(all, pass) {
				t.Fatalf("secret leaked:\n%s", all)
			}
		}
		if verr != nil {
			var joined interface{ Unwrap() []error }
			if !errors.As(verr, &joined) {
				t.Fatalf("Validate() = %T, want an errors.Join result", verr)
			}
			for _, e := range joined.Unwrap() {
				var p *Problem
				if !errors.As(e, &p) || p.Reason == "" {
					t.Fatalf("problem %v is not a complete *Problem", e)
				}
			}
			return
		}
		checkAccepted(t, cfg)
	})
}

// checkAccepted asserts the constraints Load promises for a valid config.
func checkAccepted(t *testing.T, cfg Config) {
	t.Helper()
	c := cfg.Connector
	u, err := url.Parse(cfg.OpenCTI.URL)
	switch {
	case err != nil || u.Host == "" || u.User != nil || !strings.EqualFold(u.Scheme, "http") && !strings.EqualFold(u.Scheme, "https"):
		t.Fatalf("accepted URL %q", cfg.OpenCTI.URL)
	case cfg.OpenCTI.Token == "" || cfg.OpenCTI.Token == "ChangeMe":
		t.Fatal("accepted a missing or placeholder token")
	case c.ID == "":
		t.Fatal("accepted an empty CONNECTOR_ID")
	case !slices.Contains(connectorTypes(), c.Type):
		t.Fatalf("accepted type %q", c.Type)
	case len([]rune(strings.TrimSpace(c.Name))) < 2:
		t.Fatalf("accepted name %q", c.Name)
	case !slices.Contains([]string{"debug", "info", "warn", "error"}, c.LogLevel):
		t.Fatalf("accepted log level %q", c.LogLevel)
	case c.QueueProtocol != "amqp" || c.ListenProtocol != "AMQP":
		t.Fatalf("accepted protocols %q/%q", c.QueueProtocol, c.ListenProtocol)
	case c.EnrichmentResolution != "none" && c.EnrichmentResolution != "stix_bundle":
		t.Fatalf("accepted enrichment resolution %q", c.EnrichmentResolution)
	case !validPort(c.MetricsPort) || cfg.MQ.PortSet && !validPort(cfg.MQ.Port):
		t.Fatalf("accepted ports %d/%d", c.MetricsPort, cfg.MQ.Port)
	case !(c.QueueThreshold >= 0):
		t.Fatalf("accepted threshold %v", c.QueueThreshold)
	case c.DurationPeriod < 0 || c.DurationPeriod%time.Second != 0:
		t.Fatalf("accepted duration period %v", c.DurationPeriod)
	case c.ShutdownTimeout < 0:
		t.Fatalf("accepted shutdown timeout %v", c.ShutdownTimeout)
	case c.Concurrency < 1 || c.Concurrency > MaxConcurrency:
		t.Fatalf("accepted concurrency %d", c.Concurrency)
	case c.SendToDirectory && c.SendToDirectoryPath == "":
		t.Fatal("accepted send_to_directory without a path")
	case c.SendToDirectoryRetention < 0:
		t.Fatalf("accepted retention %d", c.SendToDirectoryRetention)
	case len(c.Scope) == 0:
		t.Fatal("accepted an empty scope")
	}
	for _, s := range c.Scope {
		if s == "" || s != strings.TrimSpace(s) {
			t.Fatalf("scope item %q not trimmed", s)
		}
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
