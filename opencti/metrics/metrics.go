// Package metrics exposes the Prometheus metrics every connector exposes,
// under pycti's names, so that dashboards built for Python connectors keep
// working: bundles_sent_total, records_sent_total, runs_total,
// ping_api_total, ping_api_errors_total, errors_total, client_errors_total
// and the enum state{state="idle"|"running"|"stopped"}, plus one of ours,
// requests_dropped_total (enrichment requests given up), each prefixed with
// "<namespace>_<subsystem>_" when configured, plus the Go runtime and process
// collectors.
//
// As with Python's prometheus_client Enum, the state's label is named after
// the metric itself: with namespace "opencti" and subsystem "riskiq" the
// series is opencti_riskiq_state{opencti_riskiq_state="idle"}.
//
// Every recording method is safe for concurrent use and does nothing on a nil
// *Metrics, so code can record unconditionally.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Values of the state enum.
const (
	StateIdle    = "idle"
	StateRunning = "running"
	StateStopped = "stopped"
)

// states lists the enum values in pycti's order (the first is the initial one).
func states() []string { return []string{StateIdle, StateRunning, StateStopped} }

// shutdownGrace bounds how long Serve waits for in-flight scrapes.
const shutdownGrace = 5 * time.Second

// Metrics holds a private registry with the connector metrics.
type Metrics struct {
	reg          *prometheus.Registry
	bundlesSent  prometheus.Counter
	recordsSent  prometheus.Counter
	runs         prometheus.Counter
	pings        prometheus.Counter
	pingErrors   prometheus.Counter
	errors       prometheus.Counter
	clientErrors prometheus.Counter
	dropped      prometheus.Counter

	stateMu sync.Mutex // keeps exactly one state at 1
	state   *prometheus.GaugeVec
}

// New registers the connector metrics, prefixed with namespace and
// subsystem when not empty, and the Go and process collectors on a private
// registry. Characters that are not valid in a Prometheus name are replaced
// with "_" (config.Load rejects them beforehand).
func New(namespace, subsystem string) *Metrics {
	namespace, subsystem = sanitize(namespace, true), sanitize(subsystem, namespace == "")
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Subsystem: subsystem, Name: name, Help: help})
	}
	stateName := prometheus.BuildFQName(namespace, subsystem, "state")
	m := &Metrics{
		reg:          prometheus.NewRegistry(),
		bundlesSent:  counter("bundles_sent_total", "Number of bundles sent"),
		recordsSent:  counter("records_sent_total", "Number of records (objects per bundle) sent"),
		runs:         counter("runs_total", "Number of run"),
		pings:        counter("ping_api_total", "Number of pings to the API"),
		pingErrors:   counter("ping_api_errors_total", "Number of errors when pinging the API"),
		errors:       counter("errors_total", "Number of errors"),
		clientErrors: counter("client_errors_total", "Number of client errors"),
		dropped:      counter("requests_dropped_total", "Number of enrichment requests given up after the platform refused their outcome repeatedly"),
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: subsystem, Name: "state", Help: "State of connector",
		}, []string{strings.ReplaceAll(stateName, ":", "_")}),
	}
	m.reg.MustRegister(m.bundlesSent, m.recordsSent, m.runs, m.pings, m.pingErrors, m.errors, m.clientErrors, m.dropped, m.state,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.SetState(StateIdle)
	return m
}

// sanitize replaces characters outside [a-zA-Z0-9_:] with "_", and prefixes
// a leading digit with "_" when the part starts the metric name.
func sanitize(part string, first bool) string {
	if part == "" {
		return ""
	}
	b := []byte(part)
	for i, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == ':') {
			b[i] = '_'
		}
	}
	if first && '0' <= b[0] && b[0] <= '9' {
		return "_" + string(b)
	}
	return string(b)
}

// BundleSent counts n published bundle parts (pycti's bundle_send).
func (m *Metrics) BundleSent(n int) {
	if m != nil && n > 0 {
		m.bundlesSent.Add(float64(n))
	}
}

// RecordsSent counts n STIX objects sent (pycti's record_send).
func (m *Metrics) RecordsSent(n int) {
	if m != nil && n > 0 {
		m.recordsSent.Add(float64(n))
	}
}

// Run counts one run of the connector's work (pycti's run_count).
func (m *Metrics) Run() {
	if m != nil {
		m.runs.Inc()
	}
}

// Ping counts a ping to the platform: successful (ping_api_count) or
// failed (ping_api_error).
func (m *Metrics) Ping(ok bool) {
	switch {
	case m == nil:
	case ok:
		m.pings.Inc()
	default:
		m.pingErrors.Inc()
	}
}

// Error counts a processing error (pycti's error_count).
func (m *Metrics) Error() {
	if m != nil {
		m.errors.Inc()
	}
}

// ClientError counts an error of the external API the connector calls
// (pycti's client_error_count).
func (m *Metrics) ClientError() {
	if m != nil {
		m.clientErrors.Inc()
	}
}

// RequestDropped counts an enrichment request given up (acknowledged without
// its outcome recorded) after the platform refused it too many times. It is
// not a pycti metric: alert on any increase.
func (m *Metrics) RequestDropped() {
	if m != nil {
		m.dropped.Inc()
	}
}

// SetState sets the state enum to idle, running or stopped: that value's
// series to 1, the others to 0. Other values are ignored.
func (m *Metrics) SetState(state string) {
	if m == nil {
		return
	}
	all := states()
	known := false
	for _, s := range all {
		known = known || s == state
	}
	if !known {
		return
	}
	m.stateMu.Lock()
	defer m.stateMu.Unlock()
	for _, s := range all {
		v := 0.0
		if s == state {
			v = 1
		}
		m.state.WithLabelValues(s).Set(v)
	}
}

// Handler serves the metrics in the Prometheus text exposition format, on
// any path. A nil *Metrics serves 404.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Serve listens on addr (pycti: 0.0.0.0:<CONNECTOR_METRICS_PORT>) and
// serves Handler until ctx is done; see ServeListener. A listen error (port
// in use, bad address) is returned at once.
func (m *Metrics) Serve(ctx context.Context, addr string, log *slog.Logger) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("listen for metrics on %s: %w", addr, err)
	}
	return m.ServeListener(ctx, ln, log)
}

// ServeListener serves Handler on ln until ctx is done, then shuts the
// server down (letting in-flight scrapes finish for a few seconds) and
// returns nil; it returns an error if the server stops by itself. It closes
// ln. log may be nil.
func (m *Metrics) ServeListener(ctx context.Context, ln net.Listener, log *slog.Logger) error {
	if m == nil {
		_ = ln.Close()
		return errors.New("serve metrics: nil *Metrics")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	srv := &http.Server{
		Handler:           m.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	attrs := []any{"address", ln.Addr().String()}
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok {
		attrs = append([]any{"port", tcp.Port}, attrs...)
	}
	log.Info("Exposing metrics on port", attrs...)
	select {
	case err := <-done:
		return fmt.Errorf("serve metrics on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Warn("Metrics server shutdown timed out", "error", err)
		_ = srv.Close()
	}
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve metrics on %s: %w", ln.Addr(), err)
	}
	return nil
}
