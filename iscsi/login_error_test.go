package iscsi

import (
	"errors"
	"testing"
)

func TestLoginErrorText(t *testing.T) {
	tests := []struct {
		class, detail uint8
		want          string
	}{
		{LoginClassInitiatorError, LoginDetailAuthenticationFailure, "iscsi: login failed: initiator error: authentication failure (0x0201)"},
		{LoginClassInitiatorError, LoginDetailInitiatorError, "iscsi: login failed: initiator error: miscellaneous (0x0200)"},
		{LoginClassInitiatorError, LoginDetailAuthorizationFailure, "iscsi: login failed: initiator error: authorization failure (0x0202)"},
		{LoginClassInitiatorError, LoginDetailNotFound, "iscsi: login failed: initiator error: not found (0x0203)"},
		{LoginClassInitiatorError, LoginDetailTargetRemoved, "iscsi: login failed: initiator error: target removed (0x0204)"},
		{LoginClassInitiatorError, LoginDetailUnsupportedVersion, "iscsi: login failed: initiator error: unsupported version (0x0205)"},
		{LoginClassInitiatorError, LoginDetailTooManyConnections, "iscsi: login failed: initiator error: too many connections (0x0206)"},
		{LoginClassInitiatorError, LoginDetailMissingParameter, "iscsi: login failed: initiator error: missing parameter (0x0207)"},
		{LoginClassInitiatorError, LoginDetailCantIncludeInSession, "iscsi: login failed: initiator error: can't include in session (0x0208)"},
		{LoginClassInitiatorError, LoginDetailSessionTypeNotSupported, "iscsi: login failed: initiator error: session type not supported (0x0209)"},
		{LoginClassInitiatorError, LoginDetailSessionDoesNotExist, "iscsi: login failed: initiator error: session does not exist (0x020a)"},
		{LoginClassInitiatorError, LoginDetailInvalidDuringLogin, "iscsi: login failed: initiator error: invalid during login (0x020b)"},
		{LoginClassInitiatorError, 0x0c, "iscsi: login failed: initiator error: detail 0x0c (0x020c)"},
		{LoginClassRedirection, LoginDetailTargetMovedTemporarily, "iscsi: login failed: redirection: target moved temporarily (0x0101)"},
		{LoginClassRedirection, LoginDetailTargetMovedPermanently, "iscsi: login failed: redirection: target moved permanently (0x0102)"},
		{LoginClassTargetError, LoginDetailTargetError, "iscsi: login failed: target error: miscellaneous (0x0300)"},
		{LoginClassTargetError, LoginDetailServiceUnavailable, "iscsi: login failed: target error: service unavailable (0x0301)"},
		{LoginClassTargetError, LoginDetailOutOfResources, "iscsi: login failed: target error: out of resources (0x0302)"},
		{0x07, 0x01, "iscsi: login failed: status class 0x07 detail 0x01 (0x0701)"},
	}
	for _, tt := range tests {
		e := &LoginError{Class: tt.class, Detail: tt.detail}
		if got := e.Error(); got != tt.want {
			t.Errorf("LoginError{%#x, %#x}.Error() = %q, want %q", tt.class, tt.detail, got, tt.want)
		}
	}
	if got := LoginStatusText(LoginClassSuccess, LoginDetailSuccess); got != "success" {
		t.Errorf("LoginStatusText(0, 0) = %q, want success", got)
	}
	if got := LoginStatusText(LoginClassSuccess, 0x01); got != "success: detail 0x01" {
		t.Errorf("LoginStatusText(0, 1) = %q", got)
	}
	if got := LoginStatusText(LoginClassTargetError, 0xff); got != "target error: detail 0xff" {
		t.Errorf("LoginStatusText(3, 0xff) = %q", got)
	}
}

func TestLoginErrorFromResponse(t *testing.T) {
	if err := LoginErrorFromResponse(&LoginResponse{}); err != nil {
		t.Fatalf("success: err = %v, want nil", err)
	}
	err := LoginErrorFromResponse(&LoginResponse{StatusClass: LoginClassInitiatorError, StatusDetail: LoginDetailNotFound})
	var le *LoginError
	if !errors.As(err, &le) || le.Class != LoginClassInitiatorError || le.Detail != LoginDetailNotFound {
		t.Fatalf("err = %#v, want *LoginError{2, 3}", err)
	}
	if le.Temporary() || le.Redirect() {
		t.Errorf("not found: Temporary=%v Redirect=%v, want false, false", le.Temporary(), le.Redirect())
	}
	moved := &LoginError{Class: LoginClassRedirection, Detail: LoginDetailTargetMovedTemporarily}
	if !moved.Temporary() || !moved.Redirect() {
		t.Errorf("moved temporarily: Temporary=%v Redirect=%v, want true, true", moved.Temporary(), moved.Redirect())
	}
	busy := &LoginError{Class: LoginClassTargetError, Detail: LoginDetailServiceUnavailable}
	if !busy.Temporary() || busy.Redirect() {
		t.Errorf("service unavailable: Temporary=%v Redirect=%v, want true, false", busy.Temporary(), busy.Redirect())
	}
}
