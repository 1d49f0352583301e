package openctitest

import (
	"slices"
	"time"
)

// Work statuses (GraphQL enum State).
const (
	StatusWait     = "wait"
	StatusProgress = "progress"
	StatusComplete = "complete"
	StatusTimeout  = "timeout"
)

// maxExpectationErrors is how many reportExpectation errors the platform
// keeps per work.
const maxExpectationErrors = 100

// Work is a snapshot of a work (a connector job) as the platform stores it.
type Work struct {
	ID          string
	Name        string
	ConnectorID string
	// EventSourceID is the connector id for workAdd, the entity id for
	// enrichment works.
	EventSourceID string
	Status        string
	// Expected is the stored import_expected_number (Elasticsearch side).
	Expected int
	// Processed is the Redis processed counter (reportExpectation calls);
	// it is 0 when no report arrived.
	Processed int
	// CompletedNumber is completed_number, set when the work completes.
	CompletedNumber int
	// Messages and Errors are the texts of the work's messages and errors.
	Messages []string
	Errors   []string
	// ErrorEntries are the errors with their source (reportExpectation).
	ErrorEntries  []WorkMessage
	DraftContext  string
	Timestamp     time.Time
	UpdatedAt     time.Time
	ReceivedTime  *time.Time
	ProcessedTime *time.Time
	CompletedTime *time.Time
	// Pings counts workEdit { ping } calls.
	Pings int
}

// WorkMessage is one entry of a work's messages or errors.
type WorkMessage struct {
	Timestamp time.Time
	Message   string
	Source    *string
}

// work is the stored form of a work.
type work struct {
	Work
	messages []WorkMessage
	errors   []WorkMessage
}

// redisWork is the platform's Redis hash for a work: counters exist only once
// incremented (HINCRBY), so a missing one compares unequal like NaN.
type redisWork struct {
	initialized   bool
	expected      *int
	processed     *int
	lastProcessed *time.Time
}

// workBook holds works and their Redis counters and applies the platform's
// completion rules (opencti-graphql domain/work.js). It is not safe for
// concurrent use; Server guards it with its mutex.
type workBook struct {
	works map[string]*work
	order []string
	redis map[string]*redisWork
}

func newWorkBook() *workBook {
	return &workBook{works: map[string]*work{}, redis: map[string]*redisWork{}}
}

// create stores a new work: status progress when received is set (workAdd),
// wait otherwise (platform-created enrichment works).
func (b *workBook) create(id, name, connectorID, sourceID, draft string, now time.Time, received bool) *work {
	w := &work{Work: Work{
		ID: id, Name: name, ConnectorID: connectorID, EventSourceID: sourceID,
		Status: StatusWait, DraftContext: draft, Timestamp: now, UpdatedAt: now,
	}}
	if received {
		w.Status = StatusProgress
		w.ReceivedTime = &now
	}
	b.works[id] = w
	b.order = append(b.order, id)
	b.redis[id] = &redisWork{initialized: true}
	return w
}

// alive is isWorkAlive: the Redis hash still carries is_initialized.
func (b *workBook) alive(id string) bool {
	r := b.redis[id]
	return r != nil && r.initialized
}

// toReceived is workEdit.toReceived.
func (b *workBook) toReceived(id, message string, now time.Time) {
	w := b.works[id]
	if w == nil {
		return
	}
	w.Status = StatusProgress
	w.ReceivedTime = &now
	if message != "" {
		w.messages = append(w.messages, WorkMessage{Timestamp: now, Message: message})
	}
}

// isComplete compares the Redis counters; a missing counter never matches.
func (r *redisWork) isComplete() (complete bool, processed int) {
	if r == nil || r.processed == nil || r.expected == nil {
		if r != nil && r.processed != nil {
			return false, *r.processed
		}
		return false, 0
	}
	return *r.processed == *r.expected, *r.processed
}

