package iscsi

import (
	"bytes"
	"testing"
)

func TestLoginResponseCodec(t *testing.T) {
	fresh := func() *LoginResponse { return new(LoginResponse) }
	tests := []struct {
		name string
		p    *LoginResponse
		want string
	}{{
		name: "final response to full feature",
		p: &LoginResponse{
			Transit: true, CSG: LoginOperationalNegotiation, NSG: FullFeaturePhase,
			VersionMax: 0x00, VersionActive: 0x00,
			ISID: NewRandomISID(0x3d5c1a, 0x0001), TSIH: 0x0102,
			ITT: 0x11223344, StatSN: 0x01020304, ExpCmdSN: 0x05060708, MaxCmdSN: 0x090a0b0c,
			Data: []byte("HeaderDigest=None\x00"),
		},
		want: `23 87 00 00 | 00 00 00 12 | 80 3d 5c 1a | 00 01 01 02
		       11 22 33 44 | 00 00 00 00 | 01 02 03 04 | 05 06 07 08
		       09 0a 0b 0c | 00 00 00 00 | 00 00 00 00 | 00 00 00 00
		       486561646572446967657374 3d4e6f6e6500 0000`,
	}, {
		name: "authentication failure",
		p: &LoginResponse{
			CSG: SecurityNegotiation, VersionMax: 0x01, VersionActive: 0x00,
			ISID: NewENISID(0x000137, 0x0002), ITT: 1, StatSN: 2, ExpCmdSN: 3, MaxCmdSN: 4,
			StatusClass: LoginClassInitiatorError, StatusDetail: LoginDetailAuthenticationFailure,
		},
		want: `23 00 01 00 | 00 00 00 00 | 40 00 01 37 | 00 02 00 00
		       00 00 00 01 | 00 00 00 00 | 00 00 00 02 | 00 00 00 03
		       00 00 00 04 | 02 01 00 00 | 00 00 00 00 | 00 00 00 00`,
	}, {
		name: "continue",
		p: &LoginResponse{
			Continue: true, CSG: LoginOperationalNegotiation, ITT: 0xffff0000,
			Data: []byte("TargetAlias=x\x00"),
		},
		want: `23 44 00 00 | 00 00 00 0e | 00 00 00 00 | 00 00 00 00
		       ff ff 00 00 | 00 00 00 00 | 00 00 00 00 | 00 00 00 00
		       00 00 00 00 | 00 00 00 00 | 00 00 00 00 | 00 00 00 00
		       546172676574416c6961733d7800 0000`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			smCheckCodec(t, tt.p, smHex(t, tt.want), fresh)
		})
	}
}

func TestLoginResponseRules(t *testing.T) {
	valid, err := (&LoginResponse{Transit: true, NSG: LoginOperationalNegotiation}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	with := func(i int, v byte) []byte { b := bytes.Clone(valid); b[i] = v; return b }
	smWantErrIs(t, new(LoginResponse).UnmarshalBinary(with(1, 0xc1)), ErrInvalidField)
	smWantErrIs(t, new(LoginResponse).UnmarshalBinary(with(1, 0x82)), ErrInvalidField)
	smWantErrIs(t, new(LoginResponse).UnmarshalBinary(with(1, 0x09)), ErrInvalidField)
	_, err = (&LoginResponse{Transit: true, Continue: true, NSG: 1}).MarshalBinary()
	smWantErrIs(t, err, ErrInvalidField)
	smWantErrIs(t, new(LoginResponse).UnmarshalBinary(append(with(4, 1), 0, 0, 0, 0)), ErrAHSLength)
}

func FuzzLoginResponse(f *testing.F) {
	smFuzzCodec(f,
		&LoginResponse{Transit: true, NSG: FullFeaturePhase, CSG: LoginOperationalNegotiation, TSIH: 3, Data: []byte("MaxBurstLength=262144\x00")},
		&LoginResponse{StatusClass: LoginClassTargetError, StatusDetail: LoginDetailOutOfResources},
	)
}
