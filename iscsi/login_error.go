package iscsi

import "fmt"

// LoginError is a failed login as the target reported it: the
// Status-Class and Status-Detail of a Login Response (RFC 7143 section
// 11.13.5). It is the peer's verdict, not a local protocol error.
type LoginError struct {
	// Class is the Status-Class, one of the LoginClass constants.
	Class uint8
	// Detail is the Status-Detail, one of the LoginDetail constants.
	Detail uint8
}

// Error names the status, e.g. "iscsi: login failed: initiator error:
// authentication failure (0x0201)".
func (e *LoginError) Error() string {
	return fmt.Sprintf("iscsi: login failed: %s (0x%02x%02x)", LoginStatusText(e.Class, e.Detail), e.Class, e.Detail)
}

// Redirect reports whether the target sent the initiator elsewhere
// (class 0x01); the new address is in the response's TargetAddress key.
func (e *LoginError) Redirect() bool { return e.Class == LoginClassRedirection }

// Temporary reports whether the same login may succeed later: a
// temporary redirection or a target error (class 0x03). "The initiator
// should retry later" is the RFC's advice for target errors.
func (e *LoginError) Temporary() bool {
	return e.Class == LoginClassTargetError ||
		e.Class == LoginClassRedirection && e.Detail == LoginDetailTargetMovedTemporarily
}

// loginClassNames are the RFC's class names in lower case.
var loginClassNames = [...]string{
	LoginClassSuccess:        "success",
	LoginClassRedirection:    "redirection",
	LoginClassInitiatorError: "initiator error",
	LoginClassTargetError:    "target error",
}

// loginDetailNames are the RFC's detail names, indexed by class then
// detail.
var loginDetailNames = [...][]string{
	LoginClassSuccess: {
		LoginDetailSuccess: "success",
	},
	LoginClassRedirection: {
		LoginDetailTargetMovedTemporarily: "target moved temporarily",
		LoginDetailTargetMovedPermanently: "target moved permanently",
	},
	LoginClassInitiatorError: {
		LoginDetailInitiatorError:          "miscellaneous",
		LoginDetailAuthenticationFailure:   "authentication failure",
		LoginDetailAuthorizationFailure:    "authorization failure",
		LoginDetailNotFound:                "not found",
		LoginDetailTargetRemoved:           "target removed",
		LoginDetailUnsupportedVersion:      "unsupported version",
		LoginDetailTooManyConnections:      "too many connections",
		LoginDetailMissingParameter:        "missing parameter",
		LoginDetailCantIncludeInSession:    "can't include in session",
		LoginDetailSessionTypeNotSupported: "session type not supported",
		LoginDetailSessionDoesNotExist:     "session does not exist",
		LoginDetailInvalidDuringLogin:      "invalid during login",
	},
	LoginClassTargetError: {
		LoginDetailTargetError:        "miscellaneous",
		LoginDetailServiceUnavailable: "service unavailable",
		LoginDetailOutOfResources:     "out of resources",
	},
}

// LoginStatusText returns the RFC's name for a login status as
// "class: detail", e.g. "target error: out of resources", or just
// "success". Codes the RFC does not define are shown in hex.
func LoginStatusText(class, detail uint8) string {
	if int(class) >= len(loginClassNames) {
		return fmt.Sprintf("status class 0x%02x detail 0x%02x", class, detail)
	}
	details := loginDetailNames[class]
	if int(detail) >= len(details) || details[detail] == "" {
		return fmt.Sprintf("%s: detail 0x%02x", loginClassNames[class], detail)
	}
	if class == LoginClassSuccess {
		return details[detail]
	}
	return loginClassNames[class] + ": " + details[detail]
}

// LoginErrorFromResponse returns nil if r reports success (class 0x00)
// and a *LoginError with r's class and detail otherwise.
func LoginErrorFromResponse(r *LoginResponse) error {
	if r.StatusClass == LoginClassSuccess {
		return nil
	}
	return &LoginError{Class: r.StatusClass, Detail: r.StatusDetail}
}
