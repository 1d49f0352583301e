package articles

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/riskiq-opencti/connectors/internal/defenderti"
	"github.com/riskiq-opencti/connectors/internal/launch"
	"github.com/riskiq-opencti/connectors/internal/passivetotal"
	"github.com/riskiq-opencti/connectors/opencti/config"
	"github.com/riskiq-opencti/connectors/opencti/redisstate"
)

// Connector defaults, the Python connector's.
const (
	DefaultName     = "RISKIQ"
	DefaultScope    = "riskiq"
	DefaultLogLevel = "error"
	DefaultBaseURL  = "https://api.riskiq.net/pt/v2"
	DefaultInterval = 86400 * time.Second
	// CheckPeriod is how often the schedule looks whether the interval has
	// elapsed (the Python connector's 60 s loop).
	CheckPeriod = 60 * time.Second
	// Slug is the manifest slug of the connector.
	Slug = "riskiq"
)

// Settings are the connector's own settings (the riskiq section).
type Settings struct {
	// BaseURL is RISKIQ_BASE_URL, the API root with its version segment,
	// trailing slashes removed: "/v2" is appended when missing, so the
	// enrichment connector's spelling (https://api.riskiq.net/pt) works too
	// and one environment file serves both connectors.
	BaseURL string
	// User is RISKIQ_USER, the account e-mail address.
	User string
	// Password is RISKIQ_PASSWORD, the API key.
	Password config.Secret
	// CreateObservables is RISKIQ_CREATE_OBSERVABLES.
	CreateObservables bool
	// Interval is RISKIQ_INTERVAL_SEC, or CONNECTOR_DURATION_PERIOD when only
	// that is set.
	Interval time.Duration
	// ImportFrom is RISKIQ_IMPORT_FROM_TIMESTAMP, nil when unset.
	ImportFrom *time.Time
	// RunOnce is set by CONNECTOR_DURATION_PERIOD=0 (pycti's run once);
	// CONNECTOR_RUN_AND_TERMINATE is read by the SDK.
	RunOnce bool
	// Defender holds the Microsoft Defender TI settings when RISKIQ_SOURCE
	// is defender; nil for PassiveTotal (the default). User and Password are
	// then optional and unused.
	Defender *DefenderSettings
	// Shared is CONNECTOR_REDIS_URL, the import lock of the replicas (read
	// by Load, not by LoadSettings).
	Shared redisstate.Settings
}

// DefenderSettings are the settings of the Microsoft Defender TI import.
type DefenderSettings struct {
	// Client are the DEFENDER_TI_* settings of the Graph client.
	Client defenderti.Settings
	// Window is DEFENDER_TI_IMPORT_WINDOW_DAYS: how far back the first run
	// reads when RISKIQ_IMPORT_FROM_TIMESTAMP is not set.
	Window time.Duration
	// Overlap is DEFENDER_TI_IMPORT_OVERLAP_SEC: how far below the cursor
	// each run reads again (0: none).
	Overlap time.Duration
	// TLP is DEFENDER_TI_TLP_OSINT and DEFENDER_TI_TLP_MICROSOFT.
	TLP DefenderTLP
}

// Source returns RISKIQ_SOURCE: defenderti.SourceDefender or
// defenderti.SourcePassiveTotal.
func (s Settings) Source() string {
	if s.Defender != nil {
		return defenderti.SourceDefender
	}
	return defenderti.SourcePassiveTotal
}

// Cursor returns the import's cursor for the source: the Defender TI
// cursor on lastUpdatedDateTime, or the PassiveTotal one on the creation
// date.
func (s Settings) Cursor() Cursor {
	if s.Defender != nil {
		overlap := s.Defender.Overlap
		if overlap == 0 {
			overlap = -1 // none, as set
		}
		return UpdatedCursor{From: s.ImportFrom, Window: s.Defender.Window, Overlap: overlap}
	}
	return CreatedCursor{From: s.ImportFrom}
}

