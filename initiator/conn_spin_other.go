//go:build !linux

package initiator

import "time"

// connSpin is zero: the reader sleeps at once (see connReader.spin);
// polling without a way to hand the CPU over could hold up a target
// that shares it.
const connSpin time.Duration = 0

// connStreamSpin is zero too (see connReader.pollStream).
const connStreamSpin time.Duration = 0

// connYieldCPU is unused here.
func connYieldCPU() {}
