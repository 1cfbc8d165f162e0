package initiator

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/lunarsan/lunar/iscsi"
	"github.com/lunarsan/lunar/scsi"
)

// fuzzFirstITT is the ITT of a new session's first command: slot 0,
// generation 1.
const fuzzFirstITT = 1 << 16

// fuzzTarget is a fake target: it answers a login correctly, waits for the
// first SCSI command, sends the given bytes, ends its side of the stream
// and reads what the initiator still sends until it closes or goes quiet.
func fuzzTarget(ln net.Listener, payload []byte) {
	nc, fr, ok := fakeTargetAccept(ln)
	if !ok {
		return
	}
	defer nc.Close()
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return
		}
		if f.BHS.Opcode() == iscsi.OpSCSICommand {
			break
		}
	}
	nc.Write(payload)
	// The initiator sees the end of input at once. It may still write
	// (answers to NOP-Ins, ABORT TASK, a retried command): drain it, so
	// that its writes never block on a peer that stopped reading, and stop
	// as soon as it closes or stays quiet for fuzzQuiet.
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	buf := make([]byte, 4096)
	for {
		nc.SetReadDeadline(time.Now().Add(fuzzQuiet))
		if _, err := nc.Read(buf); err != nil {
			return
		}
	}
}

// fakeTargetAccept accepts a connection on ln and answers its login
// (fakeTargetLogin), with a deadline of 5 s on the whole connection; the
// caller closes it when ok.
func fakeTargetAccept(ln net.Listener) (nc net.Conn, fr *iscsi.Framer, ok bool) {
	nc, err := ln.Accept()
	if err != nil {
		return nil, nil, false
	}
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	if fr, ok = fakeTargetLogin(nc); !ok {
		nc.Close()
	}
	return nc, fr, ok
}

// fakeTargetLogin answers a login on nc as a target would and returns
// the connection's Framer, set for the Full Feature Phase; false when the
// login did not complete.
func fakeTargetLogin(nc net.Conn) (*iscsi.Framer, bool) {
	fr, _ := iscsi.NewFramer(nc, nc, iscsi.FramerConfig{})
	neg, _ := iscsi.NewNegotiator(iscsi.RoleTarget, iscsi.NegotiatorConfig{NoInitialR2T: true})
	statSN := uint32(0)
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return nil, false
		}
		var req iscsi.LoginRequest
		if err := req.DecodeFrame(f); err != nil {
			return nil, false
		}
		out, err := neg.StepText(req.CSG, req.Data)
		if err != nil {
			return nil, false
		}
		resp := iscsi.LoginResponse{
			CSG: req.CSG, ISID: req.ISID, ITT: req.ITT, StatSN: statSN,
			ExpCmdSN: req.CmdSN, MaxCmdSN: req.CmdSN + 31, Data: out.AppendText(nil),
		}
		statSN++
		if req.Transit && !neg.Pending() {
			resp.Transit, resp.NSG = true, req.NSG
			if req.NSG == iscsi.FullFeaturePhase {
				resp.TSIH = 1
			}
		}
		if err := fr.WritePDU(&resp); err != nil {
			return nil, false
		}
		if resp.Transit && resp.NSG == iscsi.FullFeaturePhase {
			fr.SetMaxRecvDataSegmentLength(int(neg.Params().TargetMaxRecvDSL))
			return fr, true
		}
	}
}

// fuzzQuiet is how long the fake target waits for more from the initiator
// after sending its payload.
const fuzzQuiet = 100 * time.Millisecond

