package api

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riskiq-opencti/connectors/opencti/scrub"
)

// MaxWorkMessage bounds, in bytes, the messages and names the client sends
// for a work. They often carry text from outside (a provider's error
// message), so [WorkMessageText] also makes them one printable line.
const MaxWorkMessage = 1 << 10

// WorkMessageText returns message as the work calls send it: at most
// [MaxWorkMessage] bytes of valid UTF-8, one line, without control characters
// or terminal escape sequences (see [scrub.Text]).
func WorkMessageText(message string) string { return scrub.Text(message, MaxWorkMessage) }

// WorkAdd creates a work for the connector, in status progress, and returns
// its id (pycti initiate_work, spec §5.1). The name is cleaned as
// [WorkMessageText] does.
//
// mutation workAdd($connectorId: String!, $friendlyName: String) { workAdd(…) { id } }
func (c *Client) WorkAdd(ctx context.Context, connectorID, friendlyName string) (string, error) {
	vars := map[string]any{"connectorId": connectorID, "friendlyName": WorkMessageText(friendlyName)}
	var out struct {
		WorkAdd *struct {
			ID string `json:"id"`
		} `json:"workAdd"`
	}
	if err := c.do(ctx, docWorkAdd, vars, &out); err != nil {
		return "", fmt.Errorf("add work: %w", err)
	}
	if out.WorkAdd == nil || out.WorkAdd.ID == "" {
		return "", errors.New("add work: the platform returned no work id")
	}
	return out.WorkAdd.ID, nil
}

// workEdit runs a workEdit mutation and checks that the work exists.
func (c *Client) workEdit(ctx context.Context, what, doc string, vars map[string]any) error {
	var out struct {
		WorkEdit map[string]any `json:"workEdit"`
	}
	if err := c.do(ctx, doc, vars, &out); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if out.WorkEdit == nil {
		return fmt.Errorf("%s: work %q: %w", what, vars["id"], ErrNotFound)
	}
	return nil
}

// WorkToReceived marks the work received with a message (pycti to_received),
// cleaned and bounded by [WorkMessageText].
//
// mutation workToReceived($id: ID!, $message: String) { workEdit(id: $id) { toReceived(message: $message) } }
func (c *Client) WorkToReceived(ctx context.Context, workID, message string) error {
	return c.workEdit(ctx, "work to received", docWorkToReceived,
		map[string]any{"id": workID, "message": WorkMessageText(message)})
}

// WorkToProcessed marks the work processed; inError files message under the
// work's errors instead of its messages (pycti to_processed). The message is
// cleaned and bounded by [WorkMessageText].
//
// mutation workToProcessed($id: ID!, $message: String, $inError: Boolean) { workEdit(id: $id) { toProcessed(…) } }
func (c *Client) WorkToProcessed(ctx context.Context, workID, message string, inError bool) error {
	return c.workEdit(ctx, "work to processed", docWorkToProcessed,
		map[string]any{"id": workID, "message": WorkMessageText(message), "inError": inError})
}

// AddExpectations adds n to the number of messages the work waits for; call
// it before publishing them (pycti add_expectations, spec §5.2).
//
// mutation addExpectations($id: ID!, $expectations: Int) { workEdit(id: $id) { addExpectations(…) } }
func (c *Client) AddExpectations(ctx context.Context, workID string, n int) error {
	if n < 0 {
		return fmt.Errorf("add expectations: count %d is negative", n)
	}
	return c.workEdit(ctx, "add expectations", docAddExpectations,
		map[string]any{"id": workID, "expectations": n})
}

// PingWork refreshes the work's updated_at (pycti ping).
//
// mutation pingWork($id: ID!) { workEdit(id: $id) { ping } }
func (c *Client) PingWork(ctx context.Context, workID string) error {
	return c.workEdit(ctx, "ping work", docPingWork, map[string]any{"id": workID})
}

// Work statuses (the platform's State enum).
const (
	// WorkStatusWait is a work created by the platform, not yet received.
	WorkStatusWait = "wait"
	// WorkStatusProgress is a work received or being processed.
	WorkStatusProgress = "progress"
	// WorkStatusComplete is a finished work; the platform never leaves it
	// unless toReceived is called again.
	WorkStatusComplete = "complete"
	// WorkStatusTimeout is a work the platform gave up on.
	WorkStatusTimeout = "timeout"
)

// Work is a work as get_work reads it.
type Work struct {
	// ID is the work id.
	ID string `json:"id"`
	// Name is the friendly name.
	Name string `json:"name"`
	// User is the work's creator; nil when unknown.
	User *WorkUser `json:"user"`
	// Timestamp is the creation time.
	Timestamp *time.Time `json:"timestamp"`
	// Status is wait, progress, complete or timeout.
	Status string `json:"status"`
	// EventSourceID is the connector id.
	EventSourceID string `json:"event_source_id"`
	// ReceivedTime is set by toReceived and workAdd.
	ReceivedTime *time.Time `json:"received_time"`
	// ProcessedTime is set by toProcessed.
	ProcessedTime *time.Time `json:"processed_time"`
	// CompletedTime is set when the work completes.
	CompletedTime *time.Time `json:"completed_time"`
	// Tracking holds the expectation counters.
	Tracking WorkTracking `json:"tracking"`
	// Messages are the work's messages.
	Messages []WorkMessage `json:"messages"`
	// Errors are the work's errors.
	Errors []WorkMessage `json:"errors"`
}

// WorkUser is the creator of a work.
type WorkUser struct {
	// Name is the user name.
	Name string `json:"name"`
}

// WorkTracking holds a work's expectation counters.
type WorkTracking struct {
	// ImportExpectedNumber is the sum of the expectations added.
	ImportExpectedNumber int `json:"import_expected_number"`
	// ImportProcessedNumber is the number of expectations reported.
	ImportProcessedNumber int `json:"import_processed_number"`
}

// WorkMessage is one message or error of a work.
type WorkMessage struct {
	// Timestamp is when it was added.
	Timestamp *time.Time `json:"timestamp"`
	// Message is its text.
	Message string `json:"message"`
	// Sequence orders the messages.
	Sequence int `json:"sequence"`
	// Source is the failing object, for errors.
	Source string `json:"source"`
}

// Work reads a work, for tests and diagnostics (pycti get_work).
//
// query WorkQuery($id: ID!) { work(id: $id) { … } }
func (c *Client) Work(ctx context.Context, workID string) (*Work, error) {
	var out struct {
		Work *Work `json:"work"`
	}
	if err := c.do(ctx, docWork, map[string]any{"id": workID}, &out); err != nil {
		return nil, fmt.Errorf("get work: %w", err)
	}
	if out.Work == nil {
		return nil, fmt.Errorf("get work %q: %w", workID, ErrNotFound)
	}
	return out.Work, nil
}
