package redisstate

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultLeaseTTL is the life of a lease that is not renewed: how long the
// replicas wait before taking over from a holder that died.
const DefaultLeaseTTL = 30 * time.Second

// ErrStandby is returned by [Lease.Run] when another replica holds the lease.
var ErrStandby = errors.New("another replica holds the lease")

// ErrLeaseLost is the cause of the cancellation of a run whose lease another
// replica took (it was not renewed in time).
var ErrLeaseLost = errors.New("the lease was lost to another replica")

// Lease is a lock with a time to live held by one replica at a time, renewed
// while its holder works, so that a holder that dies frees it within the TTL.
type Lease struct {
	s        *Store
	name     string
	key      string
	stateKey string
	token    string
	ttl      time.Duration
}

// Lease returns the connector's lease called name. Each call makes a distinct
// holder: a process uses one Lease value for a name.
func (s *Store) Lease(name string, ttl time.Duration) *Lease {
	if ttl <= 0 {
		ttl = DefaultLeaseTTL
	}
	k := s.key("lease", name)
	return &Lease{s: s, name: name, key: k, stateKey: k + ":state", token: rand.Text(), ttl: ttl}
}

// renewScript extends the lease KEYS[1] held by ARGV[1] for ARGV[2] ms, or
// takes it again when it expired meanwhile; it returns 0 when another holds it.
var renewScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if not cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
`)

// saveScript stores ARGV[2] in KEYS[2] only while KEYS[1] holds ARGV[1].
var saveScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
return 1
`)

// Acquire takes the lease when it is free (or already this holder's) and
// reports whether this holder has it.
func (l *Lease) Acquire(ctx context.Context) (bool, error) {
	return l.Renew(ctx)
}

// Renew extends the lease by its TTL and reports whether this holder still
// has it (taking it again when it expired and nobody took it).
func (l *Lease) Renew(ctx context.Context) (bool, error) {
	var n int64
	err := l.s.do(ctx, "lease "+l.name, func(ctx context.Context) error {
		var err error
		n, err = renewScript.Run(ctx, l.s.rdb, []string{l.key}, l.token, l.ttl.Milliseconds()).Int64()
		return err
	})
	return n == 1, err
}

// Release frees the lease if this holder has it.
func (l *Lease) Release(ctx context.Context) error {
	return l.s.do(ctx, "release lease "+l.name, func(ctx context.Context) error {
		return releaseScript.Run(ctx, l.s.rdb, []string{l.key}, l.token).Err()
	})
}

// Run runs fn while holding the lease, renewed every third of its TTL, and
// releases it afterwards. It returns [ErrStandby] without running fn when
// another replica holds it. When Redis is unavailable it runs fn anyway, as
// without Redis (logged). When a renewal finds the lease taken by another
// replica, fn's context is cancelled with [ErrLeaseLost].
func (l *Lease) Run(ctx context.Context, fn func(ctx context.Context) error) error {
	ok, err := l.Acquire(ctx)
	switch {
	case errors.Is(err, ErrUnavailable):
		l.s.log.Warn("Redis unavailable: running without the lease, as a single replica would", "lease", l.name, "error", err.Error())
		return fn(ctx)
	case err != nil:
		return err
	case !ok:
		return ErrStandby
	}
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := make(chan struct{})
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		l.keep(rctx, stop, cancel)
	}()
	err = fn(rctx)
	close(stop)
	<-renewed
	rel, relCancel := context.WithTimeout(context.WithoutCancel(ctx), l.s.timeout)
	defer relCancel()
	_ = l.Release(rel)
	if errors.Is(context.Cause(rctx), ErrLeaseLost) && err != nil {
		return fmt.Errorf("%w: %w", ErrLeaseLost, err)
	}
	return err
}

// keep renews the lease until stop is closed; it cancels the run when the
// lease went to another replica.
func (l *Lease) keep(ctx context.Context, stop <-chan struct{}, cancel context.CancelCauseFunc) {
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ok, err := l.Renew(ctx)
		switch {
		case err != nil:
			l.s.log.Warn("The lease could not be renewed, going on", "lease", l.name, "error", err.Error())
		case !ok:
			l.s.log.Error("The lease went to another replica, stopping", "lease", l.name)
			cancel(ErrLeaseLost)
			return
		}
	}
}

// SaveState stores v beside the lease, only while this holder has it: the
// next holder reads it with [Lease.LoadState].
func (l *Lease) SaveState(ctx context.Context, v []byte) error {
	return l.s.do(ctx, "save lease state "+l.name, func(ctx context.Context) error {
		return saveScript.Run(ctx, l.s.rdb, []string{l.key, l.stateKey}, l.token, v).Err()
	})
}

// LoadState returns the value the last holder saved; found is false when
// there is none.
func (l *Lease) LoadState(ctx context.Context) (v []byte, found bool, err error) {
	err = l.s.do(ctx, "load lease state "+l.name, func(ctx context.Context) error {
		var err error
		v, err = l.s.rdb.Get(ctx, l.stateKey).Bytes()
		return err
	})
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	return v, err == nil, err
}
