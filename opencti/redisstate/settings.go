package redisstate

import (
	"net/url"
	"time"

	"github.com/riskiq-opencti/connectors/opencti/config"
	"github.com/riskiq-opencti/connectors/opencti/scrub"
)

// Setting names: the environment variables and their config.yml keys.
const (
	EnvURL      = "CONNECTOR_REDIS_URL"
	KeyURL      = "connector.redis_url"
	EnvCacheTTL = "CONNECTOR_CACHE_TTL"
	KeyCacheTTL = "connector.cache_ttl"
)

// DefaultCacheTTL is the default of CONNECTOR_CACHE_TTL.
const DefaultCacheTTL = time.Hour

// Settings are the shared-state settings of a connector.
type Settings struct {
	// URL is CONNECTOR_REDIS_URL, e.g. redis://:password@redis:6379/2 or
	// rediss:// for TLS; empty disables the shared state. It may hold a
	// password: print it only through scrub.URL.
	URL config.Secret
	// CacheTTL is CONNECTOR_CACHE_TTL, how long a lookup result is kept; zero
	// disables the result cache.
	CacheTTL time.Duration
	// ConnectorID is CONNECTOR_ID, from which the key prefix is derived.
	ConnectorID string
}

// Enabled reports whether a Redis URL is set.
func (s Settings) Enabled() bool { return s.URL.Reveal() != "" }

// LoadSettings reads CONNECTOR_REDIS_URL and CONNECTOR_CACHE_TTL from src
// for the connector connectorID. Problems are recorded in src; the URL is
// checked without any network call and never printed with its credentials.
func LoadSettings(src *config.Source, connectorID string) Settings {
	s := Settings{
		URL:         src.Secret(EnvURL, KeyURL, false),
		CacheTTL:    src.Duration(EnvCacheTTL, KeyCacheTTL, DefaultCacheTTL),
		ConnectorID: connectorID,
	}
	if s.CacheTTL < 0 {
		src.AddProblem(&config.Problem{Env: EnvCacheTTL, Key: KeyCacheTTL, Value: config.FormatDuration(s.CacheTTL),
			Reason: "must be an ISO-8601 duration such as PT1H, or PT0S to disable the result cache"})
	}
	if raw := s.URL.Reveal(); raw != "" {
		if reason := checkURL(raw); reason != "" {
			src.AddProblem(&config.Problem{Env: EnvURL, Key: KeyURL, Value: scrub.URL(raw), Reason: reason})
		}
	}
	return s
}

// checkURL returns why raw is not a usable Redis URL, "" when it is. The
// reason never quotes raw.
func checkURL(raw string) string {
	const accepted = "must be a redis:// or rediss:// URL such as redis://redis:6379/2 (password in the user information, percent-encoded)"
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
		return accepted
	}
	if _, err := options(raw); err != nil {
		return accepted
	}
	return ""
}
