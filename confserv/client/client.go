// Package client is the Go client of the Configuration Server API
// (docs/confserv-api.md): typed CRUD for gwctl and tools, and Follow, which
// keeps a daemon's options current with a local cache.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"webrtcgw/confserv/api"
)

// Config says where the server is and who we are.
type Config struct {
	URL    string // http(s)://host:port
	Token  string // an operator session token or an application credential
	CAFile string // PEM file of authorities trusted for an https URL; empty: the system's
	// HTTPClient, when set, is used as is (tests).
	HTTPClient *http.Client
}

// Client talks to one Configuration Server.
type Client struct {
	base  *url.URL
	token string
	hc    *http.Client
}

// New returns a client for cfg.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("configuration server URL %q: want http(s)://host:port", cfg.URL)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if cfg.CAFile != "" {
			pem, err := os.ReadFile(cfg.CAFile)
			if err != nil {
				return nil, err
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("%s: no PEM certificate", cfg.CAFile)
			}
			tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		}
		// Long polls hold a request for up to a minute.
		hc = &http.Client{Transport: tr, Timeout: 90 * time.Second}
	}
	return &Client{base: u, token: cfg.Token, hc: hc}, nil
}

// SetToken changes the token used from now on.
func (c *Client) SetToken(token string) { c.token = token }

// StatusError is an error answer of the server.
type StatusError struct {
	Status   int
	Message  string
	Problems []string
	Body     []byte // the whole answer (for 412, the current object is in "current")
}

func (e *StatusError) Error() string {
	if len(e.Problems) > 0 {
		return fmt.Sprintf("%s (%d): %s", e.Message, e.Status, strings.Join(e.Problems, "; "))
	}
	return fmt.Sprintf("%s (%d)", e.Message, e.Status)
}

// HasStatus reports whether err is a StatusError with status.
func HasStatus(err error, status int) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Status == status
}

// do sends one request; in is JSON-encoded when not nil, out decoded when
// not nil. rev, when not 0, goes in If-Match.
func (c *Client) do(ctx context.Context, method, path string, in, out any, rev uint64) error {
	_, err := c.doHeader(ctx, method, path, in, out, rev)
	return err
}

// doHeader is do, returning the response headers too.
func (c *Client) doHeader(ctx context.Context, method, path string, in, out any, rev uint64) (http.Header, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	u := c.base.JoinPath("/api/v1", path)
	if i := strings.IndexByte(path, '?'); i >= 0 {
		u = c.base.JoinPath("/api/v1", path[:i])
		u.RawQuery = path[i+1:]
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
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
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if w, ok := out.(io.Writer); ok && res.StatusCode < 300 {
		// A download (the backup): streamed, not held in memory.
		_, err := io.Copy(w, res.Body)
		return res.Header, err
	}
	data, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if res.StatusCode >= 300 {
		se := &StatusError{Status: res.StatusCode, Message: http.StatusText(res.StatusCode), Body: data}
		var e api.Error
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			se.Message, se.Problems = e.Error, e.Problems
		}
		return res.Header, se
	}
	if out == nil || len(data) == 0 {
		return res.Header, nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return res.Header, fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return res.Header, nil
}

// Login signs an operator in and keeps the session token for later calls.
func (c *Client) Login(ctx context.Context, name, password string) (api.Session, error) {
	var s api.Session
	err := c.do(ctx, http.MethodPost, "login", api.Login{Name: name, Password: password}, &s, 0)
	if err == nil {
		c.token = s.Token
	}
	return s, err
}

// Logout ends the session token.
func (c *Client) Logout(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "logout", nil, nil, 0)
}

// Whoami says who the token belongs to.
func (c *Client) Whoami(ctx context.Context) (api.Whoami, error) {
	var w api.Whoami
	return w, c.do(ctx, http.MethodGet, "whoami", nil, &w, 0)
}

// The object collections.
const (
	pathHosts     = "hosts"
	pathApps      = "apps"
	pathTemplates = "templates"
	pathOperators = "operators"
)

func list[T any](ctx context.Context, c *Client, coll string) ([]T, error) {
	var out []T
	return out, c.do(ctx, http.MethodGet, coll, nil, &out, 0)
}

func get[T any](ctx context.Context, c *Client, coll, name string) (T, error) {
	var out T
	return out, c.do(ctx, http.MethodGet, coll+"/"+url.PathEscape(name), nil, &out, 0)
}

func create[T any](ctx context.Context, c *Client, coll string, obj T) (T, error) {
	var out T
	return out, c.do(ctx, http.MethodPost, coll, obj, &out, 0)
}

func update[T any](ctx context.Context, c *Client, coll, name string, rev uint64, obj T) (T, error) {
	var out T
	if rev == 0 {
		return out, errors.New("an update needs the revision it was read at")
	}
	return out, c.do(ctx, http.MethodPut, coll+"/"+url.PathEscape(name), obj, &out, rev)
}

func del(ctx context.Context, c *Client, coll, name string, rev uint64) error {
	if rev == 0 {
		return errors.New("a delete needs the revision it was read at")
	}
	return c.do(ctx, http.MethodDelete, coll+"/"+url.PathEscape(name), nil, nil, rev)
}

// Hosts lists the hosts.
func (c *Client) Hosts(ctx context.Context) ([]api.Host, error) {
	return list[api.Host](ctx, c, pathHosts)
}

// Host reads one host.
func (c *Client) Host(ctx context.Context, name string) (api.Host, error) {
	return get[api.Host](ctx, c, pathHosts, name)
}