// toProcessed is workEdit.toProcessed: it completes the work when nothing is
// expected or everything expected was reported.
func (b *workBook) toProcessed(id, message string, inError bool, now time.Time) {
	w := b.works[id]
	if w == nil {
		return
	}
	w.ProcessedTime = &now
	complete, processed := b.redis[id].isComplete()
	if w.Expected == 0 || complete {
		n := processed
		if n == 0 {
			n = 1
		}
		w.Status = StatusComplete
		w.Expected = n
		w.CompletedNumber = n
		w.CompletedTime = &now
	}
	if message != "" {
		m := WorkMessage{Timestamp: now, Message: message}
		if inError {
			w.errors = append(w.errors, m)
		} else {
			w.messages = append(w.messages, m)
		}
	}
}

// addExpectations is workEdit.addExpectations.
func (b *workBook) addExpectations(id string, n int, now time.Time) {
	r := b.redis[id]
	if r == nil {
		r = &redisWork{}
		b.redis[id] = r
	}
	r.expected = addInt(r.expected, n)
	w := b.works[id]
	if w == nil {
		// The work was deleted: the platform drops the recreated counters.
		delete(b.redis, id)
		return
	}
	w.Expected += n
	w.UpdatedAt = now
}

// reportExpectation is workEdit.reportExpectation, called by workers once per
// processed message; errMsg/source are nil without an error.
func (b *workBook) reportExpectation(id string, errMsg, source *string, now time.Time) {
	r := b.redis[id]
	if r == nil {
		r = &redisWork{}
		b.redis[id] = r
	}
	r.processed = addInt(r.processed, 1)
	r.lastProcessed = &now
	w := b.works[id]
	if w == nil {
		delete(b.redis, id)
		return
	}
	complete, processed := r.isComplete()
	if complete {
		w.Status = StatusComplete
		w.CompletedNumber = processed
		w.CompletedTime = &now
	}
	if errMsg != nil || source != nil {
		if len(w.errors) < maxExpectationErrors {
			msg := ""
			if errMsg != nil {
				msg = *errMsg
			}
			w.errors = append(w.errors, WorkMessage{Timestamp: now, Message: msg, Source: source})
		}
	}
}

// ping is workEdit.ping.
func (b *workBook) ping(id string, now time.Time) {
	if w := b.works[id]; w != nil {
		w.UpdatedAt = now
		w.Pings++
	}
}

// addDraftContext is workEdit.addDraftContext.
func (b *workBook) addDraftContext(id, draft string, now time.Time) {
	if w := b.works[id]; w != nil {
		w.DraftContext = draft
		w.UpdatedAt = now
	}
}

// remove is workEdit.delete and part of connector deletion.
func (b *workBook) remove(id string) {
	delete(b.works, id)
	delete(b.redis, id)
	b.order = slices.DeleteFunc(b.order, func(x string) bool { return x == id })
}

// tracking returns import_expected_number, import_processed_number and
// import_last_processed as the Work.tracking resolver does: stored figures
// once complete, Redis counters (possibly null) before.
func (b *workBook) tracking(id string) (expected, processed any, last any) {
	w := b.works[id]
	if w == nil {
		return nil, nil, nil
	}
	if w.Status == StatusComplete {
		return w.Expected, w.CompletedNumber, nil
	}
	r := b.redis[id]
	if r == nil {
		return nil, nil, nil
	}
	if r.expected != nil {
		expected = *r.expected
	}
	if r.processed != nil {
		processed = *r.processed
	}
	if r.lastProcessed != nil {
		last = *r.lastProcessed
	}
	return expected, processed, last
}

// snapshot returns a copy of a work.
func (b *workBook) snapshot(id string) (Work, bool) {
	w := b.works[id]
	if w == nil {
		return Work{}, false
	}
	out := w.Work
	out.Messages = nil
	out.Errors = nil
	out.ErrorEntries = slices.Clone(w.errors)
	for _, m := range w.messages {
		out.Messages = append(out.Messages, m.Message)
	}
	for _, m := range w.errors {
		out.Errors = append(out.Errors, m.Message)
	}
	if r := b.redis[id]; r != nil && r.processed != nil {
		out.Processed = *r.processed
	}
	return out, true
}

func addInt(p *int, n int) *int {
	v := n
	if p != nil {
		v += *p
	}
	return &v
}
