package enrichment

import (
	"strings"
	"time"

	"github.com/riskiq-opencti/connectors/internal/defenderti"
	"github.com/riskiq-opencti/connectors/internal/launch"
	"github.com/riskiq-opencti/connectors/opencti/config"
	"github.com/riskiq-opencti/connectors/opencti/redisstate"
	"github.com/riskiq-opencti/connectors/opencti/stix"
)

// Connector defaults, the Python connector's.
const (
	DefaultName  = "RiskIQ PassiveTotal"
	DefaultScope = "IPv4-Addr,Domain-Name"
	// DefaultDefenderScope is the default CONNECTOR_SCOPE when RISKIQ_SOURCE
	// is defender: Graph answers reverse lookups of IPv6 addresses and
	// forward lookups of host names too.
	DefaultDefenderScope = "IPv4-Addr,IPv6-Addr,Domain-Name,Hostname"
	DefaultBaseURL       = "https://api.riskiq.net/pt"
	DefaultWindow        = 30 * 24 * time.Hour
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
	// Source is RISKIQ_SOURCE: defenderti.SourcePassiveTotal (the default)
	// or defenderti.SourceDefender. Username, APIKey and BaseURL are read for
	// PassiveTotal only, Defender for Defender TI only.
	Source string
	// Defender are the DEFENDER_TI_* settings, read when Source is defender.
	Defender defenderti.Settings
	// HostReputation is DEFENDER_TI_HOST_REPUTATION: also read the host's
	// reputation (score and classification label on the observable).
	HostReputation bool
	// Shared is CONNECTOR_REDIS_URL and CONNECTOR_CACHE_TTL, the state the
	// replicas share (read by Load, not by LoadSettings).
	Shared redisstate.Settings
}

// Variables lists the settings an operator sets for this connector, with
// their defaults as the README states them. Each call returns a new slice.
func Variables() []launch.Variable {
	return append([]launch.Variable{
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
		{Env: "CONNECTOR_REDIS_URL", Key: "connector.redis_url", Sensitive: true},
		{Env: "CONNECTOR_CACHE_TTL", Key: "connector.cache_ttl", Default: "PT1H"},
		{Env: "RISKIQ_USERNAME", Key: "riskiq.username", Mandatory: true},
		{Env: "RISKIQ_API_KEY", Key: "riskiq.api_key", Mandatory: true},
		{Env: "RISKIQ_MAX_TLP", Key: "riskiq.max_tlp", Enum: []string{
			stix.TLPClear, stix.TLPWhite, stix.TLPGreen, stix.TLPAmber, stix.TLPAmberStrict, stix.TLPRed,
		}},
		{Env: "RISKIQ_IMPORT_LAST_SEEN_TIME_WINDOW", Key: "riskiq.import_last_seen_time_window", Default: "P30D"},
		{Env: "RISKIQ_BASE_URL", Key: "riskiq.base_url", Default: DefaultBaseURL},
		hostReputation,
		// RISKIQ_SOURCE and the DEFENDER_TI_* settings of the client follow.
	}, defenderti.Variables()...)
}

// hostReputation is the enrichment's own Defender TI setting.
var hostReputation = launch.Variable{Env: "DEFENDER_TI_HOST_REPUTATION", Key: "defender_ti.host_reputation", Default: "false"}

// Load reads the SDK settings and the connector's own from src. Problems are
// recorded in src: call src.Validate() for all of them at once. The default
// CONNECTOR_SCOPE depends on RISKIQ_SOURCE (DefaultScope, DefaultDefenderScope).
func Load(src *config.Source) (config.Config, Settings) {
	source := defenderti.ReadSource(src)
	scope := DefaultScope
	if source == defenderti.SourceDefender {
		scope = DefaultDefenderScope
	}
	cfg := config.Load(src, config.Defaults{
		Type: config.TypeInternalEnrichment, Name: DefaultName, LogLevel: "info",
		Scope: strings.Split(scope, ","),
	})
	if cfg.Connector.Type != config.TypeInternalEnrichment && cfg.Connector.Type != "" {
		src.AddProblem(&config.Problem{Env: "CONNECTOR_TYPE", Key: "connector.type", Value: cfg.Connector.Type,
			Reason: "must be INTERNAL_ENRICHMENT for this connector"})
	}
	s := loadSettings(src, source)
	s.Shared = redisstate.LoadSettings(src, cfg.Connector.ID)
	return cfg, s
}

