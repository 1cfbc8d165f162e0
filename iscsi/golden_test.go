package iscsi_test

import (
	"bytes"
	"cmp"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lunarsan/lunar/iscsi"
	"github.com/lunarsan/lunar/scsi"
)

// The golden PDUs were recorded between libiscsi's tools and tgtd (see
// scripts/capture-golden.sh). Their names are
// <capture>-s<stream><i|t>-<seq>-<pdu>[.hd].bin. The interop suite sets
// LUNAR_GOLDEN_DIR to a capture it has just recorded.
var goldenDir = cmp.Or(os.Getenv("LUNAR_GOLDEN_DIR"), "../testdata/golden")

// The CHAP secrets the capture script configured in tgtd.
const (
	goldenInitiatorSecret = "golden-secret-12"
	goldenTargetSecret    = "target-secret-34"
)

type golden struct {
	file    string
	capture string
	stream  string // stream number and direction, e.g. "s0i"
	seq     int
	kind    string // PDU kind from the file name
	digest  bool   // carries a CRC32C header digest
	raw     []byte
	pdu     iscsi.PDU
}

var goldenKinds = map[string]iscsi.Opcode{
	"nop-out": iscsi.OpNOPOut, "scsi-command": iscsi.OpSCSICommand, "tmf-request": iscsi.OpTaskMgmtReq,
	"login-request": iscsi.OpLoginReq, "text-request": iscsi.OpTextReq, "data-out": iscsi.OpDataOut,
	"logout-request": iscsi.OpLogoutReq, "nop-in": iscsi.OpNOPIn, "scsi-response": iscsi.OpSCSIResponse,
	"tmf-response": iscsi.OpTaskMgmtResp, "login-response": iscsi.OpLoginResp, "text-response": iscsi.OpTextResp,
	"data-in": iscsi.OpDataIn, "logout-response": iscsi.OpLogoutResp, "r2t": iscsi.OpR2T,
}

// loadGolden reads and decodes every golden PDU, failing the test on any
// file that does not decode.
func loadGolden(t *testing.T) []*golden {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(goldenDir, "*.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 100 {
		t.Fatalf("found %d golden PDUs in %s, want the whole capture set", len(files), goldenDir)
	}
	var out []*golden
	for _, file := range files {
		g := parseGoldenName(t, file)
		if g.raw, err = os.ReadFile(file); err != nil {
			t.Fatal(err)
		}
		g.pdu = decodeGolden(t, g)
		out = append(out, g)
	}
	return out
}

func parseGoldenName(t *testing.T, file string) *golden {
	t.Helper()
	base := filepath.Base(file)
	g := &golden{file: base, digest: strings.Contains(base, ".hd.")}
	name := strings.TrimSuffix(strings.TrimSuffix(base, ".bin"), ".hd")
	// The capture name may itself hold a dash (chap-mutual); the stream
	// part starts with "-s" and a digit.
	i := strings.Index(name, "-s")
	for i >= 0 && (i+2 >= len(name) || name[i+2] < '0' || name[i+2] > '9') {
		j := strings.Index(name[i+2:], "-s")
		if j < 0 {
			i = -1
			break
		}
		i += 2 + j
	}
	if i < 0 {
		t.Fatalf("%s: no stream in file name", base)
	}
	g.capture = name[:i]
	parts := strings.SplitN(name[i+1:], "-", 3)
	if len(parts) != 3 {
		t.Fatalf("%s: file name is not capture-stream-seq-kind", base)
	}
	g.stream, g.kind = parts[0], parts[2]
	seq, err := strconv.Atoi(parts[1])
	if err != nil {
		t.Fatalf("%s: sequence: %v", base, err)
	}
	g.seq = seq
	return g
}

