package target

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// APIError is an error answer of the management API.
type APIError struct {
	// Status is the HTTP status.
	Status int
	// Code is the API's stable error code (for example "lun_not_found").
	Code string
	// Message says what went wrong and what to do.
	Message string
}

// Error returns the code and message.
func (e *APIError) Error() string {
	return fmt.Sprintf("target api: %s (%d %s): %s", e.Code, e.Status, http.StatusText(e.Status), e.Message)
}

// clientMaxResponse bounds a response body the client reads.
const clientMaxResponse = 64 << 20

// Client is a Go client of the management API. Its methods are safe for
// concurrent use; every one takes a context first and returns an
// *APIError for an error answer.
type Client struct {
	base  *url.URL
	token string
	hc    *http.Client
}

// NewClient returns a client of the API at baseURL (for example
// "http://127.0.0.1:3261") using token; httpClient nil means
// http.DefaultClient.
func NewClient(baseURL, token string, httpClient *http.Client) *Client {
	u, err := url.Parse(strings.TrimSuffix(baseURL, "/"))
	if err != nil || u.Scheme == "" || u.Host == "" {
		u = &url.URL{Scheme: "invalid", Opaque: baseURL}
	}
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	return &Client{base: u, token: token, hc: httpClient}
}

// do sends a request and decodes a JSON answer into out (nil: none).
func (c *Client) do(ctx context.Context, method string, path []string, query url.Values, in, out any) error {
	if c.base.Scheme != "http" && c.base.Scheme != "https" {
		return fmt.Errorf("target api: base URL %q: want http://host:port", c.base.Opaque)
	}
	u := *c.base
	segs := make([]string, len(path))
	for i, p := range path {
		segs[i] = url.PathEscape(p)
	}
	u.RawPath = c.base.Path + "/" + strings.Join(segs, "/")
	u.Path = c.base.Path + "/" + strings.Join(path, "/")
	u.RawQuery = query.Encode()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("target api: encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return fmt.Errorf("target api: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("target api: %s %s: %w (is lunar target serve running there?)", method, u.Redacted(), err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, clientMaxResponse))
	if err != nil {
		return fmt.Errorf("target api: read answer: %w", err)
	}
	if resp.StatusCode >= 300 {
		var eb APIErrorBody
		if json.Unmarshal(data, &eb) == nil && eb.Error.Code != "" {
			return &APIError{Status: resp.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message}
		}
		msg := strings.TrimSpace(string(data))
		if len(msg) > 200 {
			msg = msg[:200]
		}
		return &APIError{Status: resp.StatusCode, Code: "http_" + strconv.Itoa(resp.StatusCode), Message: msg}
	}
	if out == nil {
		return nil
	}
	if rb, ok := out.(*rawBody); ok {
		*rb = data
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("target api: decode answer: %w", err)
	}
	return nil
}

// Health checks that the API answers (no token needed).
func (c *Client) Health(ctx context.Context) error {
	var h Health
	if err := c.do(ctx, http.MethodGet, []string{"v1", "health"}, nil, nil, &h); err != nil {
		return err
	}
	if h.Status != "ok" {
		return fmt.Errorf("target api: health %q", h.Status)
	}
	return nil
}

// LUNs lists every LUN.
func (c *Client) LUNs(ctx context.Context) ([]LUNInfo, error) {
	var out []LUNInfo
	return out, c.do(ctx, http.MethodGet, []string{"v1", "luns"}, nil, nil, &out)
}

// CreateLUN creates a LUN.
func (c *Client) CreateLUN(ctx context.Context, req LUNCreate) (LUNInfo, error) {
	var out LUNInfo
	return out, c.do(ctx, http.MethodPost, []string{"v1", "luns"}, nil, req, &out)
}

// LUN shows one LUN, with the sessions that see it.
func (c *Client) LUN(ctx context.Context, name string) (LUNInfo, error) {
	var out LUNInfo
	return out, c.do(ctx, http.MethodGet, []string{"v1", "luns", name}, nil, nil, &out)
}

// ResizeLUN changes a LUN's size (shrinking needs req.Force).
func (c *Client) ResizeLUN(ctx context.Context, name string, req LUNResize) (LUNInfo, error) {
	var out LUNInfo
	return out, c.do(ctx, http.MethodPatch, []string{"v1", "luns", name}, nil, req, &out)
}

// DeleteLUN deletes a LUN; force unmaps it first.
func (c *Client) DeleteLUN(ctx context.Context, name string, force bool) error {
	return c.do(ctx, http.MethodDelete, []string{"v1", "luns", name}, clientForce(force), nil, nil)
}

// IGroups lists every initiator group.
func (c *Client) IGroups(ctx context.Context) ([]IGroupInfo, error) {
	var out []IGroupInfo
	return out, c.do(ctx, http.MethodGet, []string{"v1", "igroups"}, nil, nil, &out)
}

// CreateIGroup creates an initiator group.
func (c *Client) CreateIGroup(ctx context.Context, req IGroupCreate) (IGroupInfo, error) {
	var out IGroupInfo
	return out, c.do(ctx, http.MethodPost, []string{"v1", "igroups"}, nil, req, &out)
}

