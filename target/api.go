package target

import (
	"context"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/lunarsan/lunar/iscsi"
)

// API error codes that do not come from the store (whose codes are in its
// StoreErrors).
const (
	// APICodeUnauthorized: no or a wrong bearer token (401).
	APICodeUnauthorized = "unauthorized"
	// APICodeBadJSON: the body is not the JSON object the endpoint takes
	// (400).
	APICodeBadJSON = "bad_json"
	// APICodeBodyTooLarge: the body exceeds the API's limit (413).
	APICodeBodyTooLarge = "body_too_large"
	// APICodeNotFound: no such endpoint (404).
	APICodeNotFound = "not_found"
	// APICodeMethodNotAllowed: the endpoint does not take the method
	// (405).
	APICodeMethodNotAllowed = "method_not_allowed"
	// APICodeInvalidParameter: a path or query parameter is malformed
	// (400).
	APICodeInvalidParameter = "invalid_parameter"
	// APICodeUnavailable: the store is closed or the request was
	// cancelled (503).
	APICodeUnavailable = "unavailable"
	// APICodeInternal: anything else (500).
	APICodeInternal = "internal"
)

// DefaultAPIAddr is the management API's default listening address:
// loopback only.
const DefaultAPIAddr = "127.0.0.1:3261"

// DefaultAPIMaxBody is the default limit on request bodies.
const DefaultAPIMaxBody = 1 << 20

// APIConfig configures an APIServer. Store and Token are required; the
// zero value of every other field is a documented default.
type APIConfig struct {
	// Store is the configuration the API manages.
	Store *Store
	// Token is the bearer token every request but GET /v1/health must
	// carry (at least 16 characters).
	Token string
	// Sessions lists the server's sessions ((*Server).Sessions); nil
	// means none.
	Sessions func() []SessionInfo
	// Metrics serves /metrics (Metrics.Handler); nil answers 404.
	Metrics http.Handler
	// MaxBody bounds request bodies in bytes; zero means
	// DefaultAPIMaxBody.
	MaxBody int64
	// Logger receives one debug line per request; the zero value is
	// silent.
	Logger zerolog.Logger
}

// APIServer is the HTTP/JSON management API.
type APIServer struct {
	cfg APIConfig
	srv *http.Server
	h   http.Handler
}

// NewAPIServer returns the API server cfg describes.
func NewAPIServer(cfg APIConfig) (*APIServer, error) {
	if cfg.Store == nil {
		return nil, errors.New("target: API needs a store")
	}
	if len(cfg.Token) < 16 {
		return nil, fmt.Errorf("target: API token of %d characters: want at least 16", len(cfg.Token))
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultAPIMaxBody
	}
	a := &APIServer{cfg: cfg}
	a.h = a.routes()
	a.srv = &http.Server{
		Handler:           a.h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          nil,
	}
	return a, nil
}

// Handler returns the API's handler (authentication included), for tests
// and for callers with their own http.Server.
func (a *APIServer) Handler() http.Handler { return a.h }

