#!/usr/bin/env bash
# Kernel differential tests: the simulator against real network namespaces (sim-net feature
# `emulate`, tests/kernel_difftest.rs). Installs what it needs with apt-get when missing and
# running as root; then runs the hand-written cases, the regression fixtures and the
# generated cases.
#
# Runs as root, or rootless: as another user it re-runs the tests inside `unshare -rnm`
# (a user, network and mount namespace, with a private /run for `ip netns` and a writable
# XTABLES_LOCKFILE for iptables-legacy). Where neither works, the tests print why and pass
# without checking.
#
# Knobs: KNS_DIFFTEST_CASES (generated cases, default 96), KNS_DIFFTEST_SEED,
# KNS_DIFFTEST_JOBS (cases at once, default 4), KNS_DIFFTEST_ONLY=N (one generated case),
# KNS_IPTABLES=nft|legacy.
set -euo pipefail
cd "$(dirname "$0")/.."

start=$(date +%s)

# Namespaces this run creates are named kns-<pid>-...; if it is interrupted, remove those
# whose process is gone (the tests do the same at start, and on SIGINT/SIGTERM themselves).
cleanup() {
  [ "$(id -u)" = 0 ] || return 0
  for ns in $(ls /run/netns 2>/dev/null | grep '^kns-[0-9]*-' || true); do
    pid=${ns#kns-}; pid=${pid%%-*}
    if [ ! -d "/proc/$pid" ]; then
      for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
      ip netns del "$ns" 2>/dev/null || true
    fi
  done
}
trap cleanup EXIT INT TERM

if [ "$(id -u)" = 0 ]; then
  need=()
  command -v ip >/dev/null 2>&1 && command -v bridge >/dev/null 2>&1 || need+=(iproute2)
  command -v iptables-restore >/dev/null 2>&1 || need+=(iptables)
  command -v ipset >/dev/null 2>&1 || need+=(ipset)
  command -v conntrack >/dev/null 2>&1 || need+=(conntrack)
  command -v ping >/dev/null 2>&1 || need+=(iputils-ping)
  command -v dumpcap >/dev/null 2>&1 || need+=(tshark)
  command -v sysctl >/dev/null 2>&1 || need+=(procps)
  if [ ${#need[@]} -gt 0 ]; then
    echo "== installing ${need[*]}"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null) \
      || echo "warning: could not install ${need[*]}; the cases that need them are skipped"
  fi
  # br_netfilter's sysctls (bridge-nf-call-iptables) must exist; load the module if it is one.
  if [ ! -e /proc/sys/net/bridge/bridge-nf-call-iptables ]; then
    modprobe br_netfilter 2>/dev/null || echo "note: br_netfilter is not available; the tests will say so and skip"
  fi
  echo "note: this kernel has no IPVS, dummy devices or netem; cases with them are not emulated"
fi

echo "== building the differential tests"
cargo test -p sim-net --features emulate --test kernel_difftest --no-run --quiet 2>&1 | grep -v '^ *Executable' || true

run_tests() {
  cargo test -p sim-net --features emulate --test kernel_difftest -- --test-threads 2 --nocapture "$@"
}

echo "== kernel differential tests (iptables: ${KNS_IPTABLES:-nft if available})"
log=$(mktemp)
status=0
# What to show while it runs: one line per case and the verdicts (the full log on failure).
show='^(case |fixture |generated cases|SKIP|test |test result)|diverge|panicked|second try'
set +e
if [ "$(id -u)" = 0 ]; then
  run_tests 2>&1 | tee "$log" | grep -E "$show"
  status=${PIPESTATUS[0]}
elif unshare -rnm true 2>/dev/null; then
  echo "note: not root; running inside unshare -rnm (rootless)"
  export KNS_ROOTLESS_CMD="cargo test -p sim-net --features emulate --test kernel_difftest -- --test-threads 2 --nocapture"
  unshare -rnm sh -c '
    mount -t tmpfs tmpfs /run && mkdir -p /run/netns &&
    export XTABLES_LOCKFILE=/run/xtables.lock &&
    exec $KNS_ROOTLESS_CMD' 2>&1 | tee "$log" | grep -E "$show"
  status=${PIPESTATUS[0]}
else
  echo "SKIP kernel differential tests: not root and user namespaces are not available"
  status=0
fi
set -e
if [ "$status" -ne 0 ]; then
  echo "== kernel differential tests FAILED; the full output:"
  cat "$log"
fi
rm -f "$log"
echo "== kernel differential tests took $(( $(date +%s) - start )) s"
exit "$status"
