package openctitest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"
)

// serveHTTP answers POST <base>/graphql like the platform's Apollo server.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != s.cfg.basePath+"/graphql" {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	down := s.down
	s.mu.Unlock()
	if down {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n</body>\r\n</html>\r\n")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeErrors(w, http.StatusMethodNotAllowed, []*gqlError{{message: "This fake platform only accepts POST requests.", code: codeBadRequest}})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			http.Error(w, "PayloadTooLargeError: request entity too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "read request body", http.StatusBadRequest)
		return
	}
	status, resp := s.serveGraphQL(r.Header, body)
	writeJSONResponse(w, status, resp)
}

// graphQLBody is the JSON body of a GraphQL POST request.
type graphQLBody struct {
	Query         *string         `json:"query"`
	Variables     json.RawMessage `json:"variables"`
	OperationName *string         `json:"operationName"`
}

// serveGraphQL handles a request body and returns the status and response.
func (s *Server) serveGraphQL(header http.Header, body []byte) (int, *object) {
	rec := Request{Header: header.Clone()}
	finish := func(status int, resp *object) (int, *object) {
		rec.Status = status
		s.mu.Lock()
		s.requests = append(s.requests, rec)
		s.notify()
		s.mu.Unlock()
		return status, resp
	}
	reject := func(status int, kind ErrorKind, errs []*gqlError) (int, *object) {
		s.mu.Lock()
		s.recordError(Error{Kind: kind, Code: errs[0].code, OperationName: rec.OperationName, Query: rec.Query, Message: messages(errs)})
		s.mu.Unlock()
		return finish(status, errorResponse(errs))
	}

	mt, _, _ := mime.ParseMediaType(header.Get("Content-Type"))
	if mt != "application/json" {
		return reject(http.StatusBadRequest, ErrorGraphQL, []*gqlError{{
			message: "POST body sent with Content-Type " + header.Get("Content-Type") + ", the fake platform accepts application/json only", code: codeBadRequest,
		}})
	}
	var req graphQLBody
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&req); err != nil {
		return reject(http.StatusBadRequest, ErrorGraphQL, []*gqlError{{message: "invalid JSON body: " + err.Error(), code: codeBadRequest}})
	}
	if req.OperationName != nil {
		rec.OperationName = *req.OperationName
	}
	if req.Query == nil || *req.Query == "" {
		return reject(http.StatusBadRequest, ErrorGraphQL, []*gqlError{{
			message: "GraphQL operations must contain a non-empty `query` or a `persistedQuery` extension.", code: codeBadRequest,
		}})
	}
	rec.Query = *req.Query
	rawVars := map[string]any{}
	if len(req.Variables) > 0 && string(req.Variables) != "null" {
		vdec := json.NewDecoder(bytes.NewReader(req.Variables))
		vdec.UseNumber()
		if err := vdec.Decode(&rawVars); err != nil {
			return reject(http.StatusBadRequest, ErrorGraphQL, []*gqlError{{message: "`variables` in a POST body should be provided as an object.", code: codeBadRequest}})
		}
	}
	rec.Variables, _ = plainJSON(rawVars).(map[string]any)

	doc, perr := parser.ParseQuery(&ast.Source{Input: *req.Query})
	if perr != nil {
		var ge *gqlerror.Error
		msg := perr.Error()
		var locs []gqlerror.Location
		if errors.As(perr, &ge) {
			msg, locs = "Syntax Error: "+ge.Message, ge.Locations
		}
		return reject(http.StatusBadRequest, ErrorGraphQL, []*gqlError{{message: msg, locations: locs, code: codeParseFailed}})
	}
	if list := validator.ValidateWithRules(s.schema, doc, nil); len(list) > 0 {
		return reject(http.StatusBadRequest, ErrorGraphQL, errorList(list, codeValidationFailed))
	}
	op, oerr := selectOperation(doc, rec.OperationName)
	if oerr != nil {
		return reject(http.StatusBadRequest, ErrorGraphQL, []*gqlError{oerr})
	}
	vars, verr := coerceVariables(s.schema, op, rawVars)
	if verr != nil {
		return reject(http.StatusBadRequest, ErrorGraphQL, []*gqlError{{message: verr.Error(), code: codeBadUserInput}})
	}
	ex := &executor{schema: s.schema, doc: doc, vars: vars}
	rec.RootFields = s.callKeys(ex, op)

	s.mu.Lock()
	failStatus := 0
	for _, k := range rec.RootFields {
		s.calls[k]++
	}
	for _, k := range rec.RootFields {
		rules := s.failures[k]
		if len(rules) > 0 && failStatus == 0 {
			failStatus = rules[0].status
			rules[0].remaining--
			if rules[0].remaining <= 0 {
				rules = rules[1:]
			}
			s.failures[k] = rules
		}
	}
	s.mu.Unlock()
	if failStatus != 0 {
		rec.Status = failStatus
		return finish(failStatus, nil)
	}

	authed := bearerToken(header) == s.cfg.token
	var root map[string]any
	if op.Operation == ast.Mutation {
		root = s.mutationRoot(authed)
	} else {
		root = s.queryRoot(authed)
	}
	data := ex.execute(op, root)
	resp := &object{}
	if len(ex.errs) > 0 {
		resp.set("errors", errorsJSON(ex.errs))
	}
	if data == nil {
		resp.set("data", nil)
	} else {
		resp.set("data", data)
	}
	return finish(http.StatusOK, resp)
}

