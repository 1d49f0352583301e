package opencti

// SetTestHook makes h call hook at each step of a request (see the step*
// constants); a hook that never returns simulates a kill at that step.
func SetTestHook(h *Helper, hook func(step string)) { h.testHook = hook }

// Steps a test hook sees.
const (
	StepBeforeAddExpectations = stepBeforeAddExpectations
	StepAfterAddExpectations  = stepAfterAddExpectations
	StepBeforeToProcessed     = stepBeforeToProcessed
)

// StepPublished is the step after k messages were published.
func StepPublished(k int) string { return stepPublished(k) }
