// Package testenv locates the services integration tests run against.
//
// Integration tests use the real RabbitMQ. Its URL comes from the environment
// variable TEST_AMQP_URL, default amqp://guest:guest@127.0.0.1:5672/. When the
// broker cannot be reached the test is skipped, unless the CI variable is set or
// TEST_AMQP_URL was given explicitly: then an unreachable broker is a failure.
package testenv

import (
	"net"
	"net/url"
	"os"
	"testing"
	"time"
)

// DefaultAMQPURL is the broker integration tests use when TEST_AMQP_URL is unset.
const DefaultAMQPURL = "amqp://guest:guest@127.0.0.1:5672/" //nolint:gosec // G101: RabbitMQ's well-known local test account

// AMQPURL returns the URL of the RabbitMQ broker for integration tests. It skips
// the test under -short, and skips or fails (see the package comment) when the
// broker does not accept TCP connections.
func AMQPURL(tb testing.TB) string {
	tb.Helper()
	if testing.Short() {
		tb.Skip("integration test skipped with -short")
	}
	raw, explicit := os.LookupEnv("TEST_AMQP_URL")
	if !explicit || raw == "" {
		raw = DefaultAMQPURL
	}
	u, err := url.Parse(raw)
	if err != nil {
		tb.Fatalf("TEST_AMQP_URL is not a URL: %v", err)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "5672")
	}
	conn, err := net.DialTimeout("tcp", host, 3*time.Second)
	if err != nil {
		if explicit || os.Getenv("CI") != "" {
			tb.Fatalf("RabbitMQ at %s is unreachable (run scripts/ensure-rabbitmq.sh): %v", host, err)
		}
		tb.Skipf("RabbitMQ at %s is unreachable, integration test skipped (set CI=true to fail instead): %v", host, err)
	}
	_ = conn.Close()
	return raw
}