// SchedulePeriod is the period to give the SDK's scheduler: every
// [CheckPeriod] (or every interval when shorter) the run looks whether the
// interval has elapsed; zero runs once.
func (s Settings) SchedulePeriod() time.Duration {
	if s.RunOnce {
		return 0
	}
	return min(CheckPeriod, s.Interval)
}

// Variables lists the settings an operator sets for this connector, with
// their defaults as the README states them: RISKIQ_SOURCE and the
// DEFENDER_TI_* settings follow the RiskIQ ones. Each call returns a new
// slice.
func Variables() []launch.Variable {
	return slices.Concat([]launch.Variable{
		{Env: "OPENCTI_URL", Key: "opencti.url", Mandatory: true},
		{Env: "OPENCTI_TOKEN", Key: "opencti.token", Mandatory: true},
		{Env: "CONNECTOR_ID", Key: "connector.id", Mandatory: true},
		{Env: "CONNECTOR_TYPE", Key: "connector.type", Default: config.TypeExternalImport},
		{Env: "CONNECTOR_NAME", Key: "connector.name", Default: DefaultName},
		{Env: "CONNECTOR_SCOPE", Key: "connector.scope", Default: DefaultScope},
		{Env: "CONNECTOR_LOG_LEVEL", Key: "connector.log_level", Default: DefaultLogLevel},
		{Env: "CONNECTOR_EXPOSE_METRICS", Key: "connector.expose_metrics", Default: "false"},
		{Env: "CONNECTOR_METRICS_PORT", Key: "connector.metrics_port", Default: "9095"},
		{Env: "CONNECTOR_RUN_AND_TERMINATE", Key: "connector.run_and_terminate", Default: "false"},
		{Env: "CONNECTOR_DURATION_PERIOD", Key: "connector.duration_period"},
		{Env: "CONNECTOR_CONCURRENCY", Key: "connector.concurrency", Default: "8"},
		{Env: "CONNECTOR_REDIS_URL", Key: "connector.redis_url", Sensitive: true},
		{Env: "RISKIQ_BASE_URL", Key: "riskiq.base_url", Default: DefaultBaseURL},
		{Env: "RISKIQ_USER", Key: "riskiq.user", Mandatory: true},
		{Env: "RISKIQ_PASSWORD", Key: "riskiq.password", Mandatory: true},
		{Env: "RISKIQ_CREATE_OBSERVABLES", Key: "riskiq.create_observables", Default: "true"},
		{Env: "RISKIQ_INTERVAL_SEC", Key: "riskiq.interval_sec", Default: "86400"},
		{Env: "RISKIQ_IMPORT_FROM_TIMESTAMP", Key: "riskiq.import_from_timestamp", Type: "integer"},
	}, defenderti.Variables(), []launch.Variable{
		{Env: EnvDefenderWindow, Key: keyDefenderWindow, Type: "integer", Default: strconv.Itoa(int(DefaultDefenderImportWindow / (24 * time.Hour)))},
		{Env: EnvDefenderOverlap, Key: keyDefenderOverlap, Type: "integer", Default: strconv.Itoa(int(DefaultDefenderOverlap / time.Second))},
		{Env: EnvDefenderTLPOSINT, Key: keyDefenderTLPOSINT, Default: tlpClear},
		{Env: EnvDefenderTLPMS, Key: keyDefenderTLPMS, Default: defaultDefenderTLPMS},
	})
}

