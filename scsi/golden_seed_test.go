package scsi

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// goldenSCSI holds what the iSCSI PDUs captured in testdata/golden carry
// for the SCSI layer: the CDBs of SCSI Command PDUs, the sense data of SCSI
// Response PDUs and the payloads of Data-In PDUs. The scsi package cannot
// import iscsi, so the few BHS fields needed are read by offset here
// (RFC 7143 section 11).
type goldenSCSI struct {
	cdbs, senses, dataIn [][]byte
}

func loadGoldenSCSI(f *testing.F) goldenSCSI {
	f.Helper()
	files, err := filepath.Glob("../testdata/golden/*.bin")
	if err != nil || len(files) == 0 {
		f.Fatalf("no golden PDUs: %v", err)
	}
	var g goldenSCSI
	for _, file := range files {
		if strings.Contains(filepath.Base(file), ".hd.") {
			continue // a header digest sits between BHS and data
		}
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		if len(b) < 48 {
			continue
		}
		ahs := int(b[4]) * 4
		dsl := int(b[5])<<16 | int(b[6])<<8 | int(b[7])
		if len(b) < 48+ahs+dsl {
			continue
		}
		data := b[48+ahs : 48+ahs+dsl]
		switch b[0] & 0x3f {
		case 0x01: // SCSI Command: CDB in bytes 32-47
			g.cdbs = append(g.cdbs, b[32:48])
		case 0x21: // SCSI Response: SenseLength, then sense data
			if len(data) >= 2 {
				n := int(data[0])<<8 | int(data[1])
				if 2+n <= len(data) {
					g.senses = append(g.senses, data[2:2+n])
				}
			}
		case 0x25: // Data-In
			g.dataIn = append(g.dataIn, data)
		}
	}
	return g
}
