package target

import "github.com/lunarsan/lunar/iscsi"

// Nexus is an I_T nexus: one initiator port (initiator name and ISID)
// talking to one target port. Unit attentions are kept per nexus.
type Nexus struct {
	initiator string
	isid      iscsi.ISID
	target    string
	tpgt      uint16
}

// NewNexus returns the nexus of an initiator port and a target port.
func NewNexus(initiator string, isid iscsi.ISID, target string, tpgt uint16) *Nexus {
	return &Nexus{initiator: initiator, isid: isid, target: target, tpgt: tpgt}
}