// Serve serves the API on l until Close; it returns nil after Close.
func (a *APIServer) Serve(l net.Listener) error {
	if err := a.srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Close stops the listeners and waits, until ctx is done, for requests in
// flight to finish; then it closes the connections left.
func (a *APIServer) Close(ctx context.Context) error {
	err := a.srv.Shutdown(ctx)
	if err != nil {
		a.srv.Close()
	}
	return err
}

// APIErrorBody is the JSON body of every error answer:
// {"error": {"code": "...", "message": "..."}}.
type APIErrorBody struct {
	// Error is the error.
	Error APIErrorDetail `json:"error"`
}

// APIErrorDetail is a stable error code and a message for people.
type APIErrorDetail struct {
	// Code is the stable, machine readable error code.
	Code string `json:"code"`
	// Message says what went wrong and what to do.
	Message string `json:"message"`
}

// InitiatorRequest is the body of POST /v1/igroups/{name}/initiators.
type InitiatorRequest struct {
	// Initiator is the iSCSI name to add.
	Initiator string `json:"initiator"`
}

// Health is the body of GET /v1/health.
type Health struct {
	// Status is "ok".
	Status string `json:"status"`
}

// APISession is one session as GET /v1/sessions shows it.
type APISession struct {
	// Initiator is the initiator's iSCSI name.
	Initiator string `json:"initiator"`
	// ISID is the ISID in hex (12 digits).
	ISID string `json:"isid"`
	// TSIH is the target-assigned session handle.
	TSIH uint16 `json:"tsih"`
	// Target is the target's IQN (empty for discovery).
	Target string `json:"target"`
	// Type is "Normal" or "Discovery".
	Type string `json:"type"`
	// Connections lists the session's connections.
	Connections []APIConnection `json:"connections"`
	// Params are the negotiated parameters, under their iSCSI key names.
	Params map[string]string `json:"params"`
	// LUNs lists the LUN numbers the session sees.
	LUNs []uint64 `json:"luns"`
}

// APIConnection is one connection of a session.
type APIConnection struct {
	// CID is the connection ID.
	CID uint16 `json:"cid"`
	// RemoteAddr is the initiator's address.
	RemoteAddr string `json:"remote_addr"`
	// LocalAddr is the portal address reached.
	LocalAddr string `json:"local_addr"`
}

// apiSession converts a SessionInfo to its API form.
func apiSession(si SessionInfo) APISession {
	yn := func(b bool) string {
		if b {
			return "Yes"
		}
		return "No"
	}
	dg := func(b bool) string {
		if b {
			return "CRC32C"
		}
		return "None"
	}
	p := si.Params
	out := APISession{
		Initiator:   si.Initiator,
		ISID:        hex.EncodeToString(si.ISID[:]),
		TSIH:        si.TSIH,
		Target:      si.Target,
		Type:        si.Type.String(),
		Connections: []APIConnection{},
		LUNs:        slices.Clone(si.LUNs),
		Params: map[string]string{
			"HeaderDigest":                   dg(p.HeaderDigest),
			"DataDigest":                     dg(p.DataDigest),
			"MaxConnections":                 strconv.FormatUint(uint64(p.MaxConnections), 10),
			"InitialR2T":                     yn(p.InitialR2T),
			"ImmediateData":                  yn(p.ImmediateData),
			"MaxRecvDataSegmentLength":       strconv.FormatUint(uint64(p.InitiatorMaxRecvDSL), 10),
			"TargetMaxRecvDataSegmentLength": strconv.FormatUint(uint64(p.TargetMaxRecvDSL), 10),
			"MaxBurstLength":                 strconv.FormatUint(uint64(p.MaxBurstLength), 10),
			"FirstBurstLength":               strconv.FormatUint(uint64(p.FirstBurstLength), 10),
			"MaxOutstandingR2T":              strconv.FormatUint(uint64(p.MaxOutstandingR2T), 10),
			"DefaultTime2Wait":               strconv.FormatUint(uint64(p.DefaultTime2Wait), 10),
			"DefaultTime2Retain":             strconv.FormatUint(uint64(p.DefaultTime2Retain), 10),
			"DataPDUInOrder":                 yn(p.DataPDUInOrder),
			"DataSequenceInOrder":            yn(p.DataSequenceInOrder),
			"ErrorRecoveryLevel":             strconv.Itoa(int(p.ErrorRecoveryLevel)),
			"AuthMethod":                     p.AuthMethod,
		},
	}
	if out.LUNs == nil {
		out.LUNs = []uint64{}
	}
	for _, c := range si.Connections {
		out.Connections = append(out.Connections, APIConnection(c))
	}
	return out
}

// apiStatusWriter records the status for the request log.
type apiStatusWriter struct {
	http.ResponseWriter
	status int
}

func (w *apiStatusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// routes builds the mux with Go 1.22 method patterns, behind the token
// check.
func (a *APIServer) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, h func(http.ResponseWriter, *http.Request) error) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			if err := h(w, r); err != nil {
				a.writeError(w, err)
			}
		})
	}
	// Every path also without a method, so other methods get a JSON 405.
	paths := map[string]string{}
	route := func(method, path string, h func(http.ResponseWriter, *http.Request) error) {
		handle(method+" "+path, h)
		paths[path] += method + ", "
	}
	route("GET", "/v1/health", a.health)
	route("GET", "/v1/luns", a.listLUNs)
	route("POST", "/v1/luns", a.createLUN)
	route("GET", "/v1/luns/{name}", a.showLUN)
	route("PATCH", "/v1/luns/{name}", a.resizeLUN)
	route("DELETE", "/v1/luns/{name}", a.deleteLUN)
	route("GET", "/v1/igroups", a.listIGroups)
	route("POST", "/v1/igroups", a.createIGroup)
	route("GET", "/v1/igroups/{name}", a.showIGroup)
	route("DELETE", "/v1/igroups/{name}", a.deleteIGroup)
	route("POST", "/v1/igroups/{name}/initiators", a.addInitiator)
	route("DELETE", "/v1/igroups/{name}/initiators/{iqn}", a.removeInitiator)
	route("GET", "/v1/maps", a.listMaps)
	route("POST", "/v1/maps", a.createMap)
	route("DELETE", "/v1/maps/{target}/{igroup}/{lun_id}", a.deleteMap)
	route("GET", "/v1/targets", a.listTargets)
	route("POST", "/v1/targets", a.createTarget)
	route("DELETE", "/v1/targets/{name}", a.deleteTarget)
	route("PUT", "/v1/targets/{name}/chap", a.setTargetCHAP)
	route("DELETE", "/v1/targets/{name}/chap", a.clearTargetCHAP)
	route("GET", "/v1/chap", a.listCHAP)
	route("PUT", "/v1/chap/{initiator}", a.setCHAP)
	route("DELETE", "/v1/chap/{initiator}", a.clearCHAP)
	route("GET", "/v1/sessions", a.listSessions)
	route("GET", "/metrics", a.metrics)
	for path, methods := range paths {
		allow := strings.TrimSuffix(methods, ", ")
		handle(path, func(w http.ResponseWriter, r *http.Request) error {
			w.Header().Set("Allow", allow)
			return &APIError{Status: http.StatusMethodNotAllowed, Code: APICodeMethodNotAllowed,
				Message: fmt.Sprintf("%s %s: this endpoint takes %s", r.Method, r.URL.Path, allow)}
		})
	}
	handle("/", func(w http.ResponseWriter, r *http.Request) error {
		return &APIError{Status: http.StatusNotFound, Code: APICodeNotFound, Message: fmt.Sprintf("no endpoint %s: see the API's /v1/ routes", r.URL.Path)}
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &apiStatusWriter{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		if r.URL.Path != "/v1/health" && !a.authorized(r) {
			sw.Header().Set("WWW-Authenticate", `Bearer realm="lunar"`)
			a.writeError(sw, &APIError{Status: http.StatusUnauthorized, Code: APICodeUnauthorized,
				Message: "missing or wrong bearer token: send Authorization: Bearer <token> with the token from the data directory's api-token file"})
		} else {
			mux.ServeHTTP(sw, r)
		}
		a.cfg.Logger.Debug().Str("method", r.Method).Str("path", r.URL.Path).Int("status", sw.status).
			Dur("took", time.Since(start)).Msg("api request")
	})
}

