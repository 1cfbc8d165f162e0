#!/bin/sh
# guest-cluster.sh: /init of a cluster node VM (scripts/vm/run-cluster-test.sh).
# Busybox sh. Loads the modules, configures eth0 on the test's bridge,
# starts iscsid with the node's initiator name and runs
# `lunar node serve --engine open-iscsi`. A reporter loop prints the node's
# disks (blkid) and iSCSI sessions on the console whenever they change:
#
#   LUNAR-VM: READY node=NAME                      iscsid runs, lunar started
#   LUNAR-VM: DISKS node=NAME <blkid lines joined by " | ">   ("none" when no sd disk)
#   LUNAR-VM: SESSIONS node=NAME count=N iscsiadm_rc=RC        (RC of iscsiadm -m session: 21 = none)
#
# The host reads them from the serial log; the host kills qemu at the end.
# With lunar.fixtures=1 the node also prints, once its disk holds ext4,
# iscsiadm's outputs (sessions, -P 3, discovery, errors with their exit
# codes) and its sysfs layout between LUNAR-FIXTURE-BEGIN/END lines.
#
# Kernel command line (set by the host script):
#   lunar.cluster=1              select this script (else /guest-init.sh runs)
#   lunar.name=node1             node name
#   lunar.ip=10.99.1.11/24       the node's address on eth0
#   lunar.host=10.99.1.1         the host (target, storage API, etcd)
#   lunar.etcd=URL  lunar.storage=URL  the etcd endpoint and storage API URL
#   lunar.storage_token=T  lunar.agent_token=T   the API tokens
#   lunar.iqn=IQN                the node's initiator name
#   lunar.log=LEVEL              lunar's --log-level (default info)
#   lunar.fixtures=1             print the fixtures (see above)
export PATH=/bin:/sbin
NAME=
IP=
ETCD=
STORAGE=
STOKEN=
ATOKEN=
IQN=
LOGLEVEL=info

FIXTURES=

# Without lunar.cluster=1 this image runs the initiator scenarios.
mount -t proc proc /proc 2>/dev/null
if ! grep -q 'lunar.cluster=1' /proc/cmdline; then
	umount /proc
	exec /guest-init.sh
fi

say() { echo "LUNAR-VM: $*"; }

halt() {
	say "HALT node=$NAME: $*"
	sync
	poweroff -f
	sleep 5
	echo o >/proc/sysrq-trigger
}

mount -t proc proc /proc 2>/dev/null
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /run /var/lib/iscsi /var/lock /etc/iscsi/nodes /etc/iscsi/send_targets /tmp /mnt /var/lib/lunar
mount -t tmpfs tmpfs /run
mkdir -p /run/lock/iscsi
for p in $(cat /proc/cmdline); do
	case $p in
	lunar.name=*) NAME=${p#*=} ;;
	lunar.ip=*) IP=${p#*=} ;;
	lunar.etcd=*) ETCD=${p#*=} ;;
	lunar.storage=*) STORAGE=${p#*=} ;;
	lunar.storage_token=*) STOKEN=${p#*=} ;;
	lunar.agent_token=*) ATOKEN=${p#*=} ;;
	lunar.iqn=*) IQN=${p#*=} ;;
	lunar.log=*) LOGLEVEL=${p#*=} ;;
	lunar.fixtures=*) FIXTURES=${p#*=} ;;
	esac
done
say "BOOT node=$NAME kernel $(uname -r) uptime $(cut -d' ' -f1 /proc/uptime)s ip=$IP"
for m in $(cat /etc/modules-load); do
	out=$(insmod "$m" 2>&1) || case $m in
	*crc32c-intel* | *crc32c_intel*) ;;
	*) say "INFO insmod $m: $out" ;;
	esac
done
ip link set lo up
ip link set eth0 up || halt "no eth0"
ip addr add "$IP" dev eth0 || halt "cannot set $IP"
# Only the test's bridge: no default route.

echo "InitiatorName=$IQN" >/etc/iscsi/initiatorname.iscsi
/sbin/iscsid -f >>/tmp/iscsid.log 2>&1 &
i=0
while :; do
	/sbin/iscsiadm -m session >/dev/null 2>&1
	rc=$?
	[ $rc -eq 0 ] || [ $rc -eq 21 ] && break
	i=$((i + 1))
	[ $i -lt 100 ] || halt "iscsid did not start"
	sleep 0.2
