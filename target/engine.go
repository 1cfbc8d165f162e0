package target

import (
	"encoding"
	"errors"

	"github.com/lunarsan/lunar/scsi"
)

// Engine is the SCSI engine: it runs tasks against logical units. The zero
// value is ready to use and safe for concurrent use; it holds no state of
// its own (logical units and nexuses hold it).
type Engine struct{}

// luCmd is one command being executed: the task, its logical unit and the
// result being built.
type luCmd struct {
	t   *Task
	lu  *LU
	res Result
}

// errLUAborted is returned by a handler that stopped because the task's
// context was cancelled; the engine reports TASK ABORTED.
var errLUAborted = errors.New("target: task aborted")

// luCommand is one entry of the command table that both dispatches
// commands and answers REPORT SUPPORTED OPERATION CODES, so the two never
// disagree.
type luCommand struct {
	op    scsi.OpCode
	sa    uint8 // service action, when hasSA
	hasSA bool
	// usage is the CDB USAGE DATA of REPORT SUPPORTED OPERATION CODES
	// (SPC-4 section 6.35.3): the operation code, then for each CDB byte
	// the bits the device server examines (the service action field holds
	// the service action). Its length is the CDB length.
	usage []byte
	run   func(c *luCmd) error
	// supported, when set, says whether lu supports the command (UNMAP
	// only on thin logical units).
	supported func(lu *LU) bool
	// quick says the command completes at once: it reads or sets the
	// logical unit's state in memory, never its backend (see Quick).
	quick bool
}

// The command table, indexed by operation code; the two operation codes
// with service actions have a table per service action. Filled once by
// init (in sbc.go, spc.go) and read-only afterwards.
var (
	luOps         [256]*luCommand
	luServiceIn16 [32]*luCommand // OpServiceActionIn16
	luMaintIn     [32]*luCommand // OpMaintenanceIn
	luPRIn        [32]*luCommand // OpPersistentReserveIn
	luPROut       [32]*luCommand // OpPersistentReserveOut
)

// luRegister adds commands to the table; init functions call it.
func luRegister(cmds ...luCommand) {
	for i := range cmds {
		c := &cmds[i]
		switch {
		case c.op == scsi.OpServiceActionIn16 && c.hasSA:
			luServiceIn16[c.sa&0x1f] = c
		case c.op == scsi.OpMaintenanceIn && c.hasSA:
			luMaintIn[c.sa&0x1f] = c
		case c.op == scsi.OpPersistentReserveIn && c.hasSA:
			luPRIn[c.sa&0x1f] = c
		case c.op == scsi.OpPersistentReserveOut && c.hasSA:
			luPROut[c.sa&0x1f] = c
		default:
			luOps[c.op] = c
		}
	}
}

// luSATable returns the per-service-action table of op, or nil when op
// has no service actions.
func luSATable(op scsi.OpCode) *[32]*luCommand {
	switch op {
	case scsi.OpServiceActionIn16:
		return &luServiceIn16
	case scsi.OpMaintenanceIn:
		return &luMaintIn
	case scsi.OpPersistentReserveIn:
		return &luPRIn
	case scsi.OpPersistentReserveOut:
		return &luPROut
	}
	return nil
}

// luLookup finds the command for op and service action sa that lu
// supports; the second result reports whether op has service actions.
func luLookup(lu *LU, op scsi.OpCode, sa uint8) (*luCommand, bool) {
	var c *luCommand
	tab := luSATable(op)
	if tab != nil {
		c = tab[sa&0x1f]
	} else {
		c = luOps[op]
	}
	if c == nil || (c.supported != nil && !c.supported(lu)) {
		return nil, tab != nil
	}
	return c, tab != nil
}

// Quick reports whether the command of cdb completes at once, without
// backend I/O (QuickExecutor): the commands a disk scan sends, and the
// unit attention, mode and capability reports. An unknown command is not
// quick; the answer does not depend on the logical unit.
func (e *Engine) Quick(cdb []byte) bool {
	if len(cdb) == 0 {
		return false
	}
	op := scsi.OpCode(cdb[0])
	c := luOps[op]
	if tab := luSATable(op); tab != nil {
		if len(cdb) < 2 {
			return false
		}
		c = tab[cdb[1]&0x1f]
	}
	return c != nil && c.quick
}

