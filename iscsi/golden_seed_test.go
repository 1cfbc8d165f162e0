package iscsi

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// goldenPDUs returns the captured PDUs in testdata/golden (see
// scripts/capture-golden.sh) for seeding fuzz targets, with whether each
// carries a header digest.
func goldenPDUs(f *testing.F) (pdus [][]byte, digest []bool) {
	f.Helper()
	files, err := filepath.Glob("../testdata/golden/*.bin")
	if err != nil || len(files) == 0 {
		f.Fatalf("no golden PDUs: %v", err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		pdus = append(pdus, b)
		digest = append(digest, strings.Contains(filepath.Base(file), ".hd."))
	}
	return pdus, digest
}

// goldenTextSegments returns the data segments of the captured Login and
// Text PDUs.
func goldenTextSegments(f *testing.F) [][]byte {
	f.Helper()
	pdus, digest := goldenPDUs(f)
	var out [][]byte
	for i, b := range pdus {
		if digest[i] {
			continue
		}
		var fr Frame
		if err := fr.UnmarshalBinary(b); err != nil {
			f.Fatal(err)
		}
		switch fr.BHS.Opcode() {
		case OpLoginReq, OpLoginResp, OpTextReq, OpTextResp:
			out = append(out, fr.Data)
		}
	}
	return out
}
