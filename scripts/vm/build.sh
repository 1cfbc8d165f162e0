#!/usr/bin/env bash
# build.sh: prepare what scripts/vm/run-initiator-test.sh boots in qemu.
#
# Installs the Debian packages the VM test needs on this host (qemu, busybox,
# cpio, xz, e2fsprogs, curl), downloads Debian's kernel and open-iscsi as .deb
# files without installing them, and builds into the cache directory
# ($LUNAR_VM_CACHE, default /var/cache/lunar-vm):
#
#   vmlinux              the kernel, decompressed from the vmlinuz's xz payload
#                        (an ELF with a PVH note: qemu -kernel boots it directly)
#   vmlinuz              the same kernel as a bzImage (fallback)
#   initramfs.cpio.gz    busybox, open-iscsi (iscsid, iscsiadm), mke2fs, e2fsck,
#                        sg3-utils' sg_persist, sg_dd, sg_inq, sg_vpd,
#                        the kernel modules for iSCSI, SCSI disks, ext4 and
#                        virtio-net, scripts/vm/guest-init.sh as /init and
#                        scripts/vm/guest-pr.sh (the pr scenario) as /guest-pr.sh
#
# Idempotent: a second run reuses the downloads, the kernel and the initramfs
# unless an input (this script, guest-init.sh, a package version) changed.
# Prints the cache directory on its last line.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${LUNAR_VM_CACHE:-/var/cache/lunar-vm}
mkdir -p "$cache"

log() { printf 'build.sh: %s\n' "$*" >&2; }

