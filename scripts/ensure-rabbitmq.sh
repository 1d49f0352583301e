#!/usr/bin/env bash
# Makes sure a RabbitMQ broker listens on 127.0.0.1:5672 for the integration tests.
# Installs it from Debian's packages when missing, starts it when stopped, and waits
# until it accepts connections. Does nothing when TEST_AMQP_URL points elsewhere.
set -euo pipefail

if [ -n "${TEST_AMQP_URL:-}" ] && [[ "$TEST_AMQP_URL" != *"127.0.0.1:5672"* && "$TEST_AMQP_URL" != *"localhost:5672"* ]]; then
  exit 0
fi

up() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }

if up && rabbitmqctl -q status >/dev/null 2>&1; then
  exit 0
fi

if ! command -v rabbitmq-server >/dev/null 2>&1; then
  echo "ensure-rabbitmq: installing rabbitmq-server" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq rabbitmq-server >/dev/null
fi

if ! up; then
  echo "ensure-rabbitmq: starting rabbitmq-server" >&2
  rabbitmq-server -detached >/dev/null 2>&1 || true
fi

for _ in $(seq 1 90); do
  if up && rabbitmqctl -q status >/dev/null 2>&1; then
    exit 0
  fi
  sleep 1
done
echo "ensure-rabbitmq: RabbitMQ did not come up on 127.0.0.1:5672" >&2
exit 1
