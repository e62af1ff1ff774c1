#!/usr/bin/env bash
# `kube-netsim dns serve` against dnsmasq on the same machine, both under dnsperf with the
# same query file: SERVICES ClusterIP Services (default 1000) given to kube-netsim as
# manifests and to dnsmasq as a hosts file of the same names and addresses, and one A query
# per name. Prints each server's queries per second, the response codes and the ratio.
# Not run in CI (the figures depend on the machine).
#
# Usage: scripts/dns-bench.sh [KUBE-NETSIM]   (default: cargo build --release, target/release)
#   SERVICES=1000 DURATION=10 (seconds per run) scripts/dns-bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "dns-bench: $*" >&2; exit 1; }

need() {
  command -v "$1" >/dev/null 2>&1 && return
  [ "$(id -u)" = 0 ] || fail "$1 is missing: apt-get install $2"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null) \
    || fail "could not install $2"
}
need dnsperf dnsperf
need dnsmasq dnsmasq-base

bin=${1:-}
if [ -z "$bin" ]; then
  cargo build --release --quiet -p scenarios --bin kube-netsim
  bin=target/release/kube-netsim
fi
n=${SERVICES:-1000}
secs=${DURATION:-10}
[ "$n" -ge 1 ] && [ "$n" -le 60000 ] || fail "SERVICES must be 1..60000"

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# The same names and addresses three ways: Services, hosts file, dnsperf queries.
for i in $(seq 1 "$n"); do
  name="svc-$i"
  ip="10.100.$((i / 256)).$((i % 256))"
  printf -- '---\napiVersion: v1\nkind: Service\nmetadata: {name: %s, namespace: bench}\nspec:\n  clusterIP: %s\n  ports: [{name: http, port: 80}]\n' \
    "$name" "$ip" >>"$work/services.yaml"
  printf '%s %s.bench.svc.cluster.local\n' "$ip" "$name" >>"$work/hosts"
  printf '%s.bench.svc.cluster.local A\n' "$name" >>"$work/queries"
done

"$bin" dns serve -f "$work/services.yaml" --listen 127.0.0.1:0 2>"$work/kube-netsim.log" &
pids+=($!)
knport=
for _ in $(seq 1 1200); do
  knport=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$work/kube-netsim.log")
  [ -n "$knport" ] && break
  kill -0 "${pids[0]}" 2>/dev/null || fail "dns serve exited: $(cat "$work/kube-netsim.log")"
  sleep 0.1
done
[ -n "$knport" ] || fail "dns serve did not start within 120 s"

dmport=
for _ in 1 2 3 4 5; do
  try=$((20000 + RANDOM % 20000))
  dnsmasq --no-daemon --port "$try" --listen-address 127.0.0.1 --bind-interfaces \
    --no-resolv --no-hosts --addn-hosts "$work/hosts" --user=root 2>"$work/dnsmasq.log" &
  p=$!
  sleep 0.5
  if kill -0 "$p" 2>/dev/null; then pids+=("$p"); dmport=$try; break; fi
done
[ -n "$dmport" ] || fail "dnsmasq did not start: $(cat "$work/dnsmasq.log")"

# Both answer the first name the same before anything is measured.
first=$(head -1 "$work/hosts" | cut -d' ' -f1)
for port in "$knport" "$dmport"; do
  got=$(dig @127.0.0.1 -p "$port" +short +time=2 +tries=1 "svc-1.bench.svc.cluster.local" 2>/dev/null || true)
  [ "$got" = "$first" ] || fail "the server on port $port answers [$got] for svc-1, not $first"
done

# perf NAME PORT: dnsperf over the query file for DURATION seconds; prints qps.
perf() {
  dnsperf -s 127.0.0.1 -p "$2" -d "$work/queries" -l "$secs" >"$work/$1.perf" 2>&1 \
    || fail "dnsperf against $1 failed: $(cat "$work/$1.perf")"
  local qps codes
  qps=$(awk '/Queries per second:/ {print $4}' "$work/$1.perf")
  codes=$(sed -n 's/^ *Response codes: *//p' "$work/$1.perf")
  printf '%-22s %12s queries/s   (%s)\n' "$1" "$qps" "$codes" >&2
  echo "$qps"
}

echo "dns-bench: $n names, A queries, ${secs}s per server, dnsperf defaults (100 outstanding)" >&2
kn=$(perf "kube-netsim dns serve" "$knport")
dm=$(perf "dnsmasq" "$dmport")
awk -v a="$kn" -v b="$dm" 'BEGIN { printf "ratio kube-netsim/dnsmasq: %.3f\n", a / b }'
