#!/usr/bin/env bash
# `kube-netsim dns serve` checked with dig (Debian's bind9-dnsutils): the server runs on a free
# loopback port with the dns-records example's manifests, and dig asks it for A, SRV, PTR,
# CNAME, the dns-version TXT, NXDOMAIN vs NODATA, over TCP, with a 512-byte UDP buffer for
# the 40-record headless Service (TC set, then dig's own retry over TCP), after garbage
# packets. Each reply must also be exactly what `kube-netsim dns` prints for the same query.
#
# Usage: scripts/dns-dig-test.sh [KUBE-NETSIM]   (default: cargo build, target/debug)
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "dns-dig-test: FAIL: $*" >&2; exit 1; }

if ! command -v dig >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bind9-dnsutils >/dev/null) \
      || fail "could not install bind9-dnsutils (dig)"
  else
    fail "dig is missing: apt-get install bind9-dnsutils"
  fi
fi

bin=${1:-}
if [ -z "$bin" ]; then
  cargo build --quiet -p scenarios --bin kube-netsim
  bin=target/debug/kube-netsim
fi
manifests=scenarios/examples/dns-records/manifests.yaml

log=$(mktemp)
"$bin" dns serve -f "$manifests" --listen 127.0.0.1:0 2>"$log" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -f "$log"' EXIT

# The first stderr line names the port: "listening on 127.0.0.1:PORT (udp, tcp); ...".
port=
for _ in $(seq 1 600); do
  port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$log")
  [ -n "$port" ] && break
  kill -0 "$pid" 2>/dev/null || fail "dns serve exited: $(cat "$log")"
  sleep 0.1
done
[ -n "$port" ] || fail "dns serve did not start listening within 60 s: $(cat "$log")"
echo "dns-dig-test: dns serve on 127.0.0.1:$port"

ask() { dig @127.0.0.1 -p "$port" +time=2 +tries=1 "$@"; }

# expect DESCRIPTION ACTUAL WANTED
expect() {
  [ "$2" = "$3" ] || fail "$1: got [$2], expected [$3]"
  echo "ok: $1"
}

# dig's message text (header to last section, MSG SIZE) with the random id blanked, next to
# `kube-netsim dns`'s for the same question: they must be the same text.
# same_as_cli WHAT "DIG ARGS" "KUBE-NETSIM DNS ARGS"
same_as_cli() {
  local what=$1 from_dig from_cli
  local -a dig_args cli_args
  read -r -a dig_args <<<"$2"
  read -r -a cli_args <<<"$3"
  from_dig=$(ask "${dig_args[@]}" | awk '/^;; ->>HEADER<<-/ {on = 1} /^;; Query time:/ {on = 0} /^;; MSG SIZE/ {print; next} on' \
    | sed 's/, id: [0-9]*$/, id: N/')
  from_cli=$("$bin" dns -f "$manifests" "${cli_args[@]}" | sed 's/, id: [0-9]*$/, id: N/')
  grep -q '^;; ->>HEADER<<-' <<<"$from_dig" || fail "$what: no reply from dig: $from_dig"
  [ "$from_dig" = "$from_cli" ] || fail "$what: dig and kube-netsim dns differ:
--- dig
$from_dig
--- kube-netsim dns
$from_cli"
  echo "ok: $what: dig's text is kube-netsim dns's"
}

expect "A of a ClusterIP Service" "$(ask +short web.shop.svc.cluster.local)" "10.96.0.80"
expect "the apiserver's kubernetes Service (the add-on's, at the first address)" "$(ask +short kubernetes.default.svc.cluster.local)" "10.96.0.1"
expect "the kube-dns Service" "$(ask +short kube-dns.kube-system.svc.cluster.local)" "10.96.0.10"
expect "SRV of a named port" "$(ask +short _http._tcp.web.shop.svc.cluster.local SRV)" \
  "0 100 80 web.shop.svc.cluster.local."
expect "SRV of a named UDP port" "$(ask +short _echo._udp.web.shop.svc.cluster.local SRV)" \
  "0 100 81 web.shop.svc.cluster.local."
expect "PTR of a ClusterIP" "$(ask +short -x 10.96.0.80)" "web.shop.svc.cluster.local."
db0=$(ask +short db-0.db.shop.svc.cluster.local)
[ -n "$db0" ] || fail "no A record for db-0.db.shop.svc.cluster.local"
expect "PTR of a headless endpoint with a hostname" "$(ask +short -x "$db0")" "db-0.db.shop.svc.cluster.local."
expect "A of a headless Service: two endpoints" "$(ask +short db.shop.svc.cluster.local | wc -l)" "2"
expect "A of a headless Service: one per endpoint" \
  "$(ask +short db.shop.svc.cluster.local | sort | tr '\n' ' ')" \
  "$( (ask +short db-0.db.shop.svc.cluster.local; ask +short db-1.db.shop.svc.cluster.local) | sort | tr '\n' ' ')"