// authorized checks the bearer token in constant time.
func (a *APIServer) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(a.cfg.Token)) == 1
}

// writeJSON writes v with status.
func (a *APIServer) writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeError maps err to a status and a stable code.
func (a *APIServer) writeError(w http.ResponseWriter, err error) {
	ae := apiErrorFor(err)
	body := APIErrorBody{Error: APIErrorDetail{Code: ae.Code, Message: ae.Message}}
	if werr := a.writeJSON(w, ae.Status, body); werr != nil {
		a.cfg.Logger.Debug().Err(werr).Msg("writing API error")
	}
}

// apiErrorFor maps an error to its API form.
func apiErrorFor(err error) *APIError {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae
	}
	var se *StoreError
	if errors.As(err, &se) {
		status := http.StatusInternalServerError
		switch {
		case errors.Is(se.Kind, ErrStoreInvalid):
			status = http.StatusBadRequest
		case errors.Is(se.Kind, ErrStoreNotFound):
			status = http.StatusNotFound
		case errors.Is(se.Kind, ErrStoreConflict):
			status = http.StatusConflict
		}
		return &APIError{Status: status, Code: se.Code, Message: se.Message}
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &APIError{Status: http.StatusRequestEntityTooLarge, Code: APICodeBodyTooLarge, Message: fmt.Sprintf("request body larger than %d bytes", mbe.Limit)}
	}
	if errors.Is(err, ErrStoreClosed) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &APIError{Status: http.StatusServiceUnavailable, Code: APICodeUnavailable, Message: err.Error()}
	}
	return &APIError{Status: http.StatusInternalServerError, Code: APICodeInternal, Message: err.Error()}
}

