package iscsi

import "testing"

// benchTargetAnswer is what a target (tgtd 1.0.85) answers to the
// initiator's operational offers of BenchmarkNegotiateInitiator.
var benchTargetAnswer = []byte("HeaderDigest=None\x00DataDigest=None\x00MaxRecvDataSegmentLength=262144\x00" +
	"MaxConnections=1\x00InitialR2T=No\x00ImmediateData=Yes\x00MaxBurstLength=262144\x00" +
	"FirstBurstLength=65536\x00DefaultTime2Wait=2\x00DefaultTime2Retain=0\x00" +
	"MaxOutstandingR2T=1\x00DataPDUInOrder=Yes\x00DataSequenceInOrder=Yes\x00" +
	"ErrorRecoveryLevel=0\x00TargetPortalGroupTag=1\x00")

// BenchmarkNegotiateInitiator measures the initiator's side of a typical
// login without authentication, as initiator.Dial drives it: a
// Negotiator, the operational offers encoded as text, the target's answer
// parsed and checked, and the negotiated parameters.
func BenchmarkNegotiateInitiator(b *testing.B) {
	cfg := NegotiatorConfig{
		InitiatorName:            "iqn.2026-11.org.lunar:initiator",
		TargetName:               "iqn.2026-11.org.lunar:bench",
		AuthMethods:              []string{AuthMethodNone},
		MaxRecvDataSegmentLength: 262144,
		MaxBurstLength:           262144,
		FirstBurstLength:         65536,
		MaxOutstandingR2T:        4,
		NoInitialR2T:             true,
	}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		n, err := NewNegotiator(RoleInitiator, cfg)
		if err != nil {
			b.Fatal(err)
		}
		buf = AppendPairs(buf[:0], n.Offer(LoginOperationalNegotiation))
		out, err := n.ReceiveText(LoginOperationalNegotiation, benchTargetAnswer)
		if err != nil {
			b.Fatal(err)
		}
		if len(out.Send) != 0 || n.Pending() {
			b.Fatalf("send %v, pending %v", out.Send, n.Pending())
		}
		if p := n.Params(); p.Validate() != nil || p.TargetMaxRecvDSL != 262144 {
			b.Fatalf("params %v", p)
		}
	}
}

// BenchmarkNegotiateTarget measures the target's side of the same login:
// the initiator's first request parsed and answered in one Step.
func BenchmarkNegotiateTarget(b *testing.B) {
	icfg := NegotiatorConfig{
		InitiatorName: "iqn.2026-11.org.lunar:initiator",
		TargetName:    "iqn.2026-11.org.lunar:bench",
		NoInitialR2T:  true,
	}
	in, err := NewNegotiator(RoleInitiator, icfg)
	if err != nil {
		b.Fatal(err)
	}
	req := AppendPairs(nil, in.Offer(LoginOperationalNegotiation))
	b.ReportAllocs()
	for b.Loop() {
		n, err := NewNegotiator(RoleTarget, NegotiatorConfig{TargetPortalGroupTag: 1})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := n.StepText(LoginOperationalNegotiation, req); err != nil {
			b.Fatal(err)
		}
	}
}
