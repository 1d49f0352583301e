// Command riskiq-import is the RiskIQ articles import connector for OpenCTI
// (EXTERNAL_IMPORT): a drop-in replacement for the Python image
// opencti/connector-riskiq. See README.md.
package main

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/riskiq-opencti/connectors/internal/articles"
	"github.com/riskiq-opencti/connectors/internal/defenderti"
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

func main() { os.Exit(run(os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)) }

// run is the whole program: it stops cleanly on SIGINT or SIGTERM. Exit codes:
// 0 on a clean stop (a stop signal included, even in the middle of a run),
// 1 on failure (including a failed run in run-once mode), 2 on a usage error.
func run(args []string, env config.LookupEnv, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runContext(ctx, args, env, stdout, stderr)
}

// runContext is run with the stop signal as a context.
func runContext(ctx context.Context, args []string, env config.LookupEnv, stdout, stderr io.Writer) int {
	return runWith(ctx, args, env, stdout, stderr, nil)
}

// runWith is runContext with extra options for the Defender TI client (the
// tests give it the fake Graph's TLS client).
func runWith(ctx context.Context, args []string, env config.LookupEnv, stdout, stderr io.Writer, defenderOpts []defenderti.Option) int {
	v := launch.Version(version)
	var settings articles.Settings
	prepared, code, done := launch.Command{
		Name: "riskiq-import", Version: v, Sample: sampleConfig,
		Load: func(src *config.Source) config.Config {
			cfg, s := articles.Load(src)
			settings = s
			return cfg
		},
	}.Prepare(args, env, stdout, stderr)
	if done {
		return code
	}
	cfg, log := prepared.Config, prepared.Log
	source, err := newSource(settings, log, defenderOpts, v)
	if err != nil {
		log.Error("Invalid RiskIQ settings", "error", err)
		return 1
	}
	m := metrics.New(cfg.Connector.MetricsNamespace, cfg.Connector.MetricsSubsystem)
	helper, err := opencti.New(cfg, opencti.WithLogger(log), opencti.WithMetrics(m), opencti.WithBuild(v, articles.Slug))
	if err != nil {
		log.Error("Invalid OpenCTI settings", "error", err)
		return 1
	}
	store, err := redisstate.Open(settings.Shared, redisstate.WithLogger(log))
	if err != nil {
		log.Error("Invalid Redis settings", "error", err)
		return 1
	}
	defer func() { _ = store.Close() }()
	var (
		platform articles.Platform = helper
		lease    *redisstate.Lease
	)
	if store != nil {
		_ = store.Ping(ctx) // logs; without Redis each replica imports alone until it is back
		lease = store.Lease(importLease, redisstate.DefaultLeaseTTL)
		platform = leasedPlatform{Helper: helper, lease: lease, log: log}
	}
	importer, err := articles.NewImporter(articles.Config{
		Source: source, Platform: platform, Lister: helper.API(),
		Options:  articles.Options{CreateObservables: settings.CreateObservables},
		Interval: settings.Interval, ImportFrom: settings.ImportFrom, Cursor: settings.Cursor(), Logger: log, Metrics: m,
		InFlight: cfg.Connector.Concurrency,
	})
	if err != nil {
		log.Error("Invalid connector settings", "error", err)
		return 1
	}
	log.Info("Starting RiskIQ connector", "version", v, "source", settings.Source(),
		"interval_seconds", int64(settings.Interval.Seconds()))
	if err := helper.Start(ctx); err != nil {
		if ctx.Err() != nil {
			return 0
		}
		log.Error("Connector start failed", "error", err)
		return 1
	}
	defer func() { _ = helper.Close() }()
	m.SetState(metrics.StateIdle)
	var lastErr error
	period := settings.SchedulePeriod()
	err = helper.Schedule(ctx, period, func(ctx context.Context) error {
		if lease != nil {
			lastErr = runLeased(ctx, lease, helper, log, importer.Run)
		} else {
			lastErr = importer.Run(ctx)
		}
		return lastErr
	})
	m.SetState(metrics.StateStopped)
	switch {
	case err != nil && ctx.Err() != nil:
		// Stopping on a signal: the final ping failed, the state it carried is
		// pushed after each article anyway. Not a failure of the connector.
		log.Error("Connector stopped, the final ping failed", "error", err)
	case err != nil:
		log.Error("Connector stopped", "error", err)
		return 1
	case (cfg.Connector.RunAndTerminate || period == 0) && lastErr != nil && ctx.Err() == nil:
		return 1 // the one run failed: logged by the scheduler, closed in error on the platform
	}
	log.Info("Connector stop")
	return 0
}

// newSource returns the article source of RISKIQ_SOURCE: the PassiveTotal
// API or Microsoft Defender TI on Microsoft Graph.
func newSource(s articles.Settings, log *slog.Logger, defenderOpts []defenderti.Option, version string) (articles.Source, error) {
	if d := s.Defender; d != nil {
		opts := append([]defenderti.Option{defenderti.WithLogger(log),
			defenderti.WithUserAgent("opencti-riskiq-import/" + version)}, defenderOpts...)
		client, err := defenderti.New(d.Client, opts...)
		if err != nil {
			return nil, fmt.Errorf("defender ti client: %w", err)
		}
		return &articles.Defender{Client: client, TLP: d.TLP, Logger: log}, nil
	}
	pt, err := passivetotal.New(s.BaseURL, s.User, s.Password.Reveal(),
		passivetotal.WithLogger(log), passivetotal.WithUserAgent("opencti-riskiq-import/"+version))
	if err != nil {
		return nil, fmt.Errorf("passivetotal client: %w", err)
	}
	return articles.PassiveTotal{Client: pt}, nil
}
