#!/usr/bin/env bash
# Takes a headless-Chromium screenshot of a Faultline HTML report, to check
# that it renders without network access.
#
#   scripts/screenshot.sh REPORT.html OUT.png [WIDTHxHEIGHT]
#
# Needs Debian's chromium (apt-get install chromium); CHROMIUM overrides the
# binary. Runs with a throwaway profile, no network services and no GPU.
# Exit codes: 0 screenshot written, 1 failure, 2 usage.
set -euo pipefail

usage() { echo "usage: $0 REPORT.html OUT.png [WIDTHxHEIGHT]" >&2; exit 2; }
[ $# -ge 2 ] && [ $# -le 3 ] || usage
html=$1
png=$2
size=${3:-1400x2000}
[[ $size =~ ^[0-9]+x[0-9]+$ ]] || usage
[ -f "$html" ] || { echo "$0: $html: no such file" >&2; exit 1; }

chromium=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
[ -n "$chromium" ] && [ -x "$chromium" ] || { echo "$0: chromium not found (apt-get install chromium, or set CHROMIUM)" >&2; exit 1; }

abs_html=$(cd "$(dirname "$html")" && pwd)/$(basename "$html")
mkdir -p "$(dirname "$png")"
abs_png=$(cd "$(dirname "$png")" && pwd)/$(basename "$png")
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
rm -f "$abs_png"

flags=(--headless --disable-gpu --disable-quic --no-first-run --disable-background-networking
  --disable-component-update --disable-sync --hide-scrollbars --user-data-dir="$profile"
  --screenshot="$abs_png" --window-size="${size/x/,}")
# Chromium refuses to run as root with its sandbox.
if [ "$(id -u)" = 0 ]; then flags+=(--no-sandbox); fi

log=$profile/chromium.log
if ! timeout 120 "$chromium" "${flags[@]}" "file://$abs_html" >"$log" 2>&1; then
  cat "$log" >&2
  echo "$0: chromium failed" >&2
  exit 1
fi
[ -s "$abs_png" ] || { cat "$log" >&2; echo "$0: no screenshot written" >&2; exit 1; }
echo "$abs_png"
