// Command riskiq-passive-total is the RiskIQ PassiveTotal enrichment connector
// for OpenCTI: a drop-in replacement for the Python image
// opencti/connector-riskiq-passive-total, which also reads Microsoft Defender
// Threat Intelligence on Microsoft Graph (RISKIQ_SOURCE=defender). See README.md.
package main

import (
	"context"
	_ "embed"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/riskiq-opencti/connectors/internal/defenderti"
	"github.com/riskiq-opencti/connectors/internal/enrichment"
	"github.com/riskiq-opencti/connectors/internal/launch"
	"github.com/riskiq-opencti/connectors/internal/passivetotal"
	"github.com/riskiq-opencti/connectors/opencti"
	"github.com/riskiq-opencti/connectors/opencti/config"
	"github.com/riskiq-opencti/connectors/opencti/metrics"
	"github.com/riskiq-opencti/connectors/opencti/redisstate"
)

// version is stamped at build time with -ldflags "-X main.version=…" (make
// build, the Dockerfile); unstamped, launch.Version reports the module
// version Go recorded (go install …@latest) or "dev".
var version string

//go:embed config.yml.sample
var sampleConfig string

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program: exit 0 on a clean stop, 1 on failure, 2 on a usage error.
func run(ctx context.Context, args []string, env config.LookupEnv, stdout, stderr io.Writer) int {
	return runWith(ctx, args, env, stdout, stderr, deps{})
}

// deps are what tests replace in the program.
type deps struct {
	// graphHTTP is the HTTP client of the Defender TI client (tokens and
	// Graph); nil uses the client's default (system roots).
	graphHTTP *http.Client
}

// runWith is run with the given dependencies.
func runWith(ctx context.Context, args []string, env config.LookupEnv, stdout, stderr io.Writer, d deps) int {
	v := launch.Version(version)
	var settings enrichment.Settings
	prepared, code, done := launch.Command{
		Name: "riskiq-passive-total", Version: v, Sample: sampleConfig,
		Load: func(src *config.Source) config.Config {
			cfg, s := enrichment.Load(src)
			settings = s
			return cfg
		},
	}.Prepare(args, env, stdout, stderr)
	if done {
		return code
	}
	cfg, log := prepared.Config, prepared.Log
	store, err := redisstate.Open(settings.Shared, redisstate.WithLogger(log))
	if err != nil {
		log.Error("Invalid Redis settings", "error", err)
		return 1
	}
	defer func() { _ = store.Close() }()
	if store != nil {
		_ = store.Ping(ctx) // logs; without Redis the replicas work alone until it is back
	}
	newHandler, err := handlerFor(settings, log, d, v, store)
	if err != nil {
		if settings.Source == defenderti.SourceDefender {
			log.Error("Invalid Microsoft Defender TI settings", "error", err)
		} else {
			log.Error("Invalid PassiveTotal settings", "error", err)
		}
		return 1
	}
	m := metrics.New(cfg.Connector.MetricsNamespace, cfg.Connector.MetricsSubsystem)
	helper, err := opencti.New(cfg, opencti.WithLogger(log), opencti.WithMetrics(m),
		opencti.WithPlaybookCompatible(), opencti.WithBuild(v, enrichment.Slug))
	if err != nil {
		log.Error("Invalid OpenCTI settings", "error", err)
		return 1
	}
	handler := newHandler(enrichment.Config{MaxTLP: settings.MaxTLP, Window: settings.Window, InScope: helper.InScope, Logger: log})
	log.Info("Passive DNS source", "source", settings.Source, "scope", cfg.Connector.Scope)
	if err := helper.Start(ctx); err != nil {
		if ctx.Err() != nil {
			return 0
		}
		log.Error("Connector start failed", "error", err)
		return 1
	}
	// Closed only once the listener returned: requests in flight at SIGTERM
	// publish their results during CONNECTOR_SHUTDOWN_TIMEOUT.
	defer func() { _ = helper.Close() }()
	if err := helper.ListenEnrichment(ctx, handler.Enrich); err != nil {
		log.Error("Connector stopped", "error", err)
		return 1
	}
	log.Info("Connector stopped")
	return 0
}

// handlerFor builds the client of the configured source (no I/O) and
// returns the constructor of its enrichment handler.
// With Redis (store not nil) the replicas share the 429 pause and the
// result cache, and with PassiveTotal the quota budget (Defender TI
// documents no quota to budget).
func handlerFor(s enrichment.Settings, log *slog.Logger, d deps, version string, store *redisstate.Store) (func(enrichment.Config) *enrichment.Handler, error) {
	if s.Source == defenderti.SourceDefender {
		opts := []defenderti.Option{defenderti.WithLogger(log), defenderti.WithUserAgent("opencti-riskiq-passive-total/" + version)}
		if d.graphHTTP != nil {
			opts = append(opts, defenderti.WithHTTPClient(d.graphHTTP))
		}
		if store != nil {
			// One pause per app registration, shared by the replicas.
			opts = append(opts, defenderti.WithSharedPause(store.Account("defenderti", s.Defender.TenantID+"/"+s.Defender.ClientID)))
		}
		client, err := defenderti.New(s.Defender, opts...)
		if err != nil {
			return nil, err
		}
		src := enrichment.Defender{Client: client}
		if store != nil && s.Shared.CacheTTL > 0 {
			src.Client = enrichment.CachedPassiveDNS{Client: client, Cache: store.Cache(s.Shared.CacheTTL), Name: "defenderti"}
		}
		if s.HostReputation {
			src.Reputation = client
		}
		return func(c enrichment.Config) *enrichment.Handler { return enrichment.NewDefenderHandler(src, c) }, nil
	}
	var opts []passivetotal.Option
	if store != nil {
		account := store.Account("passivetotal", s.Username)
		opts = append(opts, passivetotal.WithSharedQuota(account), passivetotal.WithSharedPause(account))
	}
	pt, err := apiClient(s, log, version, opts...)
	if err != nil {
		return nil, err
	}
	var src enrichment.Source = enrichment.PassiveTotal{Client: pt}
	if store != nil && s.Shared.CacheTTL > 0 {
		src = enrichment.Cached{Source: src, Cache: store.Cache(s.Shared.CacheTTL), Name: "passivetotal"}
	}
	return func(c enrichment.Config) *enrichment.Handler { return enrichment.NewHandler(src, c) }, nil
}

// apiClient is the PassiveTotal client of the settings: RISKIQ_BASE_URL with
// or without its /v2 segment.
func apiClient(settings enrichment.Settings, log *slog.Logger, version string, opts ...passivetotal.Option) (*passivetotal.Client, error) {
	opts = append([]passivetotal.Option{passivetotal.WithLogger(log), passivetotal.WithUserAgent("opencti-riskiq-passive-total/" + version)}, opts...)
	return passivetotal.New(passivetotal.JoinVersion(settings.BaseURL), settings.Username, settings.APIKey.Reveal(), opts...)
}
