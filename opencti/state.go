package opencti

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// State decodes the connector state into v (a pointer to a struct or map). It
// reports false when there is no state: pycti's get_state returns None for an
// absent state, "null", "{}" and anything that is not a JSON object.
//
// Numbers decoded into interface values (a map[string]any, an any field) are
// json.Number, their exact text: like Python, which keeps integers exact and
// reads 1e999 as inf, no number of a state the platform holds makes decoding
// fail, and SetState writes it back unchanged.
func (h *Helper) State(v any) (bool, error) {
	h.mu.Lock()
	s := h.state
	h.mu.Unlock()
	if s == nil {
		return false, nil
	}
	dec := json.NewDecoder(bytes.NewReader(s))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return false, fmt.Errorf("decode connector state: %w", err)
	}
	return true, nil
}

// SetState replaces the connector state with v, which must encode to a JSON
// object (nil clears the state). Like pycti it makes no API call: the state
// travels with the next ping; call [Helper.PushState] to send it at once.
func (h *Helper) SetState(v any) error {
	if v == nil {
		h.mu.Lock()
		h.state = nil
		h.mu.Unlock()
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode connector state: %w", err)
	}
	st := parseState(ptr(string(b)))
	if st == nil && !bytes.Equal(b, []byte("{}")) {
		return fmt.Errorf("encode connector state: %s is not a JSON object", truncate(string(b), 64))
	}
	h.mu.Lock()
	h.state = st
	h.mu.Unlock()
	return nil
}

// PushState sends the current state to the platform now, with one ping
// (pycti's force_ping, which also honours a remote reset). Our import
// connector calls it after each article so a crash loses nothing.
func (h *Helper) PushState(ctx context.Context) error {
	return h.ping(ctx)
}

// parseState keeps a state string only when it is a non-empty JSON object.
func parseState(s *string) json.RawMessage {
	if s == nil {
		return nil
	}
	raw := bytes.TrimSpace([]byte(*s))
	var obj map[string]json.RawMessage
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &obj) != nil || len(obj) == 0 {
		return nil
	}
	return json.RawMessage(raw)
}

// stateString is what pycti sends as state: json.dumps(get_state()).
func stateString(s json.RawMessage) string {
	if s == nil {
		return "null"
	}
	return string(s)
}

// sameState compares two states as Python compares the json.loads of each
// (key order and spacing ignored, 1 == 1.0, integers exact, floats that
// overflow are inf), as pycti's ping does before it reports a remote reset.
func sameState(a, b json.RawMessage) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	x, errX := decodeState(a)
	y, errY := decodeState(b)
	if errX != nil || errY != nil {
		return bytes.Equal(a, b)
	}
	return sameValue(x, y)
}

func decodeState(s json.RawMessage) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(s))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

// sameValue compares decoded JSON values the way Python's == compares them.
func sameValue(x, y any) bool {
	switch x := x.(type) {
	case map[string]any:
		y, ok := y.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, vx := range x {
			vy, ok := y[k]
			if !ok || !sameValue(vx, vy) {
				return false
			}
		}
		return true
	case []any:
		y, ok := y.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !sameValue(x[i], y[i]) {
				return false
			}
		}
		return true
	case json.Number:
		y, ok := y.(json.Number)
		return ok && sameNumber(x, y)
	default: // string, bool, nil
		return x == y
	}
}

// sameNumber compares two JSON numbers as Python compares what json.loads makes
// of them: integers exact, other numbers as float64 (±inf when too large).
func sameNumber(x, y json.Number) bool {
	if x == y {
		return true
	}
	fx, okX := pyNumber(x)
	fy, okY := pyNumber(y)
	return okX && okY && fx.Cmp(fy) == 0
}

// pyNumber returns the value Python gives the JSON number n: an int (exact) or a
// float64.
func pyNumber(n json.Number) (*big.Float, bool) {
	s := string(n)
	if !strings.ContainsAny(s, ".eE") {
		i, ok := new(big.Int).SetString(s, 10)
		if !ok {
			return nil, false
		}
		return new(big.Float).SetInt(i), true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return nil, false
	}
	return big.NewFloat(f), true // ±Inf on overflow, like Python's float()
}

// ping sends pingConnector with the state and connector_info, and clears the
// local state when the platform answers with another one (remote reset, §6.2).
//
// Pings are serialised: the ping loop and PushState never have two requests in
// flight, so a ping carrying an older state can never reach the platform
// after one carrying a newer state.
func (h *Helper) ping(ctx context.Context) error {
	h.pingMu.Lock()
	defer h.pingMu.Unlock()
	h.mu.Lock()
	sent := h.state
	info := h.info
	h.mu.Unlock()
	returned, err := h.api.PingConnector(ctx, h.cfg.Connector.ID, stateString(sent), info)
	if err != nil {
		h.metrics.Ping(false)
		return fmt.Errorf("ping connector: %w", err)
	}
	h.metrics.Ping(true)
	got := parseState(returned)
	if !sameState(sent, got) {
		h.mu.Lock()
		// Only reset when nobody changed the state while the ping was in flight.
		if sameState(h.state, sent) {
			h.state = nil
			h.log.Info("Connector state has been remotely reset", "state", stateString(got))
		}
		h.mu.Unlock()
	}
	return nil
}

// pingLoop pings every pingInterval until ctx is done, logging as pycti's
// PingAlive does: "Error pinging the API" with the error as reason, then
// "API Ping back to normal" at the first ping that works again.
func (h *Helper) pingLoop(ctx context.Context) {
	defer close(h.pingDone)
	inError := false
	for {
		err := h.ping(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			inError = true
			h.log.Error("Error pinging the API", "reason", err.Error())
		case err == nil && inError:
			inError = false
			h.log.Info("API Ping back to normal")
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(h.pingInterval):
		}
	}
}

func (h *Helper) setBuffering(b bool) {
	h.mu.Lock()
	h.info.Buffering = b
	h.mu.Unlock()
}

func ptr[T any](v T) *T { return &v }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
