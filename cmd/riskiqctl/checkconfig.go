package main

import (
	"context"
	"fmt"

	"github.com/riskiq-opencti/connectors/internal/articles"
	"github.com/riskiq-opencti/connectors/internal/enrichment"
	"github.com/riskiq-opencti/connectors/opencti/config"
)

const checkConfigHelp = `Load and validate a connector's configuration exactly as the connector does at
start-up (environment first, then config.yml, then defaults), without touching
the network, and print every problem at once with secrets redacted. Exit 0 when
the configuration is valid, 1 when it is not.

Connectors: enrichment (riskiq-passive-total), import (riskiq-import).`

// loaders load and check a connector's configuration into src, by
// check-config's --connector name.
var loaders = map[string]func(src *config.Source){
	"enrichment": func(src *config.Source) { enrichment.Load(src) },
	"import":     func(src *config.Source) { articles.Load(src) },
}

// checkConfig implements "riskiqctl check-config".
func (c *cli) checkConfig(_ context.Context, args []string) int {
	fs := c.flagSet("check-config", "--connector enrichment|import [--config FILE]", checkConfigHelp)
	connector := fs.String("connector", "", "the connector whose configuration to check: enrichment or import (required)")
	configPath := fs.String("config", "", "config.yml to read (default: ./config.yml, then config.yml beside the binary, if present)")
	pos, code, done := c.parse(fs, args)
	if done {
		return code
	}
	if len(pos) > 0 {
		return c.usageError(fs.Name(), "unexpected argument "+pos[0])
	}
	load, ok := loaders[*connector]
	switch {
	case *connector == "":
		return c.usageError(fs.Name(), "--connector is required: enrichment or import")
	case !ok:
		return c.usageError(fs.Name(), fmt.Sprintf("--connector %q: want enrichment or import", *connector))
	}
	src, err := config.ReadSource(c.env, *configPath)
	if err != nil {
		return c.fail("check-config", fmt.Errorf("read configuration: %w", err))
	}
	load(src)
	if src.Validate() != nil {
		return c.configProblems("check-config", src)
	}
	for _, w := range src.Warnings() {
		fmt.Fprintln(c.stderr, "warning:", line(w))
	}
	where := "the environment"
	if p := src.Path(); p != "" {
		where = "the environment and " + p
	}
	fmt.Fprintf(c.stdout, "configuration of the %s connector is valid (read from %s)\n", *connector, line(where))
	return exitOK
}
