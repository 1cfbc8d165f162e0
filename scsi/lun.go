package scsi

// LUN is the eight-byte SAM-5 LUN structure as it is carried on the wire
// (in iSCSI PDUs and REPORT LUNS data), held as a big-endian integer. Use
// the encoding helpers to map it to and from a LUN number.
type LUN uint64
