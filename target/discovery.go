package target

import (
	"fmt"
	"slices"
	"strings"

	"github.com/lunarsan/lunar/iscsi"
)

// connTextState is the reader's state of a Text exchange (RFC 7143
// section 11.10): the initiator's text being joined across C-bit PDUs,
// and the rest of a response too long for one PDU.
type connTextState struct {
	acc  *iscsi.TextAccumulator
	ttt  uint32
	rest [][]byte
}

// handleText answers a Text Request: SendTargets in Discovery and Normal
// sessions; any other key is refused, since nothing is renegotiated in
// the Full Feature Phase.
func (c *conn) handleText(p *iscsi.TextRequest, h *iscsi.BHS) {
	data := slices.Clone(p.Data)
	itt, ttt, cont := p.ITT, p.TTT, p.Continue
	hdr := *h
	deliver := func() { c.textStep(itt, ttt, cont, data, &hdr) }
	if !c.sess.admit(c, p.CmdSN, p.Immediate, nil, deliver) {
		c.srv.stats.err(ErrorKindDropped)
	}
}

// textStep runs one Text Request of an exchange.
func (c *conn) textStep(itt, ttt uint32, cont bool, data []byte, h *iscsi.BHS) {
	st := &c.text
	if ttt != iscsi.ReservedTag {
		// The initiator asks for the next part of our response.
		if ttt != st.ttt || len(st.rest) == 0 {
			c.srv.stats.err(ErrorKindProtocol)
			c.reject(iscsi.RejectInvalidPDUField, h)
			return
		}
		c.textSendChunk(itt)
		return
	}
	st.rest = nil
	if st.acc == nil {
		st.acc = iscsi.NewTextAccumulator(0)
	}
	text, done, err := st.acc.Add(data, cont)
	if err != nil {
		st.acc.Reset()
		c.srv.stats.err(ErrorKindProtocol)
		c.reject(iscsi.RejectProtocolError, h)
		return
	}
	if !done {
		// "the target MUST ... respond with an empty Text Response" to
		// a request whose C bit is set, and wait for the rest.
		st.ttt = c.newTTT()
		c.sendPDU(&iscsi.TextResponse{ITT: itt, TTT: st.ttt})
		return
	}
	var out []byte
	r := iscsi.NewTextReader(text)
	for r.Next() {
		k, v := r.Key(), r.Value()
		switch {
		case k == iscsi.KeySendTargets:
			out = c.sendTargets(out, v)
		case strings.HasPrefix(k, "X-") || strings.HasPrefix(k, "X#") || !iscsi.ValidKeyName(k):
			out = iscsi.AppendText(out, k, iscsi.ValueNotUnderstood)
		default:
			out = iscsi.AppendText(out, k, iscsi.ValueReject)
		}
	}
	if r.Err() != nil {
		c.srv.stats.err(ErrorKindProtocol)
		c.reject(iscsi.RejectProtocolError, h)
		return
	}
	chunks, err := iscsi.SplitText(out, max(int(c.params.InitiatorMaxRecvDSL), 512))
	if err != nil {
		c.reject(iscsi.RejectProtocolError, h)
		return
	}
	st.rest = chunks
	st.ttt = c.newTTT()
	c.textSendChunk(itt)
}

// textSendChunk sends the next part of a Text Response; all parts but
// the last carry the C bit and a Target Transfer Tag to continue with.
func (c *conn) textSendChunk(itt uint32) {
	st := &c.text
	chunk := st.rest[0]
	st.rest = st.rest[1:]
	resp := &iscsi.TextResponse{ITT: itt, Data: chunk, Final: true, TTT: iscsi.ReservedTag}
	if len(st.rest) > 0 {
		resp.Final, resp.Continue, resp.TTT = false, true, st.ttt
	}
	c.sendPDU(resp)
}

// sendTargets appends the answer to SendTargets=value (RFC 7143 section
// 12.3 and Appendix C): each target the initiator may log in to, with
// the portal's advertised address. An initiator learns only targets where
// the Directory allows it.
func (c *conn) sendTargets(b []byte, value string) []byte {
	dir := c.srv.cfg.Directory
	se := c.sess
	var names []string
	switch {
	case se.typ == iscsi.SessionNormal:
		// In a Normal session only the session's own target is reported.
		if value == "" || value == "All" || value == se.target {
			names = []string{se.target}
		}
	case value == "All":
		names = dir.Targets()
	case value != "":
		if _, ok := dir.TargetAlias(value); ok {
			names = []string{value}
		}
	}
	addr := fmt.Sprintf("%s,%d", c.portal.advertise, c.portal.tpgt)
	for _, t := range names {
		if !dir.Access(t, se.initiator).Allowed {
			continue
		}
		b = iscsi.AppendText(b, iscsi.KeyTargetName, t)
		b = iscsi.AppendText(b, iscsi.KeyTargetAddress, addr)
	}
	return b
}