// decodeGolden decodes a golden PDU and checks that it re-encodes to the
// very same bytes.
func decodeGolden(t *testing.T, g *golden) iscsi.PDU {
	t.Helper()
	if !g.digest {
		p, err := iscsi.Unmarshal(g.raw)
		if err != nil {
			t.Fatalf("%s: Unmarshal: %v", g.file, err)
		}
		again, err := iscsi.Marshal(p)
		if err != nil {
			t.Fatalf("%s: Marshal: %v", g.file, err)
		}
		if !bytes.Equal(again, g.raw) {
			t.Fatalf("%s: re-encoded bytes differ\n got %x\nwant %x", g.file, again, g.raw)
		}
		return p
	}
	// A PDU with a header digest goes through a Framer, which checks it.
	cfg := iscsi.FramerConfig{HeaderDigest: true, MaxRecvDataSegmentLength: 1 << 20, MaxSendDataSegmentLength: 1 << 20}
	r, err := iscsi.NewFramer(bytes.NewReader(g.raw), nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	f, err := r.ReadFrame()
	if err != nil {
		t.Fatalf("%s: ReadFrame with header digest: %v", g.file, err)
	}
	p, err := iscsi.Decode(f)
	if err != nil {
		t.Fatalf("%s: Decode: %v", g.file, err)
	}
	var out bytes.Buffer
	w, err := iscsi.NewFramer(nil, &out, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WritePDU(p); err != nil {
		t.Fatalf("%s: WritePDU: %v", g.file, err)
	}
	if !bytes.Equal(out.Bytes(), g.raw) {
		t.Fatalf("%s: re-encoded bytes with digest differ\n got %x\nwant %x", g.file, out.Bytes(), g.raw)
	}
	// The same header with one bit flipped must fail its digest.
	bad := bytes.Clone(g.raw)
	bad[20] ^= 0x01
	r, _ = iscsi.NewFramer(bytes.NewReader(bad), nil, cfg)
	if _, err := r.ReadFrame(); !errors.Is(err, iscsi.ErrHeaderDigest) {
		t.Fatalf("%s: flipped header bit: err = %v, want ErrHeaderDigest", g.file, err)
	}
	return p
}

func TestGoldenDecodeReencode(t *testing.T) {
	seen := map[iscsi.Opcode]int{}
	for _, g := range loadGolden(t) {
		want, ok := goldenKinds[g.kind]
		if !ok {
			t.Errorf("%s: unknown PDU kind %q", g.file, g.kind)
			continue
		}
		if got := g.pdu.Opcode(); got != want {
			t.Errorf("%s: opcode %v, want %v", g.file, got, want)
		}
		seen[want]++
	}
	for kind, op := range goldenKinds {
		if seen[op] == 0 {
			t.Errorf("no golden %s PDU", kind)
		}
	}
}

func TestGoldenTruncated(t *testing.T) {
	for _, g := range loadGolden(t) {
		if g.digest {
			continue // the Framer's own tests cut digested streams
		}
		for n := range len(g.raw) {
			if _, err := iscsi.Unmarshal(g.raw[:n]); !errors.Is(err, iscsi.ErrTruncated) {
				t.Fatalf("%s cut to %d bytes: err = %v, want ErrTruncated", g.file, n, err)
			}
		}
	}
}

// TestGoldenFields checks what each PDU says against what the capture
// script made the two peers do.
func TestGoldenFields(t *testing.T) {
	all := loadGolden(t)
	r2tTags := map[string]map[uint32]bool{}   // capture → R2T TTTs
	nopInTags := map[string]map[uint32]bool{} // capture → NOP-In TTTs
	for _, g := range all {
		switch p := g.pdu.(type) {
		case *iscsi.R2T:
			addTag(r2tTags, g.capture, p.TTT)
		case *iscsi.NOPIn:
			addTag(nopInTags, g.capture, p.TTT)
		}
	}
	var dataOutMatched, nopOutMatched, authFailures int
	for _, g := range all {
		switch p := g.pdu.(type) {
		case *iscsi.LoginRequest:
			kv := wantText(t, g, p.Data)
			if !p.ISID.Valid() {
				t.Errorf("%s: ISID %v not valid", g.file, p.ISID)
			}
			if p.CSG == iscsi.SecurityNegotiation && p.ITT == 0 && p.CmdSN == p.ExpStatSN && kv["InitiatorName"] == "" && p.TSIH == 0 && g.seq == 0 {
				t.Errorf("%s: first login request without InitiatorName", g.file)
			}
		case *iscsi.LoginResponse:
			wantText(t, g, p.Data)
			// iscsi-ls -s also tries the CHAP target without a
			// secret: tgtd's refusal is the one failure captured.
			var le *iscsi.LoginError
			err := iscsi.LoginErrorFromResponse(p)
			switch {
			case err == nil:
			case g.capture == "discovery" && errors.As(err, &le) &&
				le.Class == iscsi.LoginClassInitiatorError && le.Detail == iscsi.LoginDetailAuthenticationFailure:
				authFailures++
			default:
				t.Errorf("%s: login failed: %v", g.file, err)
			}
		case *iscsi.TextResponse:
			var names, addrs int
			tr := iscsi.NewTextReader(p.Data)
			for tr.Next() {
				switch tr.Key() {
				case "TargetName":
					names++
				case "TargetAddress":
					addrs++
				}
			}
			if err := tr.Err(); err != nil || names < 3 || addrs < 3 {
				t.Errorf("%s: SendTargets answer: %d names, %d addresses, err %v", g.file, names, addrs, err)
			}
		case *iscsi.SCSICommand:
			if _, err := scsi.DecodeCDB(p.CDB); err != nil {
				t.Errorf("%s: CDB % x: %v", g.file, p.CDB, err)
			}
		case *iscsi.SCSIResponse:
			sense, err := p.Sense()
			if err != nil {
				t.Errorf("%s: %v", g.file, err)
			}
			if p.Status == scsi.StatusCheckCondition {
				if _, err := scsi.ParseSense(sense); err != nil {
					t.Errorf("%s: sense % x: %v", g.file, sense, err)
				}
			}
		case *iscsi.DataOut:
			if r2tTags[g.capture][p.TTT] {
				dataOutMatched++
			}
		case *iscsi.NOPOut:
			if nopInTags[g.capture][p.TTT] {
				nopOutMatched++
			}
		case *iscsi.R2T:
			if p.DesiredDataTransferLength == 0 {
				t.Errorf("%s: R2T for zero bytes", g.file)
			}
		case *iscsi.TaskMgmtRequest:
			if p.Function != iscsi.AbortTask {
				t.Errorf("%s: function %v, want ABORT TASK", g.file, p.Function)
			}
		case *iscsi.LogoutResponse:
			if p.Response != iscsi.LogoutSuccess {
				t.Errorf("%s: logout response %v", g.file, p.Response)
			}
		}
	}
	if authFailures != 1 {
		t.Errorf("%d authentication failures in the discovery capture, want 1", authFailures)
	}
	if dataOutMatched == 0 {
		t.Error("no Data-Out answers a captured R2T's Target Transfer Tag")
	}
	if nopOutMatched == 0 {
		t.Error("no NOP-Out answers a captured NOP-In's Target Transfer Tag")
	}
}

// TestGoldenCHAP recomputes every CHAP response tgtd and libiscsi
// exchanged from the secrets the capture script set: one-way CHAP and
// both directions of mutual CHAP.
func TestGoldenCHAP(t *testing.T) {
	type exchange struct{ id, challenge, response string }
	// capture/stream → keys seen in that stream's login PDUs
	keys := map[string]map[string]string{}
	for _, g := range loadGolden(t) {
		var data []byte
		switch p := g.pdu.(type) {
		case *iscsi.LoginRequest:
			data = p.Data
		case *iscsi.LoginResponse:
			data = p.Data
		default:
			continue
		}
		if !strings.HasPrefix(g.capture, "chap") {
			continue
		}
		conn := g.capture + "/" + g.stream[:len(g.stream)-1]
		if keys[conn] == nil {
			keys[conn] = map[string]string{}
		}
		dir := g.stream[len(g.stream)-1:]
		for k, v := range wantText(t, g, data) {
			keys[conn][dir+":"+k] = v
		}
	}
	checked := 0
	for conn, kv := range keys {
		// The target challenges (t:CHAP_I, t:CHAP_C); the initiator
		// answers (i:CHAP_R). In mutual CHAP the initiator challenges
		// back and the target answers.
		pairs := []struct {
			challenger, responder, secret string
		}{{"t", "i", goldenInitiatorSecret}}
		if strings.HasPrefix(conn, "chap-mutual") {
			pairs = append(pairs, struct{ challenger, responder, secret string }{"i", "t", goldenTargetSecret})
		}
		alg, err := strconv.Atoi(kv["t:CHAP_A"])
		if err != nil {
			t.Fatalf("%s: CHAP_A %q", conn, kv["t:CHAP_A"])
		}
		for _, p := range pairs {
			ex := exchange{kv[p.challenger+":CHAP_I"], kv[p.challenger+":CHAP_C"], kv[p.responder+":CHAP_R"]}
			id, err := strconv.Atoi(ex.id)
			if err != nil {
				t.Fatalf("%s: CHAP_I %q", conn, ex.id)
			}
			challenge, err := iscsi.ParseCHAPBinary(ex.challenge)
			if err != nil {
				t.Fatalf("%s: CHAP_C: %v", conn, err)
			}
			response, err := iscsi.ParseCHAPBinary(ex.response)
			if err != nil {
				t.Fatalf("%s: CHAP_R: %v", conn, err)
			}
			want := iscsi.CHAPResponse(iscsi.CHAPAlgorithm(alg), uint8(id), []byte(p.secret), challenge)
			if !bytes.Equal(response, want) {
				t.Errorf("%s: %s answered %x, want %x", conn, p.responder, response, want)
			}
			checked++
		}
	}
	if checked < 3 {
		t.Fatalf("checked %d CHAP responses, want one-way and both mutual directions", checked)
	}
}

func addTag(m map[string]map[uint32]bool, capture string, tag uint32) {
	if m[capture] == nil {
		m[capture] = map[uint32]bool{}
	}
	m[capture][tag] = true
}

// wantText parses a login or text data segment and returns its pairs.
func wantText(t *testing.T, g *golden, data []byte) map[string]string {
	t.Helper()
	kvs, err := iscsi.ParseText(data)
	if err != nil {
		t.Fatalf("%s: text segment: %v", g.file, err)
	}
	m := map[string]string{}
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}
