#!/usr/bin/env bash
# fuzz.sh runs the project's fuzz targets one after another, each for the
# same time. New crashers land in the package's testdata/fuzz/ and stay as
# regression tests.
#
# Usage: scripts/fuzz.sh [DURATION] [REGEXP]
#   DURATION  go test -fuzztime value per target (default 60s)
#   REGEXP    only targets whose name matches (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-60s}
filter=${2:-.}
status=0
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | grep -E "$filter" || true); do
		echo "=== $pkg $target ($duration)"
		if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$duration" "$pkg" 2>&1 | tail -3; then
			status=1
		fi
	done
done
exit $status