// fuzzSeeds are well-formed answers to the first command, and a few that
// are not.
func fuzzSeeds() [][]byte {
	var seeds [][]byte
	add := func(p iscsi.PDU) {
		b, err := iscsi.Marshal(p)
		if err != nil {
			panic(err)
		}
		seeds = append(seeds, b)
	}
	data := make([]byte, 4096)
	add(&iscsi.DataIn{Final: true, HasStatus: true, ITT: fuzzFirstITT, TTT: iscsi.ReservedTag, StatSN: 1, ExpCmdSN: 2, MaxCmdSN: 40, Data: data})
	add(&iscsi.DataIn{Final: true, ITT: fuzzFirstITT, TTT: iscsi.ReservedTag, ExpCmdSN: 2, MaxCmdSN: 40, BufferOffset: 4000, Data: data[:512]})
	add(&iscsi.SCSIResponse{ITT: fuzzFirstITT, StatSN: 1, ExpCmdSN: 2, MaxCmdSN: 40})
	cc := iscsi.SCSIResponse{ITT: fuzzFirstITT, Status: scsi.StatusCheckCondition, StatSN: 1, ExpCmdSN: 2, MaxCmdSN: 40}
	sd := scsi.UnitAttention(scsi.SensePowerOnReset).SenseData()
	cc.SetSense(sd.MarshalFixed())
	add(&cc)
	add(&iscsi.R2T{ITT: fuzzFirstITT, TTT: 7, ExpCmdSN: 2, MaxCmdSN: 40, DesiredDataTransferLength: 512})
	add(&iscsi.NOPIn{ITT: iscsi.ReservedTag, TTT: 9, ExpCmdSN: 2, MaxCmdSN: 40})
	add(&iscsi.TaskMgmtResponse{ITT: fuzzFirstITT, ExpCmdSN: 2, MaxCmdSN: 40})
	add(&iscsi.AsyncMessage{AsyncEvent: iscsi.AsyncLogoutRequest, ExpCmdSN: 2, MaxCmdSN: 40})
	rj := iscsi.Reject{Reason: iscsi.RejectProtocolError, ExpCmdSN: 2, MaxCmdSN: 40}
	var h iscsi.BHS
	h.SetOpcode(iscsi.OpSCSICommand, false)
	h.SetITT(fuzzFirstITT)
	rj.SetRejectedHeader(&h)
	add(&rj)
	seeds = append(seeds, []byte{0x25, 0x80, 0, 0, 0, 0xff, 0xff, 0xff})
	return seeds
}

// FuzzSessionIntake feeds fuzzer-chosen bytes to a session in the Full
// Feature Phase: the command ends with a result or a clean typed error,
// the session fails cleanly, and nothing panics or hangs.
func FuzzSessionIntake(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	defer ln.Close()
	f.Fuzz(func(t *testing.T, payload []byte) { fuzzRun(t, ln, payload) })
}

// fuzzRun runs one input against a fake target listening on ln.
func fuzzRun(t *testing.T, ln net.Listener, payload []byte) {
	{
		done := make(chan struct{})
		go func() {
			defer close(done)
			fuzzTarget(ln, payload)
		}()
		cfg := Config{
			InitiatorName: sessTestInitiator, TargetName: sessTestTarget, Portal: ln.Addr().String(),
			NOPInterval: -1, LoginTimeout: 5 * time.Second, Reconnect: ReconnectPolicy{Attempts: -1},
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s, err := Dial(ctx, cfg)
		if err != nil {
			t.Fatalf("Dial: %v", err)
		}
		defer func() {
			s.Close()
			<-done
		}()
		buf := make([]byte, 4096)
		r := scsi.Read{LBA: 0, Blocks: 8}
		cdb, _ := r.MarshalBinary()
		_, err = s.Execute(ctx, &Command{CDB: cdb, DataIn: buf})
		if ctx.Err() != nil {
			t.Fatalf("Execute hung: %v", err)
		}
		if err == nil {
			return
		}
		var se *scsi.SenseError
		var st *StatusError
		var re *iscsi.RejectError
		switch {
		case errors.Is(err, ErrSessionFailed), errors.Is(err, ErrProtocol), errors.Is(err, ErrTaskAborted),
			errors.Is(err, ErrTargetFailure), errors.As(err, &se), errors.As(err, &st), errors.As(err, &re):
		default:
			t.Fatalf("untyped error %v", err)
		}
	}
}
