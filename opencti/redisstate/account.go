package redisstate

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// unknownPeriodTTL is how long a budget lives when its reset time is
// unknown: the next quota reading seeds a new one.
const unknownPeriodTTL = time.Minute

// Account is the shared state of one vendor account: its search budget per
// quota period and its rate-limit pause. It fits passivetotal.SharedQuota
// and passivetotal.SharedPause.
type Account struct {
	s    *Store
	base string // <root>:account:<source>:<hash>:
}

// Account returns the shared state of account (e.g. the PassiveTotal
// username) at source (e.g. "passivetotal"). The account name is hashed into
// the keys.
func (s *Store) Account(source, account string) *Account {
	return &Account{s: s, base: s.root + ":account:" + source + ":" + hash(account) + ":"}
}

// takeScript takes one unit from the budget KEYS[1], seeding it with ARGV[1]
// (when not negative) to expire at ARGV[2] (ms since the epoch; "0": in
// ARGV[3] ms). It returns the budget left after the take, -1 when the budget
// is spent, -2 when there is no budget and no seed (not tracked).
var takeScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then
  local seed = tonumber(ARGV[1])
  if seed < 0 then return -2 end
  redis.call('SET', KEYS[1], seed)
  if ARGV[2] ~= '0' then
    redis.call('PEXPIREAT', KEYS[1], ARGV[2])
  else
    redis.call('PEXPIRE', KEYS[1], ARGV[3])
  end
  v = seed
end
if tonumber(v) <= 0 then return -1 end
return redis.call('DECR', KEYS[1])
`)

// TakeSearch takes one search from the budget shared by every process using
// the account in the quota period that ends at reset (zero or past: unknown,
// the budget then lives one minute). The first taker of a period seeds the
// budget with remaining, the searches its last quota reading left; a negative
// remaining seeds nothing. It reports false when the budget is spent; an
// error (wrapping [ErrUnavailable] when Redis is down) means the budget could
// not be consulted and the caller relies on its own count.
func (a *Account) TakeSearch(ctx context.Context, reset time.Time, remaining int) (bool, error) {
	now := a.s.now()
	period, at := "unknown", "0"
	if reset.After(now) {
		period = strconv.FormatInt(reset.UnixMilli(), 10)
		at = period
	}
	var left int64
	err := a.s.do(ctx, "take search", func(ctx context.Context) error {
		var err error
		left, err = takeScript.Run(ctx, a.s.rdb, []string{a.base + "quota:" + period},
			remaining, at, unknownPeriodTTL.Milliseconds()).Int64()
		return err
	})
	if err != nil {
		return false, err
	}
	return left != -1, nil
}

// pauseScript keeps the later of the pause KEYS[1] and ARGV[1] (ms since the
// epoch), expiring at that time, and returns it.
var pauseScript = redis.NewScript(`
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local t = tonumber(ARGV[1])
if t > cur then
  redis.call('SET', KEYS[1], ARGV[1])
  redis.call('PEXPIREAT', KEYS[1], ARGV[1])
  return t
end
return cur
`)

// PauseUntil records that no process may call the account's API before t;
// a later pause already recorded is kept.
func (a *Account) PauseUntil(ctx context.Context, t time.Time) error {
	if !t.After(a.s.now()) {
		return nil
	}
	return a.s.do(ctx, "pause", func(ctx context.Context) error {
		return pauseScript.Run(ctx, a.s.rdb, []string{a.base + "pause"}, t.UnixMilli()).Err()
	})
}

// PausedUntil returns the time before which no process may call the
// account's API, zero when there is no pause.
func (a *Account) PausedUntil(ctx context.Context) (time.Time, error) {
	var ms int64
	err := a.s.do(ctx, "read pause", func(ctx context.Context) error {
		var err error
		ms, err = a.s.rdb.Get(ctx, a.base+"pause").Int64()
		return err
	})
	switch {
	case errors.Is(err, redis.Nil):
		return time.Time{}, nil
	case err != nil:
		return time.Time{}, fmt.Errorf("read shared pause: %w", err)
	}
	return time.UnixMilli(ms), nil
}
