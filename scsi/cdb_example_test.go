package scsi_test

import (
	"errors"
	"fmt"

	"github.com/lunarsan/lunar/scsi"
)

// ExampleDecodeCDB decodes a READ(10) CDB the way a target does, with a
// type switch on the result.
func ExampleDecodeCDB() {
	cdb := []byte{0x28, 0x00, 0x12, 0x34, 0x56, 0x78, 0x00, 0x00, 0x08, 0x00}
	cmd, err := scsi.DecodeCDB(cdb)
	if err != nil {
		fmt.Println(err)
		return
	}
	switch c := cmd.(type) {
	case *scsi.Read:
		fmt.Printf("%v LBA 0x%x, %d blocks\n", c.OpCode(), c.LBA, c.Blocks)
	}
	if bio, ok := cmd.(scsi.BlockIO); ok {
		fmt.Println("Data-In blocks:", bio.TransferBlocks())
	}
	// Output:
	// READ(10) LBA 0x12345678, 8 blocks
	// Data-In blocks: 8
}

// ExampleRead_MarshalBinary builds a CDB as an initiator does; a zero Op
// picks the smallest form that holds the LBA and length.
func ExampleRead_MarshalBinary() {
	cdb, err := (&scsi.Read{LBA: 1 << 32, Blocks: 8, FUA: true}).MarshalBinary()
	fmt.Printf("% x %v\n", cdb, err)
	// Output:
	// 88 08 00 00 00 01 00 00 00 00 00 00 00 08 00 00 <nil>
}

// ExampleCDBFieldError shows the field pointer a target copies into
// INVALID FIELD IN CDB sense data.
func ExampleCDBFieldError() {
	_, err := scsi.DecodeCDB([]byte{0x12, 0x00, 0x83, 0x00, 0xff, 0x00})
	var fe *scsi.CDBFieldError
	if errors.As(err, &fe) {
		fmt.Println(fe.Op, fe.Byte, fe.Bit)
	}
	// Output:
	// INQUIRY 2 -1
}
