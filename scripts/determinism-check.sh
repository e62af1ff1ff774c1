#!/usr/bin/env bash
# Runs the main job twice with the same seed and fails if any output byte differs; then checks
# that another seed does change the run (a check that could never fail would prove nothing).
set -euo pipefail
bin=${1:-target/release/kube-netsim}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for i in 1 2; do
  "$bin" demo --seed 42 --trace-out "$work/trace$i.jsonl" > "$work/out$i.txt"
done
if ! cmp -s "$work/out1.txt" "$work/out2.txt" || ! cmp -s "$work/trace1.jsonl" "$work/trace2.jsonl"; then
  echo "determinism check FAILED: two runs of '$bin demo --seed 42' differ" >&2
  diff "$work/trace1.jsonl" "$work/trace2.jsonl" | head -5 >&2 || true
  exit 1
fi
"$bin" demo --seed 43 > "$work/other.txt"
if cmp -s "$work/out1.txt" "$work/other.txt"; then
  echo "determinism check FAILED: seeds 42 and 43 gave the same run; the seed is not used" >&2
  exit 1
fi
# The other commands: a cluster built from manifests, and a trace through a kube-proxy dump.
manifests=sim-k8s/tests/fixtures/kubenet/web.yaml
dump=sim-net/tests/fixtures/iptables/kube-proxy.save
for i in 1 2; do
  "$bin" get endpointslices -o json -f "$manifests" > "$work/slices$i.json"
  "$bin" get pods -f "$manifests" > "$work/pods$i.txt"
  "$bin" trace --iptables-save "$dump" --local-ip 192.168.49.2 --src 10.244.1.9 \
    --dst 10.96.0.10 --dport 53 --proto udp --json > "$work/trace$i.json"
done
# Every example scenario, twice, as JSON, with every export (same bytes in every file).
for ex in scenarios/examples/*.yaml; do
  base=$(basename "$ex" .yaml)
  for i in 1 2; do
    "$bin" run --json "$ex" --out "$work/exports$i" \
      --export pcapng --export dot --export mermaid --export jsonl --export flows --export html \
      > "$work/$base$i.json" 2> /dev/null
  done
  if ! cmp -s "$work/${base}1.json" "$work/${base}2.json"; then
    echo "determinism check FAILED: two runs of $ex differ" >&2
    diff "$work/${base}1.json" "$work/${base}2.json" | head -5 >&2 || true
    exit 1
  fi
done
if ! diff -r "$work/exports1" "$work/exports2" > /dev/null; then
  echo "determinism check FAILED: the exports of two runs differ:" >&2
  diff -rq "$work/exports1" "$work/exports2" | head -5 >&2 || true
  exit 1
fi
for f in slices.json pods.txt trace.json; do
  if ! cmp -s "$work/${f%.*}1.${f##*.}" "$work/${f%.*}2.${f##*.}"; then
    echo "determinism check FAILED: two runs producing $f differ" >&2
    exit 1
  fi
done
echo "determinism: ok ($(wc -l < "$work/trace1.jsonl") trace records, identical across runs; get, trace and every example scenario and its exports identical too)"
