// Package testenv locates the services integration tests run against.
//
// Integration tests use the real RabbitMQ. Its URL comes from the environment
// variable TEST_AMQP_URL, default amqp://guest:guest@127.0.0.1:5672/. When the
// broker cannot be reached the test is skipped, unless the CI variable is set or
// TEST_AMQP_URL was given explicitly: then an unreachable broker is a failure.
//
// Redis (the connectors' optional shared state) is found the same way: the
// variable TEST_REDIS_URL, default redis://127.0.0.1:6379/0.
package testenv

import (
	"crypto/rand"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
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

// DefaultRedisURL is the Redis integration tests use when TEST_REDIS_URL is
// unset. Tests share it: each uses keys of its own (see [RedisRoot]) and none
// flushes a database.
const DefaultRedisURL = "redis://127.0.0.1:6379/0"

// RedisURL returns the URL of the Redis server for integration tests, from
// TEST_REDIS_URL or [DefaultRedisURL]. Like [AMQPURL] it skips under -short,
// and skips or fails when the server does not accept TCP connections.
func RedisURL(tb testing.TB) string {
	tb.Helper()
	if testing.Short() {
		tb.Skip("integration test skipped with -short")
	}
	raw, explicit := os.LookupEnv("TEST_REDIS_URL")
	if !explicit || raw == "" {
		raw = DefaultRedisURL
	}
	u, err := url.Parse(raw)
	if err != nil {
		tb.Fatalf("TEST_REDIS_URL is not a URL: %v", err)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "6379")
	}
	conn, err := net.DialTimeout("tcp", host, 3*time.Second)
	if err != nil {
		if explicit || os.Getenv("CI") != "" {
			tb.Fatalf("Redis at %s is unreachable (run scripts/ensure-redis.sh): %v", host, err)
		}
		tb.Skipf("Redis at %s is unreachable, integration test skipped (set CI=true to fail instead): %v", host, err)
	}
	_ = conn.Close()
	return raw
}

// RedisRoot returns a key root no other test uses: the test's name and a
// random suffix, so that parallel tests and repeated runs never share keys.
func RedisRoot(tb testing.TB) string {
	tb.Helper()
	return "test:" + strings.NewReplacer("/", "_", " ", "_", ":", "_").Replace(tb.Name()) + ":" + rand.Text()[:10]
}

// PrivateRedis is a redis-server of the test's own on a free loopback port,
// for tests that stop Redis (never the shared one).
type PrivateRedis struct {
	// URL is redis://127.0.0.1:<port>/0.
	URL string
	cmd *exec.Cmd
}

// StartRedis starts a private redis-server (no persistence) and stops it by
// PID when the test ends. It skips like [RedisURL] when redis-server is not
// installed, and waits until the server accepts connections.
func StartRedis(tb testing.TB) *PrivateRedis {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return startRedis(tb, port)
}

// StartRedisOn starts a private redis-server on the port of url (that of a
// stopped [PrivateRedis]), as a restarted server.
func StartRedisOn(tb testing.TB, url string) *PrivateRedis {
	tb.Helper()
	i := strings.LastIndex(url, ":")
	port, err := strconv.Atoi(strings.SplitN(url[i+1:], "/", 2)[0])
	if err != nil {
		tb.Fatalf("no port in %s", url)
	}
	return startRedis(tb, port)
}

func startRedis(tb testing.TB, port int) *PrivateRedis {
	tb.Helper()
	RedisURL(tb) // same skip rules
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("redis-server not installed (run scripts/ensure-redis.sh): %v", err)
		}
		tb.Skipf("redis-server not installed: %v", err)
	}
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--save", "", "--appendonly", "no", //nolint:gosec // G204: the test's own redis-server
		"--dir", tb.TempDir(), "--loglevel", "warning")
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start redis-server: %v", err)
	}
	p := &PrivateRedis{URL: fmt.Sprintf("redis://127.0.0.1:%d/0", port), cmd: cmd}
	tb.Cleanup(p.Stop)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for deadline := time.Now().Add(20 * time.Second); ; {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			return p
		}
		if time.Now().After(deadline) {
			tb.Fatalf("private redis-server on %s never accepted connections: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the server (by its PID) and waits for it to exit; later calls
// do nothing.
func (p *PrivateRedis) Stop() {
	if p.cmd.Process == nil || p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
}
