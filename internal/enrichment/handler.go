package enrichment

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/riskiq-opencti/connectors/internal/passivetotal"
	"github.com/riskiq-opencti/connectors/opencti"
	"github.com/riskiq-opencti/connectors/opencti/stix"
)

// Source looks up the passive DNS resolutions of a value seen since a time.
// PassiveTotal implements it; so will Microsoft Defender TI.
type Source interface {
	Resolutions(ctx context.Context, value string, since time.Time) ([]Resolution, error)
}

// supported are the entity types passive DNS can look up.
var supported = map[string]bool{"ipv4-addr": true, "domain-name": true}

// Handler answers enrichment requests.
type Handler struct {
	src     Source
	conv    *Converter
	maxTLP  string
	window  time.Duration
	now     func() time.Time
	inScope func(entityType string) bool
	log     *slog.Logger
}

// Config holds the handler's settings.
type Config struct {
	// MaxTLP is RISKIQ_MAX_TLP ("" = no limit).
	MaxTLP string
	// Window is RISKIQ_IMPORT_LAST_SEEN_TIME_WINDOW.
	Window time.Duration
	// InScope reports whether an entity type is in CONNECTOR_SCOPE.
	InScope func(entityType string) bool
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives the handler's logs.
	Logger *slog.Logger
}

// NewHandler returns a handler looking up src.
func NewHandler(src Source, c Config) *Handler {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.InScope == nil {
		c.InScope = func(string) bool { return true }
	}
	return &Handler{
		src: src, conv: NewConverter(c.Now, c.Logger), maxTLP: c.MaxTLP, window: c.Window,
		now: c.Now, inScope: c.InScope, log: c.Logger,
	}
}

// ErrTLPTooHigh is returned when the entity's TLP is above RISKIQ_MAX_TLP.
var ErrTLPTooHigh = errors.New("tlp of the entity is above the connector's maximum")

// Enrich handles one request: TLP gate, scope, lookup, mapping. It returns the
// objects to send back (the entity and its markings, the new objects, the
// author and TLP:WHITE) or nothing when no record was found.
func (h *Handler) Enrich(ctx context.Context, req *opencti.Request) (opencti.Result, error) {
	tlp := req.TLP()
	ok, err := stix.CheckMaxTLP(tlp, h.maxTLP)
	if err != nil {
		return opencti.Result{}, err
	}
	if !ok {
		return opencti.Result{}, fmt.Errorf("%w: do not send any data, the entity is marked %s and RISKIQ_MAX_TLP is %s", ErrTLPTooHigh, tlp, h.maxTLP)
	}
	log := h.log.With("entity_id", req.EntityID, "entity_type", req.EntityType)
	if !h.inScope(req.EntityType) {
		log.Info("Entity skipped: its type is not in the connector scope")
		return opencti.Result{Message: fmt.Sprintf("Skip the entity %s: type %s is not in the connector scope", req.EntityID, req.EntityType)}, nil
	}
	entity, err := entityOf(req)
	if err != nil {
		log.Info("Entity skipped", "reason", err.Error())
		return opencti.Result{Message: "Skip the entity: " + err.Error()}, nil
	}
	since := h.now().UTC().Add(-h.window)
	records, err := h.src.Resolutions(ctx, entity.Value, since)
	if err != nil {
		return opencti.Result{}, err
	}
	objects, err := h.conv.Convert(entity, records)
	if err != nil {
		return opencti.Result{}, fmt.Errorf("map passive dns of %q: %w", entity.Value, err)
	}
	if len(objects) == 0 {
		log.Info("No information found", "records", len(records))
		return opencti.Result{Message: "No information found"}, nil
	}
	out := make([]any, 0, len(req.StixObjects)+len(objects)+2)
	for _, o := range req.StixObjects {
		out = append(out, o)
	}
	for _, o := range objects {
		out = append(out, o)
	}
	white, err := stix.TLPMarking(stix.TLPWhite)
	if err != nil {
		return opencti.Result{}, err
	}
	out = append(out, Author(h.now().UTC().Truncate(time.Millisecond)), white)
	log.Info("Observable found and knowledge added", "records", len(records), "objects", len(objects))
	return opencti.Result{
		Objects: out,
		Message: fmt.Sprintf("Passive DNS of %s: %d records, %d new objects", entity.Value, len(records), len(objects)),
	}, nil
}

// entityOf reads the value to look up from the request.
func entityOf(req *opencti.Request) (Entity, error) {
	stixType, _, _ := strings.Cut(req.EntityID, "--")
	if !supported[stixType] {
		return Entity{}, fmt.Errorf("type %s is not looked up in passive DNS (only IPv4-Addr and Domain-Name)", req.EntityType)
	}
	e := Entity{ID: req.EntityID}
	if req.Entity != nil {
		e.Value = req.Entity.ObservableValue
	}
	if v, ok := stixValue(req); ok {
		e.Value = v
	}
	if e.Value == "" {
		return Entity{}, errors.New("the entity has no value to look up")
	}
	return e, nil
}

// PassiveTotal is the [Source] backed by the PassiveTotal API: a quota check
// (cached by the client) then GET /v2/dns/passive.
type PassiveTotal struct {
	Client *passivetotal.Client
}

// Resolutions implements [Source].
func (p PassiveTotal) Resolutions(ctx context.Context, value string, since time.Time) ([]Resolution, error) {
	if err := p.Client.CheckQuota(ctx); err != nil {
		return nil, describe(err)
	}
	res, err := p.Client.PassiveDNS(ctx, value, since)
	if err != nil {
		return nil, describe(err)
	}
	out := make([]Resolution, 0, len(res.Results))
	for _, r := range res.Results {
		out = append(out, Resolution{
			RecordType: r.RecordType, ResolveType: r.ResolveType, Resolve: r.Resolve,
			FirstSeen: r.FirstSeen, LastSeen: r.LastSeen,
		})
	}
	return out, nil
}

// describe turns client errors into the messages operators read on the work.
func describe(err error) error {
	var qe *passivetotal.QuotaError
	switch {
	case errors.As(err, &qe):
		if qe.NextReset.IsZero() {
			return fmt.Errorf("passivetotal quota reached (%d of %d searches used): %w", qe.Used, qe.Limit, err)
		}
		return fmt.Errorf("passivetotal quota reached, next reset at %s: %w", qe.NextReset.UTC().Format("2006-01-02 15:04:05 UTC"), err)
	case errors.Is(err, passivetotal.ErrAuth):
		return fmt.Errorf("passivetotal authentication failed, check RISKIQ_USERNAME and RISKIQ_API_KEY: %w", err)
	default:
		return fmt.Errorf("passivetotal lookup failed: %w", err)
	}
}
