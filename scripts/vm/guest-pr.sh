#!/bin/sh
# guest-pr.sh: the "pr" scenario of the VM (scripts/vm/run-reservation-test.sh).
# Sourced by guest-init.sh (it uses its say, fail, pass, start_iscsid, login
# and logout helpers); not run on its own. Busybox sh.
#
# A fence_scsi-style sequence of SCSI-3 persistent reservations, with
# sg3-utils' sg_persist, from two initiators in one VM: two open-iscsi ifaces
# with their own initiator names log in to the same target, so the one LUN
# shows up twice (/dev/sdX for A, /dev/sdY for B, the same WWN).
#
# Kernel command line parameters (besides lunar.portal and lunar.target):
#   lunar.iqn_a=IQN   initiator A (the first owner, fenced)
#   lunar.iqn_b=IQN   initiator B (takes over with PREEMPT AND ABORT)
#
# Every check prints "LUNAR-VM: PASS pr/NAME" or "LUNAR-VM: FAIL pr/NAME: why";
# the scenario prints "LUNAR-VM: PASS pr" only when every check passed.
# Writes (4 KiB, O_DIRECT) go to distinct 4 KiB blocks of the LUN so that the
# host can check afterwards which landed:
#   block 0  A, while A holds the reservation       (must land)
#   block 1  B, a registrant, while A holds it        (must land: type 5)
#   block 2  A after the preemption: dd and sg_dd     (must NOT land)
#   block 3  B after the preemption                   (must land)
#   block 4  B after its connection failed and recovered (same ISID: must land)
#   block 5  B after logout and login (a new ISID), unregistered (must NOT land)
#   block 6  B's new nexus after REGISTER AND IGNORE EXISTING KEY (must land)
# The patterns are the files /tmp/pr-blk<N>.bin, and the guest prints their
# sha256 as "LUNAR-VM: INFO pr block N sha256=...".

PR_FAILS=0
PR_A=
PR_B=

pr_ok() { say "PASS pr/$1"; }

# pr_bad NAME WHY: a failed check; evidence goes with it.
pr_bad() {
	say "FAIL pr/$1: $2"
	PR_FAILS=$((PR_FAILS + 1))
	FAILS=$((FAILS + 1))
}

# pr_iscsiadm ARGS...: iscsiadm with a time limit, output indented.
pr_iscsiadm() {
	out=$(timeout 90 /sbin/iscsiadm "$@" 2>&1)
	rc=$?
	[ -n "$out" ] && echo "$out" | sed 's/^/  iscsiadm: /'
	return $rc
}

# pr_session_of DEV: the iscsi_session sysfs name (sessionN) of disk DEV.
pr_session_of() {
	readlink -f "/sys/block/${1#/dev/}/device" | sed -n 's|.*/\(session[0-9]*\)/.*|\1|p'
}

