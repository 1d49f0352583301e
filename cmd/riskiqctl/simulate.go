package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/riskiq-opencti/connectors/internal/defenderti"
	"github.com/riskiq-opencti/connectors/internal/passivetotal/passivetotaltest"
)

// defaultListen is the simulator's default address: loopback only.
const defaultListen = "127.0.0.1:8765"

// simulatePrefix is the path the simulated API is mounted under, as in the
// production base URL https://api.riskiq.net/pt.
const simulatePrefix = passivetotaltest.DefaultPrefix

// shutdownTimeout bounds how long in-flight requests may take at shutdown.
const shutdownTimeout = 5 * time.Second

const simulateHelp = `Serve a PassiveTotal-compatible API (GET /v2/account/quota, /v2/dns/passive,
/v2/articles, /v2/articles/{guid}) under /pt, from sample data built into the
binary: the fake PassiveTotal of the tests, made runnable. Any non-empty
username and API key are accepted (HTTP Basic). It prints its base URL on
stdout, e.g. http://127.0.0.1:8765/pt: the RISKIQ_BASE_URL of the enrichment
connector and of 'riskiqctl lookup'; the import connector and 'riskiqctl
import' take it with /v2 appended. Then it logs one line per request on stderr,
and stops on SIGINT or SIGTERM.

Each passive DNS query counts against the sample account's quota of 500
searches a month, as on a real account (the answer once it is used up is the
API's); restarting the simulator resets it.

The sample data are records seen between 2018 and 2025. Unless --filter-start
is given, passive DNS answers hold every record whatever the start date the
client asks for, so that the default 30-day RISKIQ_IMPORT_LAST_SEEN_TIME_WINDOW
still finds them.

With --source defender it serves a Microsoft Defender Threat Intelligence API
instead, over HTTPS with a self-signed certificate (the Entra ID library
refuses an authority that is not https): the Entra ID tenant discovery and
token endpoint (POST /{tenant}/oauth2/v2.0/token; any tenant, client id and
non-empty client secret or well-formed certificate assertion is accepted) and
Microsoft Graph under /v1.0/security/threatIntelligence/ (passive DNS both
ways, host reputation, articles and their indicators, with OData paging). It
prints two lines on stdout: the Graph base URL (DEFENDER_TI_BASE_URL, e.g.
https://127.0.0.1:8765/v1.0) and the authority URL
(DEFENDER_TI_AUTHORITY_URL, e.g. https://127.0.0.1:8765). Clients trust it
with SSL_CERT_FILE set to the certificate file it writes (--ca-file, logged).
The sample dates are moved so that the newest is today, unless --filter-start.`

// simulate implements "riskiqctl simulate".
func (c *cli) simulate(ctx context.Context, args []string) int {
	fs := c.flagSet("simulate", "[--source passivetotal|defender] [--listen ADDR] [--latency D] [--filter-start] [--ca-file PATH]", simulateHelp)
	source := fs.String("source", defenderti.SourcePassiveTotal, "API to simulate: passivetotal, or defender (Microsoft Graph threat intelligence + Entra ID token endpoint)")
	listen := fs.String("listen", defaultListen, "`address` to listen on; port 0 picks a free port (the URL printed on stdout tells which)")
	latency := fs.Duration("latency", 0, "delay every answer by this `duration`, e.g. 250ms")
	filterStart := fs.Bool("filter-start", false, "passivetotal: leave out passive DNS records last seen before the start the client asks for, as the real API does; defender: serve the sample dates as recorded instead of moving them to the last days")
	caFile := fs.String("ca-file", "", "defender: write the simulator's TLS certificate to this `path` (default: a file in the temporary directory, logged); clients trust it with SSL_CERT_FILE")
	logLevel := fs.String("log-level", "info", "level of the log lines on stderr: debug, info (one line per request), warn or error")
	pos, code, done := c.parse(fs, args)
	if done {
		return code
	}
	if len(pos) > 0 {
		return c.usageError(fs.Name(), "unexpected argument "+pos[0])
	}
	switch *source = strings.ToLower(*source); *source {
	case defenderti.SourcePassiveTotal, defenderti.SourceDefender:
	default:
		return c.usageError(fs.Name(), "--source must be passivetotal or defender")
	}
	if *latency < 0 {
		return c.usageError(fs.Name(), "--latency must not be negative")
	}
	log, err := c.logger(*logLevel)
	if err != nil {
		return c.usageError(fs.Name(), err.Error())
	}
	host, _, err := net.SplitHostPort(*listen)
	if err != nil {
		return c.usageError(fs.Name(), fmt.Sprintf("--listen %q: want HOST:PORT, e.g. %s", *listen, defaultListen))
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", *listen)
	if err != nil {
		return c.fail("simulate", fmt.Errorf("listen on %s: %w", *listen, err))
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		log.Warn("The simulator listens beyond loopback: anyone who can reach it gets the sample data", "listen", ln.Addr().String())
	}
	if *source == defenderti.SourceDefender {
		return c.simulateDefender(ctx, log, ln, *latency, !*filterStart, *caFile)
	}
	data := passivetotaltest.DefaultData()
	h := passivetotaltest.NewHandler(passivetotaltest.Options{
		Prefix: simulatePrefix, Latency: *latency, Data: data, IgnoreStart: !*filterStart,
	})
	srv := &http.Server{
		Handler:           accessLog(log, h),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	baseURL := "http://" + ln.Addr().String() + simulatePrefix
	fmt.Fprintln(c.stdout, baseURL)
	log.Info("PassiveTotal simulator listening; any non-empty username and API key are accepted",
		"enrichment_base_url", baseURL, "import_base_url", baseURL+"/v2",
		"passive_dns_queries", strings.Join(data.Queries(), ","), "articles", len(data.ArticleGUIDs()))
	if code := c.serve(ctx, srv, ln); code != exitOK {
		return code
	}
	log.Info("PassiveTotal simulator stopped")
	return exitOK
}

// serve runs srv on ln until ctx is done, then shuts it down.
func (c *cli) serve(ctx context.Context, srv *http.Server, ln net.Listener) int {
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return c.fail("simulate", fmt.Errorf("serve: %w", err))
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return c.fail("simulate", fmt.Errorf("shut down: %w", err))
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return c.fail("simulate", fmt.Errorf("serve: %w", err))
	}
	return exitOK
}

// accessLog logs one line per request: method, path and query, status and
// duration. Credentials are in the Authorization header, which is not logged.
func accessLog(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		log.Info("Request", "method", r.Method, "uri", r.URL.RequestURI(), "status", rec.status,
			"duration", time.Since(start).Round(time.Microsecond))
	})
}

// statusRecorder remembers the status code written through it.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

// WriteHeader records the status before writing it.
func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

// Unwrap gives http.ResponseController access to the underlying writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