// CreateHost creates a host.
func (c *Client) CreateHost(ctx context.Context, h api.Host) (api.Host, error) {
	return create(ctx, c, pathHosts, h)
}

// UpdateHost writes h over the revision h.Revision.
func (c *Client) UpdateHost(ctx context.Context, h api.Host) (api.Host, error) {
	return update(ctx, c, pathHosts, h.Name, h.Revision, h)
}

// DeleteHost deletes a host read at rev.
func (c *Client) DeleteHost(ctx context.Context, name string, rev uint64) error {
	return del(ctx, c, pathHosts, name, rev)
}

// Apps lists the applications.
func (c *Client) Apps(ctx context.Context) ([]api.Application, error) {
	return list[api.Application](ctx, c, pathApps)
}

// App reads one application.
func (c *Client) App(ctx context.Context, name string) (api.Application, error) {
	return get[api.Application](ctx, c, pathApps, name)
}

// AppAt reads one application and the store's revision just before the read
// (watch from it to miss nothing).
func (c *Client) AppAt(ctx context.Context, name string) (api.Application, uint64, error) {
	var a api.Application
	h, err := c.doHeader(ctx, http.MethodGet, pathApps+"/"+url.PathEscape(name), nil, &a, 0)
	if err != nil {
		return a, 0, err
	}
	rev, _ := strconv.ParseUint(h.Get("X-Revision"), 10, 64)
	return a, rev, nil
}

// CreateApp creates an application.
func (c *Client) CreateApp(ctx context.Context, a api.Application) (api.Application, error) {
	return create(ctx, c, pathApps, a)
}

// UpdateApp writes a over the revision a.Revision.
func (c *Client) UpdateApp(ctx context.Context, a api.Application) (api.Application, error) {
	return update(ctx, c, pathApps, a.Name, a.Revision, a)
}

// DeleteApp deletes an application read at rev.
func (c *Client) DeleteApp(ctx context.Context, name string, rev uint64) error {
	return del(ctx, c, pathApps, name, rev)
}

// Templates lists the templates.
func (c *Client) Templates(ctx context.Context) ([]api.Template, error) {
	return list[api.Template](ctx, c, pathTemplates)
}

// Template reads one template.
func (c *Client) Template(ctx context.Context, name string) (api.Template, error) {
	return get[api.Template](ctx, c, pathTemplates, name)
}

// DeleteTemplate deletes a template read at rev.
func (c *Client) DeleteTemplate(ctx context.Context, name string, rev uint64) error {
	return del(ctx, c, pathTemplates, name, rev)
}

// ImportTemplate imports a template from its .apd and metadata XML; replace
// with rev replaces an existing one.
func (c *Client) ImportTemplate(ctx context.Context, apd, metadata string, replace bool, rev uint64) (api.Template, error) {
	var out api.Template
	path := "templates/import"
	if replace {
		path += "?replace=true"
	}
	return out, c.do(ctx, http.MethodPost, path, api.TemplateImport{APD: apd, Metadata: metadata}, &out, rev)
}

// Operators lists the operators (admin).
func (c *Client) Operators(ctx context.Context) ([]api.Operator, error) {
	return list[api.Operator](ctx, c, pathOperators)
}

// CreateOperator creates an operator (admin).
func (c *Client) CreateOperator(ctx context.Context, o api.Operator) (api.Operator, error) {
	return create(ctx, c, pathOperators, o)
}

// UpdateOperator writes o over the revision o.Revision (admin).
func (c *Client) UpdateOperator(ctx context.Context, o api.Operator) (api.Operator, error) {
	return update(ctx, c, pathOperators, o.Name, o.Revision, o)
}

// DeleteOperator deletes an operator read at rev (admin).
func (c *Client) DeleteOperator(ctx context.Context, name string, rev uint64) error {
	return del(ctx, c, pathOperators, name, rev)
}

// NewCredential makes a new token for application app (admin); it replaces
// the previous one.
func (c *Client) NewCredential(ctx context.Context, app string) (string, error) {
	var cr api.Credential
	err := c.do(ctx, http.MethodPost, pathApps+"/"+url.PathEscape(app)+"/credentials", nil, &cr, 0)
	return cr.Token, err
}

// RevokeCredential revokes application app's token (admin).
func (c *Client) RevokeCredential(ctx context.Context, app string) error {
	return c.do(ctx, http.MethodDelete, pathApps+"/"+url.PathEscape(app)+"/credentials", nil, nil, 0)
}

// Report tells the server what the daemon of app did with a revision.
func (c *Client) Report(ctx context.Context, app string, r api.Report) error {
	return c.do(ctx, http.MethodPut, pathApps+"/"+url.PathEscape(app)+"/report", r, nil, 0)
}

// Watch waits (at most timeout) for changes after revision since.
func (c *Client) Watch(ctx context.Context, since uint64, timeout time.Duration) (api.Watch, error) {
	var w api.Watch
	secs := int(timeout / time.Second)
	if secs < 1 {
		secs = 1
	}
	return w, c.do(ctx, http.MethodGet, fmt.Sprintf("watch?since=%d&timeout=%d", since, secs), nil, &w, 0)
}

// Audit returns accepted changes, newest first; kind and name filter when
// not empty.
func (c *Client) Audit(ctx context.Context, kind, name string, limit int) ([]api.AuditEntry, error) {
	q := url.Values{}
	if kind != "" {
		q.Set("kind", kind)
	}
	if name != "" {
		q.Set("name", name)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var a api.Audit
	return a.Entries, c.do(ctx, http.MethodGet, "audit?"+q.Encode(), nil, &a, 0)
}
