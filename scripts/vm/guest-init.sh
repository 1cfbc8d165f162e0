#!/bin/sh
# guest-init.sh: /init of the VM that scripts/vm/run-initiator-test.sh boots.
# Busybox sh. Runs open-iscsi (the Linux kernel initiator) against a lunar
# target reached at 10.0.2.2 (the host's 127.0.0.1 through qemu's user-mode
# network), prints "LUNAR-VM: ..." markers on the console and powers off.
#
# Kernel command line parameters (set by the host script):
#   lunar.portal=IP:PORT         the target portal (the advertised address)
#   lunar.target=IQN             the target name discovery must return
#   lunar.scenarios=a,b,c        any of plain, chap, unmapped, in that order
#                                (or pr, persistent reservations: /guest-pr.sh,
#                                from scripts/vm/run-reservation-test.sh)
#   lunar.iqn_plain=IQN          mapped initiator, no CHAP
#   lunar.iqn_chap=IQN           mapped initiator with CHAP credentials
#   lunar.iqn_unmapped=IQN       initiator in no initiator group
#   lunar.chap_user=, lunar.chap_secret=, lunar.chap_bad=  CHAP name, secret, a wrong secret
#
# Busybox's shell runs its own applets before PATH: the real tools are called
# by full path (/sbin/mke2fs, /sbin/e2fsck, /sbin/iscsiadm, /sbin/iscsid).
export PATH=/bin:/sbin
PORTAL=
TARGET=
SCENARIOS=plain,chap,unmapped
IQN_PLAIN=
IQN_CHAP=
IQN_UNMAPPED=
CHAP_USER=
CHAP_SECRET=
CHAP_BAD=
PASSES=0
FAILS=0
PLAIN_SHA=
ISCSID_PID=
DEV=
RMEM=
NODISC=

say() { echo "LUNAR-VM: $*"; }

finish() {
	say "DONE pass=$PASSES fail=$FAILS"
	sync
	poweroff -f
	sleep 5
	echo o >/proc/sysrq-trigger
}

# fail SCENARIO REASON: report a failure with the evidence and return 1.
fail() {
	say "FAIL $1: $2"
	FAILS=$((FAILS + 1))
	echo "----- iscsid log (tail) -----"
	tail -n 40 /tmp/iscsid.log 2>/dev/null
	echo "----- dmesg (tail) -----"
	dmesg | tail -n 40
	echo "----- end -----"
	return 1
}

pass() {
	say "PASS $1"
	PASSES=$((PASSES + 1))
}

setup() {
	mount -t proc proc /proc
	mount -t sysfs sysfs /sys
	mount -t devtmpfs devtmpfs /dev 2>/dev/null
	mkdir -p /dev/pts /run /var/lib/iscsi /var/lock /etc/iscsi/nodes /etc/iscsi/send_targets /tmp /mnt
	mount -t tmpfs tmpfs /run
	mkdir -p /run/lock/iscsi
	for p in $(cat /proc/cmdline); do
		case $p in
		lunar.portal=*) PORTAL=${p#*=} ;;
		lunar.target=*) TARGET=${p#*=} ;;
		lunar.scenarios=*) SCENARIOS=${p#*=} ;;
		lunar.iqn_plain=*) IQN_PLAIN=${p#*=} ;;
		lunar.iqn_chap=*) IQN_CHAP=${p#*=} ;;
		lunar.iqn_unmapped=*) IQN_UNMAPPED=${p#*=} ;;
		lunar.chap_user=*) CHAP_USER=${p#*=} ;;
		lunar.chap_secret=*) CHAP_SECRET=${p#*=} ;;
		lunar.chap_bad=*) CHAP_BAD=${p#*=} ;;
		lunar.nodisc=*) NODISC=${p#*=} ;;
		lunar.tcp_rmem=*) RMEM=$(echo "${p#*=}" | tr ',' ' ') ;;
		esac
	done
	say "BOOT kernel $(uname -r) uptime $(cut -d' ' -f1 /proc/uptime)s portal=$PORTAL target=$TARGET scenarios=$SCENARIOS"
	for m in $(cat /etc/modules-load); do
		out=$(insmod "$m" 2>&1) || case $m in
		*crc32c-intel* | *crc32c_intel*) ;; # needs SSE4.2, which the emulated CPU may lack
		*) say "INFO insmod $m: $out" ;;
		esac
	done
	ip link set lo up
	ip link set eth0 up || { fail setup "no eth0 (virtio_net not loaded?)"; finish; }
	ip addr add 10.0.2.15/24 dev eth0
	if [ -n "$RMEM" ]; then
		echo "$RMEM" >/proc/sys/net/ipv4/tcp_rmem
		say "INFO net.ipv4.tcp_rmem=$(cat /proc/sys/net/ipv4/tcp_rmem)"
	fi
	# No default route: the guest reaches 10.0.2.2 (the host's loopback) only.
}

