// Command goldensplit turns a capture of iSCSI traffic into golden PDU
// files. It reads tshark's field output (one TCP segment a line: stream,
// source port, payload in hex) from standard input, joins each stream's
// bytes per direction, cuts them into PDUs by their header lengths, and
// writes the first few PDUs of each opcode to one file each.
//
// It is run by scripts/capture-golden.sh; see there.
package main

import (
	"bufio"
	"encoding/hex"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

const bhsLen = 48

var opNames = map[byte]string{
	0x00: "nop-out", 0x01: "scsi-command", 0x02: "tmf-request", 0x03: "login-request",
	0x04: "text-request", 0x05: "data-out", 0x06: "logout-request", 0x10: "snack",
	0x20: "nop-in", 0x21: "scsi-response", 0x22: "tmf-response", 0x23: "login-response",
	0x24: "text-response", 0x25: "data-in", 0x26: "logout-response", 0x31: "r2t",
	0x32: "async-message", 0x3f: "reject",
}

type flow struct {
	stream   int
	fromInit bool
	data     []byte
}

func main() {
	name := flag.String("name", "", "capture name, the prefix of every file")
	port := flag.Int("port", 3260, "the target's port")
	out := flag.String("out", "testdata/golden", "output directory")
	perOpcode := flag.Int("per-opcode", 3, "PDUs kept per opcode, direction and capture")
	maxLen := flag.Int("max-len", 8192+bhsLen+8, "longest PDU kept, in bytes")
	flag.Parse()
	if *name == "" {
		log.Fatal("goldensplit: -name is required")
	}

	var flows []*flow
	index := map[string]*flow{}
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if len(fields) != 3 {
			continue
		}
		stream, err1 := strconv.Atoi(fields[0])
		src, err2 := strconv.Atoi(fields[1])
		payload, err3 := hex.DecodeString(strings.ReplaceAll(fields[2], ":", ""))
		if err1 != nil || err2 != nil || err3 != nil {
			log.Fatalf("goldensplit: bad line %q", sc.Text())
		}
		key := fmt.Sprintf("%d/%v", stream, src != *port)
		f := index[key]
		if f == nil {
			f = &flow{stream: stream, fromInit: src != *port}
			index[key] = f
			flows = append(flows, f)
		}
		f.data = append(f.data, payload...)
	}
	if err := sc.Err(); err != nil {
		log.Fatal(err)
	}

	// The target's last Login Response says which digests the full
	// feature phase uses, for both directions of its stream.
	type digests struct{ header, data bool }
	negotiated := map[int]digests{}
	for _, f := range flows {
		if !f.fromInit {
			negotiated[f.stream] = loginDigests(f.data)
		}
	}

	kept := map[string]int{}
	written := 0
	for _, f := range flows {
		neg := negotiated[f.stream]
		dir := "t"
		if f.fromInit {
			dir = "i"
		}
		ffp := false // digests start with the full feature phase
		b := f.data
		for seq := 0; len(b) >= bhsLen; seq++ {
			op := b[0] & 0x3f
			ahs := int(b[4]) * 4
			dsl := int(b[5])<<16 | int(b[6])<<8 | int(b[7])
			n := bhsLen + ahs + dsl + (4-dsl&3)&3
			if ffp && neg.header {
				n += 4
			}
			if ffp && neg.data && dsl > 0 {
				n += 4
			}
			if n > len(b) {
				break
			}
			if _, known := opNames[op]; !known || (op < 0x20) != f.fromInit {
				// Lost segments put us out of step: keep what came before.
				log.Printf("goldensplit: %s stream %d%s: opcode 0x%02x at PDU %d, stopping", *name, f.stream, dir, op, seq)
				break
			}
			pdu := b[:n]
			b = b[n:]
			if n > *maxLen {
				continue
			}
			if isFinalLogin(pdu) {
				ffp = true
			}
			opName, ok := opNames[op]
			if !ok {
				opName = fmt.Sprintf("op%02x", op)
			}
			key := opName + dir
			if kept[key] >= *perOpcode {
				continue
			}
			kept[key]++
			suffix := ".bin"
			if ffp && !isLogin(pdu) {
				if neg.header {
					suffix = ".hd" + suffix
				}
				if neg.data {
					suffix = ".dd" + suffix
				}
			}
			file := fmt.Sprintf("%s-s%d%s-%03d-%s%s", *name, f.stream, dir, seq, opName, suffix)
			if err := os.WriteFile(filepath.Join(*out, file), pdu, 0o644); err != nil {
				log.Fatal(err)
			}
			written++
		}
	}
	fmt.Printf("goldensplit: %s: %d PDUs written\n", *name, written)
}

func isLogin(pdu []byte) bool { return pdu[0]&0x3f == 0x03 || pdu[0]&0x3f == 0x23 }

// isFinalLogin reports a Login PDU with T=1 and NSG=3: the end of login.
func isFinalLogin(pdu []byte) bool { return isLogin(pdu) && pdu[1]&0x80 != 0 && pdu[1]&0x03 == 3 }

// loginDigests reads the digests a target's login responses settled on.
func loginDigests(b []byte) (d struct{ header, data bool }) {
	for len(b) >= bhsLen && isLogin(b) {
		dsl := int(b[5])<<16 | int(b[6])<<8 | int(b[7])
		n := bhsLen + int(b[4])*4 + dsl + (4-dsl&3)&3
		if n > len(b) {
			break
		}
		for _, kv := range strings.Split(string(b[bhsLen+int(b[4])*4:bhsLen+int(b[4])*4+dsl]), "\x00") {
			switch kv {
			case "HeaderDigest=CRC32C":
				d.header = true
			case "DataDigest=CRC32C":
				d.data = true
			}
		}
		final := isFinalLogin(b)
		b = b[n:]
		if final {
			break
		}
	}
	return d
}
