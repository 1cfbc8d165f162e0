// Package openiscsi is a node agent's initiator engine over the Linux
// kernel's iSCSI initiator, driven through open-iscsi's iscsid and
// iscsiadm: the initiator.Engine that `lunar node serve --engine
// open-iscsi` runs on real Linux hosts, where the disks applications use
// are the kernel's /dev/sdX.
//
//   - Login: SendTargets discovery at the portal (iscsiadm -m discovery -t
//     st -p), a node record when discovery did not make one (-o new), CHAP
//     in the record (-o update -n node.session.auth.*), then -m node -T -p
//     --login. A session already there is reused.
//   - Disk arrival: the disk whose Device Identification VPD page
//     (sysfs device/vpd_pg83, decoded with the scsi package; device/wwid as
//     a fallback) names the LUN's WWN, under the target's session in
//     /sys/block. The kernel scans a session at login but not when a LUN is
//     mapped later, so the wait rescans the session (-m session -r SID
//     --rescan) and looks again, backing off from 100 ms to 2 s, until its
//     context ends; it never sleeps a fixed time.
//   - Release: fsync and BLKFLSBUF on the device, then the SCSI device is
//     deleted through sysfs (device/delete) and the wait is for it to go.
//   - Logout: only sessions with no disk left are logged out (-m session -r
//     SID --logout), then the node record is deleted.
//   - Format (initiator.Formatter): a GPT with one partition named after
//     the resource, then mkfs.ext4 -L on the partition.
//
// iscsiadm changes its node database under a lock, so the engine runs
// those calls (discovery, node records, login, logout) one at a time;
// rescans and waits for disks overlap. Every failed iscsiadm run is an
// *ExitError whose code (iscsiadm(8), EXIT STATUS: 15 session exists, 21
// no objects found, 24 login refused ...) maps to a sentinel of this
// package and to one of the initiator package's engine sentinels, which
// the cluster agent turns into its own. A deadline is returned as
// context.DeadlineExceeded.
//
// Commands run through a Runner (ExecRunner by default) and sysfs and /dev
// are paths in Config, so tests drive the engine over a fake sysfs tree
// with a runner that records the calls.
package openiscsi