# start_iscsid IQN: (re)start iscsid with a fresh node database and the given initiator name.
start_iscsid() {
	stop_iscsid
	rm -rf /etc/iscsi/nodes/* /etc/iscsi/send_targets/* /var/lib/iscsi/* 2>/dev/null
	echo "InitiatorName=$1" >/etc/iscsi/initiatorname.iscsi
	/sbin/iscsid -f >>/tmp/iscsid.log 2>&1 &
	ISCSID_PID=$!
	i=0
	while [ $i -lt 50 ]; do
		# iscsiadm -m session talks to iscsid; 21 is "no sessions", a working answer.
		/sbin/iscsiadm -m session >/dev/null 2>&1
		rc=$?
		[ $rc -eq 0 ] || [ $rc -eq 21 ] && return 0
		sleep 0.2
		i=$((i + 1))
	done
	return 1
}

stop_iscsid() {
	[ -n "$ISCSID_PID" ] || return 0
	kill "$ISCSID_PID" 2>/dev/null
	i=0
	while kill -0 "$ISCSID_PID" 2>/dev/null && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	kill -9 "$ISCSID_PID" 2>/dev/null
	ISCSID_PID=
}

disks() {
	for d in /sys/block/sd*; do
		[ -e "$d" ] && printf '%s ' "${d##*/}"
	done
}

