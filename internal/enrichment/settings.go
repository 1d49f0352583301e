package enrichment

import (
	"net/url"
	"strings"
	"time"

	"github.com/riskiq-opencti/connectors/internal/launch"
	"github.com/riskiq-opencti/connectors/opencti/config"
	"github.com/riskiq-opencti/connectors/opencti/redisstate"
	"github.com/riskiq-opencti/connectors/opencti/scrub"
	"github.com/riskiq-opencti/connectors/opencti/stix"
)

// Connector defaults, the Python connector's.
const (
	DefaultName    = "RiskIQ PassiveTotal"
	DefaultScope   = "IPv4-Addr,Domain-Name"
	DefaultBaseURL = "https://api.riskiq.net/pt"
	DefaultWindow  = 30 * 24 * time.Hour
	// Slug is the manifest slug of the connector.
	Slug = "riskiq-passive-total"
)

// Settings are the connector's own settings (the riskiq section).
type Settings struct {
	// Username is RISKIQ_USERNAME, the account e-mail address.
	Username string
	// APIKey is RISKIQ_API_KEY.
	APIKey config.Secret
	// MaxTLP is RISKIQ_MAX_TLP in canonical form ("" = no limit).
	MaxTLP string
	// Window is RISKIQ_IMPORT_LAST_SEEN_TIME_WINDOW.
	Window time.Duration
	// BaseURL is RISKIQ_BASE_URL, without the /v2 segment.
	BaseURL string
	// Shared is CONNECTOR_REDIS_URL and CONNECTOR_CACHE_TTL, the state the
	// replicas share (read by Load, not by LoadSettings).
	Shared redisstate.Settings
}

// Variables lists the settings an operator sets for this connector, with
// their defaults as the README states them.
var Variables = []launch.Variable{
	{Env: "OPENCTI_URL", Key: "opencti.url", Mandatory: true},
	{Env: "OPENCTI_TOKEN", Key: "opencti.token", Mandatory: true},
	{Env: "CONNECTOR_ID", Key: "connector.id", Mandatory: true},
	{Env: "CONNECTOR_TYPE", Key: "connector.type", Default: config.TypeInternalEnrichment},
	{Env: "CONNECTOR_NAME", Key: "connector.name", Default: DefaultName},
	{Env: "CONNECTOR_SCOPE", Key: "connector.scope", Default: DefaultScope},
	{Env: "CONNECTOR_LOG_LEVEL", Key: "connector.log_level", Default: "info"},
	{Env: "CONNECTOR_AUTO", Key: "connector.auto", Default: "false"},
	{Env: "CONNECTOR_CONCURRENCY", Key: "connector.concurrency", Default: "8"},
	{Env: "CONNECTOR_SHUTDOWN_TIMEOUT", Key: "connector.shutdown_timeout", Default: "PT30S"},
	{Env: "CONNECTOR_EXPOSE_METRICS", Key: "connector.expose_metrics", Default: "false"},
	{Env: "CONNECTOR_METRICS_PORT", Key: "connector.metrics_port", Default: "9095"},
	{Env: "CONNECTOR_REDIS_URL", Key: "connector.redis_url"},
	{Env: "CONNECTOR_CACHE_TTL", Key: "connector.cache_ttl", Default: "PT1H"},
	{Env: "RISKIQ_USERNAME", Key: "riskiq.username", Mandatory: true},
	{Env: "RISKIQ_API_KEY", Key: "riskiq.api_key", Mandatory: true},
	{Env: "RISKIQ_MAX_TLP", Key: "riskiq.max_tlp"},
	{Env: "RISKIQ_IMPORT_LAST_SEEN_TIME_WINDOW", Key: "riskiq.import_last_seen_time_window", Default: "P30D"},
	{Env: "RISKIQ_BASE_URL", Key: "riskiq.base_url", Default: DefaultBaseURL},
}

// Load reads the SDK settings and the connector's own from src. Problems are
// recorded in src: call src.Validate() for all of them at once.
func Load(src *config.Source) (config.Config, Settings) {
	cfg := config.Load(src, config.Defaults{
		Type: config.TypeInternalEnrichment, Name: DefaultName, LogLevel: "info",
		Scope: strings.Split(DefaultScope, ","),
	})
	if cfg.Connector.Type != config.TypeInternalEnrichment && cfg.Connector.Type != "" {
		src.AddProblem(&config.Problem{Env: "CONNECTOR_TYPE", Key: "connector.type", Value: cfg.Connector.Type,
			Reason: "must be INTERNAL_ENRICHMENT for this connector"})
	}
	s := LoadSettings(src)
	s.Shared = redisstate.LoadSettings(src, cfg.Connector.ID)
	return cfg, s
}

// LoadSettings reads the connector's own settings (the riskiq section) only,
// for tools that query PassiveTotal without OpenCTI. Problems are recorded in src.
func LoadSettings(src *config.Source) Settings {
	s := Settings{
		Username: src.Required("RISKIQ_USERNAME", "riskiq.username"),
		APIKey:   src.Secret("RISKIQ_API_KEY", "riskiq.api_key", true),
		Window:   src.Duration("RISKIQ_IMPORT_LAST_SEEN_TIME_WINDOW", "riskiq.import_last_seen_time_window", DefaultWindow),
		BaseURL:  strings.TrimRight(src.String("RISKIQ_BASE_URL", "riskiq.base_url", DefaultBaseURL), "/"),
	}
	if s.APIKey.Reveal() == "ChangeMe" {
		src.AddProblem(&config.Problem{Env: "RISKIQ_API_KEY", Key: "riskiq.api_key", Secret: true,
			Reason: "is still the sample value ChangeMe: set the API key of the PassiveTotal account"})
	}
	if s.Window <= 0 {
		src.AddProblem(&config.Problem{Env: "RISKIQ_IMPORT_LAST_SEEN_TIME_WINDOW", Key: "riskiq.import_last_seen_time_window",
			Value: config.FormatDuration(s.Window), Reason: "must be a positive ISO-8601 duration such as P30D or PT12H"})
	}
	if raw := src.String("RISKIQ_MAX_TLP", "riskiq.max_tlp", ""); raw != "" {
		tlp, err := stix.NormalizeTLP(raw)
		if err != nil {
			src.AddProblem(&config.Problem{Env: "RISKIQ_MAX_TLP", Key: "riskiq.max_tlp", Value: raw,
				Reason: "must be one of TLP:CLEAR, TLP:WHITE, TLP:GREEN, TLP:AMBER, TLP:AMBER+STRICT, TLP:RED"})
		}
		s.MaxTLP = tlp
	}
	if u, err := url.Parse(s.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || strings.Contains(s.BaseURL, "@") || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		// scrub.URL prints the URL without its credentials, parsed or not.
		src.AddProblem(&config.Problem{Env: "RISKIQ_BASE_URL", Key: "riskiq.base_url", Value: scrub.URL(s.BaseURL),
			Reason: "must be an http(s) URL without credentials, query or fragment, e.g. " + DefaultBaseURL})
	}
	return s
}