// LoadSettings reads the connector's own settings (the riskiq section, and
// defender_ti when RISKIQ_SOURCE is defender) only, for tools that query
// passive DNS without OpenCTI. Problems are recorded in src.
func LoadSettings(src *config.Source) Settings {
	return loadSettings(src, defenderti.ReadSource(src))
}

// passiveTotalOnly are the settings a Defender TI deployment does not use.
var passiveTotalOnly = []launch.Variable{
	{Env: "RISKIQ_USERNAME", Key: "riskiq.username"},
	{Env: "RISKIQ_API_KEY", Key: "riskiq.api_key"},
	{Env: "RISKIQ_BASE_URL", Key: "riskiq.base_url"},
}

// loadSettings reads the settings of the given source.
func loadSettings(src *config.Source, source string) Settings {
	if source != defenderti.SourceDefender {
		s := loadPassiveTotal(src)
		s.Source = source
		// Known settings of the other source: no "not a setting this
		// connector reads" warning for the defender_ti section of the sample.
		for _, v := range append(defenderti.Variables(), hostReputation) {
			src.IsSet(v.Env, v.Key)
		}
		return s
	}
	s := Settings{Source: source, Defender: defenderti.LoadSettings(src),
		HostReputation: src.Bool(hostReputation.Env, hostReputation.Key, false)}
	for _, v := range passiveTotalOnly {
		src.IsSet(v.Env, v.Key)
	}
	s.Window = loadWindow(src)
	s.MaxTLP = loadMaxTLP(src)
	return s
}

// loadPassiveTotal reads the PassiveTotal settings (problems in the order
// they always were reported).
func loadPassiveTotal(src *config.Source) Settings {
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
	checkWindow(src, s.Window)
	s.MaxTLP = loadMaxTLP(src)
	src.AddProblem(config.CheckBaseURL("RISKIQ_BASE_URL", "riskiq.base_url", s.BaseURL, ", e.g. "+DefaultBaseURL))
	return s
}

// loadWindow reads and checks RISKIQ_IMPORT_LAST_SEEN_TIME_WINDOW.
func loadWindow(src *config.Source) time.Duration {
	w := src.Duration("RISKIQ_IMPORT_LAST_SEEN_TIME_WINDOW", "riskiq.import_last_seen_time_window", DefaultWindow)
	checkWindow(src, w)
	return w
}

// checkWindow records a problem when the window is not positive.
func checkWindow(src *config.Source, w time.Duration) {
	if w <= 0 {
		src.AddProblem(&config.Problem{Env: "RISKIQ_IMPORT_LAST_SEEN_TIME_WINDOW", Key: "riskiq.import_last_seen_time_window",
			Value: config.FormatDuration(w), Reason: "must be a positive ISO-8601 duration such as P30D or PT12H"})
	}
}

// loadMaxTLP reads RISKIQ_MAX_TLP in canonical form ("" = no limit).
func loadMaxTLP(src *config.Source) string {
	raw := src.String("RISKIQ_MAX_TLP", "riskiq.max_tlp", "")
	if raw == "" {
		return ""
	}
	tlp, err := stix.NormalizeTLP(raw)
	if err != nil {
		src.AddProblem(&config.Problem{Env: "RISKIQ_MAX_TLP", Key: "riskiq.max_tlp", Value: raw,
			Reason: "must be one of TLP:CLEAR, TLP:WHITE, TLP:GREEN, TLP:AMBER, TLP:AMBER+STRICT, TLP:RED"})
	}
	return tlp
}
