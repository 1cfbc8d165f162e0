#!/usr/bin/env bash
# build-cluster.sh: prepare what scripts/vm/run-cluster-test.sh boots.
#
# Reuses build.sh's kernel and initramfs (running build.sh, which does
# nothing when they are up to date) and writes, into $LUNAR_VM_CACHE/cluster:
#
#   lunar                  ./cmd/lunar built static (CGO_ENABLED=0)
#   overlay.cpio.gz        a second initramfs archive: /sbin/lunar,
#                          /sbin/mkfs.ext4 (a link to mke2fs), util-linux's
#                          /sbin/blkid and its libraries, the cluster init
#                          scripts/vm/guest-cluster.sh as /init and the original
#                          scripts/vm/guest-init.sh as /guest-init.sh (which
#                          that /init runs without lunar.cluster=1)
#   initramfs.cpio.gz      build.sh's initramfs with the overlay appended (the
#                          kernel unpacks concatenated archives in order, later
#                          files replacing earlier ones)
#
# Usage: build-cluster.sh [LUNAR_BINARY]   (default: build ./cmd/lunar)
# Prints the cluster cache directory on its last line.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
log() { printf 'build-cluster.sh: %s\n' "$*" >&2; }

cache=$(bash "$here/build.sh" | tail -n 1)
out="$cache/cluster"
mkdir -p "$out"

if [[ -n ${1:-} ]]; then
	cp "$1" "$out/lunar.new"
else
	(cd "$repo" && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$out/lunar.new" ./cmd/lunar)
fi
if ! file "$out/lunar.new" 2>/dev/null | grep -q 'statically linked' && ldd "$out/lunar.new" >/dev/null 2>&1; then
	log "lunar is not static"
	exit 1
fi
mv "$out/lunar.new" "$out/lunar"

root=$(mktemp -d /tmp/lunar-vm-overlay.XXXXXX)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/sbin"
install -m 0755 "$out/lunar" "$root/sbin/lunar"
ln -s mke2fs "$root/sbin/mkfs.ext4"
# util-linux's blkid (busybox-static has no blkid applet), with its libraries.
mkdir -p "$root/lib/x86_64-linux-gnu"
cp /sbin/blkid "$root/sbin/blkid"
ldd /sbin/blkid | awk '/=> \// {print $3}' | while read -r lib; do cp -L "$lib" "$root/lib/x86_64-linux-gnu/"; done
install -m 0755 "$here/guest-cluster.sh" "$root/init"
install -m 0755 "$here/guest-init.sh" "$root/guest-init.sh"
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 | gzip -1) >"$out/overlay.cpio.gz"
cat "$cache/initramfs.cpio.gz" "$out/overlay.cpio.gz" >"$out/initramfs.cpio.gz.new"
mv "$out/initramfs.cpio.gz.new" "$out/initramfs.cpio.gz"
ln -sf ../vmlinux "$out/vmlinux"
log "built $out (lunar $(du -h "$out/lunar" | cut -f1), initramfs $(du -h "$out/initramfs.cpio.gz" | cut -f1))"
echo "$out"
