package scsi

import (
	"errors"
	"fmt"
)

// Sentinel errors. Decoders wrap them with %w and the actual and expected
// values; match them with errors.Is.
var (
	// ErrTruncated means the input is shorter than the structure it holds.
	ErrTruncated = errors.New("scsi: truncated data")
	// ErrUnsupportedOpCode means a CDB's operation code (or service
	// action) is not one this package decodes.
	ErrUnsupportedOpCode = errors.New("scsi: unsupported operation code")
	// ErrInvalidField means a field holds a value the standard forbids.
	// *CDBFieldError and *ParameterFieldError wrap it.
	ErrInvalidField = errors.New("scsi: invalid field")
)

// CDBFieldError reports an invalid field in a CDB, with the byte and bit a
// target puts in the sense-key specific field pointer of INVALID FIELD IN
// CDB sense (SPC-4 section 4.5.2.4.2). It wraps ErrInvalidField.
type CDBFieldError struct {
	Op     OpCode // operation code of the CDB
	Byte   int    // byte offset of the field in the CDB
	Bit    int    // bit of the field's most significant bit; -1 if the whole byte
	Reason string // what is wrong, for people
}

// Error describes the field and the reason.
func (e *CDBFieldError) Error() string {
	return fmt.Sprintf("scsi: invalid field in %v CDB at byte %d bit %d: %s", e.Op, e.Byte, e.Bit, e.Reason)
}

// Unwrap returns ErrInvalidField.
func (e *CDBFieldError) Unwrap() error { return ErrInvalidField }

// ParameterFieldError reports an invalid field in parameter data sent with
// a command (MODE SELECT, UNMAP, PERSISTENT RESERVE OUT ...), for INVALID
// FIELD IN PARAMETER LIST sense. It wraps ErrInvalidField.
type ParameterFieldError struct {
	Byte   int    // byte offset of the field in the parameter list
	Bit    int    // bit of the field's most significant bit; 7 if the whole byte
	Reason string // what is wrong, for people
}

// Error describes the field and the reason.
func (e *ParameterFieldError) Error() string {
	return fmt.Sprintf("scsi: invalid field in parameter list at byte %d bit %d: %s", e.Byte, e.Bit, e.Reason)
}

// Unwrap returns ErrInvalidField.
func (e *ParameterFieldError) Unwrap() error { return ErrInvalidField }