expect "SRV of a headless Service: one per endpoint, by hostname" \
  "$(ask +short _pg._tcp.db.shop.svc.cluster.local SRV | awk '{print $3, $4}' | sort | tr '\n' ' ')" \
  "5432 db-0.db.shop.svc.cluster.local. 5432 db-1.db.shop.svc.cluster.local. "
expect "CNAME of an ExternalName Service" "$(ask +short billing.shop.svc.cluster.local CNAME)" "billing.corp.example."
expect "TXT dns-version" "$(ask +short dns-version.cluster.local TXT)" '"1.1.0"'

nx=$(ask nope.shop.svc.cluster.local)
expect "NXDOMAIN for a Service that does not exist" "$(grep -o 'status: [A-Z]*' <<<"$nx")" "status: NXDOMAIN"
grep -qP 'IN\tSOA\tns\.dns\.cluster\.local\. hostmaster\.cluster\.local\. ' <<<"$nx" || fail "NXDOMAIN without the SOA: $nx"
nodata=$(ask web.shop.svc.cluster.local AAAA)
expect "NODATA (NOERROR, no answer) for AAAA of an IPv4 Service" \
  "$(grep -o 'status: [A-Z]*, .*\|ANSWER: [0-9]*' <<<"$nodata" | sed 's/, id.*//' | tr '\n' ' ')" \
  "status: NOERROR ANSWER: 0 "
grep -qP 'IN\tSOA\t' <<<"$nodata" || fail "NODATA without the SOA: $nodata"

expect "A over TCP" "$(ask +tcp +short web.shop.svc.cluster.local)" "10.96.0.80"
grep -q '(TCP)' <<<"$(ask +tcp web.shop.svc.cluster.local)" || fail "dig +tcp did not use TCP"

cut=$(ask +bufsize=512 +notcp +ignore fleet.shop.svc.cluster.local)
grep -q '^;; flags: qr aa tc rd;' <<<"$cut" || fail "40 A records in a 512-byte UDP reply without TC: $cut"
retried=$(ask +bufsize=512 +notcp fleet.shop.svc.cluster.local)
grep -q '^;; Truncated, retrying in TCP mode.' <<<"$retried" || fail "dig did not retry over TCP: $retried"
expect "the TCP retry carries all 40 records" "$(grep -o 'ANSWER: [0-9]*' <<<"$retried")" "ANSWER: 40"

# Garbage: too short for a header, a header with junk, a response, a TCP message cut short.
printf '\001\002\003' >/dev/udp/127.0.0.1/"$port"
printf '\022\064\001\000\000\001\000\000\000\000\000\000\377\377\377\377' >/dev/udp/127.0.0.1/"$port"
printf '\000\001\200\000\000\000\000\000\000\000\000\000' >/dev/udp/127.0.0.1/"$port"
printf '\000\100\001' >/dev/tcp/127.0.0.1/"$port" || true
sleep 0.2
kill -0 "$pid" 2>/dev/null || fail "the server died on garbage: $(cat "$log")"
expect "still answering after garbage" "$(ask +short web.shop.svc.cluster.local)" "10.96.0.80"
grep -q "dropped a 3-byte message" "$log" || fail "the short packet was not reported as dropped: $(cat "$log")"

same_as_cli "A" "web.shop.svc.cluster.local" "web.shop.svc.cluster.local"
same_as_cli "SRV" "_pg._tcp.db.shop.svc.cluster.local SRV" "_pg._tcp.db.shop.svc.cluster.local SRV"
same_as_cli "SRV of a ClusterIP" "_http._tcp.web.shop.svc.cluster.local SRV" "_http._tcp.web.shop.svc.cluster.local SRV"
same_as_cli "CNAME" "billing.shop.svc.cluster.local CNAME" "billing.shop.svc.cluster.local CNAME"
same_as_cli "NXDOMAIN" "nope.shop.svc.cluster.local" "nope.shop.svc.cluster.local"
same_as_cli "TXT" "dns-version.cluster.local TXT" "dns-version.cluster.local TXT"
same_as_cli "PTR" "-x 10.96.0.80" "-x 10.96.0.80"
same_as_cli "headless over TCP" "+tcp db.shop.svc.cluster.local" "--tcp db.shop.svc.cluster.local"
same_as_cli "no EDNS" "+noedns kubernetes.default.svc.cluster.local" "--noedns kubernetes.default.svc.cluster.local"

echo "dns-dig-test: all checks passed"
