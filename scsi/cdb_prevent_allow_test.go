package scsi

import "testing"

func preventAllowCases() []cdbCase {
	return []cdbCase{
		{"prevent", "1e 00 00 00 01 00", &PreventAllowMediumRemoval{Prevent: 1}},
		{"allow", "1e 00 00 00 00 00", &PreventAllowMediumRemoval{}},
		{"obsolete 11b", "1e 00 00 00 03 04", &PreventAllowMediumRemoval{Prevent: 3, Control: 4}},
	}
}

func TestCDBPreventAllowMediumRemoval(t *testing.T) {
	testCDBGolden(t, preventAllowCases())
	_, err := (&PreventAllowMediumRemoval{Prevent: 4}).MarshalBinary()
	cdbWantFieldError(t, "prevent", err, 4, 1)
}
