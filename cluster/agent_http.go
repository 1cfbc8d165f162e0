package cluster

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The agent API's paths.
const (
	PathConnect    = "/v1/connect"
	PathDisconnect = "/v1/disconnect"
	PathFormat     = "/v1/format"
	PathOperations = "/v1/operations"
	PathDisks      = "/v1/disks"
	PathHealth     = "/v1/health"
	PathMetrics    = "/metrics"
)

// NDJSONContentType is the content type of the /v1/operations stream.
const NDJSONContentType = "application/x-ndjson"

// ErrorBody is the JSON body of an error answer.
type ErrorBody struct {
	// Error says what went wrong.
	Error string `json:"error"`
}

// OperationLine is one line of the /v1/operations NDJSON stream: a
// progress event, or the last line with the result and/or the error.
type OperationLine struct {
	// Progress is a step's start or end.
	Progress *ProgressEvent `json:"progress,omitempty"`
	// Result is the operation's result (last line).
	Result *OperationResult `json:"result,omitempty"`
	// Error is the operation's error (last line), with Status the HTTP
	// status it would have had.
	Error string `json:"error,omitempty"`
	// Status is the HTTP status matching Error.
	Status int `json:"status,omitempty"`
}

// HealthBody is the body of GET /v1/health.
type HealthBody struct {
	// Status is "ok".
	Status string `json:"status"`
	// Node is the agent's node.
	Node string `json:"node"`
	// Engine is the initiator engine's name.
	Engine string `json:"engine"`
}

// Handler returns the agent's HTTP API: POST /v1/connect, /v1/disconnect,
// /v1/format and /v1/operations (an NDJSON stream of progress lines then
// one result line), GET /v1/disks, /v1/health (no token needed) and
// /metrics. Every other request needs "Authorization: Bearer <token>".
func (a *Agent) Handler() http.Handler { return a.handler }

func (a *Agent) newHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathHealth, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, HealthBody{Status: "ok", Node: a.cfg.Node, Engine: a.cfg.Engine.Name()})
	})
	mux.Handle("POST "+PathConnect, a.auth(handleJSON(a.cfg.MaxBody, a.Connect)))
	mux.Handle("POST "+PathDisconnect, a.auth(handleJSON(a.cfg.MaxBody, a.Disconnect)))
	mux.Handle("POST "+PathFormat, a.auth(handleJSON(a.cfg.MaxBody, a.Format)))
	mux.Handle("POST "+PathOperations, a.auth(http.HandlerFunc(a.serveOperations)))
	mux.Handle("GET "+PathDisks, a.auth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		disks, err := a.Disks(r.Context())
		if err != nil {
			writeError(w, err)
			return
		}
		if disks == nil {
			disks = []DiskStatus{}
		}
		writeJSON(w, http.StatusOK, disks)
	})))
	mux.Handle("GET "+PathMetrics, a.auth(promhttp.HandlerFor(a.cfg.Registry, promhttp.HandlerOpts{})))
	a.failoverRoutes(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, ErrorBody{Error: fmt.Sprintf("no such endpoint: %s %s", r.Method, r.URL.Path)})
	})
	return mux
}

