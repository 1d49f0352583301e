// Command riskiq-passive-total is the RiskIQ PassiveTotal enrichment connector
// for OpenCTI: a drop-in replacement for the Python image
// opencti/connector-riskiq-passive-total. See README.md.
package main

import (
	"context"
	_ "embed"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/riskiq-opencti/connectors/internal/enrichment"
	"github.com/riskiq-opencti/connectors/internal/launch"
	"github.com/riskiq-opencti/connectors/internal/passivetotal"
	"github.com/riskiq-opencti/connectors/opencti"
	"github.com/riskiq-opencti/connectors/opencti/config"
	"github.com/riskiq-opencti/connectors/opencti/metrics"
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
	pt, err := apiClient(settings, log, v)
	if err != nil {
		log.Error("Invalid PassiveTotal settings", "error", err)
		return 1
	}
	m := metrics.New(cfg.Connector.MetricsNamespace, cfg.Connector.MetricsSubsystem)
	helper, err := opencti.New(cfg, opencti.WithLogger(log), opencti.WithMetrics(m),
		opencti.WithPlaybookCompatible(), opencti.WithBuild(v, enrichment.Slug))
	if err != nil {
		log.Error("Invalid OpenCTI settings", "error", err)
		return 1
	}
	handler := enrichment.NewHandler(enrichment.PassiveTotal{Client: pt}, enrichment.Config{
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

// apiClient is the PassiveTotal client of the settings: RISKIQ_BASE_URL with
// or without its /v2 segment.
func apiClient(settings enrichment.Settings, log *slog.Logger, version string) (*passivetotal.Client, error) {
	return passivetotal.New(passivetotal.JoinVersion(settings.BaseURL), settings.Username, settings.APIKey.Reveal(),
		passivetotal.WithLogger(log), passivetotal.WithUserAgent("opencti-riskiq-passive-total/"+version))
}
