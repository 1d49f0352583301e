package enrichment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/riskiq-opencti/connectors/internal/defenderti"
	"github.com/riskiq-opencti/connectors/internal/passivetotal"
	"github.com/riskiq-opencti/connectors/opencti"
	"github.com/riskiq-opencti/connectors/opencti/stix"
)

// Source looks up the passive DNS resolutions of a value seen since a time.
// PassiveTotal implements it; Microsoft Defender TI has its own handler
// constructor (NewDefenderHandler), which needs the entity type.
type Source interface {
	Resolutions(ctx context.Context, value string, since time.Time) ([]Resolution, error)
}

// found is what a source's lookup returned, ready for the converter.
type found struct {
	// records are the resolutions to convert, in the source's order.
	records []Resolution
	// received is the number of records the source sent (PassiveTotal: len(records)).
	received int
	// skipped counts the records the source left out before conversion.
	skipped int
	// truncated tells the source's record cap was reached.
	truncated bool
	// notFound tells the source does not know the value (Graph 404).
	notFound bool
	// reverse tells the lookup was a reverse one (Defender TI).
	reverse bool
	// reputation is the host's reputation to put on the entity, if any.
	reputation *defenderti.HostReputation
	// profile is how the records become STIX.
	profile profile
}

// backend is what the handler needs from a source beyond the lookup.
type backend struct {
	lookup func(ctx context.Context, e Entity, since time.Time) (found, error)
	// supported are the STIX types of the entities it looks up, typesText
	// names them for the skip message.
	supported map[string]bool
	typesText string
	author    func(created time.Time) *stix.Identity
	// summary is the work message of a lookup that found objects.
	summary func(e Entity, f found, objects, skipped int) string
	// empty is the work message of a lookup that found nothing.
	empty func(f found, skipped int) string
}

// passiveTotalBackend serves a [Source] as the Python connector did.
func passiveTotalBackend(src Source) backend {
	return backend{
		lookup: func(ctx context.Context, e Entity, since time.Time) (found, error) {
			records, err := src.Resolutions(ctx, e.Value, since)
			return found{records: records, received: len(records), profile: passiveTotal}, err
		},
		supported: map[string]bool{"ipv4-addr": true, "domain-name": true},
		typesText: "IPv4-Addr and Domain-Name",
		author:    Author,
		summary: func(e Entity, f found, objects, _ int) string {
			return fmt.Sprintf("Passive DNS of %s: %d records, %d new objects", e.Value, f.received, objects)
		},
		empty: func(found, int) string { return "No information found" },
	}
}

// defenderBackend serves Microsoft Defender TI.
func defenderBackend(d *defenderSource) backend {
	direction := func(f found) string {
		if f.reverse {
			return "reverse"
		}
		return "forward"
	}
	details := func(f found, skipped int) string {
		var b strings.Builder
		if skipped > 0 {
			fmt.Fprintf(&b, ", %d skipped (TXT, PTR, other record types or unusable values)", skipped)
		}
		if f.truncated {
			b.WriteString(", result truncated at DEFENDER_TI_MAX_RECORDS")
		}
		if r := f.reputation; r != nil {
			fmt.Fprintf(&b, ", reputation %s (score %d)", strings.ToLower(r.Classification), r.Score)
		}
		return b.String()
	}
	return backend{
		lookup:    d.lookup,
		supported: map[string]bool{"ipv4-addr": true, "ipv6-addr": true, "domain-name": true, "hostname": true},
		typesText: "IPv4-Addr, IPv6-Addr, Domain-Name and Hostname",
		author:    DefenderAuthor,
		summary: func(e Entity, f found, objects, skipped int) string {
			return fmt.Sprintf("Passive DNS of %s (Microsoft Defender TI, %s): %d records, %d new objects%s",
				e.Value, direction(f), f.received, objects, details(f, skipped))
		},
		empty: func(f found, skipped int) string {
			switch {
			case f.notFound:
				return "No information found (the host is unknown to Microsoft Defender TI)"
			case f.received > 0:
				return fmt.Sprintf("No information found (Microsoft Defender TI, %s: %d records%s)", direction(f), f.received, details(f, skipped))
			}
			return "No information found"
		},
	}
}

// Handler answers enrichment requests.
type Handler struct {
	src     backend
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

// defaults fills in the unset fields.
func (c Config) defaults() Config {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.InScope == nil {
		c.InScope = func(string) bool { return true }
	}
	return c
}

// NewHandler returns a handler looking up src (PassiveTotal).
func NewHandler(src Source, c Config) *Handler {
	return buildHandler(passiveTotalBackend(src), c.defaults())
}

// NewDefenderHandler returns a handler looking up Microsoft Defender TI
// (RISKIQ_SOURCE=defender): forward passive DNS for Domain-Name and Hostname,
// reverse for IPv4-Addr and IPv6-Addr, objects authored by
// [DefenderAuthorName].
func NewDefenderHandler(d Defender, c Config) *Handler {
	c = c.defaults()
	return buildHandler(defenderBackend(&defenderSource{Defender: d, now: c.Now, log: c.Logger}), c)
}

func buildHandler(b backend, c Config) *Handler {
	return &Handler{
		src: b, conv: NewConverter(c.Now, c.Logger), maxTLP: c.MaxTLP, window: c.Window,
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
	entity, err := h.entityOf(req)
	if err != nil {
		log.Info("Entity skipped", "reason", err.Error())
		return opencti.Result{Message: "Skip the entity: " + err.Error()}, nil
	}
	since := h.now().UTC().Add(-h.window)
	f, err := h.src.lookup(ctx, entity, since)
	if err != nil {
		return opencti.Result{}, err
	}
	objects, skipped, err := h.conv.convert(entity, f.records, f.profile)
	if err != nil {
		return opencti.Result{}, fmt.Errorf("map passive dns of %q: %w", entity.Value, err)
	}
	skipped += f.skipped
	if len(objects) == 0 && f.reputation == nil {
		log.Info("No information found", "records", f.received)
		return opencti.Result{Message: h.src.empty(f, skipped)}, nil
	}
	out := make([]any, 0, len(req.StixObjects)+len(objects)+2)
	for _, o := range req.StixObjects {
		if f.reputation != nil && objectID(o) == req.EntityID {
			if o, err = withReputation(o, f.reputation); err != nil {
				return opencti.Result{}, fmt.Errorf("reputation of %q: %w", entity.Value, err)
			}
		}
		out = append(out, o)
	}
	for _, o := range objects {
		out = append(out, o)
	}
	white, err := stix.TLPMarking(stix.TLPWhite)
	if err != nil {
		return opencti.Result{}, err
	}
	out = append(out, h.src.author(h.now().UTC().Truncate(time.Millisecond)), white)
	log.Info("Observable found and knowledge added", "records", f.received, "objects", len(objects))
	return opencti.Result{Objects: out, Message: h.src.summary(entity, f, len(objects), skipped)}, nil
}

// objectID reads the id of a raw STIX object ("" when it has none).
func objectID(raw json.RawMessage) string {
	var v struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(raw, &v) != nil {
		return ""
	}
	return v.ID
}

// entityOf reads the value to look up from the request.
func (h *Handler) entityOf(req *opencti.Request) (Entity, error) {
	stixType, _, _ := strings.Cut(req.EntityID, "--")
	if !h.src.supported[stixType] {
		return Entity{}, fmt.Errorf("type %s is not looked up in passive DNS (only %s)", req.EntityType, h.src.typesText)
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
