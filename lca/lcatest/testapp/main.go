// Command testapp is a tiny daemon for the tests of the Local Control
// Agent: it registers with lca/client, reports Initializing then Running,
// obeys suspend and stop, and can be told to misbehave.
//
//	testapp -lca ADDR -app NAME [flags]
//	testapp -lca ADDR -app NAME -register-pid PID
//
// It prints what happens to stdout (the LCA appends it to LOGS/NAME.log).
// With -register-pid it only registers as another process, prints the
// LCA's answer ("answer {json}") and exits.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"webrtcgw/lca/client"
	"webrtcgw/lca/wire"
)

func main() {
	lca := flag.String("lca", "127.0.0.1:4999", "`address` of the LCA")
	name := flag.String("app", "", "application `name`")
	initFor := flag.Duration("init", 0, "time spent Initializing before Running")
	exitAfter := flag.Duration("exit-after", 0, "exit by itself after this `duration`, without Stopped (0: never)")
	exitCode := flag.Int("exit-code", 3, "exit `code` of -exit-after")
	sessionFile := flag.String("session-file", "", "on suspend, a session stays active until this `file` exists")
	ignoreStop := flag.Bool("ignore-stop", false, "ignore the stop command")
	ignoreTerm := flag.Bool("ignore-term", false, "ignore SIGTERM")
	hangFile := flag.String("hang-file", "", "while this `file` exists, nothing reaches the LCA (a hang)")
	noLCA := flag.Bool("no-lca", false, "never register")
	maxLife := flag.Duration("max-life", 5*time.Minute, "exit after this `duration` whatever happens (a safety net for tests)")
	childPidFile := flag.String("child-pid-file", "", "start a child process and write its pid to this `file`")
	sleeper := flag.Bool("sleeper", false, "only sleep until killed (the child)")
	registerPid := flag.Int("register-pid", 0, "only send one register with this `pid` (not its own), print the answer and exit")
	flag.Parse()

	if *registerPid != 0 {
		if err := registerAs(*lca, *name, *registerPid); err != nil {
			fmt.Fprintf(os.Stderr, "testapp: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if *sleeper {
		time.Sleep(*maxLife)
		return
	}
	say := func(format string, args ...any) {
		fmt.Printf("testapp %s pid %d: %s\n", *name, os.Getpid(), fmt.Sprintf(format, args...))
	}
	say("started")
	if *childPidFile != "" {
		child := exec.Command(os.Args[0], "-sleeper", "-max-life", maxLife.String())
		if err := child.Start(); err != nil {
			say("child: %v", err)
			os.Exit(1)
		}
		os.WriteFile(*childPidFile, []byte(strconv.Itoa(child.Process.Pid)), 0o600)
		go child.Wait()
	}
	if *ignoreTerm {
		signal.Ignore(syscall.SIGTERM)
	}
	terms := make(chan os.Signal, 1)
	if !*ignoreTerm {
		signal.Notify(terms, syscall.SIGTERM, syscall.SIGINT)
	}

	dial := (&net.Dialer{Timeout: 5 * time.Second}).DialContext
	c := client.New(client.Config{Address: *lca, App: *name, Type: "TestApp", Version: "1",
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond},
		client.Deps{
			Log: hclog.New(&hclog.LoggerOptions{Name: "testapp", Output: os.Stdout}),
			Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
				nc, err := dial(ctx, network, address)
				if err != nil || *hangFile == "" {
					return nc, err
				}
				return hangConn{Conn: nc, file: *hangFile}, nil
			},
		})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	if !*noLCA {
		go func() { c.Run(ctx); close(done) }()
	} else {
		close(done)
	}
	exit := func(code int) {
		cancel()
		<-done
		say("exit %d", code)
		os.Exit(code)
	}

	c.SetStatus(wire.Initializing, "")
	if *initFor > 0 {
		time.Sleep(*initFor)
	}
	c.SetStatus(wire.Running, "")
	say("running")

	var exitTimer <-chan time.Time
	if *exitAfter > 0 {
		exitTimer = time.After(*exitAfter)
	}
	lifeTimer := time.After(*maxLife)
	var sessionDone <-chan time.Time
	for {
		select {
		case <-lifeTimer:
			say("max-life reached")
			exit(4)
		case <-exitTimer:
			say("exiting by itself with code %d", *exitCode)
			os.Exit(*exitCode)
		case s := <-terms:
			say("signal %v: stopping", s)
			c.SetStatus(wire.Stopped, "signal "+s.String())
			exit(0)
		case <-sessionDone:
			if _, err := os.Stat(*sessionFile); err == nil {
				say("session finished")
				c.SetStatus(wire.Suspended, "")
				sessionDone = nil
			} else {
				sessionDone = time.After(20 * time.Millisecond)
			}
		case cmd := <-c.Commands():
			say("command %s", cmd)
			switch cmd {
			case wire.CommandSuspend:
				if *sessionFile != "" {
					c.SetStatus(wire.Suspending, "1 session active")
					sessionDone = time.After(20 * time.Millisecond)
				} else {
					c.SetStatus(wire.Suspending, "")
					c.SetStatus(wire.Suspended, "")
				}
			case wire.CommandStop:
				if *ignoreStop {
					say("ignoring stop")
					continue
				}
				c.SetStatus(wire.Stopped, "stopped by command")
				exit(0)
			}
		}
	}
}

// registerAs claims to be pid in a register, as a hostile local process
// would, and prints the LCA's answer.
func registerAs(addr, name string, pid int) error {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	wc := wire.NewConn(nc)
	if err := wc.Write(wire.Message{Op: wire.OpRegister, App: name, PID: pid, Type: "TestApp"}); err != nil {
		return err
	}
	m, err := wc.Read()
	if err != nil {
		return err
	}
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	fmt.Printf("answer %s\n", data)
	return nil
}

// hangConn swallows what the application writes while file exists: to the
// LCA it looks hung, with its connection open.
type hangConn struct {
	net.Conn
	file string
}

func (h hangConn) Write(p []byte) (int, error) {
	if _, err := os.Stat(h.file); err == nil {
		return len(p), nil
	}
	return h.Conn.Write(p)
}