// decode reads a JSON body strictly: bounded size, no unknown fields, one
// value and nothing after it.
func (a *APIServer) decode(w http.ResponseWriter, r *http.Request, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, a.cfg.MaxBody)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		if errors.Is(err, io.EOF) {
			return &APIError{Status: http.StatusBadRequest, Code: APICodeBadJSON, Message: "empty body: send a JSON object"}
		}
		return &APIError{Status: http.StatusBadRequest, Code: APICodeBadJSON, Message: "bad JSON body: " + err.Error()}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return &APIError{Status: http.StatusBadRequest, Code: APICodeBadJSON, Message: "bad JSON body: data after the object"}
	}
	return nil
}

// force reads the ?force= query parameter.
func apiForce(r *http.Request) (bool, error) {
	v := r.URL.Query().Get("force")
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, &APIError{Status: http.StatusBadRequest, Code: APICodeInvalidParameter, Message: fmt.Sprintf("force=%q: want 1, true, 0 or false", v)}
	}
	return b, nil
}

func (a *APIServer) health(w http.ResponseWriter, r *http.Request) error {
	return a.writeJSON(w, http.StatusOK, Health{Status: "ok"})
}

func (a *APIServer) listLUNs(w http.ResponseWriter, r *http.Request) error {
	return a.writeJSON(w, http.StatusOK, a.cfg.Store.LUNs())
}

func (a *APIServer) createLUN(w http.ResponseWriter, r *http.Request) error {
	var req LUNCreate
	if err := a.decode(w, r, &req); err != nil {
		return err
	}
	info, err := a.cfg.Store.CreateLUN(r.Context(), req)
	if err != nil {
		return err
	}
	return a.writeJSON(w, http.StatusCreated, info)
}

func (a *APIServer) showLUN(w http.ResponseWriter, r *http.Request) error {
	info, err := a.cfg.Store.LUN(r.PathValue("name"))
	if err != nil {
		return err
	}
	info.Sessions = a.lunSessions(info)
	return a.writeJSON(w, http.StatusOK, info)
}

// lunSessions returns the sessions that see the LUN.
func (a *APIServer) lunSessions(info LUNInfo) []LUNSession {
	if a.cfg.Sessions == nil || len(info.Initiators) == 0 {
		return nil
	}
	var out []LUNSession
	for _, si := range a.cfg.Sessions() {
		if si.Type != iscsi.SessionNormal {
			continue
		}
		for _, il := range info.Initiators {
			if si.Target == il.Target && si.Initiator == il.Initiator && slices.Contains(si.LUNs, il.LUNID) {
				out = append(out, LUNSession{Target: si.Target, Initiator: si.Initiator,
					ISID: hex.EncodeToString(si.ISID[:]), TSIH: si.TSIH, LUNID: il.LUNID})
			}
		}
	}
	return out
}

func (a *APIServer) resizeLUN(w http.ResponseWriter, r *http.Request) error {
	var req LUNResize
	if err := a.decode(w, r, &req); err != nil {
		return err
	}
	info, err := a.cfg.Store.ResizeLUN(r.Context(), r.PathValue("name"), req)
	if err != nil {
		return err
	}
	return a.writeJSON(w, http.StatusOK, info)
}

func (a *APIServer) deleteLUN(w http.ResponseWriter, r *http.Request) error {
	force, err := apiForce(r)
	if err != nil {
		return err
	}
	if err := a.cfg.Store.DeleteLUN(r.Context(), r.PathValue("name"), force); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *APIServer) listIGroups(w http.ResponseWriter, r *http.Request) error {
	return a.writeJSON(w, http.StatusOK, a.cfg.Store.IGroups())
}

func (a *APIServer) createIGroup(w http.ResponseWriter, r *http.Request) error {
	var req IGroupCreate
	if err := a.decode(w, r, &req); err != nil {
		return err
	}
	info, err := a.cfg.Store.CreateIGroup(r.Context(), req)
	if err != nil {
		return err
	}
	return a.writeJSON(w, http.StatusCreated, info)
}

func (a *APIServer) showIGroup(w http.ResponseWriter, r *http.Request) error {
	info, err := a.cfg.Store.IGroup(r.PathValue("name"))
	if err != nil {
		return err
	}
	return a.writeJSON(w, http.StatusOK, info)
}

