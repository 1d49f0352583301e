// Command riskiq-passive-total is the RiskIQ PassiveTotal enrichment connector
// for OpenCTI: a drop-in replacement for the Python image
// opencti/connector-riskiq-passive-total. See README.md.
package main

import (
	"context"
	_ "embed"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/riskiq-opencti/connectors/internal/enrichment"
	"github.com/riskiq-opencti/connectors/internal/launch"
	"github.com/riskiq-opencti/connectors/internal/passivetotal"
	"github.com/riskiq-opencti/connectors/opencti"
	"github.com/riskiq-opencti/connectors/opencti/config"
	"github.com/riskiq-opencti/connectors/opencti/metrics"
	"github.com/riskiq-opencti/connectors/opencti/redisstate"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

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
	var settings enrichment.Settings
	prepared, code, done := launch.Command{
		Name: "riskiq-passive-total", Version: version, Sample: sampleConfig,
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
	ptOpts := []passivetotal.Option{passivetotal.WithLogger(log), passivetotal.WithUserAgent("opencti-riskiq-passive-total/" + version)}
	var src enrichment.Source
	if store != nil {
		_ = store.Ping(ctx) // logs; without Redis the replicas work alone until it is back
		account := store.Account("passivetotal", settings.Username)
		ptOpts = append(ptOpts, passivetotal.WithSharedQuota(account), passivetotal.WithSharedPause(account))
	}
	pt, err := passivetotal.New(passivetotal.JoinVersion(settings.BaseURL), settings.Username, settings.APIKey.Reveal(), ptOpts...)
	if err != nil {
		log.Error("Invalid PassiveTotal settings", "error", err)
		return 1
	}
	m := metrics.New(cfg.Connector.MetricsNamespace, cfg.Connector.MetricsSubsystem)
	helper, err := opencti.New(cfg, opencti.WithLogger(log), opencti.WithMetrics(m),
		opencti.WithPlaybookCompatible(), opencti.WithBuild(version, enrichment.Slug))
	if err != nil {
		log.Error("Invalid OpenCTI settings", "error", err)
		return 1
	}
	src = enrichment.PassiveTotal{Client: pt}
	if store != nil && settings.Shared.CacheTTL > 0 {
		src = enrichment.Cached{Source: src, Cache: store.Cache(settings.Shared.CacheTTL), Name: "passivetotal"}
	}
	handler := enrichment.NewHandler(src, enrichment.Config{
		MaxTLP: settings.MaxTLP, Window: settings.Window, InScope: helper.InScope, Logger: log,
	})
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
