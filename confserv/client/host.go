package client

import (
	"context"
	"net/http"
	"net/url"

	"webrtcgw/confserv/api"
)

// NewHostCredential issues a new token for the Local Control Agent of host
// (admin only); it replaces the previous one and is shown once.
func (c *Client) NewHostCredential(ctx context.Context, host string) (string, error) {
	var cr api.Credential
	err := c.do(ctx, http.MethodPost, pathHosts+"/"+url.PathEscape(host)+"/credentials", nil, &cr, 0)
	return cr.Token, err
}

// RevokeHostCredential revokes the token of host's Local Control Agent.
func (c *Client) RevokeHostCredential(ctx context.Context, host string) error {
	return c.do(ctx, http.MethodDelete, pathHosts+"/"+url.PathEscape(host)+"/credentials", nil, nil, 0)
}

// PutStatus records the status of app, with the credential of the host it
// runs on (the Local Control Agent).
func (c *Client) PutStatus(ctx context.Context, app string, st api.AppStatus) error {
	return c.do(ctx, http.MethodPut, pathApps+"/"+url.PathEscape(app)+"/status", st, nil, 0)
}
