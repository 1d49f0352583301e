// Command riskiqctl runs the RiskIQ PassiveTotal connectors' jobs without
// OpenCTI: a one-shot passive DNS lookup or article import that writes STIX
// 2.1 bundles, a configuration check, and a PassiveTotal simulator serving
// built-in sample data so that all of it can be tried without an account.
//
// Usage:
//
//	riskiqctl lookup [flags] VALUE...
//	riskiqctl import [flags] --since DATE | --from-timestamp N
//	riskiqctl check-config --connector enrichment|import [--config FILE]
//	riskiqctl simulate [--listen 127.0.0.1:PORT] [--latency D]
//	riskiqctl version
//
// Every subcommand takes --help. The exit status is 0 on success, 1 on
// failure and 2 on a usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/riskiq-opencti/connectors/internal/launch"
	"github.com/riskiq-opencti/connectors/opencti/config"
	"github.com/riskiq-opencti/connectors/opencti/scrub"
)

// version is stamped at build time with -ldflags "-X main.version=…" (make
// build, the Dockerfile); unstamped, launch.Version reports the module
// version Go recorded (go install …@latest) or "dev".
var version string

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program: it runs the subcommand named by args[0] and
// returns the exit status.
func run(ctx context.Context, args []string, env config.LookupEnv, stdout, stderr io.Writer) int {
	return newCLI(env, stdout, stderr).run(ctx, args)
}

// cli holds what every subcommand uses. Tests build one with a fixed clock or
// a forced terminal; run uses the real ones.
type cli struct {
	env    config.LookupEnv
	stdout io.Writer
	stderr io.Writer
	// now is the clock of the enrichment handler and of the import.
	now func() time.Time
	// progress reports whether progress lines go to stderr (a terminal).
	progress bool
	// graphHTTP, when set, is the HTTP client of the Defender TI client
	// (tests trust their fake's certificate with it).
	graphHTTP *http.Client
}

// newCLI returns the production cli: real clock, progress when stderr is a
// terminal.
func newCLI(env config.LookupEnv, stdout, stderr io.Writer) *cli {
	return &cli{env: env, stdout: stdout, stderr: stderr, now: time.Now, progress: isTerminal(stderr)}
}

// isTerminal reports whether w is a terminal: a character device other than
// /dev/null. (golang.org/x/term is not a dependency of the module; this
// standard-library test is what it would tell apart here.)
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	null, err := os.Stat(os.DevNull)
	return err != nil || !os.SameFile(fi, null)
}

// command is one subcommand.
type command struct {
	name, args, summary string
	run                 func(c *cli, ctx context.Context, args []string) int
}

// commands lists the subcommands in the order usage shows them.
var commands = []command{
	{"lookup", "[flags] VALUE...", "passive DNS of IPv4 addresses and domain names, as STIX 2.1 bundles", (*cli).lookup},
	{"import", "[flags] --since DATE | --from-timestamp N", "import RiskIQ articles as STIX 2.1 bundles, one per article", (*cli).importArticles},
	{"check-config", "--connector enrichment|import [--config FILE]", "load and validate a connector's configuration", (*cli).checkConfig},
	{"simulate", "[--listen ADDR] [--latency D]", "serve a PassiveTotal-compatible API from built-in sample data", (*cli).simulate},
	{"version", "", "print the version", (*cli).version},
}

func (c *cli) run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		c.usage(c.stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 && name == "help" {
			return c.run(ctx, []string{args[1], "--help"})
		}
		c.usage(c.stdout)
		return exitOK
	case "-version", "--version":
		return c.version(ctx, args[1:])
	}
	for _, cmd := range commands {
		if cmd.name == name {
			return cmd.run(c, ctx, args[1:])
		}
	}
	fmt.Fprintf(c.stderr, "riskiqctl: unknown command %q (see 'riskiqctl --help')\n", line(name))
	return exitUsage
}

// usage prints the list of subcommands.
func (c *cli) usage(w io.Writer) {
	fmt.Fprint(w, `riskiqctl runs the RiskIQ PassiveTotal connectors' jobs without OpenCTI.

Usage:
  riskiqctl COMMAND [flags] [arguments]

Commands:
`)
	for _, cmd := range commands {
		fmt.Fprintf(w, "  %-13s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprint(w, `
Run 'riskiqctl COMMAND --help' for the flags of a command.
Settings come from the environment (RISKIQ_USERNAME, RISKIQ_API_KEY,
RISKIQ_BASE_URL...) and config.yml, as for the connectors.
Exit status: 0 success, 1 failure, 2 usage error.
`)
}

// flagSet is the flag set of a subcommand, with its help text.
type flagSet struct {
	*flag.FlagSet
	args, description string
}

// flagSet returns the flag set of a subcommand: args is the synopsis after its
// name, description the help text before the flags.
func (c *cli) flagSet(name, args, description string) *flagSet {
	fs := flag.NewFlagSet("riskiqctl "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {} // errors are reported by parse, help printed by help
	return &flagSet{FlagSet: fs, args: args, description: description}
}

// help prints the usage of the subcommand on w.
func (fs *flagSet) help(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s %s\n\n%s\n", fs.Name(), fs.args, fs.description)
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		fmt.Fprint(w, "\nFlags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
}

// parse parses args, flags and positional arguments in any order, and
// returns the positional ones. done is true when the command must stop with
// code: after --help (0, usage on stdout) or a usage error (2, on stderr).
func (c *cli) parse(fs *flagSet, args []string) (positional []string, code int, done bool) {
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.help(c.stdout)
				return nil, exitOK, true
			}
			return nil, c.usageError(fs.Name(), err.Error()), true
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, exitOK, false
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// usageError reports a usage error of the command name on one line and
// returns exitUsage.
func (c *cli) usageError(name, msg string) int {
	fmt.Fprintf(c.stderr, "%s: %s (see '%s --help')\n", name, line(msg), name)
	return exitUsage
}

// fail reports a failure of the command name on one line and returns exitFailure.
func (c *cli) fail(name string, err error) int {
	fmt.Fprintf(c.stderr, "riskiqctl %s: %s\n", name, line(err.Error()))
	return exitFailure
}

// maxLine bounds a message riskiqctl prints on the terminal.
const maxLine = 4 << 10

// line makes text that may come from outside (an API's error message, an
// article guid) safe for a terminal: one line, e.g. of errors.Join, joined
// with "; ", without control characters or escape sequences, at most
// maxLine bytes.
func line(s string) string { return scrub.Text(s, maxLine) }

func (c *cli) version(_ context.Context, args []string) int {
	fs := c.flagSet("version", "", "Print the version of riskiqctl.")
	pos, code, done := c.parse(fs, args)
	if done {
		return code
	}
	if len(pos) > 0 {
		return c.usageError(fs.Name(), "unexpected argument "+pos[0])
	}
	fmt.Fprintf(c.stdout, "riskiqctl %s (%s%s, %s/%s)\n", launch.Version(version), runtime.Version(), revision(), runtime.GOOS, runtime.GOARCH)
	return exitOK
}

// revision returns ", commit <hash>" from the build information, or "".
func revision() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	rev, dirty := "", false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return ""
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return ", commit " + rev
}
