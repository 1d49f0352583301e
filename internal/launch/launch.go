// Package launch is the common start of the connector commands: flags,
// configuration loading and validation (every problem at once), check mode,
// and the logger in pycti's shape.
package launch

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/riskiq-opencti/connectors/opencti/config"
	"github.com/riskiq-opencti/connectors/opencti/logging"
)

// Command describes a connector command.
type Command struct {
	// Name is the binary name, shown by -version and in usage errors.
	Name string
	// Version is the build version.
	Version string
	// Sample is the embedded config.yml.sample, printed by -sample-config.
	Sample string
	// Load reads the SDK's and the connector's own settings from src,
	// recording problems there. Connector settings are kept by the closure.
	Load func(src *config.Source) config.Config
}

// Prepared is a loaded, valid configuration and the logger built from it.
type Prepared struct {
	Config config.Config
	Log    *slog.Logger
}

// Prepare parses the flags (-config, -check, -sample-config, -version),
// loads and validates the configuration and builds the logger. When done is
// true the command must exit with code: a usage error (2), an invalid
// configuration (1, every problem printed, secrets redacted), or a flag that
// did its job (-check, -version, -sample-config, -help: 0).
func (c Command) Prepare(args []string, env config.LookupEnv, stdout, stderr io.Writer) (p Prepared, code int, done bool) {
	fs := flag.NewFlagSet(c.Name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "path of config.yml (default: ./config.yml, then config.yml beside the binary, if present)")
	check := fs.Bool("check", false, "load and validate the configuration, print every problem, and exit")
	printSample := fs.Bool("sample-config", false, "print the sample config.yml and exit")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return p, 0, true
		}
		return p, 2, true
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(stderr, "unexpected arguments:", fs.Args())
		return p, 2, true
	}
	switch {
	case *showVersion:
		fmt.Fprintln(stdout, c.Name, c.Version)
		return p, 0, true
	case *printSample:
		fmt.Fprint(stdout, c.Sample)
		return p, 0, true
	}
	src, err := config.ReadSource(env, *configPath)
	if err != nil {
		fmt.Fprintln(stderr, "configuration:", err)
		return p, 1, true
	}
	p.Config = c.Load(src)
	if err := src.Validate(); err != nil {
		fmt.Fprintln(stderr, "configuration is invalid:")
		for _, problem := range src.Problems() {
			fmt.Fprintln(stderr, "  -", problem.Error())
		}
		return p, 1, true
	}
	if *check {
		for _, w := range src.Warnings() {
			fmt.Fprintln(stderr, "warning:", w)
		}
		fmt.Fprintln(stdout, "configuration is valid")
		return p, 0, true
	}
	conn := p.Config.Connector
	p.Log, err = logging.New(stderr, logging.Options{Name: conn.Name, Level: conn.LogLevel, JSON: p.Config.OpenCTI.JSONLogging})
	if err != nil {
		fmt.Fprintln(stderr, "logging:", err)
		return p, 1, true
	}
	for _, w := range src.Warnings() {
		p.Log.Warn("Configuration warning", "warning", w)
	}
	return p, 0, false
}

// Variable documents one configuration variable of a connector: its
// environment name, its config.yml key (section.key) and its default as the
// README states them. The README table and config.yml.sample are checked
// against these (launchtest.CheckDocs), and the connector's
// __metadata__/connector_config_schema.json is generated from them and the
// README's descriptions (ConfigSchema, launchtest.CheckConfigSchema).
type Variable struct {
	Env, Key, Default string
	Mandatory         bool
	// Type is the JSON-schema type of the value in
	// connector_config_schema.json when the default does not tell it (see
	// [Variable.SchemaType]); usually empty.
	Type string
	// Enum lists the accepted values when they are a closed set; empty
	// otherwise.
	Enum []string
	// Sensitive marks a value that may hold a secret although its name does
	// not say so (a URL with a password): see [Variable.Secret].
	Sensitive bool
}
