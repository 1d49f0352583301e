package redisstate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/logging"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/riskiq-opencti/connectors/opencti/scrub"
)

// Defaults of the store options.
const (
	// DefaultTimeout bounds one Redis operation, connection included.
	DefaultTimeout = time.Second
	// DefaultMinBackoff is how long Redis is left alone after a first failure.
	DefaultMinBackoff = 500 * time.Millisecond
	// DefaultMaxBackoff caps the backoff after repeated failures.
	DefaultMaxBackoff = 30 * time.Second
	// DefaultRoot starts every key.
	DefaultRoot = "opencti"
)

// ErrUnavailable is returned when Redis cannot be reached, or is left alone
// during a backoff after a failure: the caller falls back to local state.
var ErrUnavailable = errors.New("redis unavailable")

// Store is the shared state of one connector. It is safe for concurrent use.
type Store struct {
	rdb       *redis.Client
	url       string // scrubbed, for logs
	password  string // for scrubbing errors
	prefix    string // <root>:connector:<id>:
	root      string
	timeout   time.Duration
	minBO     time.Duration
	maxBO     time.Duration
	now       func() time.Time
	log       *slog.Logger
	cacheWait time.Duration

	mu        sync.Mutex
	downUntil time.Time // fail fast until then
	backoff   time.Duration
	down      bool
}

// Option configures a [Store].
type Option func(*Store)

// WithTimeout bounds each Redis operation; default [DefaultTimeout].
func WithTimeout(d time.Duration) Option { return func(s *Store) { s.timeout = d } }

// WithBackoff sets the first and the longest pause after Redis failed;
// defaults [DefaultMinBackoff] and [DefaultMaxBackoff].
func WithBackoff(lo, hi time.Duration) Option {
	return func(s *Store) { s.minBO, s.maxBO = lo, hi }
}

// WithLogger sets the logger of availability changes; default discards.
func WithLogger(l *slog.Logger) Option { return func(s *Store) { s.log = l } }

// WithRoot replaces [DefaultRoot] at the start of every key (tests use one
// root each).
func WithRoot(root string) Option { return func(s *Store) { s.root = root } }

// WithClock sets the clock of backoffs and expiries; default time.Now.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// WithCacheWait bounds how long a lookup waits for another replica's result
// before it calls itself; default [DefaultCacheWait].
func WithCacheWait(d time.Duration) Option { return func(s *Store) { s.cacheWait = d } }

var silenceOnce sync.Once

// Open returns the store of the settings' connector, or nil when no Redis URL
// is set. It makes no network call: the first operation connects.
func Open(set Settings, opts ...Option) (*Store, error) {
	if !set.Enabled() {
		return nil, nil
	}
	raw := set.URL.Reveal()
	o, err := options(raw)
	if err != nil {
		return nil, fmt.Errorf("redis url %s: not a redis:// or rediss:// URL", scrub.URL(raw))
	}
	s := &Store{
		url: scrub.URL(raw), password: o.Password, root: DefaultRoot, timeout: DefaultTimeout,
		minBO: DefaultMinBackoff, maxBO: DefaultMaxBackoff, now: time.Now, cacheWait: DefaultCacheWait,
	}
	for _, opt := range opts {
		opt(s)
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.timeout <= 0 || s.minBO <= 0 || s.maxBO < s.minBO || s.cacheWait < 0 {
		return nil, errors.New("redis store: timeout and backoffs must be positive and ordered")
	}
	s.prefix = s.root + ":connector:" + set.ConnectorID + ":"
	// Our own fallback replaces go-redis' retries; its logger writes to
	// stderr through the log package, outside the connector's JSON logs.
	silenceOnce.Do(func() { redis.SetLogger(&logging.VoidLogger{}) })
	o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout = s.timeout, s.timeout, s.timeout, s.timeout
	o.ContextTimeoutEnabled = true
	o.MaxRetries = -1
	o.DialerRetries = 1
	o.DisableIdentity = true
	o.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	s.rdb = redis.NewClient(o)
	return s, nil
}

// options parses a Redis URL.
func options(raw string) (*redis.Options, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
		return nil, errors.New("not a redis url")
	}
	return redis.ParseURL(raw)
}

// Close closes the connections.
func (s *Store) Close() error {
	if s == nil {
		return nil
	}
	return s.rdb.Close()
}

// String describes the store without credentials.
func (s *Store) String() string { return "redisstate.Store{" + s.url + "}" }

// Ping checks Redis is reachable, logging the outcome (a failure starts the
// fallback like any failed operation).
func (s *Store) Ping(ctx context.Context) error {
	err := s.do(ctx, "ping", func(ctx context.Context) error { return s.rdb.Ping(ctx).Err() })
	if err == nil {
		s.log.Info("Shared state in Redis", "redis_url", s.url, "key_prefix", s.prefix)
	}
	return err
}

// Available reports whether Redis is not in a failure backoff.
func (s *Store) Available() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.down
}

// do runs op with the store's timeout unless Redis is in backoff. A failure
// that is not redis.Nil and not the caller giving up marks Redis unavailable.
func (s *Store) do(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	if err := s.gate(); err != nil {
		return err
	}
	octx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	err := fn(octx)
	switch {
	case err == nil || errors.Is(err, redis.Nil):
		s.up()
		return err
	case ctx.Err() != nil:
		return fmt.Errorf("redis %s: %w", op, context.Cause(ctx))
	}
	err = fmt.Errorf("%w: %s: %s", ErrUnavailable, op, scrub.Secrets(err.Error(), s.password))
	s.fail(err)
	return err
}

// gate fails at once while Redis is in backoff.
func (s *Store) gate() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down && s.now().Before(s.downUntil) {
		return fmt.Errorf("%w (next attempt at %s)", ErrUnavailable, s.downUntil.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

func (s *Store) fail(err error) {
	s.mu.Lock()
	wasDown := s.down
	if !s.down || s.backoff == 0 {
		s.backoff = s.minBO
	} else {
		s.backoff = min(2*s.backoff, s.maxBO)
	}
	s.down = true
	s.downUntil = s.now().Add(s.backoff)
	backoff := s.backoff
	s.mu.Unlock()
	if !wasDown {
		s.log.Warn("Redis unavailable, replicas fall back to local state until it is back",
			"redis_url", s.url, "retry_in", backoff.String(), "error", err.Error())
	} else {
		s.log.Debug("Redis still unavailable", "retry_in", backoff.String(), "error", err.Error())
	}
}

func (s *Store) up() {
	s.mu.Lock()
	wasDown := s.down
	s.down, s.backoff = false, 0
	s.mu.Unlock()
	if wasDown {
		s.log.Info("Redis available again, shared state resumed", "redis_url", s.url)
	}
}

// key returns a connector key: prefix + parts joined by ':'.
func (s *Store) key(parts ...string) string { return s.prefix + strings.Join(parts, ":") }

// hash returns a short stable digest of v for use in key names.
func hash(v string) string {
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:16])
}