func (a *APIServer) deleteIGroup(w http.ResponseWriter, r *http.Request) error {
	force, err := apiForce(r)
	if err != nil {
		return err
	}
	if err := a.cfg.Store.DeleteIGroup(r.Context(), r.PathValue("name"), force); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *APIServer) addInitiator(w http.ResponseWriter, r *http.Request) error {
	var req InitiatorRequest
	if err := a.decode(w, r, &req); err != nil {
		return err
	}
	info, err := a.cfg.Store.AddInitiator(r.Context(), r.PathValue("name"), req.Initiator)
	if err != nil {
		return err
	}
	return a.writeJSON(w, http.StatusOK, info)
}

func (a *APIServer) removeInitiator(w http.ResponseWriter, r *http.Request) error {
	info, err := a.cfg.Store.RemoveInitiator(r.Context(), r.PathValue("name"), r.PathValue("iqn"))
	if err != nil {
		return err
	}
	return a.writeJSON(w, http.StatusOK, info)
}

func (a *APIServer) listMaps(w http.ResponseWriter, r *http.Request) error {
	return a.writeJSON(w, http.StatusOK, a.cfg.Store.Maps())
}

func (a *APIServer) createMap(w http.ResponseWriter, r *http.Request) error {
	var req MapCreate
	if err := a.decode(w, r, &req); err != nil {
		return err
	}
	m, err := a.cfg.Store.Map(r.Context(), req)
	if err != nil {
		return err
	}
	return a.writeJSON(w, http.StatusCreated, m)
}

func (a *APIServer) deleteMap(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseUint(r.PathValue("lun_id"), 10, 64)
	if err != nil || id > MaxLUNID {
		return &APIError{Status: http.StatusBadRequest, Code: "invalid_lun_id", Message: fmt.Sprintf("LUN id %q: want 0 to %d", r.PathValue("lun_id"), MaxLUNID)}
	}
	if err := a.cfg.Store.Unmap(r.Context(), r.PathValue("target"), r.PathValue("igroup"), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *APIServer) listTargets(w http.ResponseWriter, r *http.Request) error {
	return a.writeJSON(w, http.StatusOK, a.cfg.Store.TargetList())
}

func (a *APIServer) createTarget(w http.ResponseWriter, r *http.Request) error {
	var req TargetCreate
	if err := a.decode(w, r, &req); err != nil {
		return err
	}
	info, err := a.cfg.Store.CreateTarget(r.Context(), req)
	if err != nil {
		return err
	}
	return a.writeJSON(w, http.StatusCreated, info)
}

func (a *APIServer) deleteTarget(w http.ResponseWriter, r *http.Request) error {
	force, err := apiForce(r)
	if err != nil {
		return err
	}
	if err := a.cfg.Store.DeleteTarget(r.Context(), r.PathValue("name"), force); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *APIServer) setTargetCHAP(w http.ResponseWriter, r *http.Request) error {
	var req CHAPSecret
	if err := a.decode(w, r, &req); err != nil {
		return err
	}
	if err := a.cfg.Store.SetTargetCHAP(r.Context(), r.PathValue("name"), req); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *APIServer) clearTargetCHAP(w http.ResponseWriter, r *http.Request) error {
	if err := a.cfg.Store.ClearTargetCHAP(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *APIServer) listCHAP(w http.ResponseWriter, r *http.Request) error {
	return a.writeJSON(w, http.StatusOK, a.cfg.Store.CHAPList())
}

func (a *APIServer) setCHAP(w http.ResponseWriter, r *http.Request) error {
	var req CHAPSecret
	if err := a.decode(w, r, &req); err != nil {
		return err
	}
	if err := a.cfg.Store.SetCHAP(r.Context(), r.PathValue("initiator"), req); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *APIServer) clearCHAP(w http.ResponseWriter, r *http.Request) error {
	if err := a.cfg.Store.ClearCHAP(r.Context(), r.PathValue("initiator")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *APIServer) listSessions(w http.ResponseWriter, r *http.Request) error {
	out := []APISession{}
	if a.cfg.Sessions != nil {
		for _, si := range a.cfg.Sessions() {
			out = append(out, apiSession(si))
		}
	}
	return a.writeJSON(w, http.StatusOK, out)
}

func (a *APIServer) metrics(w http.ResponseWriter, r *http.Request) error {
	if a.cfg.Metrics == nil {
		return &APIError{Status: http.StatusNotFound, Code: APICodeNotFound, Message: "metrics are not enabled on this server"}
	}
	a.cfg.Metrics.ServeHTTP(w, r)
	return nil
}
