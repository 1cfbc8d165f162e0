package scsi

import (
	"errors"
	"fmt"
)

// SenseError is a SCSI command failure reported with CHECK CONDITION status
// and sense data: a target returns one from its command handlers and sends
// SenseData(); an initiator builds one from received sense with
// SenseData.AsError. It matches another *SenseError under errors.Is when
// Key, ASC and ASCQ are equal, so
//
//	errors.Is(err, &scsi.SenseError{Key: scsi.SenseKeyUnitAttention, ASC: 0x3f, ASCQ: 0x0e})
//
// asks "is this REPORTED LUNS DATA HAS CHANGED?".
type SenseError struct {
	// Key is the SENSE KEY.
	Key SenseKey
	// ASC is the ADDITIONAL SENSE CODE.
	ASC uint8
	// ASCQ is the ADDITIONAL SENSE CODE QUALIFIER.
	ASCQ uint8
	// InformationValid and Information fill the INFORMATION field.
	InformationValid bool
	// Information is the INFORMATION field (for example an LBA).
	Information uint64
	// SenseKeySpecific is the SKSV bit and SENSE KEY SPECIFIC field.
	SenseKeySpecific SenseKeySpecific
	// Deferred marks a deferred error.
	Deferred bool
	// Err is the cause, if any; Unwrap returns it.
	Err error
}

// NewSenseError returns a SenseError with the given key and code.
func NewSenseError(key SenseKey, code SenseCode) *SenseError {
	return &SenseError{Key: key, ASC: code.ASC(), ASCQ: code.ASCQ()}
}

// InvalidFieldInCDB returns ILLEGAL REQUEST, INVALID FIELD IN CDB (24/00)
// with a field pointer to byte byteOffset, bit bit (-1: the whole byte) of
// the CDB.
func InvalidFieldInCDB(byteOffset, bit int) *SenseError {
	e := NewSenseError(SenseKeyIllegalRequest, SenseInvalidFieldInCDB)
	e.SenseKeySpecific = FieldPointer(true, byteOffset, bit)
	return e
}

// InvalidFieldInParameterList returns ILLEGAL REQUEST, INVALID FIELD IN
// PARAMETER LIST (26/00) with a field pointer to byte byteOffset, bit bit
// (-1: the whole byte) of the parameter list.
func InvalidFieldInParameterList(byteOffset, bit int) *SenseError {
	e := NewSenseError(SenseKeyIllegalRequest, SenseInvalidFieldInParameterList)
	e.SenseKeySpecific = FieldPointer(false, byteOffset, bit)
	return e
}

// UnitAttention returns UNIT ATTENTION with the given code.
func UnitAttention(code SenseCode) *SenseError {
	return NewSenseError(SenseKeyUnitAttention, code)
}

// LBAOutOfRange returns ILLEGAL REQUEST, LOGICAL BLOCK ADDRESS OUT OF
// RANGE (21/00).
func LBAOutOfRange() *SenseError {
	return NewSenseError(SenseKeyIllegalRequest, SenseLBAOutOfRange)
}

// Code returns ASC and ASCQ as one SenseCode.
func (e *SenseError) Code() SenseCode { return NewSenseCode(e.ASC, e.ASCQ) }

