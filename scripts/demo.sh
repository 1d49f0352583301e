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
done < <(compgen -e | grep -E '^(RISKIQ|OPENCTI|CONNECTOR|MQ|DEFENDER_TI)_' || true)

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

# The same two jobs from Microsoft Defender Threat Intelligence (Microsoft
# Graph), the live successor of PassiveTotal: the simulator serves Graph and
# an Entra ID token endpoint over HTTPS with a self-signed certificate that
# the client trusts through SSL_CERT_FILE, and accepts any tenant, client id
# and non-empty secret.
rm -rf "$OUT/defender"
echo "==> Starting the Microsoft Defender TI simulator (log: $OUT/simulator-defender.log)"
: >"$tmp/urls"
"$ctl" simulate --source defender --listen 127.0.0.1:0 --ca-file "$tmp/ca.pem" >"$tmp/urls" 2>"$OUT/simulator-defender.log" &
sim_pid=$!
for _ in $(seq 100); do
	[[ $(wc -l <"$tmp/urls") -ge 2 ]] && break
	if ! kill -0 "$sim_pid" 2>/dev/null; then
		echo "the Defender TI simulator did not start:" >&2
		cat "$OUT/simulator-defender.log" >&2
		exit 1
	fi
	sleep 0.1
done
graph=$(sed -n 1p "$tmp/urls")
authority=$(sed -n 2p "$tmp/urls")
if [[ -z $graph || -z $authority ]]; then
	echo "the Defender TI simulator printed no address within 10 seconds" >&2
	exit 1
fi
echo "    Graph on $graph, token endpoint on $authority"
defender_env=(SSL_CERT_FILE="$tmp/ca.pem" RISKIQ_SOURCE=defender DEFENDER_TI_BASE_URL="$graph"
	DEFENDER_TI_AUTHORITY_URL="$authority" DEFENDER_TI_TENANT_ID=contoso.example
	DEFENDER_TI_CLIENT_ID=00001111-aaaa-2222-bbbb-3333cccc4444 DEFENDER_TI_CLIENT_SECRET=demo-client-secret)

echo "==> riskiqctl lookup --source defender malicious.example 192.0.2.10"
env "${defender_env[@]}" "$ctl" lookup --config "$tmp/config.yml" --out "$OUT/defender/lookup" malicious.example 192.0.2.10

echo "==> riskiqctl import --source defender"
env "${defender_env[@]}" "$ctl" import --config "$tmp/config.yml" --out "$OUT/defender/import"

echo "==> Stopping the Defender TI simulator"
stop_simulator

echo
echo "Done: STIX 2.1 bundles in $OUT/lookup/ and $OUT/import/ (PassiveTotal), $OUT/defender/lookup/ and"
echo "$OUT/defender/import/ (Microsoft Defender TI); the simulators' requests in $OUT/simulator*.log."
echo "Next: '$GO run ./cmd/riskiqctl --help', or run a connector against OpenCTI (see its README)."
