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
# The host reads them from the serial log. The node powers off when the
# host writes "poweroff" to lunar.stop_url... there is none: qemu is killed.
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
export PATH=/bin:/sbin
NAME=
IP=
ETCD=
STORAGE=
STOKEN=
ATOKEN=
IQN=
LOGLEVEL=info
CLUSTER=

for p in $(cat /proc/cmdline 2>/dev/null); do
	case $p in
	lunar.cluster=*) CLUSTER=${p#*=} ;;
	esac
done
if [ -z "$CLUSTER" ] && [ -z "$(grep -o 'lunar.cluster=' /proc/cmdline 2>/dev/null)" ]; then
	# /proc may not be mounted yet: mount it and look again.
	mount -t proc proc /proc 2>/dev/null
	grep -q 'lunar.cluster=' /proc/cmdline || exec /guest-init.sh
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
			line=$(blkid "$p" 2>/dev/null)
			[ -n "$line" ] || line="$p: (no filesystem)"
			d="$d${d:+ | }$line"
		done
	done
	[ -n "$d" ] || d=none
	if [ "$d" != "$last_disks" ]; then
		say "DISKS node=$NAME $d"
		last_disks=$d
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
