package config_test

import (
	"fmt"

	"github.com/riskiq-opencti/connectors/opencti/config"
)

func ExampleLoad() {
	// In a connector: env is os.LookupEnv and the file comes from
	// config.ReadSource(os.LookupEnv, "").
	env := map[string]string{
		"OPENCTI_URL":         "http://opencti:8080",
		"OPENCTI_TOKEN":       "3b7d3c1e-41b0-4f5a-9c0e-6b0a4d1f2e99",
		"CONNECTOR_ID":        "b2f4a3a6-8c4e-4f8f-9d1a-2f6a1c3e5d70",
		"CONNECTOR_LOG_LEVEL": "WARNING",
	}
	yml := []byte(`
connector:
  scope: IPv4-Addr, Domain-Name
  auto: yes
riskiq:
  api_key: pt-key
  max_tlp: TLP:AMBER
  typo_setting: 1
`)
	src, err := config.NewSource(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, yml)
	if err != nil {
		fmt.Println(err)
		return
	}
	cfg := config.Load(src, config.Defaults{Type: config.TypeInternalEnrichment, Name: "RiskIQ PassiveTotal"})
	// The connector reads its own section from the same source.
	apiKey := src.Secret("RISKIQ_API_KEY", "riskiq.api_key", true)
	maxTLP := src.String("RISKIQ_MAX_TLP", "riskiq.max_tlp", "TLP:AMBER")
	if err := src.Validate(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Connector.Name, cfg.Connector.Type, cfg.Connector.Scope, cfg.Connector.Auto, cfg.Connector.LogLevel)
	fmt.Println(cfg.OpenCTI.Token, apiKey, maxTLP)
	for _, w := range src.Warnings() {
		fmt.Println("warning:", w)
	}
	// Output:
	// RiskIQ PassiveTotal INTERNAL_ENRICHMENT [IPv4-Addr Domain-Name] true warn
	// REDACTED REDACTED TLP:AMBER
	// warning: config.yml: riskiq.typo_setting is not a setting this connector reads (ignored)
}

func ExampleSource_Validate() {
	env := map[string]string{
		"OPENCTI_URL":    "opencti:8080",
		"OPENCTI_TOKEN":  "ChangeMe",
		"CONNECTOR_TYPE": "ENRICHMENT",
	}
	src, _ := config.NewSource(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, nil)
	config.Load(src, config.Defaults{Name: "Demo"})
	fmt.Println(src.Validate())
	// Output:
	// OPENCTI_URL (config.yml: opencti.url) = "opencti:8080": must be an http:// or https:// URL with a host, e.g. http://opencti:8080
	// OPENCTI_TOKEN (config.yml: opencti.token) = REDACTED: must be a real API token, not the ChangeMe placeholder
	// CONNECTOR_ID (config.yml: connector.id): is required
	// CONNECTOR_TYPE (config.yml: connector.type) = "ENRICHMENT": must be one of EXTERNAL_IMPORT, INTERNAL_IMPORT_FILE, INTERNAL_ENRICHMENT, INTERNAL_ANALYSIS, INTERNAL_EXPORT_FILE, STREAM
}
