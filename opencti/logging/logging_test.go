package logging

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/slogtest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fixed is the clock of every golden line.
var fixed = time.Date(2024, 1, 15, 12, 30, 0, 123456789, time.FixedZone("CEST", 2*3600))

func newTestHandler(t *testing.T, buf *bytes.Buffer, o Options) *Handler {
	t.Helper()
	h, err := NewHandler(buf, o)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestJSONLines(t *testing.T) {
	const ts = `"timestamp":"2024-01-15T10:30:00.123456Z"`
	tests := []struct {
		name  string
		build func(slog.Handler) slog.Handler
		level slog.Level
		msg   string
		attrs []slog.Attr
		want  string
	}{
		{name: "no attributes", level: slog.LevelInfo, msg: "Connector registered",
			want: `{` + ts + `,"level":"INFO","name":"RiskIQ PassiveTotal","message":"Connector registered"}`},
		{name: "attributes", level: slog.LevelInfo, msg: "Connector registered",
			attrs: []slog.Attr{slog.String("id", "b2f4"), slog.Int("count", 3), slog.Bool("auto", false)},
			want:  `{` + ts + `,"level":"INFO","name":"RiskIQ PassiveTotal","message":"Connector registered","attributes":{"id":"b2f4","count":3,"auto":false}}`},
		{name: "With attributes first", level: slog.LevelDebug, msg: "m",
			build: func(h slog.Handler) slog.Handler { return h.WithAttrs([]slog.Attr{slog.String("work_id", "w1")}) },
			attrs: []slog.Attr{slog.String("entity_id", "e1")},
			want:  `{` + ts + `,"level":"DEBUG","name":"RiskIQ PassiveTotal","message":"m","attributes":{"work_id":"w1","entity_id":"e1"}}`},
		{name: "With attributes alone", level: slog.LevelInfo, msg: "m",
			build: func(h slog.Handler) slog.Handler { return h.WithAttrs([]slog.Attr{slog.String("work_id", "w1")}) },
			want:  `{` + ts + `,"level":"INFO","name":"RiskIQ PassiveTotal","message":"m","attributes":{"work_id":"w1"}}`},
		{name: "empty group is left out", level: slog.LevelInfo, msg: "m",
			build: func(h slog.Handler) slog.Handler { return h.WithGroup("g") },
			want:  `{` + ts + `,"level":"INFO","name":"RiskIQ PassiveTotal","message":"m"}`},
		{name: "WithGroup", level: slog.LevelInfo, msg: "m",
			build: func(h slog.Handler) slog.Handler {
				return h.WithAttrs([]slog.Attr{slog.Int("a", 1)}).WithGroup("g").WithAttrs([]slog.Attr{slog.Int("b", 2)})
			},
			attrs: []slog.Attr{slog.Int("c", 3)},
			want:  `{` + ts + `,"level":"INFO","name":"RiskIQ PassiveTotal","message":"m","attributes":{"a":1,"g":{"b":2,"c":3}}}`},
		{name: "group attribute", level: slog.LevelWarn, msg: "Entity skipped",
			attrs: []slog.Attr{slog.Group("entity", slog.String("id", "ipv4-addr--1"), slog.String("type", "IPv4-Addr"))},
			want:  `{` + ts + `,"level":"WARNING","name":"RiskIQ PassiveTotal","message":"Entity skipped","attributes":{"entity":{"id":"ipv4-addr--1","type":"IPv4-Addr"}}}`},
		{name: "error as its message, duration as text", level: slog.LevelError, msg: "Error pinging the API",
			attrs: []slog.Attr{slog.Any("error", fmt.Errorf("ping: %w", errors.New("connection refused"))), slog.Duration("after", 1500*time.Millisecond)},
			want:  `{` + ts + `,"level":"ERROR","name":"RiskIQ PassiveTotal","message":"Error pinging the API","attributes":{"error":"ping: connection refused","after":"1.5s"}}`},
		{name: "built-in names stay in attributes", level: slog.LevelInfo, msg: "m",
			attrs: []slog.Attr{slog.String("level", "x"), slog.String("message", "y"), slog.String("name", "z"), slog.String("time", "t"), slog.String("msg", "u")},
			want:  `{` + ts + `,"level":"INFO","name":"RiskIQ PassiveTotal","message":"m","attributes":{"level":"x","message":"y","name":"z","time":"t","msg":"u"}}`},
		{name: "escaping", level: slog.LevelInfo, msg: "a \"q\" \\ <b>&\n\tü \u2028 \x01 \xff",
			want: `{` + ts + `,"level":"INFO","name":"RiskIQ PassiveTotal","message":"a \"q\" \\ <b>&\n\tü \u2028 \u0001 \ufffd"}`},
		{name: "level between warn and error", level: slog.LevelWarn + 2, msg: "m",
			want: `{` + ts + `,"level":"WARNING","name":"RiskIQ PassiveTotal","message":"m"}`},
		{name: "level above error", level: slog.LevelError + 4, msg: "m",
			want: `{` + ts + `,"level":"ERROR","name":"RiskIQ PassiveTotal","message":"m"}`},
		{name: "other logger name", level: slog.LevelInfo, msg: "m",
			build: func(h slog.Handler) slog.Handler { return h.(*Handler).WithName("api") },
			want:  `{` + ts + `,"level":"INFO","name":"api","message":"m"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			var h slog.Handler = newTestHandler(t, &buf, Options{Name: "RiskIQ PassiveTotal", Level: "debug", JSON: true})
			if tt.build != nil {
				h = tt.build(h)
			}
			r := slog.NewRecord(fixed, tt.level, tt.msg, 0)
			r.AddAttrs(tt.attrs...)
			if err := h.Handle(t.Context(), r); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want+"\n", buf.String()); diff != "" {
				t.Errorf("line (-want +got):\n%s", diff)
			}
			if !json.Valid(buf.Bytes()) {
				t.Errorf("not valid JSON: %s", buf.String())
			}
		})
	}
}

// TestKeyOrder decodes real logger output token by token: pycti's key order.
func TestKeyOrder(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(&buf, Options{Name: "n", Level: "INFO", JSON: true})
	if err != nil {
		t.Fatal(err)
	}
	l.With("work_id", "w").Info("Message processed", "tag", 7)
	l.Info("No attributes")
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	want := [][]string{
		{"timestamp", "level", "name", "message", "attributes"},
		{"timestamp", "level", "name", "message"},
	}
	for i, line := range lines {
		if diff := cmp.Diff(want[i], topLevelKeys(t, line)); diff != "" {
			t.Errorf("line %d keys (-want +got):\n%s", i, diff)
		}
		var m struct{ Timestamp string }
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		ts, err := time.Parse(Timestamp, m.Timestamp)
		if err != nil || time.Since(ts) > time.Minute || len(m.Timestamp) != len("2024-01-15T10:30:00.123456Z") {
			t.Errorf("timestamp %q: %v", m.Timestamp, err)
		}
	}
}

func topLevelKeys(t *testing.T, line string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(line))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func TestTextLines(t *testing.T) {
	var buf bytes.Buffer
	h := newTestHandler(t, &buf, Options{Name: "RiskIQ PassiveTotal", Level: "debug"})
	l := slog.New(h).With("ignored", 1)
	l.Debug("Starting", "attributes", "are not printed")
	l.Info("Connector registered")
	l.Warn("Skipped")
	l.Error("Error pinging the API", "error", errors.New("x"))
	want := "DEBUG:RiskIQ PassiveTotal:Starting\nINFO:RiskIQ PassiveTotal:Connector registered\n" +
		"WARNING:RiskIQ PassiveTotal:Skipped\nERROR:RiskIQ PassiveTotal:Error pinging the API\n"
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestLevelThreshold(t *testing.T) {
	tests := []struct {
		level string
		want  []string
	}{
		{"", []string{"ERROR"}},
		{"error", []string{"ERROR"}},
		{"WARNING", []string{"WARNING", "ERROR"}},
		{"warn", []string{"WARNING", "ERROR"}},
		{"Info", []string{"INFO", "WARNING", "ERROR"}},
		{" debug ", []string{"DEBUG", "INFO", "WARNING", "ERROR"}},
	}
	for _, tt := range tests {
		t.Run(tt.level, func(t *testing.T) {
			var buf bytes.Buffer
			l, err := New(&buf, Options{Name: "n", Level: tt.level})
			if err != nil {
				t.Fatal(err)
			}
			l.Debug("m")
			l.Info("m")
			l.Warn("m")
			l.Error("m")
			var got []string
			for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
				got = append(got, strings.SplitN(line, ":", 2)[0])
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("levels written (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseLevel(t *testing.T) {
	for in, want := range map[string]slog.Level{"debug": slog.LevelDebug, "INFO": slog.LevelInfo, "Warn": slog.LevelWarn,
		"warning": slog.LevelWarn, "ERROR": slog.LevelError, "": slog.LevelError} {
		if got, err := ParseLevel(in); err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v, want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"trace", "critical", "verbose", "1"} {
		if _, err := ParseLevel(in); err == nil {
			t.Errorf("ParseLevel(%q) succeeded, want an error", in)
		}
	}
	if _, err := New(&bytes.Buffer{}, Options{Level: "loud"}); err == nil || err.Error() != `parse log level "loud": want debug, info, warn, warning or error` {
		t.Errorf("New with a bad level: %v", err)
	}
}

func TestWithName(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(&buf, Options{Name: "connector", Level: "info"})
	if err != nil {
		t.Fatal(err)
	}
	WithName(l, "api").Info("query")
	l.Info("run")
	if want := "INFO:api:query\nINFO:connector:run\n"; buf.String() != want {
		t.Errorf("got %q, want %q", buf.String(), want)
	}
	other := slog.New(slog.DiscardHandler)
	if WithName(other, "api") != other {
		t.Error("WithName changed a foreign logger")
	}
}

// TestSlogtest runs the standard handler conformance suite, reading pycti's
// keys back as slog's.
func TestSlogtest(t *testing.T) {
	var buf bytes.Buffer
	slogtest.Run(t, func(t *testing.T) slog.Handler {
		buf.Reset()
		return newTestHandler(t, &buf, Options{Name: "n", Level: "debug", JSON: true})
	}, func(t *testing.T) map[string]any {
		var line map[string]any
		if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
			t.Fatalf("%v: %s", err, buf.String())
		}
		m := map[string]any{}
		for k, v := range line {
			switch k {
			case "timestamp":
				m[slog.TimeKey] = v
			case "level":
				m[slog.LevelKey] = v
			case "message":
				m[slog.MessageKey] = v
			case "name":
			case "attributes":
				for ak, av := range v.(map[string]any) {
					m[ak] = av
				}
			default:
				t.Errorf("unexpected top-level key %q", k)
			}
		}
		return m
	})
}

func TestConcurrentLinesStayWhole(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(&buf, Options{Name: "n", Level: "debug", JSON: true})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			child := l.With("worker", g).WithGroup("req")
			for i := range 200 {
				child.Info("processed", "i", i, "error", errors.New("e"))
			}
		})
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 8*200 {
		t.Fatalf("%d lines, want %d", len(lines), 8*200)
	}
	for _, line := range lines {
		var m struct {
			Attributes struct {
				Worker *int
				Req    struct{ I *int }
			}
		}
		if err := json.Unmarshal([]byte(line), &m); err != nil || m.Attributes.Worker == nil || m.Attributes.Req.I == nil {
			t.Fatalf("bad line %q: %v", line, err)
		}
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteErrorIsReturned(t *testing.T) {
	for _, asJSON := range []bool{true, false} {
		h, err := NewHandler(failingWriter{}, Options{Name: "n", JSON: asJSON})
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Handle(t.Context(), slog.NewRecord(fixed, slog.LevelError, "m", 0)); err == nil {
			t.Errorf("JSON=%t: Handle ignored the write error", asJSON)
		}
	}
}

func BenchmarkJSON(b *testing.B) {
	l, err := New(&bytes.Buffer{}, Options{Name: "RiskIQ PassiveTotal", Level: "info", JSON: true})
	if err != nil {
		b.Fatal(err)
	}
	l = l.With("work_id", "work_7c3e8f4e")
	b.ReportAllocs()
	for b.Loop() {
		l.Info("Sending bundle", "entity_id", "ipv4-addr--ff", "objects", 42, "error", errors.New("x"))
	}
}