# pr_dev_of IFACE: the disk of the session logged in through IFACE, waiting
# up to 30 s. Prints /dev/sdX.
pr_dev_of() {
	local i d n sess
	i=0
	while [ $i -lt 150 ]; do
		for d in /sys/block/sd*; do
			[ -e "$d" ] || continue
			n=${d##*/}
			[ -b "/dev/$n" ] && [ "$(cat "$d/size")" != 0 ] || continue
			sess=$(pr_session_of "/dev/$n")
			[ -n "$sess" ] || continue
			if [ "$(cat "/sys/class/iscsi_session/$sess/ifacename" 2>/dev/null)" = "$1" ]; then
				echo "/dev/$n"
				return 0
			fi
		done
		sleep 0.2
		i=$((i + 1))
	done
	return 1
}

# pr_hctl DEV: the SCSI device name (H:C:T:L) the kernel logs for DEV.
pr_hctl() { basename "$(readlink -f "/sys/block/${1#/dev/}/device")"; }

# pr_describe WHO DEV
pr_describe() {
	local sess
	sess=$(pr_session_of "$2")
	say "INFO pr $1: $2 hctl=$(pr_hctl "$2") $sess iface=$(cat "/sys/class/iscsi_session/$sess/ifacename" 2>/dev/null) initiator=$(cat "/sys/class/iscsi_session/$sess/initiatorname" 2>/dev/null) state=$(cat "/sys/class/iscsi_session/$sess/state" 2>/dev/null) wwid=$(cat "/sys/block/${2#/dev/}/device/wwid" 2>/dev/null)"
}

# pr_sgp ARGS...: sg_persist --no-inquiry ARGS, output on stdout. sg_persist
# does not retry a command that ends in a unit attention (exit status 6),
# which the first command of a new or reinstated session gets (POWER ON,
# RESET, OR BUS DEVICE RESET OCCURRED; REGISTRATIONS PREEMPTED): retry it
# twice, showing the unit attention.
pr_sgp() {
	local n rc out
	n=0
	while :; do
		out=$(/bin/sg_persist --no-inquiry "$@" 2>&1)
		rc=$?
		[ $rc -eq 6 ] && [ $n -lt 2 ] || break
		echo "$out" | grep -i 'sense' | sed 's/^/(unit attention, retried) /'
		n=$((n + 1))
	done
	echo "$out"
	return $rc
}

# pr_wait_state SESSION STATE SECONDS: wait for the iSCSI session's state.
pr_wait_state() {
	local i
	i=0
	while [ $i -lt $(($3 * 5)) ]; do
		[ "$(cat "/sys/class/iscsi_session/$1/state" 2>/dev/null)" = "$2" ] && return 0
		sleep 0.2
		i=$((i + 1))
	done
	return 1
}

# pr_run NAME CMD...: run a command that must succeed (output indented).
pr_run() {
	name=$1
	shift
	out=$("$@" 2>&1)
	rc=$?
	label=${1##*/}
	[ "$label" = pr_sgp ] && label=sg_persist
	echo "$out" | sed 's/^/  '"$label"': /'
	if [ $rc -eq 0 ]; then
		pr_ok "$name"
	else
		pr_bad "$name" "$* exited $rc"
	fi
	return $rc
}

# pr_keys DEV: the registered keys READ KEYS returns, one per line.
pr_keys() {
	pr_sgp --in --read-keys "$1" 2>&1 | tee /tmp/pr-keys.out | sed -n 's/^ *\(0x[0-9a-fA-F]*\) *$/\1/p'
}

# pr_check_keys NAME DEV WANT: READ KEYS through DEV must list exactly WANT
# (space-separated keys, in order of registration).
pr_check_keys() {
	got=$(pr_keys "$2" | tr '\n' ' ' | sed 's/ $//')
	sed 's/^/  sg_persist -k: /' /tmp/pr-keys.out
	if [ "$got" = "$3" ]; then
		pr_ok "$1"
	else
		pr_bad "$1" "READ KEYS shows [$got], want [$3]"
	fi
}

# pr_check_resv NAME DEV KEY: READ RESERVATION through DEV must show KEY
# holding a Write Exclusive, Registrants Only (type 5) reservation.
pr_check_resv() {
	out=$(pr_sgp --in --read-reservation "$2" 2>&1)
	echo "$out" | sed 's/^/  sg_persist -r: /'
	key=$(echo "$out" | sed -n 's/^ *Key *= *\(0x[0-9a-fA-F]*\).*/\1/p' | head -n 1)
	if [ "$key" = "$3" ] && echo "$out" | grep -qi 'type: *Write Exclusive, *registrants only'; then
		pr_ok "$1"
	else
		pr_bad "$1" "READ RESERVATION shows key [$key], want $3 with type Write Exclusive, registrants only"
	fi
}

# pr_write DEV BLOCK: an O_DIRECT 4 KiB write of /tmp/pr-blk<BLOCK>.bin at
# 4 KiB block BLOCK. Leaves dd's messages in PR_OUT; returns dd's status.
pr_write() {
	PR_OUT=$(dd if="/tmp/pr-blk$2.bin" of="$1" bs=4096 seek="$2" count=1 oflag=direct 2>&1)
	rc=$?
	echo "$PR_OUT" | sed 's/^/  dd: /'
	return $rc
}

# pr_write_ok NAME DEV BLOCK: the write must succeed and read back equal.
pr_write_ok() {
	if pr_write "$2" "$3"; then
		got=$(dd if="$2" bs=4096 skip="$3" count=1 iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)
		want=$(sha256sum <"/tmp/pr-blk$3.bin" | cut -d' ' -f1)
		if [ "$got" = "$want" ]; then
			pr_ok "$1"
		else
			pr_bad "$1" "block $3 reads back sha256 $got, wrote $want"
		fi
	else
		pr_bad "$1" "write to block $3 through $2 failed: $PR_OUT"
	fi
}

scenario_pr() {
	s=pr
	IQN_A='' IQN_B=''
	for p in $(cat /proc/cmdline); do
		case $p in
		lunar.iqn_a=*) IQN_A=${p#*=} ;;
		lunar.iqn_b=*) IQN_B=${p#*=} ;;
		esac
	done
	say "BEGIN $s initiatorA=$IQN_A initiatorB=$IQN_B"
	[ -n "$IQN_A" ] && [ -n "$IQN_B" ] || { fail $s "lunar.iqn_a and lunar.iqn_b must be set"; return 1; }
	[ -x /bin/sg_persist ] || { fail $s "no /bin/sg_persist in the initramfs"; return 1; }
	start_iscsid "$IQN_A" || { fail $s "iscsid did not start"; return 1; }

	# Two ifaces over the same network interface, each with its own
	# initiator name: two I_T nexuses from one VM.
	for x in A B; do
		eval "iqn=\$IQN_$x"
		pr_iscsiadm -m iface -I "lunar$x" -o new >/dev/null &&
			pr_iscsiadm -m iface -I "lunar$x" -o update -n iface.initiatorname -v "$iqn" >/dev/null ||
			{ fail $s "cannot create iface lunar$x"; return 1; }
		/sbin/iscsiadm -m iface -I "lunar$x" 2>&1 | grep -E 'iface\.(iscsi_ifacename|transport_name|initiatorname) ' | sed 's/^/  iface: /'
	done
	out=$(timeout 60 /sbin/iscsiadm -m discovery -t sendtargets -p "$PORTAL" -I lunarA -I lunarB 2>&1)
	rc=$?
	echo "$out" | sed 's/^/  discovery: /'
	[ $rc -eq 0 ] && echo "$out" | grep -q "^$PORTAL,[0-9]* $TARGET\$" || { fail $s "discovery through lunarA and lunarB did not return $PORTAL $TARGET (exit $rc)"; return 1; }

	for x in A B; do
		# Detect a dead connection within about 3 s (NOP-Out every 1 s,
		# 2 s timeout) for the reconnect check.
		pr_iscsiadm -m node -T "$TARGET" -p "$PORTAL" -I "lunar$x" -o update -n 'node.conn[0].timeo.noop_out_timeout' -v 2
		pr_iscsiadm -m node -T "$TARGET" -p "$PORTAL" -I "lunar$x" --login || { fail $s "login through lunar$x failed"; return 1; }
	done
	PR_A=$(pr_dev_of lunarA) || { fail $s "no disk for iface lunarA within 30 s"; return 1; }
	PR_B=$(pr_dev_of lunarB) || { fail $s "no disk for iface lunarB within 30 s"; return 1; }
	pr_describe A "$PR_A"
	pr_describe B "$PR_B"

	# Both disks are the same LUN: the same device identification VPD page.
	wa=$(cat "/sys/block/${PR_A#/dev/}/device/wwid" 2>/dev/null)
	wb=$(cat "/sys/block/${PR_B#/dev/}/device/wwid" 2>/dev/null)
	/bin/sg_vpd --page=di "$PR_A" 2>&1 | sed 's/^/  sg_vpd A: /'
	if [ "$PR_A" != "$PR_B" ] && [ -n "$wa" ] && [ "$wa" = "$wb" ] &&
		cmp -s "/sys/block/${PR_A#/dev/}/device/vpd_pg83" "/sys/block/${PR_B#/dev/}/device/vpd_pg83"; then
		pr_ok same-lun
	else
		pr_bad same-lun "$PR_A wwid [$wa] and $PR_B wwid [$wb] are not one LUN seen twice (or VPD 0x83 differs)"
		return 1
	fi
	for b in 0 1 2 3 4 5 6; do
		dd if=/dev/urandom of="/tmp/pr-blk$b.bin" bs=4096 count=1 2>/dev/null
		say "INFO $s block $b sha256=$(sha256sum <"/tmp/pr-blk$b.bin" | cut -d' ' -f1)"
	done

	# Nothing is registered or reserved at the start.
	pr_check_keys no-keys-at-start "$PR_A" ""

	# fence_scsi: every node registers its key; the owner reserves type 5
	# (Write Exclusive, Registrants Only).
	pr_run register-A pr_sgp --out --register --param-sark=0xA1 "$PR_A"
	pr_run register-B pr_sgp --out --register --param-sark=0xB1 "$PR_B"
	pr_run reserve-A pr_sgp --out --reserve --prout-type=5 --param-rk=0xA1 "$PR_A"
	pr_check_resv read-reservation-A "$PR_B" 0xa1
	pr_check_keys read-keys-A-B "$PR_A" "0xa1 0xb1"
	pr_write_ok write-A-holder "$PR_A" 0
	pr_write_ok write-B-registrant "$PR_B" 1

	# B takes over: PREEMPT AND ABORT of A's key.
	pr_run preempt-abort-B pr_sgp --out --preempt-abort --param-rk=0xB1 --param-sark=0xA1 --prout-type=5 "$PR_B"

	# A is fenced: its next write fails with RESERVATION CONFLICT, seen by
	# the kernel (dd) and by sg_dd through SG_IO.
	hctl_a=$(pr_hctl "$PR_A")
	before=$(dmesg | grep -c "$hctl_a: reservation conflict")
	if pr_write "$PR_A" 2; then
		pr_bad write-A-fenced "A's write after the preemption succeeded"
	else
		after=$(dmesg | grep -c "$hctl_a: reservation conflict")
		dmesg | grep -E "$hctl_a|${PR_A#/dev/}" | tail -n 4 | sed 's/^/  dmesg: /'
		if [ "$after" -gt "$before" ]; then
			pr_ok write-A-fenced
		else
			pr_bad write-A-fenced "dd failed ($PR_OUT) but the kernel logged no \"$hctl_a: reservation conflict\""
		fi
	fi
	out=$(/bin/sg_dd if=/tmp/pr-blk2.bin of="$PR_A" oflag=sgio bs=512 seek=16 count=8 2>&1)
	rc=$?
	echo "$out" | sed 's/^/  sg_dd: /'
	if [ $rc -ne 0 ] && echo "$out" | grep -qi 'reservation conflict'; then
		pr_ok sg_dd-A-fenced
	else
		pr_bad sg_dd-A-fenced "sg_dd exited $rc without \"reservation conflict\""
	fi
	pr_write_ok write-B-after-preempt "$PR_B" 3
	pr_check_keys read-keys-only-B "$PR_B" "0xb1"
	pr_check_resv read-reservation-B "$PR_B" 0xb1

	# B reconnects with the same ISID: its connection fails (the guest's
	# link goes down until the NOP-Out times out) and open-iscsi recovers
	# the session, logging in again with the session's ISID. The I_T nexus
	# is the same, so B's registration and reservation still apply to it
	# (they also persist across the loss of the nexus: SPC-4 5.12.8).
	sess_b=$(pr_session_of "$PR_B")
	before=$(dmesg | grep -c 'detected conn error')
	ip link set eth0 down
	pr_wait_state "$sess_b" FAILED 20 || pr_bad reconnect-B "$sess_b did not fail with the link down (state $(cat "/sys/class/iscsi_session/$sess_b/state"))"
	ip link set eth0 up
	if pr_wait_state "$sess_b" LOGGED_IN 40; then
		after=$(dmesg | grep -c 'detected conn error')
		dmesg | grep -E 'conn error|operational|session recovery' | tail -n 4 | sed 's/^/  dmesg: /'
		if [ "$after" -gt "$before" ] && [ "$(pr_session_of "$PR_B")" = "$sess_b" ]; then
			pr_ok reconnect-B
		else
			pr_bad reconnect-B "no connection error logged, or $PR_B is no longer in $sess_b"
		fi
	else
		pr_bad reconnect-B "$sess_b not logged in again within 40 s of link up (state $(cat "/sys/class/iscsi_session/$sess_b/state"))"
	fi
	pr_wait_state "$(pr_session_of "$PR_A")" LOGGED_IN 40 || pr_bad reconnect-A "A's session not logged in again within 40 s of link up"
	pr_describe B "$PR_B"
	pr_check_keys read-keys-B-after-reconnect "$PR_B" "0xb1"
	pr_check_resv read-reservation-B-after-reconnect "$PR_B" 0xb1
	pr_write_ok write-B-after-reconnect "$PR_B" 4
	pr_sgp --in --read-full-status "$PR_B" 2>&1 | sed 's/^/  sg_persist -s: /'

	# B logs out and in again: open-iscsi makes a new session, and the ISID
	# qualifier is the session's number, so this is a new I_T nexus. The old
	# nexus's registration and reservation remain, but the new nexus is not
	# registered: its write conflicts until it registers (fence_scsi's
	# "on": REGISTER AND IGNORE EXISTING KEY with the node's key).
	pr_iscsiadm -m node -T "$TARGET" -p "$PORTAL" -I lunarB --logout || pr_bad logout-B "logout through lunarB failed"
	i=0
	while [ -n "$(pr_session_of "$PR_B")" ] && [ $i -lt 50 ]; do
		sleep 0.2
		i=$((i + 1))
	done
	pr_iscsiadm -m node -T "$TARGET" -p "$PORTAL" -I lunarB --login || { pr_bad login-B-again "login through lunarB failed"; return 1; }
	PR_B=$(pr_dev_of lunarB) || { pr_bad login-B-again "no disk for iface lunarB within 30 s"; return 1; }
	pr_describe B "$PR_B"
	pr_check_keys read-keys-B-after-relogin "$PR_B" "0xb1"
	pr_check_resv read-reservation-B-after-relogin "$PR_B" 0xb1
	if pr_write "$PR_B" 5; then
		pr_bad write-B-new-nexus-fenced "a write from B's new, unregistered I_T nexus succeeded"
	else
		pr_ok write-B-new-nexus-fenced
	fi
	pr_run register-ignore-B pr_sgp --out --register-ignore --param-sark=0xB1 "$PR_B"
	out=$(pr_sgp --in --read-full-status "$PR_B" 2>&1)
	echo "$out" | sed 's/^/  sg_persist -s: /'
	n=$(echo "$out" | grep -c "$IQN_B,i,0x")
	isids=$(echo "$out" | sed -n "s/.*$IQN_B,i,\(0x[0-9a-fA-F]*\).*/\1/p" | sort -u | tr '\n' ' ')
	if [ "$n" -eq 2 ] && [ "$(echo $isids | wc -w)" -eq 2 ]; then
		pr_ok two-B-nexuses-registered
	else
		pr_bad two-B-nexuses-registered "READ FULL STATUS shows $n registrations of $IQN_B with ISIDs [$isids], want 2 with distinct ISIDs"
	fi
	pr_check_keys read-keys-B-twice "$PR_B" "0xb1 0xb1"
	pr_write_ok write-B-new-nexus-registered "$PR_B" 6

	for x in A B; do
		pr_iscsiadm -m node -T "$TARGET" -p "$PORTAL" -I "lunar$x" --logout || pr_bad "logout-$x" "logout through lunar$x failed"
	done
	[ "$PR_FAILS" -eq 0 ] || return 1
	pass $s
}
