#!/usr/bin/env bash
# render-report.sh — render a `lunar bench connect --html` report to a PNG
# with headless Chromium, as a check that the page draws.
#
# Usage: scripts/render-report.sh REPORT.html [OUT.png]
#
# Installs Debian's `chromium` when it is missing (needs root), renders the
# page at 1400x2000 and checks that the PNG exists and is not trivially
# small (an empty or failed render is a few KiB of white).
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 || "$1" == -h || "$1" == --help ]]; then
	sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
fi
html=$1
out=${2:-${html%.html}.png}
min_bytes=${MIN_PNG_BYTES:-20000}

if [[ ! -f "$html" ]]; then
	echo "render-report: no such file: $html" >&2
	exit 1
fi

browser=$(command -v chromium || command -v chromium-browser || true)
if [[ -z "$browser" ]]; then
	echo "render-report: installing chromium" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	apt-get install -y -qq chromium >/dev/null
	browser=$(command -v chromium)
fi

abs=$(cd "$(dirname "$html")" && pwd)/$(basename "$html")
profile=$(mktemp -d)
shot=$(mktemp -d)
trap 'rm -rf "$profile" "$shot"' EXIT

# Chromium writes the screenshot into its working directory.
(
	cd "$shot"
	timeout 120 "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--user-data-dir="$profile" --screenshot=out.png --window-size=1400,2000 \
		"file://$abs" >/dev/null 2>&1
) || {
	echo "render-report: chromium failed on $html" >&2
	exit 1
}
if [[ ! -f "$shot/out.png" ]]; then
	echo "render-report: chromium wrote no screenshot" >&2
	exit 1
fi
mv "$shot/out.png" "$out"
size=$(stat -c %s "$out")
if ((size < min_bytes)); then
	echo "render-report: $out is only $size bytes: the page did not draw" >&2
	exit 1
fi
echo "render-report: wrote $out ($size bytes)"
