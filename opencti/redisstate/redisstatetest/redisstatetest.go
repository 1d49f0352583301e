// Package redisstatetest gives tests of connectors using redisstate a Redis:
// the shared test server's URL (tests keep to keys of their own, derived
// from their CONNECTOR_ID and account, and never flush), or a private
// redis-server they may stop and restart. It imports testing: tests only.
package redisstatetest

import (
	"testing"

	"github.com/riskiq-opencti/connectors/opencti/internal/testenv"
)

// Server is a redis-server of the test's own on a free loopback port; Stop
// stops it (by its PID) and URL is what CONNECTOR_REDIS_URL takes.
type Server = testenv.PrivateRedis

// URL returns the URL of the Redis the integration tests use
// (TEST_REDIS_URL, default redis://127.0.0.1:6379/0). Integration tests
// skip under -short, and when Redis cannot be reached outside CI.
func URL(tb testing.TB) string { return testenv.RedisURL(tb) }

// Start starts a private redis-server that the test may stop mid-run; it
// is stopped when the test ends.
func Start(tb testing.TB) *Server { return testenv.StartRedis(tb) }

// StartOn starts a private redis-server again on url (a stopped [Server]'s).
func StartOn(tb testing.TB, url string) *Server { return testenv.StartRedisOn(tb, url) }
