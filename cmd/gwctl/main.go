// Command gwctl is the operator's command line for the Configuration Server:
// it signs in, lists and edits applications, their options, templates, hosts,
// operators and application credentials, and shows the audit log.
//
//	gwctl [-server URL] [-token TOKEN] [-ca FILE] [-config FILE] [-o table|json] COMMAND ...
//
// Exit codes: 0 ok, 1 error, 2 usage, 3 conflict (someone else changed the
// object), 4 invalid option values, 5 rejected by the daemon, 6 timeout.
// docs/gwctl.md is the operator's guide.
package main

import "os"

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)) }