done

printf '%s\n' "$STOKEN" >/var/lib/lunar/api-token
printf '%s\n' "$ATOKEN" >/var/lib/lunar/agent-token
addr=${IP%/*}
# lunar's log goes to the console, each line prefixed with the node's name.
(/sbin/lunar --log-level "$LOGLEVEL" --log-format console node serve --engine open-iscsi \
	--name "$NAME" --listen "$addr:3270" --etcd "$ETCD" --storage-url "$STORAGE" \
	--data /var/lib/lunar 2>&1; echo "lunar exited $?") | sed "s/^/[$NAME] /" &
say "READY node=$NAME"

# fixtures: print iscsiadm's outputs and the sysfs layout once, for the
# openiscsi package's tests (initiator/openiscsi/testdata).
fixture() { # NAME COMMAND...
	n=$1
	shift
	echo "LUNAR-FIXTURE-BEGIN $n"
	"$@" 2>&1
	echo "LUNAR-FIXTURE-END $n rc=$?"
}
fixtures() {
	fixture sysfs sh -c 'for b in /sys/block/sd*; do echo "block $b -> $(readlink $b)"; echo "device $(readlink $b/device)"; echo "resolved $(readlink -f $b/device)"; echo "size $(cat $b/size) lbs $(cat $b/queue/logical_block_size)"; echo "wwid $(cat $b/device/wwid 2>/dev/null)"; echo "vpd_pg83 $(od -An -tx1 -v $b/device/vpd_pg83 | tr -d "\n")"; echo "vpd_pg80 $(od -An -tx1 -v $b/device/vpd_pg80 | tr -d "\n")"; ls $b; done; for s in /sys/class/iscsi_session/*; do echo "session $s -> $(readlink $s)"; echo "targetname $(cat $s/targetname)"; done; for c in /sys/class/iscsi_connection/*; do echo "connection $c -> $(readlink $c)"; for f in address port persistent_address persistent_port; do echo "$f $(cat $c/$f)"; done; done; ls /sys/class/scsi_disk'
	fixture session /sbin/iscsiadm -m session
	fixture session-P3 /sbin/iscsiadm -m session -P 3
	portal=$(/sbin/iscsiadm -m session 2>/dev/null | sed -n 's/^tcp: \[[0-9]*\] \([^,]*\),.*/\1/p' | head -n 1)
	fixture discovery /sbin/iscsiadm -m discovery -t st -p "$portal"
	fixture discovery-refused /sbin/iscsiadm -m discovery -t st -p "${portal%:*}:1"
	fixture login-exists /sbin/iscsiadm -m node --login
	fixture login-no-record /sbin/iscsiadm -m node -T iqn.2000-01.org.example:none -p "$portal" --login
	fixture rescan-bad-sid /sbin/iscsiadm -m session -r 99 --rescan
}

# The reporter: print the disks and sessions when they change.
last_disks=
last_sessions=
while :; do
	d=
	for b in /sys/block/sd*; do
		[ -e "$b" ] || continue
		n=${b##*/}
		for p in /dev/"$n" /dev/"$n"[0-9]*; do
			[ -b "$p" ] || continue
			line=$(/sbin/blkid "$p" 2>/dev/null)
			[ -n "$line" ] || line="$p: (no filesystem)"
			d="$d${d:+ | }$line"
		done
	done
	[ -n "$d" ] || d=none
	if [ "$d" != "$last_disks" ]; then
		say "DISKS node=$NAME $d"
		last_disks=$d
		case $d in
		*TYPE=\"ext4\"*) [ "$FIXTURES" = 1 ] && { fixtures; FIXTURES=done; } ;;
		esac
	fi
	s=$(ls /sys/class/iscsi_session 2>/dev/null | wc -l)
	if [ "$s" != "$last_sessions" ]; then
		/sbin/iscsiadm -m session >/tmp/sessions.txt 2>&1
		rc=$?
		say "SESSIONS node=$NAME count=$s iscsiadm_rc=$rc"
		sed "s/^/[$NAME] iscsiadm -m session: /" /tmp/sessions.txt
		last_sessions=$s
	fi
	sleep 1
done
