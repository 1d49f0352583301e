// Command riskiq-passive-total is the RiskIQ PassiveTotal enrichment connector
// for OpenCTI: a drop-in replacement for the Python image
// opencti/connector-riskiq-passive-total. See README.md.
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/riskiq-opencti/connectors/internal/enrichment"
	"github.com/riskiq-opencti/connectors/internal/passivetotal"
	"github.com/riskiq-opencti/connectors/opencti"
	"github.com/riskiq-opencti/connectors/opencti/config"
	"github.com/riskiq-opencti/connectors/opencti/logging"
	"github.com/riskiq-opencti/connectors/opencti/metrics"
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
	fs := flag.NewFlagSet("riskiq-passive-total", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "path of config.yml (default: ./config.yml, then config.yml beside the binary, if present)")
	check := fs.Bool("check", false, "load and validate the configuration, print every problem, and exit")
	printSample := fs.Bool("sample-config", false, "print the sample config.yml and exit")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	switch {
	case *showVersion:
		fmt.Fprintln(stdout, "riskiq-passive-total", version)
		return 0
	case *printSample:
		fmt.Fprint(stdout, sampleConfig)
		return 0
	}
	src, err := config.ReadSource(env, *configPath)
	if err != nil {
		fmt.Fprintln(stderr, "configuration:", err)
		return 1
	}
	cfg, settings := enrichment.Load(src)
	if err := src.Validate(); err != nil {
		fmt.Fprintln(stderr, "configuration is invalid:")
		for _, p := range src.Problems() {
			fmt.Fprintln(stderr, "  -", p.Error())
		}
		return 1
	}
	if *check {
		for _, w := range src.Warnings() {
			fmt.Fprintln(stderr, "warning:", w)
		}
		fmt.Fprintln(stdout, "configuration is valid")
		return 0
	}
	log, err := logging.New(stderr, logging.Options{Name: cfg.Connector.Name, Level: cfg.Connector.LogLevel, JSON: cfg.OpenCTI.JSONLogging})
	if err != nil {
		fmt.Fprintln(stderr, "logging:", err)
		return 1
	}
	for _, w := range src.Warnings() {
		log.Warn("Configuration warning", "warning", w)
	}
	pt, err := passivetotal.New(passivetotal.JoinVersion(settings.BaseURL), settings.Username, settings.APIKey.Reveal(),
		passivetotal.WithLogger(log), passivetotal.WithUserAgent("opencti-riskiq-passive-total/"+version))
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
	if err := helper.ListenEnrichment(ctx, handler.Enrich); err != nil {
		log.Error("Connector stopped", "error", err)
		return 1
	}
	log.Info("Connector stopped")
	return 0
}