// Error returns a message such as
// "scsi: ILLEGAL REQUEST: INVALID FIELD IN CDB (24/00)", followed by the
// cause when there is one.
func (e *SenseError) Error() string {
	msg := fmt.Sprintf("scsi: %v: %v (%s)", e.Key, e.Code(), e.Code().Hex())
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the cause.
func (e *SenseError) Unwrap() error { return e.Err }

// Is reports whether target is a *SenseError with the same Key, ASC and
// ASCQ.
func (e *SenseError) Is(target error) bool {
	t, ok := target.(*SenseError)
	return ok && t != nil && t.Key == e.Key && t.ASC == e.ASC && t.ASCQ == e.ASCQ
}

// SenseData returns the sense data that reports e, in fixed format (set
// Descriptor on the result for descriptor format).
func (e *SenseError) SenseData() SenseData {
	return SenseData{
		Deferred:         e.Deferred,
		Key:              e.Key,
		ASC:              e.ASC,
		ASCQ:             e.ASCQ,
		InformationValid: e.InformationValid,
		Information:      e.Information,
		SenseKeySpecific: e.SenseKeySpecific,
	}
}

// AsError returns the SenseError that s reports, for an initiator that
// received s with CHECK CONDITION.
func (s *SenseData) AsError() *SenseError {
	return &SenseError{
		Key:              s.Key,
		ASC:              s.ASC,
		ASCQ:             s.ASCQ,
		InformationValid: s.InformationValid,
		Information:      s.Information,
		SenseKeySpecific: s.SenseKeySpecific,
		Deferred:         s.Deferred,
	}
}

// SenseFromError returns the sense a target reports for err, nil for a nil
// err:
//
//   - a *SenseError in err's chain: itself;
//   - a *CDBFieldError: ILLEGAL REQUEST, INVALID FIELD IN CDB (24/00), with
//     a field pointer (C/D = 1) to its byte and bit;
//   - a *ParameterFieldError: ILLEGAL REQUEST, INVALID FIELD IN PARAMETER
//     LIST (26/00), with a field pointer (C/D = 0);
//   - ErrUnsupportedOpCode: ILLEGAL REQUEST, INVALID COMMAND OPERATION CODE
//     (20/00);
//   - ErrTruncated (parameter data shorter than its own lengths say; a CDB
//     is never short on iSCSI): ILLEGAL REQUEST, PARAMETER LIST LENGTH
//     ERROR (1A/00);
//   - anything else: HARDWARE ERROR, INTERNAL TARGET FAILURE (44/00).
//
// Except for an existing *SenseError, the result's Err is err.
func SenseFromError(err error) *SenseError {
	if err == nil {
		return nil
	}
	var se *SenseError
	if errors.As(err, &se) && se != nil {
		return se
	}
	var cdbErr *CDBFieldError
	if errors.As(err, &cdbErr) && cdbErr != nil {
		e := InvalidFieldInCDB(cdbErr.Byte, cdbErr.Bit)
		e.Err = err
		return e
	}
	var parErr *ParameterFieldError
	if errors.As(err, &parErr) && parErr != nil {
		e := InvalidFieldInParameterList(parErr.Byte, parErr.Bit)
		e.Err = err
		return e
	}
	var e *SenseError
	switch {
	case errors.Is(err, ErrUnsupportedOpCode):
		e = NewSenseError(SenseKeyIllegalRequest, SenseInvalidCommandOperationCode)
	case errors.Is(err, ErrTruncated):
		e = NewSenseError(SenseKeyIllegalRequest, SenseParameterListLengthError)
	default:
		e = NewSenseError(SenseKeyHardwareError, SenseInternalTargetFailure)
	}
	e.Err = err
	return e
}

// IsSense reports whether err's chain holds a *SenseError with this key and
// code.
func IsSense(err error, key SenseKey, code SenseCode) bool {
	return errors.Is(err, NewSenseError(key, code))
}

// SenseKeyOf returns the sense key of the first *SenseError in err's chain;
// ok is false when there is none.
func SenseKeyOf(err error) (key SenseKey, ok bool) {
	var se *SenseError
	if errors.As(err, &se) && se != nil {
		return se.Key, true
	}
	return 0, false
}

// IsUnitAttention reports whether err's chain holds a UNIT ATTENTION
// *SenseError.
func IsUnitAttention(err error) bool {
	k, ok := SenseKeyOf(err)
	return ok && k == SenseKeyUnitAttention
}

// IsIllegalRequest reports whether err's chain holds an ILLEGAL REQUEST
// *SenseError.
func IsIllegalRequest(err error) bool {
	k, ok := SenseKeyOf(err)
	return ok && k == SenseKeyIllegalRequest
}

// IsNotReady reports whether err's chain holds a NOT READY *SenseError.
func IsNotReady(err error) bool {
	k, ok := SenseKeyOf(err)
	return ok && k == SenseKeyNotReady
}