# --- host packages -----------------------------------------------------------
need_pkgs=()
for p in qemu-system-x86 busybox-static cpio xz-utils e2fsprogs curl libkmod2 libmount1 libssl3 libsystemd0; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need_pkgs+=("$p")
done
if ((${#need_pkgs[@]})); then
	log "installing ${need_pkgs[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >&2
	apt_updated=1
fi

# --- downloaded packages (not installed) -----------------------------------
# The kernel is the versioned image package that linux-image-amd64 points at.
debs="$cache/debs"
mkdir -p "$debs"
apt_updated=${apt_updated:-}
resolve() { # sets kpkg and the candidate version of every guest package
	local deps
	deps=$(apt-cache depends linux-image-amd64 sg3-utils 2>/dev/null)
	kpkg=$(awk '/Depends: linux-image-[0-9]/ {print $2; exit}' <<<"$deps")
	# sg3-utils' tools link against libsgutils2-VERSION, a package of its own.
	sgpkg=$(awk '/Depends: libsgutils2-/ {print $2; exit}' <<<"$deps")
	guest_pkgs=("$kpkg" open-iscsi libisns0 libopeniscsiusr sg3-utils "$sgpkg")
	declare -gA cand=()
	[[ -n $kpkg && -n $sgpkg ]] || return 1
	local pkg ver
	# One apt-cache call for all: loading its cache is the slow part.
	while read -r pkg ver; do
		cand[$pkg]=$ver
	done < <(apt-cache policy "${guest_pkgs[@]}" 2>/dev/null | awk '/^[^ ]/ {sub(":$", "", $1); p = $1} /Candidate:/ {print p, $2}')
	for pkg in "${guest_pkgs[@]}"; do
		[[ -n ${cand[$pkg]:-} && ${cand[$pkg]} != "(none)" ]] || return 1
	done
}
if ! resolve; then
	[[ -n $apt_updated ]] || { apt-get update -qq; apt_updated=1; }
	resolve || { log "cannot resolve linux-image-amd64, open-iscsi, libisns0, libopeniscsiusr, sg3-utils, libsgutils2 with apt-cache"; exit 1; }
fi
declare -A debfile=()
for p in "${guest_pkgs[@]}"; do
	ver=${cand[$p]}
	f=$(ls "$debs/${p}_${ver//:/%3a}_"*.deb 2>/dev/null | head -n 1 || true)
	if [[ -z $f ]]; then
		log "downloading $p $ver"
		# Drop older versions of the same package.
		rm -f "$debs/${p}_"*.deb
		(cd "$debs" && apt-get download -qq "$p=$ver" 2>&1 | grep -v 'unsandboxed' >&2 || true)
		f=$(ls "$debs/${p}_${ver//:/%3a}_"*.deb 2>/dev/null | head -n 1 || true)
		[[ -n $f ]] || { log "download of $p $ver failed"; exit 1; }
	fi
	debfile[$p]=$f
done

# --- stamp: rebuild when an input changed -------------------------------------
stamp_inputs() {
	sha256sum "$here/build.sh" "$here/guest-init.sh" "$here/guest-pr.sh"
	for p in "${guest_pkgs[@]}"; do echo "${debfile[$p]}"; done
	dpkg-query -W -f='${Package} ${Version}\n' busybox-static e2fsprogs
}
stamp=$(stamp_inputs | sha256sum | cut -c1-16)
if [[ -f $cache/stamp && $(cat "$cache/stamp") == "$stamp" && -s $cache/initramfs.cpio.gz && -s $cache/vmlinux ]]; then
	log "up to date ($cache)"
	echo "$cache"
	exit 0
fi
rm -f "$cache/stamp"

# --- extract the packages ------------------------------------------------------
work="$cache/work"
rm -rf "$work"
mkdir -p "$work/pkg"
for p in "${guest_pkgs[@]}"; do
	dpkg-deb -x "${debfile[$p]}" "$work/pkg"
done
kver=$(ls "$work/pkg/lib/modules" | head -1)
moddir="$work/pkg/lib/modules/$kver"
log "kernel $kver"

# --- kernel ----------------------------------------------------------------------
# The bzImage's payload is xz: decompress from the xz magic FD 37 7A 58 5A 00;
# xz then complains about the bytes after its stream, which is expected.
vmlinuz="$work/pkg/boot/vmlinuz-$kver"
off=$(LC_ALL=C grep -obUaP '\xFD7zXZ\x00' "$vmlinuz" | head -1 | cut -d: -f1)
[[ -n $off ]] || { log "no xz payload in $vmlinuz"; exit 1; }
tail -c +"$((off + 1))" "$vmlinuz" | xz -dcq >"$work/vmlinux" 2>/dev/null || true
[[ $(head -c 4 "$work/vmlinux" | od -An -c | tr -d ' ') == '177ELF' ]] || { log "decompressed kernel is not an ELF"; exit 1; }
cp "$vmlinuz" "$work/vmlinuz"

# --- initramfs ---------------------------------------------------------------------
root="$work/root"
mkdir -p "$root"/{bin,sbin,etc/iscsi/nodes,etc/iscsi/send_targets,proc,sys,dev,run,tmp,mnt,var/lib/iscsi,var/lock,lib/modules,lib64,lib/x86_64-linux-gnu}
cp /bin/busybox "$root/bin/busybox"
for a in $("$root/bin/busybox" --list); do
	[[ -e $root/bin/$a ]] || ln -s busybox "$root/bin/$a"
done

# Real tools, called by full path in guest-init.sh (busybox's shell prefers its
# own applets to PATH). Their shared libraries come from the extracted packages
# first, then the host.
libpath="$work/pkg/lib/x86_64-linux-gnu:$work/pkg/usr/lib/x86_64-linux-gnu"
copy_bin() { # src dst
	cp "$1" "$root$2"
	LD_LIBRARY_PATH=$libpath ldd "$1" | awk '/=> \// {print $3} /^\t\/lib64/ {print $1}' | while read -r lib; do
		[[ -e $root/lib/x86_64-linux-gnu/$(basename "$lib") ]] || cp -L "$lib" "$root/lib/x86_64-linux-gnu/"
	done
	if LD_LIBRARY_PATH=$libpath ldd "$1" | grep -q 'not found'; then
		log "missing libraries for $1:"
		LD_LIBRARY_PATH=$libpath ldd "$1" | grep 'not found' >&2
		exit 1
	fi
}
copy_bin "$work/pkg/sbin/iscsid" /sbin/iscsid
copy_bin "$work/pkg/sbin/iscsiadm" /sbin/iscsiadm
copy_bin /sbin/mke2fs /sbin/mke2fs
copy_bin /sbin/e2fsck /sbin/e2fsck
# sg3-utils for the pr scenario (persistent reservations); libsgutils2 comes
# from its extracted package through copy_bin's library search.
for t in sg_persist sg_dd sg_inq sg_vpd; do
	copy_bin "$work/pkg/usr/bin/$t" "/bin/$t"
done
cp -L /lib64/ld-linux-x86-64.so.2 "$root/lib64/"
mkdir -p "$root/etc"
# mke2fs reads /etc/mke2fs.conf for the ext4 feature set.
cp /etc/mke2fs.conf "$root/etc/mke2fs.conf"

# open-iscsi configuration: Debian's iscsid.conf starts iscsid through
# systemctl; point that at the daemon itself.
# The NOP-Out interval goes from 5 s to 1 s: under TCG the guest's TCP
# receive window sometimes stays closed until the guest next transmits (seen
# with tgt too, so not the target's doing); the NOP-Out is that transmission.
sed -e 's|^iscsid.startup = .*|iscsid.startup = /sbin/iscsid|' \
	-e 's|^node.conn\[0\].timeo.noop_out_interval = .*|node.conn[0].timeo.noop_out_interval = 1|' \
	"$work/pkg/etc/iscsi/iscsid.conf" >"$root/etc/iscsi/iscsid.conf"
grep -q '^iscsid.startup = /sbin/iscsid$' "$root/etc/iscsi/iscsid.conf" || { log "iscsid.conf: no iscsid.startup line"; exit 1; }
grep -q '^node.conn\[0\].timeo.noop_out_interval = 1$' "$root/etc/iscsi/iscsid.conf" || { log "iscsid.conf: no noop_out_interval line"; exit 1; }
echo 'InitiatorName=iqn.2024-01.dev.lunar.vm:boot' >"$root/etc/iscsi/initiatorname.iscsi"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"

# Kernel modules: the closure of the wanted ones over their "depends=" lists,
# in load order, written to /etc/modules-load for guest-init.sh to insmod.
# (The .deb ships no modules.dep; the dependencies are read from each module's
# .modinfo strings.)
declare -A modpath=()
while IFS= read -r f; do
	n=$(basename "$f")
	n=${n%%.ko*}
	modpath[${n//-/_}]=$f
done < <(find "$moddir/kernel" -name '*.ko*')
declare -A seen=()
order=()
add_mod() {
	local m=${1//-/_} f deps d
	[[ -n ${seen[$m]:-} ]] && return
	seen[$m]=1
	f=${modpath[$m]:-}
	[[ -n $f ]] || { log "module $m not in the kernel package (built in?)"; return; }
	deps=$(tr '\0' '\n' <"$f" | sed -n 's/^depends=//p' | head -1)
	for d in ${deps//,/ }; do add_mod "$d"; done
	order+=("$m")
}
for m in virtio virtio_ring virtio_pci virtio_net e1000 crc32c_generic crc32c_intel libcrc32c \
	scsi_mod sd_mod scsi_transport_iscsi libiscsi libiscsi_tcp iscsi_tcp ext4; do
	add_mod "$m"
done
: >"$root/etc/modules-load"
for m in "${order[@]}"; do
	f=${modpath[$m]}
	rel=${f#"$moddir/"}
	mkdir -p "$root/lib/modules/$kver/$(dirname "$rel")"
	case $f in
	*.ko.xz) xz -dc "$f" >"$root/lib/modules/$kver/${rel%.xz}"; rel=${rel%.xz} ;;
	*) cp "$f" "$root/lib/modules/$kver/$rel" ;;
	esac
	echo "/lib/modules/$kver/$rel" >>"$root/etc/modules-load"
done
log "modules: ${order[*]}"

install -m 0755 "$here/guest-init.sh" "$root/init"
install -m 0755 "$here/guest-pr.sh" "$root/guest-pr.sh"
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -1) >"$work/initramfs.cpio.gz"

mv "$work/vmlinux" "$cache/vmlinux"
mv "$work/vmlinuz" "$cache/vmlinuz"
mv "$work/initramfs.cpio.gz" "$cache/initramfs.cpio.gz"
echo "$kver" >"$cache/kernel-version"
rm -rf "$work"
echo "$stamp" >"$cache/stamp"
log "built $cache (initramfs $(du -h "$cache/initramfs.cpio.gz" | cut -f1))"
echo "$cache"