// IGroup shows one initiator group.
func (c *Client) IGroup(ctx context.Context, name string) (IGroupInfo, error) {
	var out IGroupInfo
	return out, c.do(ctx, http.MethodGet, []string{"v1", "igroups", name}, nil, nil, &out)
}

// DeleteIGroup deletes an initiator group; force removes its maps.
func (c *Client) DeleteIGroup(ctx context.Context, name string, force bool) error {
	return c.do(ctx, http.MethodDelete, []string{"v1", "igroups", name}, clientForce(force), nil, nil)
}

// AddInitiator adds an initiator to a group.
func (c *Client) AddInitiator(ctx context.Context, group, initiator string) (IGroupInfo, error) {
	var out IGroupInfo
	return out, c.do(ctx, http.MethodPost, []string{"v1", "igroups", group, "initiators"}, nil, InitiatorRequest{Initiator: initiator}, &out)
}

// RemoveInitiator removes an initiator from a group.
func (c *Client) RemoveInitiator(ctx context.Context, group, initiator string) (IGroupInfo, error) {
	var out IGroupInfo
	return out, c.do(ctx, http.MethodDelete, []string{"v1", "igroups", group, "initiators", initiator}, nil, nil, &out)
}

// Maps lists every LUN map.
func (c *Client) Maps(ctx context.Context) ([]MapInfo, error) {
	var out []MapInfo
	return out, c.do(ctx, http.MethodGet, []string{"v1", "maps"}, nil, nil, &out)
}

// Map maps a LUN to an initiator group.
func (c *Client) Map(ctx context.Context, req MapCreate) (MapInfo, error) {
	var out MapInfo
	return out, c.do(ctx, http.MethodPost, []string{"v1", "maps"}, nil, req, &out)
}

// Unmap removes the map at lunID of a group on a target.
func (c *Client) Unmap(ctx context.Context, target, igroup string, lunID uint64) error {
	return c.do(ctx, http.MethodDelete, []string{"v1", "maps", target, igroup, strconv.FormatUint(lunID, 10)}, nil, nil, nil)
}

// Targets lists every target.
func (c *Client) Targets(ctx context.Context) ([]TargetInfo, error) {
	var out []TargetInfo
	return out, c.do(ctx, http.MethodGet, []string{"v1", "targets"}, nil, nil, &out)
}

// CreateTarget creates a target.
func (c *Client) CreateTarget(ctx context.Context, req TargetCreate) (TargetInfo, error) {
	var out TargetInfo
	return out, c.do(ctx, http.MethodPost, []string{"v1", "targets"}, nil, req, &out)
}

// DeleteTarget deletes a target; force removes its maps.
func (c *Client) DeleteTarget(ctx context.Context, name string, force bool) error {
	return c.do(ctx, http.MethodDelete, []string{"v1", "targets", name}, clientForce(force), nil, nil)
}

// SetTargetCHAP sets a target's mutual CHAP credentials.
func (c *Client) SetTargetCHAP(ctx context.Context, target string, cred CHAPSecret) error {
	return c.do(ctx, http.MethodPut, []string{"v1", "targets", target, "chap"}, nil, cred, nil)
}

// ClearTargetCHAP removes a target's mutual CHAP credentials.
func (c *Client) ClearTargetCHAP(ctx context.Context, target string) error {
	return c.do(ctx, http.MethodDelete, []string{"v1", "targets", target, "chap"}, nil, nil, nil)
}

// CHAP lists the initiators with CHAP credentials (names only).
func (c *Client) CHAP(ctx context.Context) ([]CHAPInfo, error) {
	var out []CHAPInfo
	return out, c.do(ctx, http.MethodGet, []string{"v1", "chap"}, nil, nil, &out)
}

// SetCHAP sets an initiator's CHAP credentials.
func (c *Client) SetCHAP(ctx context.Context, initiator string, cred CHAPSecret) error {
	return c.do(ctx, http.MethodPut, []string{"v1", "chap", initiator}, nil, cred, nil)
}

// ClearCHAP removes an initiator's CHAP credentials.
func (c *Client) ClearCHAP(ctx context.Context, initiator string) error {
	return c.do(ctx, http.MethodDelete, []string{"v1", "chap", initiator}, nil, nil, nil)
}

// Sessions lists the target's sessions.
func (c *Client) Sessions(ctx context.Context) ([]APISession, error) {
	var out []APISession
	return out, c.do(ctx, http.MethodGet, []string{"v1", "sessions"}, nil, nil, &out)
}

// Metrics returns the Prometheus text exposition of /metrics.
func (c *Client) Metrics(ctx context.Context) (string, error) {
	var raw rawBody
	if err := c.do(ctx, http.MethodGet, []string{"metrics"}, nil, nil, &raw); err != nil {
		return "", err
	}
	return string(raw), nil
}

// rawBody takes a response body as is.
type rawBody []byte

func clientForce(force bool) url.Values {
	if !force {
		return nil
	}
	return url.Values{"force": {"1"}}
}

// IsNotFound reports whether err is an API answer 404.
func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}
