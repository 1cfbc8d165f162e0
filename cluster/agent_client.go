package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// APIError is an error answer of an agent's API. It unwraps to the
// cluster sentinel its status means (404 ErrNotFound, 409 ErrConflict, 400
// ErrInvalid, 403 ErrNotOwner, 503 ErrUnavailable, 504 ErrTimeout), so
// errors.Is works across the network.
type APIError struct {
	// Status is the HTTP status.
	Status int
	// Message is the agent's error text.
	Message string
}

// Error returns the status and the message.
func (e *APIError) Error() string {
	return fmt.Sprintf("agent api: %d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

// Unwrap returns the sentinel of the status, nil for other statuses.
func (e *APIError) Unwrap() error {
	switch e.Status {
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusConflict:
		return ErrConflict
	case http.StatusBadRequest:
		return ErrInvalid
	case http.StatusForbidden:
		return ErrNotOwner
	case http.StatusServiceUnavailable:
		return ErrUnavailable
	case http.StatusGatewayTimeout:
		return ErrTimeout
	}
	return nil
}

// clientMaxAnswer bounds an answer the client reads (a stream line too).
const clientMaxAnswer = 16 << 20

// AgentClient is a Go client of an agent's API; it implements NodeAPI.
// Its methods are safe for concurrent use. An agent that cannot be
// reached fails with ErrUnavailable; an error answer is an *APIError.
type AgentClient struct {
	base  string
	token string
	hc    *http.Client
}

var _ NodeAPI = (*AgentClient)(nil)

// NewAgentClient returns a client of the agent at baseURL (for example
// "http://127.0.0.1:7070") with token; hc nil means http.DefaultClient.
func NewAgentClient(baseURL, token string, hc *http.Client) *AgentClient {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &AgentClient{base: strings.TrimRight(baseURL, "/"), token: token, hc: hc}
}

// BaseURL returns the agent's base URL.
func (c *AgentClient) BaseURL() string { return c.base }

// Connect asks the agent to connect a LUN (POST /v1/connect).
func (c *AgentClient) Connect(ctx context.Context, req ConnectRequest) (ConnectResponse, error) {
	var resp ConnectResponse
	err := c.do(ctx, http.MethodPost, PathConnect, req, &resp)
	return resp, err
}

// Disconnect asks the agent to disconnect a LUN (POST /v1/disconnect).
func (c *AgentClient) Disconnect(ctx context.Context, req DisconnectRequest) (DisconnectResponse, error) {
	var resp DisconnectResponse
	err := c.do(ctx, http.MethodPost, PathDisconnect, req, &resp)
	return resp, err
}

// Format asks the agent to format a connected disk (POST /v1/format).
func (c *AgentClient) Format(ctx context.Context, req FormatRequest) (FormatResponse, error) {
	var resp FormatResponse
	err := c.do(ctx, http.MethodPost, PathFormat, req, &resp)
	return resp, err
}

// Disks lists the node's connected disks (GET /v1/disks).
func (c *AgentClient) Disks(ctx context.Context) ([]DiskStatus, error) {
	var out []DiskStatus
	err := c.do(ctx, http.MethodGet, PathDisks, nil, &out)
	return out, err
}

// Health checks that the agent answers (GET /v1/health, no token).
func (c *AgentClient) Health(ctx context.Context) error {
	var h HealthBody
	return c.do(ctx, http.MethodGet, PathHealth, nil, &h)
}

// Metrics returns the agent's Prometheus text exposition (GET /metrics).
func (c *AgentClient) Metrics(ctx context.Context) (string, error) {
	resp, err := c.send(ctx, http.MethodGet, PathMetrics, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", readAPIError(resp)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, clientMaxAnswer))
	if err != nil {
		return "", c.netError(ctx, "read /metrics", err)
	}
	return string(b), nil
}

// RunOperation asks the agent to run an operation (POST /v1/operations)
// and calls progress (when not nil) for each progress line as it comes.
// It returns the result of the last line, with its error as an *APIError
// when the operation failed. Cancelling ctx closes the stream, which
// cancels the operation on the agent.
func (c *AgentClient) RunOperation(ctx context.Context, req OperationRequest, progress func(ProgressEvent)) (OperationResult, error) {
	resp, err := c.send(ctx, http.MethodPost, PathOperations, req)
	if err != nil {
		return OperationResult{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return OperationResult{}, readAPIError(resp)
	}
	dec := json.NewDecoder(io.LimitReader(resp.Body, 1<<40))
	for {
		var l OperationLine
		if err := dec.Decode(&l); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return OperationResult{}, c.netError(ctx, "operation stream ended before its result", err)
		}
		if l.Progress != nil {
			if progress != nil {
				progress(*l.Progress)
			}
			continue
		}
		var res OperationResult
		if l.Result != nil {
			res = *l.Result
		}
		if l.Error != "" {
			status := l.Status
			if status == 0 {
				status = http.StatusInternalServerError
			}
			return res, &APIError{Status: status, Message: l.Error}
		}
		return res, nil
	}
}

// do sends a request with body (JSON, nil for none) and decodes a 200
// answer into out.
func (c *AgentClient) do(ctx context.Context, method, path string, body, out any) error {
	resp, err := c.send(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return readAPIError(resp)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, clientMaxAnswer)).Decode(out); err != nil {
		return c.netError(ctx, "decode the answer to "+path, err)
	}
	return nil
}

func (c *AgentClient) send(ctx context.Context, method, path string, body any) (*http.Response, error) {
	u, err := url.JoinPath(c.base, path)
	if err != nil {
		return nil, fmt.Errorf("%w: agent URL %q: %v", ErrInvalid, c.base, err)
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("%w: encode the request: %v", ErrInvalid, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, c.netError(ctx, method+" "+u, err)
	}
	return resp, nil
}

// netError wraps a transport error: ErrTimeout for a deadline, the
// context's error for a cancellation, ErrUnavailable otherwise.
func (c *AgentClient) netError(ctx context.Context, what string, err error) error {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("%w: agent %s: %s: %w", ErrTimeout, c.base, what, err)
	case ctx.Err() != nil:
		return fmt.Errorf("cluster: agent %s: %s: %w", c.base, what, ctx.Err())
	}
	return fmt.Errorf("%w: agent %s: %s: %w", ErrUnavailable, c.base, what, err)
}

// readAPIError turns an error answer into an *APIError.
func readAPIError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var eb ErrorBody
	msg := strings.TrimSpace(string(b))
	if json.Unmarshal(b, &eb) == nil && eb.Error != "" {
		msg = eb.Error
	}
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	return &APIError{Status: resp.StatusCode, Message: msg}
}
