package main

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"webrtcgw/confserv/client"
)

// fail prints err for the operator and returns the exit code.
func (c *cli) fail(err error) int {
	if err == nil || errors.Is(err, errHelp) {
		return exitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		if ue.path != "" {
			fmt.Fprintf(c.stderr, "gwctl %s: %s\nrun gwctl help %s for usage\n", ue.path, ue.msg, ue.path)
		} else {
			fmt.Fprintf(c.stderr, "gwctl: %s\nrun gwctl help for usage\n", ue.msg)
		}
		return exitUsage
	}
	var ce *codeError
	if errors.As(err, &ce) {
		if ce.msg != "" {
			fmt.Fprintf(c.stderr, "gwctl: %s\n", ce.msg)
		}
		return ce.code
	}
	var se *client.StatusError
	if errors.As(err, &se) {
		// The problems go one a line, as the server gave them.
		head := strings.Replace(err.Error(), se.Error(), fmt.Sprintf("%s (%d)", se.Message, se.Status), 1)
		fmt.Fprintf(c.stderr, "gwctl: %s\n", head)
		for _, p := range se.Problems {
			fmt.Fprintln(c.stderr, p)
		}
		if hint := c.hint(se); hint != "" {
			fmt.Fprintln(c.stderr, hint)
		}
		switch se.Status {
		case http.StatusPreconditionFailed:
			return exitConflict
		case http.StatusUnprocessableEntity:
			return exitInvalid
		}
		return exitError
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		var unknownCA x509.UnknownAuthorityError
		var hostErr x509.HostnameError
		switch {
		case errors.As(err, &unknownCA):
			fmt.Fprintf(c.stderr, "gwctl: the certificate of %s is not signed by a trusted authority\ngive the authority's PEM file with -ca or GWCTL_CA\n", c.set.server)
		case errors.As(err, &hostErr):
			fmt.Fprintf(c.stderr, "gwctl: the certificate of %s is not for this host name: %v\n", c.set.server, hostErr)
		default:
			fmt.Fprintf(c.stderr, "gwctl: cannot reach the Configuration Server at %s: %v\ncheck -server, GWCTL_SERVER or the config file, and that confserv is running\n", c.set.server, urlErr.Err)
		}
		return exitError
	}
	fmt.Fprintf(c.stderr, "gwctl: %v\n", err)
	return exitError
}

// hint is what to do about a server's error answer.
func (c *cli) hint(se *client.StatusError) string {
	switch se.Status {
	case http.StatusUnauthorized:
		if c.set.tokenFrom == fromFlag || c.set.tokenFrom == fromEnv {
			return fmt.Sprintf("the token from the %s is unknown or expired: give a valid one, or unset it and run gwctl login", c.set.tokenFrom)
		}
		return "not signed in or the session expired: run gwctl login"
	case http.StatusForbidden:
		return "your role does not allow this (gwctl whoami shows it): ask an admin"
	case http.StatusPreconditionFailed:
		return "someone else changed it meanwhile: read it again and retry"
	case http.StatusPreconditionRequired:
		return "the server wants the revision read first: this is a gwctl bug, please report it"
	case http.StatusTooManyRequests:
		return "too many failed sign-ins from this address: wait, then try again"
	}
	return ""
}
