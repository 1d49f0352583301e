package api

import (
	"context"
	"fmt"
)

// PlaybookStep is the playbook context of an enrichment request plus the
// bundle to hand back (spec §4.2, §4.3).
type PlaybookStep struct {
	// ExecutionID is the playbook execution id.
	ExecutionID string
	// EventID is the triggering event id.
	EventID string
	// ExecutionStart is when the connector started the step (DateTime, UTC).
	ExecutionStart string
	// DataInstanceID is the data instance id.
	DataInstanceID string
	// PlaybookID is the playbook id.
	PlaybookID string
	// PreviousStepID is the id of the step that called the connector.
	PreviousStepID string
	// StepID is the step to continue from.
	StepID string
	// PreviousBundle is the JSON text of the bundle the step received.
	PreviousBundle string
	// Bundle is the JSON text of the resulting bundle.
	Bundle string
}

// PlaybookStepExecution hands an enrichment result back to a playbook, which
// continues from s.StepID; nothing goes to RabbitMQ in that case (spec §4.3).
//
// mutation PlaybookStepExecution($execution_id: ID!, …, $bundle: String!) { playbookStepExecution(…) }
func (c *Client) PlaybookStepExecution(ctx context.Context, s PlaybookStep) error {
	vars := map[string]any{
		"execution_id":     s.ExecutionID,
		"event_id":         s.EventID,
		"execution_start":  s.ExecutionStart,
		"data_instance_id": s.DataInstanceID,
		"playbook_id":      s.PlaybookID,
		"previous_step_id": s.PreviousStepID,
		"step_id":          s.StepID,
		"previous_bundle":  s.PreviousBundle,
		"bundle":           s.Bundle,
	}
	if err := c.do(ctx, docPlaybookStep, vars, nil); err != nil {
		return fmt.Errorf("playbook step execution: %w", err)
	}
	return nil
}
