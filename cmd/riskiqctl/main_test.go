package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/riskiq-opencti/connectors/internal/launch"
	"github.com/riskiq-opencti/connectors/opencti/config"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// fixedNow is the clock of the enrichment connector's golden files.
var fixedNow = time.Date(2025, 7, 1, 12, 0, 0, 0, time.UTC)

// envOf returns a LookupEnv reading m.
func envOf(m map[string]string) config.LookupEnv {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// result is what one run printed and returned.
type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs riskiqctl as run does, with env, the fixed clock of the goldens
// and progress off, and returns what it printed.
func runCLI(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	c := &cli{env: envOf(env), stdout: &out, stderr: &errOut, now: func() time.Time { return fixedNow }}
	code := c.run(t.Context(), args)
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

// checkOneLine fails unless stderr is exactly one line without a stack trace.
func checkOneLine(t *testing.T, r result, want string) {
	t.Helper()
	if strings.Count(r.stderr, "\n") != 1 || !strings.HasSuffix(r.stderr, "\n") {
		t.Errorf("stderr is not one line:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, want) {
		t.Errorf("stderr = %q, want it to contain %q", r.stderr, want)
	}
	noStackTrace(t, r.stderr)
}

// noStackTrace fails when s looks like a Go panic.
func noStackTrace(t *testing.T, s string) {
	t.Helper()
	for _, bad := range []string{"panic:", "goroutine ", ".go:"} {
		if strings.Contains(s, bad) {
			t.Errorf("output holds %q, like a stack trace:\n%s", bad, s)
		}
	}
}

// syncBuffer is a goroutine-safe writer.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// simulator is a running "riskiqctl simulate".
type simulator struct {
	// URL is the base URL it printed, the RISKIQ_BASE_URL to use.
	URL  string
	logs *syncBuffer
}

// startSimulator runs "riskiqctl simulate --listen 127.0.0.1:0 args..." as a
// user would, reads the URL it prints, and stops it (checking it exits 0) when
// the test ends.
func startSimulator(t *testing.T, args ...string) *simulator {
	t.Helper()
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	pr, pw := io.Pipe()
	logs := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"simulate", "--listen", "127.0.0.1:0"}, args...), envOf(nil), pw, logs)
		_ = pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		cancel()
		t.Fatalf("simulate printed no URL: %v\n%s", err, logs.String())
	}
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != exitOK {
				t.Errorf("simulate exited with %d:\n%s", code, logs.String())
			}
		case <-time.After(10 * time.Second):
			t.Errorf("simulate did not stop:\n%s", logs.String())
		}
	})
	return &simulator{URL: strings.TrimSpace(line), logs: logs}
}

// env returns the settings a user sets to talk to the simulator.
func (s *simulator) env() map[string]string {
	return map[string]string{"RISKIQ_BASE_URL": s.URL, "RISKIQ_USERNAME": "analyst@example.com", "RISKIQ_API_KEY": "pt-key-0123456789"}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "Usage:"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"unknown flag", []string{"lookup", "--nope", "passivetotal.org"}, "flag provided but not defined: -nope"},
		{"lookup without values", []string{"lookup"}, "no value to look up"},
		{"lookup bad log level", []string{"lookup", "--log-level", "loud", "passivetotal.org"}, "--log-level"},
		{"flag without value", []string{"lookup", "passivetotal.org", "--out"}, "flag needs an argument: -out"},
		{"check-config without connector", []string{"check-config"}, "--connector is required"},
		{"check-config unknown connector", []string{"check-config", "--connector", "stream"}, `--connector "stream": want enrichment or import`},
		{"check-config argument", []string{"check-config", "--connector", "enrichment", "extra"}, "unexpected argument extra"},
		{"simulate argument", []string{"simulate", "now"}, "unexpected argument now"},
		{"simulate negative latency", []string{"simulate", "--latency", "-1s"}, "--latency must not be negative"},
		{"simulate bad latency", []string{"simulate", "--latency", "soon"}, `invalid value "soon" for flag -latency`},
		{"simulate bad listen", []string{"simulate", "--listen", "8765"}, "want HOST:PORT"},
		{"version argument", []string{"version", "--short"}, "flag provided but not defined"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, nil, tc.args...)
			if r.code != exitUsage {
				t.Errorf("riskiqctl %q = %d, want %d\n%s", tc.args, r.code, exitUsage, r.stderr)
			}
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("riskiqctl %q stderr = %q, want it to contain %q", tc.args, r.stderr, tc.want)
			}
			if r.stdout != "" {
				t.Errorf("riskiqctl %q wrote to stdout: %q", tc.args, r.stdout)
			}
			noStackTrace(t, r.stderr)
		})
	}
}

