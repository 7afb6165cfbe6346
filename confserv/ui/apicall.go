package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"webrtcgw/confserv/api"
)

// apiClient calls the JSON API in process, on behalf of one browser request:
// the API handler sees the browser's address (RemoteAddr and, for trusted
// proxies, X-Forwarded-For), so sign-in failures are counted and logged
// against it, and the operator's session token as its bearer token.
type apiClient struct {
	h     http.Handler
	from  *http.Request
	token string
}

// apiError is an error answer of the API.
type apiError struct {
	Status   int
	Message  string
	Problems []string
	Body     []byte // the whole answer: a 412 carries the current object
	Header   http.Header
}

func (e *apiError) Error() string { return fmt.Sprintf("%s (%d)", e.Message, e.Status) }

// recorder is the http.ResponseWriter the API writes to.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(p)
}

// call sends one request to the API: in is JSON-encoded when not nil, out
// decoded from a 2xx answer when not nil; rev, when not 0, goes in If-Match.
// It returns the answer's headers, and an *apiError for a non-2xx answer.
func (c *apiClient) call(ctx context.Context, method, path string, in, out any, rev uint64) (http.Header, error) {
	body := io.Reader(http.NoBody)
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "/api/v1/"+path, body)
	if err != nil {
		return nil, err
	}
	req.RemoteAddr = c.from.RemoteAddr
	if xff := c.from.Header.Values("X-Forwarded-For"); len(xff) > 0 {
		req.Header["X-Forwarded-For"] = xff
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if rev != 0 {
		req.Header.Set("If-Match", `"`+strconv.FormatUint(rev, 10)+`"`)
	}
	rec := &recorder{header: http.Header{}}
	c.h.ServeHTTP(rec, req)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	if rec.status >= 300 {
		e := &apiError{Status: rec.status, Message: http.StatusText(rec.status), Body: rec.body.Bytes(), Header: rec.header}
		var ae api.Error
		if json.Unmarshal(rec.body.Bytes(), &ae) == nil && ae.Error != "" {
			e.Message, e.Problems = ae.Error, ae.Problems
		}
		return rec.header, e
	}
	if out != nil && rec.body.Len() > 0 {
		if err := json.Unmarshal(rec.body.Bytes(), out); err != nil {
			return rec.header, fmt.Errorf("%s %s: decode the answer: %w", method, path, err)
		}
	}
	return rec.header, nil
}

// statusOf returns the API status of err (0 when err is not an API answer).
func statusOf(err error) int {
	var e *apiError
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}