// Execute runs t: it looks t.LUN up in t.View and runs the command on that
// logical unit, or answers as SAM-5 says for a LUN that is not mapped.
// It never panics on any CDB or data.
func (e *Engine) Execute(t *Task) Result {
	var lu *LU
	if t.View != nil {
		if l, ok := t.View.Lookup(t.LUN); ok && l != nil {
			lu = l
		}
	}
	if len(t.CDB) == 0 {
		return luFail(lu, 0, scsi.NewSenseError(scsi.SenseKeyIllegalRequest, scsi.SenseInvalidCommandOperationCode))
	}
	if lu == nil {
		return spcUnmapped(t)
	}
	op := scsi.OpCode(t.CDB[0])
	if luCanceled(t) {
		return Result{Status: scsi.StatusTaskAborted}
	}
	// SAM-5 section 5.14: INQUIRY and REPORT LUNS are not affected by a
	// unit attention condition; REQUEST SENSE reports it (and clears it);
	// every other command, supported or not, is terminated with CHECK
	// CONDITION reporting it, which clears it.
	if n := t.Nexus; n != nil {
		switch op {
		case scsi.OpInquiry, scsi.OpReportLUNs, scsi.OpRequestSense:
			n.touch(lu)
		default:
			if code, ok := n.takeUA(lu, true); ok {
				return luFail(lu, 0, scsi.UnitAttention(code))
			}
		}
	}
	var sa uint8
	if len(t.CDB) > 1 {
		sa = t.CDB[1] & 0x1f
	}
	cmd, hasSA := luLookup(lu, op, sa)
	if cmd == nil {
		if hasSA {
			// SPC-4 section 4.2.5.1: an unsupported service action of a
			// supported operation code is INVALID FIELD IN CDB.
			return luFail(lu, 0, scsi.InvalidFieldInCDB(1, 4))
		}
		return luFail(lu, 0, scsi.NewSenseError(scsi.SenseKeyIllegalRequest, scsi.SenseInvalidCommandOperationCode))
	}
	if l := op.CDBLength(); l > 0 && len(t.CDB) >= l && scsi.ControlByte(t.CDB[l-1]).NACA() {
		// SAM-5 section 5.9.3: a device server that does not support
		// ACA (NORMACA is zero in the INQUIRY data) "shall terminate the
		// command with CHECK CONDITION status, with the sense key set to
		// ILLEGAL REQUEST, and the additional sense code set to INVALID
		// FIELD IN CDB" when NACA is one.
		return luFail(lu, 0, scsi.InvalidFieldInCDB(l-1, 2))
	}
	// SPC-4 section 5.12.1: a command that conflicts with a reservation
	// is terminated with RESERVATION CONFLICT before it runs. Without a
	// reservation this is one atomic load.
	if lu.pr.active.Load() && lu.prConflict(t.Nexus, t.CDB) {
		return Result{Status: scsi.StatusReservationConflict}
	}
	switch op {
	case scsi.OpRead6, scsi.OpRead10, scsi.OpRead12, scsi.OpRead16:
		return luRunRead(t, lu)
	case scsi.OpWrite6, scsi.OpWrite10, scsi.OpWrite12, scsi.OpWrite16:
		return luRunWrite(t, lu)
	}
	c := &luCmd{t: t, lu: lu}
	return c.finish(cmd.run(c))
}

// luRunRead runs a READ without going through the command table's
// function values, so that nothing escapes to the heap.
func luRunRead(t *Task, lu *LU) Result {
	c := luCmd{t: t, lu: lu}
	return c.finish(sbcRead(&c))
}

// luRunWrite runs a WRITE like luRunRead.
func luRunWrite(t *Task, lu *LU) Result {
	c := luCmd{t: t, lu: lu}
	return c.finish(sbcWrite(&c))
}

// finish turns a handler's error into the result: GOOD, TASK ABORTED, or
// CHECK CONDITION with sense data.
func (c *luCmd) finish(err error) Result {
	if err == nil {
		c.res.Status = scsi.StatusGood
		return c.res
	}
	return luFail(c.lu, c.res.Transfer, err)
}

// luFail returns the result for a failed command: TASK ABORTED for a
// cancelled one, CHECK CONDITION with the sense scsi.SenseFromError gives
// otherwise, in the format the logical unit's D_SENSE selects.
func luFail(lu *LU, transfer int, err error) Result {
	if errors.Is(err, errLUAborted) {
		return Result{Status: scsi.StatusTaskAborted, Transfer: transfer}
	}
	if err == errPRConflict {
		return Result{Status: scsi.StatusReservationConflict, Transfer: transfer}
	}
	return Result{Status: scsi.StatusCheckCondition, Sense: luSense(lu, scsi.SenseFromError(err)), Transfer: transfer}
}

// luSense encodes sense data; descriptor format when the control mode
// page's D_SENSE is set (SPC-4 section 7.5.8: "A descriptor format sense
// data (D_SENSE) bit set to one specifies that the device server shall
// return descriptor format sense data").
func luSense(lu *LU, se *scsi.SenseError) []byte {
	sd := se.SenseData()
	if lu != nil && lu.dsense.Load() {
		return sd.AppendDescriptor(nil)
	}
	return sd.AppendFixed(nil)
}

// luCanceled reports whether the task's context is done.
func luCanceled(t *Task) bool {
	return t.Ctx != nil && t.Ctx.Err() != nil
}

// dataIn copies parameter data to the Data-In buffer, never more than the
// allocation length nor the buffer, and records the transfer: what the
// command moves is the data available, cut at the allocation length
// (SPC-4 section 4.2.5.6: the device server "shall terminate transfers to
// the Data-In Buffer when the number of bytes or blocks specified by the
// ALLOCATION LENGTH field have been transferred or when all available
// data have been transferred"). Less than the Expected Data Transfer
// Length is then a residual underflow (RFC 7143 section 11.4.5.1: "the
// Residual Count indicates the number of bytes that were not transferred
// out of the number of bytes that were expected to be transferred"); an
// allocation length above it, with that much data, an overflow.
func (c *luCmd) dataIn(data []byte, alloc uint32) {
	c.res.Transfer = min(len(data), int(alloc))
	n := min(c.res.Transfer, len(c.t.DataIn))
	c.res.DataIn = copy(c.t.DataIn[:n], data)
}

// marshalDataIn encodes parameter data and returns it as dataIn does.
func (c *luCmd) marshalDataIn(d encoding.BinaryMarshaler, alloc uint32) error {
	b, err := d.MarshalBinary()
	if err != nil {
		return err
	}
	c.dataIn(b, alloc)
	return nil
}

// luMediumError maps a backend error to sense data: NOT READY after the
// logical unit was closed, MEDIUM ERROR otherwise.
func luMediumError(err error, code scsi.SenseCode) error {
	se := scsi.NewSenseError(scsi.SenseKeyMediumError, code)
	if errors.Is(err, errBackendClosed) {
		se = scsi.NewSenseError(scsi.SenseKeyNotReady, scsi.SenseLUNotReadyCauseNotReportable)
	}
	se.Err = err
	return se
}
