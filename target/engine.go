package target

import "github.com/lunarsan/lunar/scsi"

// Engine is the SCSI engine: it runs tasks against logical units.
type Engine struct{}

// Execute runs t.
func (e *Engine) Execute(t *Task) Result {
	return Result{Status: scsi.StatusCheckCondition}
}
