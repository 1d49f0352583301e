package opencti_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/riskiq-opencti/connectors/opencti"
	"github.com/riskiq-opencti/connectors/opencti/config"
	"github.com/riskiq-opencti/connectors/opencti/stix"
)

// ExampleNew loads a connector's configuration the way pycti does
// (environment, then config.yml, then defaults), validates it and builds the
// helper. New does no I/O: connecting is Start's job.
func ExampleNew() {
	env := map[string]string{ // os.LookupEnv in a connector
		"OPENCTI_URL":     "http://opencti:8080",
		"OPENCTI_TOKEN":   "0b5e1a8c-7d3f-4c2a-9e61-2f4b8d9c1a70",
		"CONNECTOR_ID":    "7c3e8f4e-6f0c-4a55-9f39-6a0fd1f3f5a1",
		"CONNECTOR_SCOPE": "IPv4-Addr,Domain-Name",
	}
	src, err := config.NewSource(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	cfg := config.Load(src, config.Defaults{Type: config.TypeInternalEnrichment, Name: "Example Enrichment", LogLevel: "info"})
	if err := src.Validate(); err != nil { // every problem at once
		fmt.Println(err)
		return
	}
	h, err := opencti.New(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(h.Config().Connector.Name, h.Config().Connector.Type)
	fmt.Println(h.InScope("IPv4-Addr"), h.InScope("Url"))
	// Output:
	// Example Enrichment INTERNAL_ENRICHMENT
	// true false
}

// loadConfig reads the configuration from the environment and ./config.yml,
// exiting on any problem.
func loadConfig(d config.Defaults) config.Config {
	yml, err := os.ReadFile("config.yml")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		log.Fatal(err)
	}
	src, err := config.NewSource(os.LookupEnv, yml)
	if err != nil {
		log.Fatal(err)
	}
	cfg := config.Load(src, d)
	if err := src.Validate(); err != nil {
		log.Fatal(err)
	}
	return cfg
}

// ExampleHelper_Start connects a connector to the platform: Start waits for
// OpenCTI (with backoff, logging each failure) and registers the connector,
// then pings every 40 s carrying the state until ctx ends. Close the helper
// once ListenEnrichment or Schedule returned.
func ExampleHelper_Start() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg := loadConfig(config.Defaults{Type: config.TypeExternalImport, Name: "Example Import", LogLevel: "info"})
	h, err := opencti.New(cfg,
		opencti.WithBuild("1.0.0", "example-import"),          // sent at registration (OpenCTI 7.x)
		opencti.WithStartBackoff(time.Second, 30*time.Second)) // waiting for the platform
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	if err := h.Start(ctx); err != nil { // ctx ended before the platform answered, or registration was refused
		log.Fatal(err)
	}
	h.Logger().Info("Connector registered", "user_id", h.ConnectorUserID())
}

// ExampleHelper_ListenEnrichment is the main function of an
// INTERNAL_ENRICHMENT connector: start (wait for the platform, register,
// ping), then answer each request of the listen queue with the entity and
// what the connector found about it, until SIGINT or SIGTERM. A request is
// acknowledged only once its result is published and its work reported.
func ExampleHelper_ListenEnrichment() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg := loadConfig(config.Defaults{
		Type: config.TypeInternalEnrichment, Name: "Example Enrichment", LogLevel: "info",
		Scope: []string{"IPv4-Addr"},
	})
	h, err := opencti.New(cfg, opencti.WithBuild("1.0.0", "example-enrichment"))
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	if err := h.Start(ctx); err != nil {
		log.Fatal(err)
	}
	err = h.ListenEnrichment(ctx, func(ctx context.Context, r *opencti.Request) (opencti.Result, error) {
		// Return the entity, its author and markings (r.StixObjects) with
		// the new objects: the platform merges them.
		objects := make([]any, 0, len(r.StixObjects)+2)
		for _, o := range r.StixObjects {
			objects = append(objects, o)
		}
		domain := stix.NewDomainName("example.com")
		rel, err := stix.NewRelationship("resolves-to", domain.ID(), r.EntityID, nil, nil)
		if err != nil {
			return opencti.Result{}, fmt.Errorf("relate %s: %w", r.EntityID, err) // the work is reported in error
		}
		rel.Created = time.Now().UTC() // required on SDOs and SROs
		objects = append(objects, domain, rel)
		return opencti.Result{Objects: objects, Message: "1 domain found"}, nil
	})
	if err != nil {
		log.Print(err)
	}
}

// ExampleHelper_Schedule is the main function of an EXTERNAL_IMPORT
// connector: start, then run the import at once and again a period after
// each run ends (or once, with CONNECTOR_RUN_AND_TERMINATE), skipping runs
// while the platform's queue is above CONNECTOR_QUEUE_THRESHOLD. Each run
// opens a work, sends its bundle and closes the work; the state (here the
// time of the last run) goes to the platform with the pings.
func ExampleHelper_Schedule() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg := loadConfig(config.Defaults{Type: config.TypeExternalImport, Name: "Example Import", LogLevel: "info"})
	h, err := opencti.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	if err := h.Start(ctx); err != nil {
		log.Fatal(err)
	}
	type state struct {
		LastRun int64 `json:"last_run"`
	}
	run := func(ctx context.Context) error {
		var st state
		if _, err := h.State(&st); err != nil {
			return fmt.Errorf("read state: %w", err)
		}
		workID, err := h.InitiateWork(ctx, "Example import @ "+time.Now().UTC().Format(time.RFC3339))
		if err != nil {
			return fmt.Errorf("initiate work: %w", err)
		}
		bundle, err := opencti.MarshalBundle([]any{stix.NewIPv4Addr("198.51.100.7")})
		if err != nil {
			return err
		}
		n, err := h.SendBundle(ctx, bundle, opencti.SendOptions{WorkID: workID})
		if err != nil {
			_ = h.WorkToProcessed(ctx, workID, "sending failed: "+err.Error(), true)
			return fmt.Errorf("send bundle: %w", err)
		}
		if err := h.WorkToProcessed(ctx, workID, fmt.Sprintf("%d objects sent", n), false); err != nil {
			return fmt.Errorf("close work: %w", err)
		}
		return h.SetState(state{LastRun: time.Now().Unix()})
	}
	// CONNECTOR_DURATION_PERIOD; zero runs once.
	if err := h.Schedule(ctx, cfg.Connector.DurationPeriod, run); err != nil {
		log.Print(err)
	}
}
