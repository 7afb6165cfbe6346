package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"regexp"
	"slices"
	"strings"
	"time"
)

// origin is the web page the browsers say they come from (CORS): the
// domain-whitelist values the harness writes always allow it.
const origin = "https://app.soak.test"

// errStatus is returned for an answer with a status that was not expected.
var errStatus = errors.New("unexpected status")

// webClient speaks HTTPS to the gateway as one browser does: its own
// connections, the Origin of the web page, the harness's trust pool.
type webClient struct {
	h    *harness
	name string
	hc   *http.Client
}

func newClient(h *harness, name string, dialer *net.Dialer) *webClient {
	tr := &http.Transport{
		DialContext:         dialer.DialContext,
		TLSClientConfig:     &tls.Config{RootCAs: h.pool},
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: 6,
		IdleConnTimeout:     90 * time.Second,
	}
	return &webClient{h: h, name: name, hc: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
}

var sessionRE = regexp.MustCompile(`((?:id|from)=[A-Za-z0-9_-]{6})[A-Za-z0-9_-]+`)

// redact shortens session ids in a path for the report.
func redact(path string) string { return sessionRE.ReplaceAllString(path, "$1…") }

// do sends one request to the gateway's current endpoint. It counts the
// request, and counts it failed (what names it) when it could not be made
// or its status is not one of want, or when an answer to a cross-origin
// request lacks the CORS header that allows the page's origin. A request
// cut short because ctx ended is not counted failed.
func (c *webClient) do(ctx context.Context, what, method, path, body string, want ...int) (int, http.Header, string, error) {
	base := c.h.ep.get()
	c.h.m.request()
	start := time.Now()
	res, err := c.send(ctx, method, base+path, body)
	if err != nil && errors.Is(err, errReusedClosed) && ctx.Err() == nil {
		// As a browser does (Chromium's ShouldResendRequest): a request
		// on a reused keep-alive connection that closed before any answer
		// goes once more. The server may close an idle
		// connection just as the client sends on it (an old listener
		// drained after a port change, an idle timeout).
		c.h.m.resentRequest(what, "%s: %s %s%s: %v", c.name, method, base, redact(path), err)
		res, err = c.send(ctx, method, base+path, body)
	}
	if err == nil {
		var data []byte
		data, err = io.ReadAll(res.Body)
		res.Body.Close()
		if err == nil {
			if !slices.Contains(want, res.StatusCode) {
				c.h.m.failedRequest(what, "%s: %s %s%s after %v: %d %.200q", c.name, method, base, redact(path), time.Since(start).Round(time.Millisecond), res.StatusCode, data)
				return res.StatusCode, res.Header, string(data), errStatus
			}
			if got := res.Header.Get("Access-Control-Allow-Origin"); res.StatusCode < 400 && got != origin {
				c.h.m.failedRequest(what, "%s: %s %s%s: %d without Access-Control-Allow-Origin: %s (got %q)", c.name, method, base, redact(path), res.StatusCode, origin, got)
				return res.StatusCode, res.Header, string(data), errStatus
			}
			return res.StatusCode, res.Header, string(data), nil
		}
	}
	if ctx.Err() == nil {
		c.h.m.failedRequest(what, "%s: %s %s%s after %v: %v", c.name, method, base, redact(path), time.Since(start).Round(time.Millisecond), err)
	}
	return 0, nil, "", fmt.Errorf("%s %s: %w", method, redact(path), err)
}

// errReusedClosed marks a request whose reused connection closed before
// any byte of an answer arrived.
var errReusedClosed = errors.New("reused connection closed before an answer")

// send makes one request as the page's script would.
func (c *webClient) send(ctx context.Context, method, url, body string) (*http.Response, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	var reused, answered bool
	trace := &httptrace.ClientTrace{
		GotConn:              func(i httptrace.GotConnInfo) { reused = i.Reused },
		GotFirstResponseByte: func() { answered = true },
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), method, url, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Origin", origin)
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := c.hc.Do(req)
	if err != nil && reused && !answered {
		err = fmt.Errorf("%w: %w", errReusedClosed, err)
	}
	return res, err
}
