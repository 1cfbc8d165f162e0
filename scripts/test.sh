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
apt_packages=(tgt libiscsi-bin tshark jq iproute2)
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
go vet -tags interop ./...
go vet -tags process ./...

step "staticcheck"
staticcheck ./...
staticcheck -tags interop ./...
staticcheck -tags process ./...

step "go test -race"
go test -race -count=1 ./...

step "lunar version"
go run ./cmd/lunar version

step "interop: libiscsi against tgtd, decoded by lunar's codecs"
# Record a fresh capture between the two peers and run the golden tests on
# it, so the codecs are checked against today's tgtd and libiscsi, not only
# against the stored capture.
capture_dir=$(mktemp -d)
trap 'rm -rf "$capture_dir"' EXIT
bash scripts/capture-golden.sh "$capture_dir" >"$capture_dir.log" 2>&1 || { cat "$capture_dir.log"; exit 1; }
LUNAR_GOLDEN_DIR="$capture_dir" go test -count=1 -run 'Golden' -v ./iscsi/ | grep -E '^(=== RUN|--- |ok|FAIL|PASS)'

step "interop: lunar's target against libiscsi's tools, lunar's initiator against tgtd (go test -tags interop)"
go test -count=1 -tags interop -run Interop -v ./target/ ./initiator/ | grep -E '^(=== RUN|--- |ok|FAIL|PASS)'

step "cluster: lunar demo (etcd, a target and 4 node agents on loopback, 2 ms links)"
demo_log=$(mktemp)
go run ./cmd/lunar demo --nodes 4 --latency 2ms 2>"$demo_log" || { cat "$demo_log"; exit 1; }
rm -f "$demo_log"

step "cluster: failover across processes (kill -9 of the owner's node agent)"
go test -count=1 -tags process -run Process -v ./cluster/ | grep -E '^(=== RUN|--- |ok|FAIL|PASS)|failover'

step "cluster: a short lunar bench connect, its HTML report rendered by headless Chromium"
report_dir=$(mktemp -d)
go run ./cmd/lunar bench connect --nodes 1,4 --latency 0,5ms --repeat 1 --quiet \
	--json "$report_dir/connect.json" --html "$report_dir/connect.html"
bash scripts/render-report.sh "$report_dir/connect.html" "$report_dir/connect.png"
rm -rf "$report_dir"

step "cluster: target, etcd and three node agents in their own network namespaces"
bash scripts/netns-cluster.sh

step "conformance: libiscsi's iscsi-test-cu against lunar target serve"
bash scripts/conformance.sh

step "interop: the Linux kernel initiator (open-iscsi in a qemu VM) against lunar target serve"
bash scripts/vm/build.sh
bash scripts/vm/run-initiator-test.sh

step "interop: sg3-utils persistent reservations from two kernel initiators (fence_scsi sequence) against lunar target serve"
bash scripts/vm/run-reservation-test.sh

step "cluster: three Linux VMs (open-iscsi engine) create, disconnect, connect and delete a disk"
bash scripts/vm/run-cluster-test.sh
