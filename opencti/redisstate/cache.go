package redisstate

import (
	"context"
	"crypto/rand"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultCacheWait bounds how long a lookup waits for the result another
// replica is computing; it is also the life of the short lock that marks the
// computation.
const DefaultCacheWait = 10 * time.Second

// Poll delays while waiting for another replica's result.
const (
	firstPoll = 5 * time.Millisecond
	maxPoll   = 100 * time.Millisecond
)

// Cache is a result cache shared by the replicas. It fits
// enrichment.ResultCache.
type Cache struct {
	s   *Store
	ttl time.Duration
}

// Cache returns the connector's result cache, whose values live ttl.
func (s *Store) Cache(ttl time.Duration) *Cache { return &Cache{s: s, ttl: ttl} }

// releaseScript deletes the lock KEYS[1] if it still holds ARGV[1].
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// Fetch returns the value cached under key. When there is none, one caller
// across the replicas computes it with fill and stores it for the cache TTL
// (a short lock, SET NX PX, marks the computation); the others wait for it,
// polling, at most the cache wait, then call fill themselves. A failed fill
// is not cached: the next waiter takes the lock and tries. Without Redis,
// fill is called directly. Only fill's errors and ctx's are returned.
func (c *Cache) Fetch(ctx context.Context, key string, fill func(ctx context.Context) ([]byte, error)) ([]byte, error) {
	if c.ttl <= 0 {
		return fill(ctx) // CONNECTOR_CACHE_TTL=PT0S: no cache
	}
	vk := c.s.key("cache", hash(key))
	lk := vk + ":lock"
	token := rand.Text()
	deadline := c.s.now().Add(c.s.cacheWait)
	delay := firstPoll
	for {
		var v []byte
		err := c.s.do(ctx, "cache get", func(ctx context.Context) error {
			var err error
			v, err = c.s.rdb.Get(ctx, vk).Bytes()
			return err
		})
		switch {
		case err == nil:
			return v, nil
		case ctx.Err() != nil:
			return nil, context.Cause(ctx)
		case !errors.Is(err, redis.Nil):
			return fill(ctx) // Redis unavailable: local behaviour
		}
		var locked bool
		err = c.s.do(ctx, "cache lock", func(ctx context.Context) error {
			var err error
			locked, err = c.s.rdb.SetNX(ctx, lk, token, c.s.cacheWait).Result()
			return err
		})
		switch {
		case err != nil && ctx.Err() != nil:
			return nil, context.Cause(ctx)
		case err != nil:
			return fill(ctx)
		case locked:
			return c.fillAndStore(ctx, vk, lk, token, fill)
		case !c.s.now().Before(deadline):
			c.s.log.Debug("Waited too long for another replica's lookup, looking up here", "wait", c.s.cacheWait.String())
			return fill(ctx)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, context.Cause(ctx)
		case <-t.C:
		}
		delay = min(2*delay, maxPoll)
	}
}

// fillAndStore computes the value under the lock, stores it and releases the
// lock (also on failure, so that a waiter takes over at once).
func (c *Cache) fillAndStore(ctx context.Context, vk, lk, token string, fill func(ctx context.Context) ([]byte, error)) ([]byte, error) {
	bg := context.WithoutCancel(ctx)
	unlock := func() {
		_ = c.s.do(bg, "cache unlock", func(ctx context.Context) error {
			return releaseScript.Run(ctx, c.s.rdb, []string{lk}, token).Err()
		})
	}
	// The previous holder stores its value before it unlocks: look again, or
	// a caller that missed the value just before it was stored would compute
	// it a second time.
	var v []byte
	err := c.s.do(ctx, "cache get", func(ctx context.Context) error {
		var err error
		v, err = c.s.rdb.Get(ctx, vk).Bytes()
		return err
	})
	if err == nil {
		unlock()
		return v, nil
	}
	v, err = fill(ctx)
	if err == nil {
		_ = c.s.do(bg, "cache set", func(ctx context.Context) error { return c.s.rdb.Set(ctx, vk, v, c.ttl).Err() })
	}
	unlock()
	return v, err
}
