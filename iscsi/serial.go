package iscsi

// Serial number arithmetic of RFC 1982 with SERIAL_BITS = 32, as RFC 7143
// section 4.2.2.1 requires for CmdSN, ExpCmdSN, MaxCmdSN, StatSN, DataSN
// and R2TSN: "CmdSN and StatSN ... are 32-bit unsigned integers ... and the
// comparison and arithmetic operations on them are as defined in [RFC1982]
// where SERIAL_BITS = 32".
//
// Two serial numbers a and b whose distance is exactly 2^31 are not
// ordered: RFC 1982 section 3.2 leaves "a < b" and "a > b" undefined for
// them. SNLess, SNGreater, SNLessEq and SNGreaterEq all report false for
// such a pair (SNLessEq and SNGreaterEq still report true for a == b), and
// SNCompare reports the pair as undefined. A correct peer never produces
// that distance: a command window holds at most 2^31-1 numbers.

// snHalf is 2^(SERIAL_BITS-1), the distance at which comparison is
// undefined.
const snHalf = 1 << 31

// SNLess reports whether a < b in serial number arithmetic (RFC 1982
// section 3.2): "s1 is said to be less than s2 if ... (i1 < i2 and i2 - i1 <
// 2^(SERIAL_BITS - 1)) or (i1 > i2 and i1 - i2 > 2^(SERIAL_BITS - 1))".
// It is false when the distance is exactly 2^31 (undefined).
func SNLess(a, b uint32) bool {
	d := b - a // distance from a forward to b, modulo 2^32
	return d != 0 && d < snHalf
}

// SNGreater reports whether a > b in serial number arithmetic. It is false
// when the distance is exactly 2^31 (undefined).
func SNGreater(a, b uint32) bool { return SNLess(b, a) }

// SNLessEq reports whether a == b or a < b in serial number arithmetic.
func SNLessEq(a, b uint32) bool { return a == b || SNLess(a, b) }

// SNGreaterEq reports whether a == b or a > b in serial number arithmetic.
func SNGreaterEq(a, b uint32) bool { return a == b || SNLess(b, a) }

// SNCompare compares a and b in serial number arithmetic. It returns -1 if
// a < b, 0 if a == b and +1 if a > b, with defined true; for a pair exactly
// 2^31 apart, whose order RFC 1982 leaves undefined, it returns 0 and false.
func SNCompare(a, b uint32) (cmp int, defined bool) {
	switch d := b - a; {
	case d == 0:
		return 0, true
	case d < snHalf:
		return -1, true
	case d > snHalf:
		return 1, true
	default:
		return 0, false
	}
}

// SNDiff returns a - b as a signed distance: positive when a is after b,
// negative when a is before b. For a pair exactly 2^31 apart (undefined
// order) it returns math.MinInt32.
func SNDiff(a, b uint32) int32 { return int32(a - b) }

// SNWindowValid reports whether ExpCmdSN lo and MaxCmdSN hi describe a
// command window: hi is not less than lo-1 in serial arithmetic. RFC 7143
// section 4.2.2.1: "If the PDU MaxCmdSN is less than the PDU ExpCmdSN-1
// (in serial arithmetic sense), they are both ignored." Valid windows hold
// 0 (closed) to 2^31 numbers.
func SNWindowValid(lo, hi uint32) bool {
	return !SNLess(hi, lo-1)
}

// SNWindowSize returns the number of CmdSN values the window ExpCmdSN lo
// .. MaxCmdSN hi admits: MaxCmdSN - ExpCmdSN + 1, which is 0 for the closed
// window MaxCmdSN = ExpCmdSN - 1 and for an invalid window.
func SNWindowSize(lo, hi uint32) uint32 {
	if !SNWindowValid(lo, hi) {
		return 0
	}
	return hi - lo + 1
}

// SNInWindow reports whether sn lies in the command window ExpCmdSN lo ..
// MaxCmdSN hi, both ends included, in serial arithmetic. RFC 7143 section
// 4.2.2.1: "MaxCmdSN - ExpCmdSN + 1 ... If MaxCmdSN is equal to ExpCmdSN -
// 1, this indicates to the initiator that the command window is currently
// closed": no sn is in a closed window, nor in an invalid one
// (SNWindowValid false).
func SNInWindow(sn, lo, hi uint32) bool {
	size := SNWindowSize(lo, hi)
	return sn-lo < size
}
