package openctitest

import "fmt"

// workField names one work mutation of one work.
type workField struct{ workID, field string }

// refusal is a pending RefuseWork rule.
type refusal struct {
	remaining int // < 0: for ever
	refused   int
}

// RefuseWork makes the platform refuse the next n calls of a work mutation
// for one work, as it refuses a work it cannot update: field is a
// WorkEditMutations field ("toReceived", "toProcessed", "addExpectations"…),
// the answer a FUNCTIONAL_ERROR GraphQL error (HTTP 200) and the work is left
// unchanged. n < 0 refuses for ever; n == 0 lifts the rule. Refused calls are
// counted by Refused and by Calls("workEdit.<field>").
func (s *Server) RefuseWork(workID, field string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := workField{workID, field}
	r := s.refusals[k]
	if r == nil {
		r = &refusal{}
		s.refusals[k] = r
	}
	r.remaining = n
}

// Refused returns how many calls of a work mutation RefuseWork refused for
// workID.
func (s *Server) Refused(workID, field string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.refusals[workField{workID, field}]; r != nil {
		return r.refused
	}
	return 0
}

// refusable wraps the WorkEditMutations resolvers of workID so that the
// RefuseWork rules apply.
func (s *Server) refusable(workID string, fields map[string]any) map[string]any {
	for name, v := range fields {
		fn := v.(lazy)
		fields[name] = lazy(func(args map[string]any) (any, error) {
			if s.refuse(workID, name) {
				return nil, functionalError(fmt.Sprintf("Work %s cannot be updated (%s refused by openctitest)", workID, name), map[string]any{"id": workID})
			}
			return fn(args)
		})
	}
	return fields
}

// refuse consumes one refusal of field for workID, if any.
func (s *Server) refuse(workID, field string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.refusals[workField{workID, field}]
	if r == nil || r.remaining == 0 {
		return false
	}
	if r.remaining > 0 {
		r.remaining--
	}
	r.refused++
	s.notify()
	return true
}