// auth answers 401 unless the request carries the agent's bearer token
// (compared in constant time).
func (a *Agent) auth(h http.Handler) http.Handler {
	want := []byte(a.cfg.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="lunar-agent"`)
			writeJSON(w, http.StatusUnauthorized, ErrorBody{Error: "missing or wrong bearer token: send Authorization: Bearer <token>"})
			return
		}
		h.ServeHTTP(w, r)
	})
}

// handleJSON decodes a Req, calls fn and writes its Resp (or error).
func handleJSON[Req, Resp any](maxBody int64, fn func(context.Context, Req) (Resp, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req Req
		if err := decodeBody(w, r, maxBody, &req); err != nil {
			writeError(w, err)
			return
		}
		resp, err := fn(r.Context(), req)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, resp)
	})
}

// decodeBody decodes one JSON value of at most maxBody bytes with no
// unknown fields and nothing after it; failures wrap ErrInvalid.
func decodeBody(w http.ResponseWriter, r *http.Request, maxBody int64, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return fmt.Errorf("%w: content type %q: want application/json", ErrInvalid, ct)
	}
	body := http.MaxBytesReader(w, r.Body, maxBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fmt.Errorf("%w: request body larger than %d bytes", ErrInvalid, maxBody)
		}
		return fmt.Errorf("%w: bad JSON body: %v", ErrInvalid, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: bad JSON body: data after the request object", ErrInvalid)
	}
	return nil
}

// StatusOf returns the HTTP status an error answers with: 400 ErrInvalid,
// 404 ErrNotFound, 409 ErrConflict, 403 ErrNotOwner, 503 ErrUnavailable,
// 504 ErrTimeout, 500 otherwise.
func StatusOf(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrConflict):
		return http.StatusConflict
	case errors.Is(err, ErrNotOwner):
		return http.StatusForbidden
	case errors.Is(err, ErrTimeout):
		return http.StatusGatewayTimeout
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func writeError(w http.ResponseWriter, err error) {
	writeJSON(w, StatusOf(err), ErrorBody{Error: err.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		fmt.Fprintf(&buf, "{\"error\":%q}\n", "encode the answer: "+err.Error())
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// serveOperations runs an operation and streams its progress as NDJSON.
// An operation that fails before any progress with no result answers a
// plain JSON error with its status; otherwise the stream (status 200)
// ends with one line holding the result and the error, if any. The
// request's context is the operation's: a client that goes away cancels
// it.
func (a *Agent) serveOperations(w http.ResponseWriter, r *http.Request) {
	runner := a.operations()
	if runner == nil {
		writeJSON(w, http.StatusNotImplemented, ErrorBody{Error: "this agent runs no operations (no runner wired)"})
		return
	}
	var req OperationRequest
	if err := decodeBody(w, r, a.cfg.MaxBody, &req); err != nil {
		writeError(w, err)
		return
	}
	s := &ndjsonStream{w: w}
	s.flusher, _ = w.(http.Flusher)
	res, err := runner.Run(r.Context(), req, s.progress)
	s.finish(res, err)
}

// ndjsonStream writes the /v1/operations lines, one at a time.
type ndjsonStream struct {
	w       http.ResponseWriter
	flusher http.Flusher

	mu      sync.Mutex
	started bool // the 200 header went out
	done    bool // the last line went out
	broken  bool // a write failed: the client is gone
}

func (s *ndjsonStream) start() {
	if s.started {
		return
	}
	s.started = true
	s.w.Header().Set("Content-Type", NDJSONContentType)
	s.w.Header().Set("X-Content-Type-Options", "nosniff")
	s.w.WriteHeader(http.StatusOK)
}

func (s *ndjsonStream) line(l OperationLine) {
	if s.broken {
		return
	}
	b, err := json.Marshal(l)
	if err != nil {
		b, _ = json.Marshal(OperationLine{Error: "encode a line: " + err.Error(), Status: http.StatusInternalServerError})
	}
	if _, err := s.w.Write(append(b, '\n')); err != nil {
		s.broken = true
		return
	}
	if s.flusher != nil {
		s.flusher.Flush()
	}
}

func (s *ndjsonStream) progress(ev ProgressEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return
	}
	s.start()
	s.line(OperationLine{Progress: &ev})
}

func (s *ndjsonStream) finish(res OperationResult, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done = true
	empty := res.ID == "" && res.Kind == "" && len(res.Nodes) == 0
	if !s.started && err != nil && empty {
		writeError(s.w, err)
		return
	}
	s.start()
	l := OperationLine{}
	if !empty {
		l.Result = &res
	}
	if err != nil {
		l.Error, l.Status = err.Error(), StatusOf(err)
	}
	s.line(l)
}
