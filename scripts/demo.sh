#!/usr/bin/env bash
# make demo: see the connectors work on a fresh machine with only Go installed,
# without OpenCTI or a PassiveTotal account. It builds riskiqctl, starts its
# PassiveTotal simulator on a free loopback port, runs a passive DNS lookup of
# a sample domain and an import of the sample articles into ./out (one STIX 2.1
# bundle per file), prints what was written, and stops the simulator.
#
# Environment: GO (go command, default go), OUT (output directory, default
# out), DEMO_DOMAIN (domain to look up, default passivetotal.org).
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
OUT=${OUT:-out}
DOMAIN=${DEMO_DOMAIN:-passivetotal.org}
SINCE=2015-01-01 # before every sample article

# The demo talks to the simulator only: forget any connector settings of the
# caller's shell (a real OPENCTI_URL would make the import resolve tags there).
while IFS= read -r name; do
	unset "$name"
done < <(compgen -e | grep -E '^(RISKIQ|OPENCTI|CONNECTOR|MQ)_' || true)

tmp=$(mktemp -d)
sim_pid=
stop_simulator() {
	if [[ -n $sim_pid ]]; then
		kill "$sim_pid" 2>/dev/null || true
		wait "$sim_pid" 2>/dev/null || true
		sim_pid=
	fi
}
trap 'stop_simulator; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

echo "==> Building riskiqctl"
CGO_ENABLED=0 "$GO" build -trimpath -o "$tmp/riskiqctl" ./cmd/riskiqctl
ctl="$tmp/riskiqctl"

rm -rf "$OUT/lookup" "$OUT/import"
mkdir -p "$OUT"

echo "==> Starting the PassiveTotal simulator (log: $OUT/simulator.log)"
"$ctl" simulate --listen 127.0.0.1:0 >"$tmp/url" 2>"$OUT/simulator.log" &
sim_pid=$!
for _ in $(seq 100); do
	[[ -s $tmp/url ]] && break
	if ! kill -0 "$sim_pid" 2>/dev/null; then
		echo "the simulator did not start:" >&2
		cat "$OUT/simulator.log" >&2
		exit 1
	fi
	sleep 0.1
done
url=$(head -n 1 "$tmp/url")
if [[ -z $url ]]; then
	echo "the simulator printed no address within 10 seconds" >&2
	exit 1
fi
echo "    listening on $url"

# The simulator accepts any non-empty credentials. Each command reads its
# connector's settings: the enrichment connector's RISKIQ_USERNAME,
# RISKIQ_API_KEY and base URL without /v2, the import connector's RISKIQ_USER,
# RISKIQ_PASSWORD and base URL with /v2. An empty config.yml keeps a
# ./config.yml with real settings out of the demo.
: >"$tmp/config.yml"

echo "==> riskiqctl lookup $DOMAIN"
RISKIQ_BASE_URL=$url RISKIQ_USERNAME=demo@example.com RISKIQ_API_KEY=demo-api-key \
	"$ctl" lookup --config "$tmp/config.yml" --out "$OUT/lookup" "$DOMAIN"

echo "==> riskiqctl import --since $SINCE"
RISKIQ_BASE_URL=$url/v2 RISKIQ_USER=demo@example.com RISKIQ_PASSWORD=demo-api-key \
	"$ctl" import --config "$tmp/config.yml" --since "$SINCE" --out "$OUT/import"

echo "==> Stopping the simulator"
stop_simulator

echo
echo "Done: STIX 2.1 bundles in $OUT/lookup/ and $OUT/import/, the simulator's requests in $OUT/simulator.log."
echo "Next: '$GO run ./cmd/riskiqctl --help', or run a connector against OpenCTI (see its README)."