# wait_disk: set DEV to the first sd disk, waiting up to 30 s.
wait_disk() {
	DEV=
	i=0
	while [ $i -lt 150 ]; do
		for d in /sys/block/sd*; do
			[ -e "$d" ] || continue
			n=${d##*/}
			if [ -b "/dev/$n" ] && [ "$(cat "$d/size")" != 0 ]; then
				DEV=/dev/$n
				return 0
			fi
		done
		sleep 0.2
		i=$((i + 1))
	done
	return 1
}

# wait_no_disk: wait up to 10 s for every sd disk to go away.
wait_no_disk() {
	i=0
	while [ -n "$(disks)" ] && [ $i -lt 50 ]; do
		sleep 0.2
		i=$((i + 1))
	done
	[ -z "$(disks)" ]
}

show_disk() {
	n=${DEV#/dev/}
	say "INFO $1 disk $DEV vendor='$(tr -s ' ' <"/sys/block/$n/device/vendor")' model='$(tr -s ' ' <"/sys/block/$n/device/model")' sectors=$(cat "/sys/block/$n/size") lbs=$(cat "/sys/block/$n/queue/logical_block_size")"
}

# discover SCENARIO: SendTargets; the answer must name TARGET at PORTAL.
discover() {
	out=$(timeout 60 /sbin/iscsiadm -m discovery -t sendtargets -p "$PORTAL" 2>&1)
	rc=$?
	echo "$out" | sed 's/^/  discovery: /'
	[ $rc -eq 0 ] || { fail "$1" "discovery exited $rc"; return 1; }
	echo "$out" | grep -q "^$PORTAL,[0-9]* $TARGET\$" || { fail "$1" "discovery did not return $PORTAL $TARGET"; return 1; }
}

login() {
	out=$(timeout 90 /sbin/iscsiadm -m node -T "$TARGET" -p "$PORTAL" --login 2>&1)
	rc=$?
	echo "$out" | sed 's/^/  login: /'
	return $rc
}

logout() {
	out=$(timeout 60 /sbin/iscsiadm -m node -T "$TARGET" -p "$PORTAL" --logout 2>&1)
	rc=$?
	echo "$out" | sed 's/^/  logout: /'
	return $rc
}

# check_fs SCENARIO: e2fsck -f -n must find the file system clean.
check_fs() {
	out=$(/sbin/e2fsck -f -n "$DEV" 2>&1)
	rc=$?
	echo "$out" | sed 's/^/  e2fsck: /'
	[ $rc -eq 0 ] || { fail "$1" "e2fsck -f -n exited $rc"; return 1; }
}

# remount_verify SCENARIO FILE SHA: umount, drop caches, mount, compare.
remount_verify() {
	umount /mnt || { fail "$1" "umount failed"; return 1; }
	echo 3 >/proc/sys/vm/drop_caches
	mount -t ext4 "$DEV" /mnt || { fail "$1" "second mount failed"; return 1; }
	got=$(sha256sum "/mnt/$2" | cut -d' ' -f1)
	[ "$got" = "$3" ] || { fail "$1" "$2 read back sha256 $got, wrote $3"; return 1; }
}

# raw_io SCENARIO: O_DIRECT writes and reads of the raw disk, bypassing the
# page cache: 16 MiB in 1 MiB commands (several R2Ts and Data-In PDUs each)
# at the start, and the last MiB of the disk (the highest LBAs).
raw_io() {
	sectors=$(cat "/sys/block/${DEV#/dev/}/size")
	last=$((sectors / 2048 - 1))
	dd if=/dev/urandom of=/tmp/raw.bin bs=1M count=16 2>/dev/null
	dd if=/dev/urandom of=/tmp/tail.bin bs=1M count=1 2>/dev/null
	want=$(sha256sum </tmp/raw.bin | cut -d' ' -f1)
	want_tail=$(sha256sum </tmp/tail.bin | cut -d' ' -f1)
	t=$(cut -d' ' -f1 /proc/uptime)
	dd if=/tmp/raw.bin of="$DEV" bs=1M count=16 oflag=direct 2>/dev/null || { fail "$1" "raw O_DIRECT write failed"; return 1; }
	dd if=/tmp/tail.bin of="$DEV" bs=1M seek=$last count=1 oflag=direct 2>/dev/null || { fail "$1" "raw write of the last MiB failed"; return 1; }
	got=$(dd if="$DEV" bs=1M count=16 iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)
	[ "$got" = "$want" ] || { fail "$1" "raw O_DIRECT read back sha256 $got, wrote $want"; return 1; }
	got=$(dd if="$DEV" bs=1M skip=$last count=1 iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)
	[ "$got" = "$want_tail" ] || { fail "$1" "last MiB read back sha256 $got, wrote $want_tail"; return 1; }
	# One block past the end must fail, not wrap or succeed.
	if dd if=/tmp/tail.bin of="$DEV" bs=512 seek="$sectors" count=1 oflag=direct 2>/dev/null; then
		fail "$1" "a write past the end of the disk succeeded"
		return 1
	fi
	say "INFO $1 raw O_DIRECT 16 MiB + last MiB written and read back in $(awk -v a="$t" '{printf "%.1f", $1 - a}' /proc/uptime)s"
}

scenario_plain() {
	s=plain
	say "BEGIN $s initiator=$IQN_PLAIN"
	start_iscsid "$IQN_PLAIN" || { fail $s "iscsid did not start"; return 1; }
	discover $s || return 1
	t0=$(cut -d' ' -f1 /proc/uptime)
	login || { fail $s "login failed"; return 1; }
	wait_disk || { fail $s "no /dev/sd* within 30 s of login"; logout; return 1; }
	say "INFO $s logged in, disk after $(awk -v a="$t0" '{printf "%.1f", $1 - a}' /proc/uptime)s"
	show_disk $s
	/sbin/iscsiadm -m session -P 3 2>&1 | grep -E 'Target:|Current Portal|Iface Initiatorname|iSCSI Session State|HeaderDigest|DataDigest|MaxRecvDataSegmentLength|MaxXmitDataSegmentLength|FirstBurstLength|MaxBurstLength|ImmediateData|InitialR2T|MaxOutstandingR2T' | sed 's/^[[:space:]]*/  session: /'
	raw_io $s || { logout; return 1; }
	out=$(/sbin/mke2fs -F -q -t ext4 "$DEV" 2>&1) || { echo "$out"; fail $s "mke2fs failed"; logout; return 1; }
	mount -t ext4 "$DEV" /mnt || { fail $s "mount failed"; logout; return 1; }
	dd if=/dev/urandom of=/tmp/big.bin bs=1M count=8 2>/dev/null
	PLAIN_SHA=$(sha256sum /tmp/big.bin | cut -d' ' -f1)
	t1=$(cut -d' ' -f1 /proc/uptime)
	cp /tmp/big.bin /mnt/big.bin
	i=1
	while [ $i -le 20 ]; do
		echo "small file $i written by $IQN_PLAIN" >"/mnt/small-$i.txt"
		i=$((i + 1))
	done
	mkdir -p /mnt/dir/sub && echo nested >/mnt/dir/sub/nested.txt
	(cd /mnt && sha256sum small-*.txt dir/sub/nested.txt) >/tmp/small.sha
	sync
	say "INFO $s wrote 8 MiB + 21 small files and synced in $(awk -v a="$t1" '{printf "%.1f", $1 - a}' /proc/uptime)s sha256=$PLAIN_SHA"
	remount_verify $s big.bin "$PLAIN_SHA" || { umount /mnt; logout; return 1; }
	(cd /mnt && sha256sum -c -s /tmp/small.sha) || { fail $s "small files differ after remount"; umount /mnt; logout; return 1; }
	cmp /tmp/big.bin /mnt/big.bin || { fail $s "cmp big.bin differs"; umount /mnt; logout; return 1; }
	df -k /mnt | tail -n 1 | sed 's/^/  df: /'
	umount /mnt || { fail $s "final umount failed"; logout; return 1; }
	check_fs $s || { logout; return 1; }
	logout || { fail $s "logout failed"; return 1; }
	wait_no_disk || { fail $s "disk still present after logout: $(disks)"; return 1; }
	pass $s
}

scenario_chap() {
	s=chap
	say "BEGIN $s initiator=$IQN_CHAP user=$CHAP_USER"
	start_iscsid "$IQN_CHAP" || { fail $s "iscsid did not start"; return 1; }
	discover $s || return 1
	node() { /sbin/iscsiadm -m node -T "$TARGET" -p "$PORTAL" -o update -n "$1" -v "$2" >/dev/null 2>&1 || say "INFO node update $1 failed"; }
	node node.session.initial_login_retry_max 1

	# Without credentials the target must refuse the login.
	if login; then
		fail $s "login without CHAP credentials succeeded"
		logout
		return 1
	fi
	[ -z "$(disks)" ] || { fail $s "a disk appeared after a refused login: $(disks)"; return 1; }
	say "INFO $s login without CHAP refused as expected"

	# A wrong secret must be refused.
	node node.session.auth.authmethod CHAP
	node node.session.auth.username "$CHAP_USER"
	node node.session.auth.password "$CHAP_BAD"
	if login; then
		fail $s "login with a wrong CHAP secret succeeded"
		logout
		return 1
	fi
	[ -z "$(disks)" ] || { fail $s "a disk appeared after a refused login: $(disks)"; return 1; }
	say "INFO $s wrong CHAP secret refused as expected"

	# The right secret logs in and I/O works.
	node node.session.auth.password "$CHAP_SECRET"
	login || { fail $s "login with the right CHAP secret failed"; return 1; }
	wait_disk || { fail $s "no /dev/sd* within 30 s of login"; logout; return 1; }
	show_disk $s
	/sbin/iscsiadm -m session -P 3 2>&1 | grep -E 'username:|password:' | grep -v '<empty>' | sed 's/^[[:space:]]*/  session: /'
	if [ -n "$PLAIN_SHA" ]; then
		# The plain scenario's file system, seen through the CHAP session.
		check_fs $s || { logout; return 1; }
		mount -t ext4 "$DEV" /mnt || { fail $s "mount failed"; logout; return 1; }
		got=$(sha256sum /mnt/big.bin | cut -d' ' -f1)
		[ "$got" = "$PLAIN_SHA" ] || { fail $s "big.bin from the plain scenario reads $got"; umount /mnt; logout; return 1; }
		say "INFO $s plain scenario's big.bin intact"
	else
		out=$(/sbin/mke2fs -F -q -t ext4 "$DEV" 2>&1) || { echo "$out"; fail $s "mke2fs failed"; logout; return 1; }
		mount -t ext4 "$DEV" /mnt || { fail $s "mount failed"; logout; return 1; }
	fi
	dd if=/dev/urandom of=/tmp/chap.bin bs=1M count=4 2>/dev/null
	sha=$(sha256sum /tmp/chap.bin | cut -d' ' -f1)
	cp /tmp/chap.bin /mnt/chap.bin
	sync
	say "INFO $s wrote chap.bin sha256=$sha"
	remount_verify $s chap.bin "$sha" || { umount /mnt; logout; return 1; }
	umount /mnt || { fail $s "final umount failed"; logout; return 1; }
	check_fs $s || { logout; return 1; }
	logout || { fail $s "logout failed"; return 1; }
	wait_no_disk || { fail $s "disk still present after logout: $(disks)"; return 1; }
	pass $s
}

scenario_unmapped() {
	s=unmapped
	say "BEGIN $s initiator=$IQN_UNMAPPED"
	[ -z "$(disks)" ] || { fail $s "disks present before the scenario: $(disks)"; return 1; }
	start_iscsid "$IQN_UNMAPPED" || { fail $s "iscsid did not start"; return 1; }
	out=$(timeout 60 /sbin/iscsiadm -m discovery -t sendtargets -p "$PORTAL" 2>&1)
	rc=$?
	echo "$out" | sed 's/^/  discovery: /'
	if echo "$out" | grep -q "$TARGET"; then
		fail $s "discovery showed $TARGET to an unmapped initiator"
		return 1
	fi
	say "INFO $s discovery exited $rc and named no target"
	# Log in anyway, with a hand-made node record: the target must refuse.
	/sbin/iscsiadm -m node -o new -T "$TARGET" -p "$PORTAL" >/dev/null 2>&1 || { fail $s "cannot create a node record"; return 1; }
	/sbin/iscsiadm -m node -T "$TARGET" -p "$PORTAL" -o update -n node.session.initial_login_retry_max -v 1 >/dev/null 2>&1
	if login; then
		fail $s "an unmapped initiator logged in"
		logout
		return 1
	fi
	sleep 1
	[ -z "$(disks)" ] || { fail $s "a disk appeared for an unmapped initiator: $(disks)"; return 1; }
	say "INFO $s login refused, no /dev/sd*"
	pass $s
}

# scenario_perf: a diagnostic, not in the default list: times O_DIRECT reads
# and writes of the raw disk at several request sizes.
scenario_perf() {
	s=perf
	say "BEGIN $s initiator=$IQN_PLAIN"
	start_iscsid "$IQN_PLAIN" || { fail $s "iscsid did not start"; return 1; }
	if [ -n "$NODISC" ]; then
		# For a target that advertises an address the guest cannot reach.
		/sbin/iscsiadm -m node -o new -T "$TARGET" -p "$PORTAL" >/dev/null 2>&1
	else
		discover $s || return 1
	fi
	login || { fail $s "login failed"; return 1; }
	wait_disk || { fail $s "no /dev/sd* within 30 s of login"; logout; return 1; }
	/sbin/iscsiadm -m node -T "$TARGET" -p "$PORTAL" 2>&1 | grep noop | sed 's/^/  node: /'
	for bs in 4096 65536 262144 1048576; do
		count=$((4194304 / bs))
		for dir in write read; do
			t=$(cut -d' ' -f1 /proc/uptime)
			if [ $dir = write ]; then
				dd if=/dev/zero of="$DEV" bs=$bs count=$count oflag=direct 2>/dev/null
			else
				dd if="$DEV" of=/dev/null bs=$bs count=$count iflag=direct 2>/dev/null
			fi
			say "INFO $s O_DIRECT $dir 4 MiB in ${bs}-byte requests: $(awk -v a="$t" '{printf "%.2f", $1 - a}' /proc/uptime)s"
		done
	done
	dd if=/dev/urandom of=/tmp/raw.bin bs=1M count=16 2>/dev/null
	t=$(cut -d' ' -f1 /proc/uptime)
	dd if=/tmp/raw.bin of="$DEV" bs=1M count=16 oflag=direct 2>/dev/null
	say "INFO $s random write 16M: $(awk -v a="$t" '{printf "%.2f", $1 - a}' /proc/uptime)s"
	t=$(cut -d' ' -f1 /proc/uptime)
	dd if="$DEV" of=/dev/null bs=1M count=16 iflag=direct 2>/dev/null
	say "INFO $s read 16M to null: $(awk -v a="$t" '{printf "%.2f", $1 - a}' /proc/uptime)s"
	t=$(cut -d' ' -f1 /proc/uptime)
	dd if="$DEV" bs=1M count=16 iflag=direct 2>/dev/null | sha256sum
	say "INFO $s read 16M to sha256sum pipe: $(awk -v a="$t" '{printf "%.2f", $1 - a}' /proc/uptime)s"
	t=$(cut -d' ' -f1 /proc/uptime)
	dd if="$DEV" bs=1M count=16 iflag=direct 2>/dev/null | cat >/dev/null
	say "INFO $s read 16M to cat pipe: $(awk -v a="$t" '{printf "%.2f", $1 - a}' /proc/uptime)s"
	t=$(cut -d' ' -f1 /proc/uptime)
	dd if="$DEV" of=/tmp/rb.bin bs=1M count=16 iflag=direct 2>/dev/null
	say "INFO $s read 16M to tmp file: $(awk -v a="$t" '{printf "%.2f", $1 - a}' /proc/uptime)s"
	for gap in 0 0.05 0.3; do
		t=$(cut -d' ' -f1 /proc/uptime)
		i=0
		while [ $i -lt 8 ]; do
			t1=$(cut -d' ' -f1 /proc/uptime)
			dd if="$DEV" of=/dev/null bs=1M skip=$i count=1 iflag=direct 2>/dev/null
			echo "  read 1M #$i: $(awk -v a="$t1" '{printf "%.3f", $1 - a}' /proc/uptime)s"
			[ "$gap" = 0 ] || sleep $gap
			i=$((i + 1))
		done
		say "INFO $s 8 x 1M reads with ${gap}s gaps: $(awk -v a="$t" '{printf "%.2f", $1 - a}' /proc/uptime)s"
	done
	dmesg | tail -n 5
	logout || { fail $s "logout failed"; return 1; }
	pass $s
}

setup
for s in $(echo "$SCENARIOS" | tr ',' ' '); do
	case $s in
	plain) scenario_plain ;;
	chap) scenario_chap ;;
	unmapped) scenario_unmapped ;;
	perf) scenario_perf ;;
	pr) . /guest-pr.sh && scenario_pr ;;
	*) fail "$s" "unknown scenario" ;;
	esac
	# Leave nothing behind for the next scenario.
	umount /mnt 2>/dev/null
	/sbin/iscsiadm -m node --logoutall=all >/dev/null 2>&1
done
stop_iscsid
echo "----- dmesg (iSCSI and SCSI lines) -----"
dmesg | grep -iE 'iscsi|scsi|sd[a-z]|ext4' | tail -n 40
echo "-----"
finish