// Settings of the Defender TI import beyond the client's
// (defenderti.Variables).
const (
	EnvDefenderWindow    = "DEFENDER_TI_IMPORT_WINDOW_DAYS"
	keyDefenderWindow    = "defender_ti.import_window_days"
	EnvDefenderOverlap   = "DEFENDER_TI_IMPORT_OVERLAP_SEC"
	keyDefenderOverlap   = "defender_ti.import_overlap_sec"
	EnvDefenderTLPOSINT  = "DEFENDER_TI_TLP_OSINT"
	keyDefenderTLPOSINT  = "defender_ti.tlp_osint"
	EnvDefenderTLPMS     = "DEFENDER_TI_TLP_MICROSOFT"
	keyDefenderTLPMS     = "defender_ti.tlp_microsoft"
	maxDefenderWindow    = 3650 // days
	maxDefenderOverlap   = 7 * 86400
	tlpClear, tlpAmber   = "clear", "amber"
	defaultDefenderTLPMS = tlpAmber
)

// maxTimestamp is 9999-12-31T23:59:59Z, the last second Python's datetime
// can hold.
const maxTimestamp = 253402300799

// Load reads the SDK settings and the connector's own from src. Problems are
// recorded in src: call src.Validate() for all of them at once.
func Load(src *config.Source) (config.Config, Settings) {
	cfg := config.Load(src, config.Defaults{
		Type: config.TypeExternalImport, Name: DefaultName, LogLevel: DefaultLogLevel, Scope: []string{DefaultScope},
	})
	if cfg.Connector.Type != config.TypeExternalImport && cfg.Connector.Type != "" {
		src.AddProblem(&config.Problem{Env: "CONNECTOR_TYPE", Key: "connector.type", Value: cfg.Connector.Type,
			Reason: "must be EXTERNAL_IMPORT for this connector"})
	}
	s := LoadSettings(src)
	s.Shared = redisstate.LoadSettings(src, cfg.Connector.ID)
	if cfg.Connector.DurationPeriodSet {
		switch {
		case cfg.Connector.DurationPeriod == 0:
			s.RunOnce = true
		case src.String("RISKIQ_INTERVAL_SEC", "riskiq.interval_sec", "") != "":
			src.AddWarning("CONNECTOR_DURATION_PERIOD is ignored: RISKIQ_INTERVAL_SEC is set and gives the interval between runs")
		case cfg.Connector.DurationPeriod < time.Second:
			src.AddProblem(&config.Problem{Env: "CONNECTOR_DURATION_PERIOD", Key: "connector.duration_period",
				Value: config.FormatDuration(cfg.Connector.DurationPeriod), Reason: "must be at least one second (PT1S), or 0 to run once"})
		default:
			s.Interval = cfg.Connector.DurationPeriod
		}
	}
	return cfg, s
}

// LoadSettings reads the connector's own settings (the riskiq section) only,
// for tools that read articles without OpenCTI. Problems are recorded in src.
func LoadSettings(src *config.Source) Settings {
	defender := defenderti.ReadSource(src) == defenderti.SourceDefender
	s := Settings{BaseURL: strings.TrimRight(src.String("RISKIQ_BASE_URL", "riskiq.base_url", DefaultBaseURL), "/")}
	if defender {
		s.User = src.String("RISKIQ_USER", "riskiq.user", "")
	} else {
		s.User = src.Required("RISKIQ_USER", "riskiq.user")
	}
	s.Password = src.Secret("RISKIQ_PASSWORD", "riskiq.password", !defender)
	s.CreateObservables = src.Bool("RISKIQ_CREATE_OBSERVABLES", "riskiq.create_observables", true)
	if defender {
		s.Defender = loadDefender(src)
	} else {
		// The defender_ti section is not read with PassiveTotal: mark its
		// keys known, so that a config.yml (the sample) holding it gets no
		// "not a setting this connector reads" warning.
		for _, v := range Variables() {
			if strings.HasPrefix(v.Key, "defender_ti.") {
				src.IsSet(v.Env, v.Key)
			}
		}
	}
	if !defender && s.Password.Reveal() == "ChangeMe" {
		src.AddProblem(&config.Problem{Env: "RISKIQ_PASSWORD", Key: "riskiq.password", Secret: true,
			Reason: "is still the sample value ChangeMe: set the API key of the RiskIQ account"})
	}
	sec := src.Int("RISKIQ_INTERVAL_SEC", "riskiq.interval_sec", int(DefaultInterval/time.Second))
	if sec < 1 || sec > maxTimestamp {
		src.AddProblem(&config.Problem{Env: "RISKIQ_INTERVAL_SEC", Key: "riskiq.interval_sec", Value: strconv.Itoa(sec),
			Reason: "must be a number of seconds of at least 1 (86400 = one day)"})
		sec = int(DefaultInterval / time.Second)
	}
	s.Interval = time.Duration(sec) * time.Second
	if src.String("RISKIQ_IMPORT_FROM_TIMESTAMP", "riskiq.import_from_timestamp", "") != "" {
		ts := src.Int("RISKIQ_IMPORT_FROM_TIMESTAMP", "riskiq.import_from_timestamp", 0)
		if ts < 0 || ts > maxTimestamp {
			src.AddProblem(&config.Problem{Env: "RISKIQ_IMPORT_FROM_TIMESTAMP", Key: "riskiq.import_from_timestamp",
				Value: strconv.Itoa(ts), Reason: "must be a Unix timestamp in seconds, e.g. 1712929994"})
		} else {
			t := time.Unix(int64(ts), 0).UTC()
			s.ImportFrom = &t
		}
	}
	if p := config.CheckBaseURL("RISKIQ_BASE_URL", "riskiq.base_url", s.BaseURL, ", e.g. "+DefaultBaseURL); p != nil {
		src.AddProblem(p)
	} else {
		s.BaseURL = passivetotal.JoinVersion(s.BaseURL)
	}
	return s
}

