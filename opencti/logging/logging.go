// Package logging builds the *slog.Logger of a connector, writing the lines
// pycti writes so that log pipelines built for Python connectors keep working.
//
// JSON mode (OPENCTI_JSON_LOGGING=true, the default) writes one object per
// line with pycti's keys in pycti's order:
//
//	{"timestamp":"2024-01-15T10:30:00.123456Z","level":"INFO","name":"RiskIQ PassiveTotal","message":"Connector registered","attributes":{"id":"..."}}
//
// The timestamp is UTC with microseconds; levels are DEBUG, INFO, WARNING and
// ERROR; "attributes" holds every slog attribute (including those added with
// Logger.With and groups, nested as objects) and is left out when there are
// none; an error attribute prints as its message; a time.Duration prints as
// its string ("1.5s"). Text mode writes Python's default "LEVEL:name:message"
// lines, without attributes, as pycti does.
//
// pycti also writes "exc_info" (a Python traceback, or "NoneType: None") on
// ERROR lines; Go has no traceback to give, so this package leaves it out and
// errors travel as attributes.
package logging

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync"

	"github.com/riskiq-opencti/connectors/opencti/internal/jsonstr"
)

// Options configure a logger.
type Options struct {
	// Name is the logger name: the connector name for connector logs (pycti
	// uses "api" for its API client).
	Name string
	// Level is the threshold: debug, info, warn, warning or error in any
	// case; "" means error (pycti's default CONNECTOR_LOG_LEVEL).
	Level string
	// JSON selects pycti's JSON lines; false gives "LEVEL:name:message" lines.
	JSON bool
}

// ParseLevel reads a log level name, case-insensitively: debug, info, warn or
// warning, error; "" means error.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error", "":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("parse log level %q: want debug, info, warn, warning or error", s)
}

// New returns a logger writing pycti-shaped lines to w (the connector passes
// os.Stderr, as pycti logs to stderr). The only error is an unknown level.
func New(w io.Writer, o Options) (*slog.Logger, error) {
	h, err := NewHandler(w, o)
	if err != nil {
		return nil, err
	}
	return slog.New(h), nil
}

// WithName returns a logger that writes like l but under another logger
// name (pycti's API client logs as "api"). A logger not built by this package
// is returned unchanged.
func WithName(l *slog.Logger, name string) *slog.Logger {
	if h, ok := l.Handler().(*Handler); ok {
		return slog.New(h.WithName(name))
	}
	return l
}

// Handler is the slog.Handler behind New. It is safe for concurrent use;
// each record is written with a single Write call.
type Handler struct {
	out   *output
	name  string
	level slog.Level
	json  bool
	// attrs formats the attributes: a JSONHandler whose built-in keys are
	// dropped and whose attributes sit in the group "attributes".
	attrs slog.Handler
}

// output is shared by a handler and the handlers derived from it.
type output struct {
	mu      sync.Mutex
	w       io.Writer
	capture bytes.Buffer // where the attrs handler writes, under mu
	line    []byte       // reused under mu
}

// NewHandler returns the handler New uses, for callers that compose handlers.
func NewHandler(w io.Writer, o Options) (*Handler, error) {
	level, err := ParseLevel(o.Level)
	if err != nil {
		return nil, err
	}
	out := &output{w: w}
	attrs := slog.NewJSONHandler(&out.capture, &slog.HandlerOptions{
		Level:       slog.Level(math.MinInt),
		ReplaceAttr: replaceAttr,
	}).WithGroup(attributesKey)
	return &Handler{out: out, name: o.Name, level: level, json: o.JSON, attrs: attrs}, nil
}

const attributesKey = "attributes"

// replaceAttr drops the JSONHandler's own time, level and message (every
// attribute outside the "attributes" group) and prints durations as text.
func replaceAttr(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 {
		return slog.Attr{}
	}
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}

// WithName returns a handler writing to the same output at the same level,
// with the same attributes, under another logger name.
func (h *Handler) WithName(name string) *Handler {
	c := *h
	c.name = name
	return &c
}

// Enabled reports whether the level reaches the threshold.
func (h *Handler) Enabled(_ context.Context, level slog.Level) bool { return level >= h.level }

// WithAttrs returns a handler that adds attrs to every record.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	c := *h
	c.attrs = h.attrs.WithAttrs(attrs)
	return &c
}

// WithGroup returns a handler that nests later attributes in a group.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.attrs = h.attrs.WithGroup(name)
	return &c
}

// Handle writes one line.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	o := h.out
	o.mu.Lock()
	defer o.mu.Unlock()
	line := o.line[:0]
	if !h.json {
		line = append(line, levelName(r.Level)...)
		line = append(line, ':')
		line = append(line, h.name...)
		line = append(line, ':')
		line = append(line, r.Message...)
		line = append(line, '\n')
		o.line = line
		_, err := o.w.Write(line)
		return err
	}
	o.capture.Reset()
	if err := h.attrs.Handle(ctx, r); err != nil {
		return fmt.Errorf("format log attributes: %w", err)
	}
	line = append(line, '{')
	if !r.Time.IsZero() {
		line = append(line, `"timestamp":"`...)
		line = r.Time.UTC().AppendFormat(line, Timestamp)
		line = append(line, `",`...)
	}
	line = append(line, `"level":"`...)
	line = append(line, levelName(r.Level)...)
	line = append(line, `","name":`...)
	line = jsonstr.Append(line, h.name)
	line = append(line, `,"message":`...)
	line = jsonstr.Append(line, r.Message)
	// The attrs handler wrote {"attributes":{...}} or {} when there are none.
	const prefix = `{"` + attributesKey + `":`
	if captured := bytes.TrimSuffix(o.capture.Bytes(), []byte("\n")); bytes.HasPrefix(captured, []byte(prefix)) {
		line = append(line, ',')
		line = append(line, captured[1:]...) // "attributes":{...}}
	} else {
		line = append(line, '}')
	}
	line = append(line, '\n')
	o.line = line
	_, err := o.w.Write(line)
	return err
}

// levelName maps slog levels to Python's level names.
func levelName(l slog.Level) string {
	switch {
	case l < slog.LevelInfo:
		return "DEBUG"
	case l < slog.LevelWarn:
		return "INFO"
	case l < slog.LevelError:
		return "WARNING"
	default:
		return "ERROR"
	}
}

// Timestamp is the layout of the "timestamp" key: pycti's
// "%Y-%m-%dT%H:%M:%S.%fZ", always UTC.
const Timestamp = "2006-01-02T15:04:05.000000Z"
