package enrichment

import (
	"context"
	"encoding/json"
	"time"
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
