package enrichment

import (
	"context"
	"encoding/json"
	"time"

	"github.com/riskiq-opencti/connectors/internal/defenderti"
)

// ResultCache keeps lookup results for the replicas of the connector;
// *redisstate.Cache fits.
type ResultCache interface {
	// Fetch returns the value cached under key, calling fill (once across
	// the replicas, as far as it can) when there is none. Only fill's and
	// ctx's errors are returned.
	Fetch(ctx context.Context, key string, fill func(ctx context.Context) ([]byte, error)) ([]byte, error)
}

// Cached is a [Source] whose results are cached: the normalised records of
// a value, keyed by source name, value and the UTC day of the window start,
// so that a value looked up again the same day, by any replica, costs no
// call. Errors are not cached.
type Cached struct {
	// Source looks up what the cache does not hold.
	Source Source
	// Cache holds the results.
	Cache ResultCache
	// Name names the source in the keys, e.g. "passivetotal".
	Name string
}

// Resolutions implements [Source].
func (c Cached) Resolutions(ctx context.Context, value string, since time.Time) ([]Resolution, error) {
	key := c.Name + ":" + since.UTC().Format(time.DateOnly) + ":" + value
	var fresh []Resolution
	filled := false
	raw, err := c.Cache.Fetch(ctx, key, func(ctx context.Context) ([]byte, error) {
		rs, err := c.Source.Resolutions(ctx, value, since)
		if err != nil {
			return nil, err
		}
		fresh, filled = rs, true
		return json.Marshal(rs)
	})
	switch {
	case err != nil:
		return nil, err
	case filled:
		return fresh, nil
	}
	var out []Resolution
	if err := json.Unmarshal(raw, &out); err != nil {
		return c.Source.Resolutions(ctx, value, since) // unreadable entry: look up
	}
	return out, nil
}

// CachedPassiveDNS is a Defender TI [PassiveDNSClient] whose results are
// cached like [Cached]'s: keyed by source name, direction, the UTC day of the
// window start and the host. Errors are not cached.
type CachedPassiveDNS struct {
	// Client looks up what the cache does not hold.
	Client PassiveDNSClient
	// Cache holds the results.
	Cache ResultCache
	// Name names the source in the keys, e.g. "defenderti".
	Name string
}

// PassiveDNS implements [PassiveDNSClient].
func (c CachedPassiveDNS) PassiveDNS(ctx context.Context, host string, reverse bool, since time.Time) (defenderti.PassiveDNSResult, error) {
	dir := "forward"
	if reverse {
		dir = "reverse"
	}
	key := c.Name + ":" + dir + ":" + since.UTC().Format(time.DateOnly) + ":" + host
	var (
		fresh  defenderti.PassiveDNSResult
		filled bool
	)
	raw, err := c.Cache.Fetch(ctx, key, func(ctx context.Context) ([]byte, error) {
		res, err := c.Client.PassiveDNS(ctx, host, reverse, since)
		if err != nil {
			return nil, err
		}
		fresh, filled = res, true
		return json.Marshal(res)
	})
	switch {
	case err != nil:
		return defenderti.PassiveDNSResult{Count: -1}, err
	case filled:
		return fresh, nil
	}
	var out defenderti.PassiveDNSResult
	if err := json.Unmarshal(raw, &out); err != nil {
		return c.Client.PassiveDNS(ctx, host, reverse, since) // unreadable entry: look up
	}
	return out, nil
}
