package iscsi_test

import (
	"bytes"
	"fmt"

	"github.com/lunarsan/lunar/iscsi"
	"github.com/lunarsan/lunar/scsi"
)

// A SCSI Command with immediate data goes through a Framer with CRC32C
// digests and comes back as the same typed PDU.
func ExampleFramer() {
	var conn bytes.Buffer // stands in for a net.Conn
	cfg := iscsi.FramerConfig{HeaderDigest: true, DataDigest: true}
	w, err := iscsi.NewFramer(nil, &conn, cfg)
	if err != nil {
		panic(err)
	}
	cdb, _ := (&scsi.Write{Op: scsi.OpWrite10, LBA: 8, Blocks: 1}).MarshalBinary()
	cmd := &iscsi.SCSICommand{
		Final: true, Write: true, Attr: iscsi.TaskAttrSimple,
		LUN: scsi.EncodeLUN(1), ITT: 7, CmdSN: 1,
		ExpectedDataTransferLength: 512, CDB: cdb, Data: make([]byte, 512),
	}
	if err := w.WritePDU(cmd); err != nil {
		panic(err)
	}

	r, _ := iscsi.NewFramer(&conn, nil, cfg)
	f, err := r.ReadFrame()
	if err != nil {
		panic(err)
	}
	p, err := iscsi.Decode(f)
	if err != nil {
		panic(err)
	}
	got := p.(*iscsi.SCSICommand)
	op, _ := scsi.DecodeCDB(got.CDB)
	fmt.Println(p.Opcode(), got.ITT, op.OpCode(), len(got.Data))
	// Output: SCSI Command 7 WRITE(10) 512
}

// An initiator and a target negotiate operational parameters, each with
// its own Negotiator, exchanging nothing but key=value text.
func ExampleNegotiator() {
	ini, _ := iscsi.NewNegotiator(iscsi.RoleInitiator, iscsi.NegotiatorConfig{
		InitiatorName:            "iqn.2026-11.org.example:host1",
		TargetName:               "iqn.2026-11.org.example:storage",
		MaxRecvDataSegmentLength: 262144,
	})
	tgt, _ := iscsi.NewNegotiator(iscsi.RoleTarget, iscsi.NegotiatorConfig{
		MaxRecvDataSegmentLength: 65536,
	})
	// The initiator's offer, the target's answer, and the initiator
	// reading the answer: one round trip of the operational stage.
	offer := ini.Offer(iscsi.LoginOperationalNegotiation)
	answer, err := tgt.Step(iscsi.LoginOperationalNegotiation, offer)
	if err != nil {
		panic(err)
	}
	if _, err := ini.Receive(iscsi.LoginOperationalNegotiation, answer.Send); err != nil {
		panic(err)
	}
	p := ini.Params()
	fmt.Println(p.TargetName, p.MaxSendDSL(iscsi.RoleInitiator), p.MaxRecvDSL(iscsi.RoleInitiator))
	// Output: iqn.2026-11.org.example:storage 65536 262144
}
