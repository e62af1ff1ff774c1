#!/usr/bin/env bash
# Renders a kube-netsim HTML report in headless Chromium and checks it: a non-empty
# screenshot, the page's sections in the DOM (steps, verdict, topology, one <details> per
# flow), and no console message (a script error shows up as "Uncaught ..." there).
#
# Usage: scripts/html-render-check.sh [REPORT.html] [SCREENSHOT.png]
#   Without REPORT, runs scenarios/tests/fixtures/exports.yaml with the kube-netsim binary
#   ($KUBE_NETSIM, else target/debug/kube-netsim, built if missing) and checks its report.
#   The screenshot defaults to $TMPDIR/kns-report.png and is kept, to look at.
# Installs Debian's chromium with apt-get when it is missing and we are root.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

report=${1:-}
png=${2:-${TMPDIR:-/tmp}/kns-report.png}
if [[ -z "$report" ]]; then
  bin=${KUBE_NETSIM:-target/debug/kube-netsim}
  [[ -x "$bin" ]] || cargo build -q -p scenarios --bin kube-netsim
  "$bin" run scenarios/tests/fixtures/exports.yaml --export html --out "$work" > "$work/run.txt"
  report="$work/exports/report.html"
fi
[[ -s "$report" ]] || { echo "html-render-check: no report at $report" >&2; exit 1; }

browser=""
for b in chromium chromium-browser google-chrome; do
  if command -v "$b" > /dev/null; then browser=$b; break; fi
done
if [[ -z "$browser" ]]; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get > /dev/null; then
    apt-get update -qq && apt-get install -y -qq chromium > /dev/null
    browser=chromium
  else
    echo "html-render-check: no chromium on PATH (install Debian's chromium package)" >&2
    exit 1
  fi
fi

url="file://$(realpath "$report")"
flags=(--headless --no-sandbox --disable-gpu --hide-scrollbars --enable-logging=stderr --v=0)
timeout 120 "$browser" "${flags[@]}" --screenshot="$png" --window-size=1200,1600 "$url" \
  2> "$work/shot.err" > /dev/null
timeout 120 "$browser" "${flags[@]}" --dump-dom "$url" 2> "$work/dom.err" > "$work/dom.html"

fail=0
size=$(stat -c %s "$png" 2> /dev/null || echo 0)
if (( size < 10000 )); then
  echo "html-render-check: screenshot $png is ${size} bytes" >&2; fail=1
fi
for want in 'id="steps"' 'id="verdict"' 'id="topology"' '<details class="flow"' '</html>'; do
  if ! grep -qF "$want" "$work/dom.html"; then
    echo "html-render-check: the rendered DOM has no $want" >&2; fail=1
  fi
done
# Flows in the DOM: as many as the report's <details>.
want_flows=$(grep -o '<details class="flow"' "$report" | wc -l)
got_flows=$(grep -o '<details class="flow"' "$work/dom.html" | wc -l)
if [[ "$want_flows" != "$got_flows" ]]; then
  echo "html-render-check: $got_flows flows rendered, the report has $want_flows" >&2; fail=1
fi
if grep -h 'CONSOLE' "$work/shot.err" "$work/dom.err" > "$work/console.txt"; then
  echo "html-render-check: console messages:" >&2; cat "$work/console.txt" >&2; fail=1
fi
if (( fail )); then exit 1; fi
echo "html-render-check: ok ($report: $got_flows flows; screenshot $png, $size bytes)"
