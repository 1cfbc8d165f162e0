package target

import (
	"github.com/lunarsan/lunar/iscsi"
	"github.com/lunarsan/lunar/scsi"
)

// asyncLogoutWait is the Parameter3 of the logout request sent on
// shutdown: the seconds the target waits for the logout.
const asyncLogoutWait = 2

// sendLUNsChanged sends an Asynchronous Message carrying the unit
// attention REPORTED LUNS DATA HAS CHANGED (RFC 7143 section 11.9.1,
// AsyncEvent 0: "a SCSI asynchronous event is reported in the sense
// data").
func (c *conn) sendLUNsChanged(v View) {
	sd := scsi.UnitAttention(scsi.SenseReportedLUNsDataHasChanged).SenseData()
	msg := &iscsi.AsyncMessage{AsyncEvent: iscsi.AsyncSCSIEvent}
	if v != nil {
		if luns := v.LUNs(); len(luns) > 0 && luns[0] <= 0x3fff {
			msg.LUN = scsi.EncodeLUN(uint16(luns[0]))
		}
	}
	if err := msg.SetSenseData(sd.MarshalFixed()); err != nil {
		return
	}
	c.sendPDU(msg)
}

// sendLogoutRequest asks the initiator to log out (AsyncEvent 1).
func (c *conn) sendLogoutRequest() {
	c.sendPDU(&iscsi.AsyncMessage{AsyncEvent: iscsi.AsyncLogoutRequest, Parameter3: asyncLogoutWait})
}
