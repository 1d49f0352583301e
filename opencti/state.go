package opencti

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// State decodes the connector state into v (a pointer to a struct or map). It
// reports false when there is no state: pycti's get_state returns None for an
// absent state, "null", "{}" and anything that is not a JSON object.
func (h *Helper) State(v any) (bool, error) {
	h.mu.Lock()
	s := h.state
	h.mu.Unlock()
	if s == nil {
		return false, nil
	}
	if err := json.Unmarshal(s, v); err != nil {
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

// sameState compares two states as JSON values (key order and spacing ignored).
func sameState(a, b json.RawMessage) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return bytes.Equal(xb, yb)
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

func (h *Helper) pingLoop(ctx context.Context) {
	defer close(h.pingDone)
	for {
		if err := h.ping(ctx); err != nil && ctx.Err() == nil {
			h.log.Error("Error pinging the API", "error", err)
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