// callKeys lists the root fields of op, with workEdit's selected
// sub-mutations as "workEdit.<field>".
func (s *Server) callKeys(ex *executor, op *ast.OperationDefinition) []string {
	rootType := s.schema.Query.Name
	if op.Operation == ast.Mutation {
		rootType = s.schema.Mutation.Name
	}
	var keys []string
	for _, g := range ex.collect(rootType, []ast.SelectionSet{op.SelectionSet}) {
		name := g.fields[0].Name
		if name == "__typename" {
			continue
		}
		keys = append(keys, name)
		if name == "workEdit" {
			var sets []ast.SelectionSet
			for _, f := range g.fields {
				sets = append(sets, f.SelectionSet)
			}
			for _, sub := range ex.collect("WorkEditMutations", sets) {
				if sub.fields[0].Name != "__typename" {
					keys = append(keys, "workEdit."+sub.fields[0].Name)
				}
			}
		}
	}
	return slices.Compact(keys)
}

// selectOperation picks the operation to run like graphql-js.
func selectOperation(doc *ast.QueryDocument, name string) (*ast.OperationDefinition, *gqlError) {
	if name == "" {
		if len(doc.Operations) != 1 {
			return nil, &gqlError{message: "Must provide operation name if query contains multiple operations.", code: codeOperationFailure}
		}
		op := doc.Operations[0]
		if op.Operation == ast.Subscription {
			return nil, &gqlError{message: "The fake platform does not serve subscriptions.", code: codeBadRequest}
		}
		return op, nil
	}
	op := doc.Operations.ForName(name)
	if op == nil {
		return nil, &gqlError{message: "Unknown operation named \"" + name + "\".", code: codeOperationFailure}
	}
	if op.Operation == ast.Subscription {
		return nil, &gqlError{message: "The fake platform does not serve subscriptions.", code: codeBadRequest}
	}
	return op, nil
}

// bearerToken extracts the token of an "Authorization: Bearer <token>" header.
func bearerToken(h http.Header) string {
	auth := h.Get("Authorization")
	scheme, tok, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

func errorsJSON(errs []*gqlError) []any {
	out := make([]any, 0, len(errs))
	for _, e := range errs {
		out = append(out, e.json())
	}
	return out
}

// errorResponse is a response without data (request errors).
func errorResponse(errs []*gqlError) *object {
	return newObject("errors", errorsJSON(errs))
}

func writeErrors(w http.ResponseWriter, status int, errs []*gqlError) {
	writeJSONResponse(w, status, errorResponse(errs))
}

func writeJSONResponse(w http.ResponseWriter, status int, resp *object) {
	if resp == nil {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, http.StatusText(status)+"\n")
		return
	}
	raw, err := compactJSON(resp)
	if err != nil {
		http.Error(w, "encode response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(raw)
}