// TestHelp checks --help on every command prints its usage on stdout and exits 0.
func TestHelp(t *testing.T) {
	t.Parallel()
	cases := [][]string{{"--help"}, {"help"}, {"-h"}}
	for _, cmd := range commands {
		cases = append(cases, []string{cmd.name, "--help"}, []string{cmd.name, "-h"}, []string{"help", cmd.name})
	}
	for _, args := range cases {
		r := runCLI(t, nil, args...)
		if r.code != exitOK || !strings.Contains(r.stdout, "Usage:") || r.stderr != "" {
			t.Errorf("riskiqctl %q = %d, stdout %q, stderr %q; want 0 and the usage on stdout", args, r.code, r.stdout, r.stderr)
		}
	}
	r := runCLI(t, nil, "--help")
	for _, cmd := range commands {
		if !strings.Contains(r.stdout, "\n  "+cmd.name+" ") {
			t.Errorf("riskiqctl --help does not list %s:\n%s", cmd.name, r.stdout)
		}
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"version"}, {"--version"}} {
		r := runCLI(t, nil, args...)
		if r.code != exitOK || !strings.HasPrefix(r.stdout, "riskiqctl "+launch.Version(version)+" (go") {
			t.Errorf("riskiqctl %q = %d, %q", args, r.code, r.stdout)
		}
	}
}

// binary builds riskiqctl for the tests that need a real process.
func binary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "riskiqctl")
	if out, err := exec.CommandContext(t.Context(), "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build riskiqctl: %v\n%s", err, out)
	}
	return bin
}

// TestBinaryExitCodes runs the built binary: exit statuses as the shell sees
// them, and simulate stopping cleanly on SIGTERM.
func TestBinaryExitCodes(t *testing.T) {
	t.Parallel()
	bin := binary(t)
	tests := []struct {
		args []string
		env  []string
		want int
	}{
		{[]string{"version"}, nil, exitOK},
		{[]string{"lookup", "--help"}, nil, exitOK},
		{[]string{"frobnicate"}, nil, exitUsage},
		{[]string{"lookup"}, nil, exitUsage},
		{[]string{"lookup", "ftp://passivetotal.org"}, nil, exitFailure},
		{[]string{"lookup", "passivetotal.org"}, []string{"RISKIQ_USERNAME="}, exitFailure},
	}
	for _, tc := range tests {
		cmd := exec.CommandContext(t.Context(), bin, tc.args...)
		cmd.Dir = t.TempDir()
		cmd.Env = append(os.Environ(), tc.env...)
		out, err := cmd.CombinedOutput()
		code := 0
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			code = exitErr.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tc.want {
			t.Errorf("riskiqctl %q exited %d, want %d\n%s", tc.args, code, tc.want, out)
		}
		noStackTrace(t, string(out))
	}

	cmd := exec.CommandContext(t.Context(), bin, "simulate", "--listen", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "http://127.0.0.1:") || !strings.HasSuffix(line, "/pt\n") {
		t.Errorf("simulate printed %q, %v; want its base URL", line, err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("simulate after SIGTERM: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "PassiveTotal simulator stopped") {
		t.Errorf("simulate did not log its stop:\n%s", stderr.String())
	}
}

// TestSimulateBusyPort checks a listen failure is one line and exit 1.
func TestSimulateBusyPort(t *testing.T) {
	t.Parallel()
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	r := runCLI(t, nil, "simulate", "--listen", ln.Addr().String())
	if r.code != exitFailure || r.stdout != "" {
		t.Errorf("simulate on a busy port = %d, stdout %q; want %d and nothing", r.code, r.stdout, exitFailure)
	}
	checkOneLine(t, r, "riskiqctl simulate: listen on "+ln.Addr().String()+": ")
}

// TestSimulateLogsNoCredentials checks the request log shows the queries
// but never the credentials.
func TestSimulateLogsNoCredentials(t *testing.T) {
	t.Parallel()
	sim := startSimulator(t)
	env := sim.env()
	if r := runCLI(t, env, "lookup", "--config", emptyConfig(t), "www.riskiq.com"); r.code != exitOK {
		t.Fatalf("lookup = %d\n%s", r.code, r.stderr)
	}
	logs := sim.logs.String()
	if !strings.Contains(logs, `uri="/pt/v2/dns/passive?query=www.riskiq.com&start=`) || !strings.Contains(logs, "status=200") {
		t.Errorf("the request is not logged:\n%s", logs)
	}
	for _, secret := range []string{env["RISKIQ_API_KEY"], env["RISKIQ_USERNAME"]} {
		if strings.Contains(logs, secret) {
			t.Errorf("the simulator logged %q:\n%s", secret, logs)
		}
	}
}