// loadDefender reads the settings of RISKIQ_SOURCE=defender.
func loadDefender(src *config.Source) *DefenderSettings {
	d := &DefenderSettings{Client: defenderti.LoadSettings(src), TLP: DefaultDefenderTLP}
	days := src.Int(EnvDefenderWindow, keyDefenderWindow, int(DefaultDefenderImportWindow/(24*time.Hour)))
	if days < 1 || days > maxDefenderWindow {
		src.AddProblem(&config.Problem{Env: EnvDefenderWindow, Key: keyDefenderWindow, Value: strconv.Itoa(days),
			Reason: "must be a number of days between 1 and " + strconv.Itoa(maxDefenderWindow)})
		days = int(DefaultDefenderImportWindow / (24 * time.Hour))
	}
	d.Window = time.Duration(days) * 24 * time.Hour
	sec := src.Int(EnvDefenderOverlap, keyDefenderOverlap, int(DefaultDefenderOverlap/time.Second))
	if sec < 0 || sec > maxDefenderOverlap {
		src.AddProblem(&config.Problem{Env: EnvDefenderOverlap, Key: keyDefenderOverlap, Value: strconv.Itoa(sec),
			Reason: "must be a number of seconds between 0 and " + strconv.Itoa(maxDefenderOverlap) + " (3600 = one hour)"})
		sec = int(DefaultDefenderOverlap / time.Second)
	}
	d.Overlap = time.Duration(sec) * time.Second
	d.TLP.OSINTAmber = tlpSetting(src, EnvDefenderTLPOSINT, keyDefenderTLPOSINT, tlpClear)
	d.TLP.MicrosoftAmber = tlpSetting(src, EnvDefenderTLPMS, keyDefenderTLPMS, defaultDefenderTLPMS)
	return d
}

// tlpSetting reads a TLP choice: clear (or white, its TLP 1.0 name) or
// amber; it reports whether the choice is amber.
func tlpSetting(src *config.Source, env, key, def string) bool {
	raw := src.String(env, key, def)
	switch v := strings.ToLower(strings.TrimSpace(strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(raw)), "TLP:"))); v {
	case tlpClear, "white":
		return false
	case tlpAmber:
		return true
	}
	src.AddProblem(&config.Problem{Env: env, Key: key, Value: raw, Reason: "must be clear (or white) or amber"})
	return def == tlpAmber
}
