#!/usr/bin/env bash
# Makes sure a Redis server listens on 127.0.0.1:6379 for the integration tests (the connectors'
# optional shared state). Installs redis-server from Debian's packages when missing, starts it
# without persistence when stopped, and waits until it answers. Does nothing when TEST_REDIS_URL
# points elsewhere. Never flushes anything: tests use keys of their own.
set -euo pipefail

if [ -n "${TEST_REDIS_URL:-}" ] && [[ "$TEST_REDIS_URL" != *"127.0.0.1:6379"* && "$TEST_REDIS_URL" != *"localhost:6379"* ]]; then
  exit 0
fi

up() { (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; }
pong() {
  if command -v redis-cli >/dev/null 2>&1; then
    [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ]
  else
    up
  fi
}

if up && pong; then
  exit 0
fi

if ! command -v redis-server >/dev/null 2>&1; then
  echo "ensure-redis: installing redis-server" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq redis-server >/dev/null
fi

if ! up; then
  echo "ensure-redis: starting redis-server" >&2
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
fi

for _ in $(seq 1 30); do
  if up && pong; then
    exit 0
  fi
  sleep 1
done
echo "ensure-redis: Redis did not come up on 127.0.0.1:6379" >&2
exit 1
