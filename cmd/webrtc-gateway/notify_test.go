package main

import (
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"webrtcgw/internal/testpeers"
)

// TestSystemdNotify: started by systemd (NOTIFY_SOCKET set), the gateway
// says READY=1 with its status once started — even though its SIP Server
// does not answer — and STOPPING=1 when told to stop.
func TestSystemdNotify(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conf := fmt.Sprintf("[web]\nlisten-address = 127.0.0.1\nhttps-port = %d\n[sip]\nsip-port = %d\nsip-server = 127.0.0.1:9\n"+
		"[media]\nrtp-port-min = 20000\nrtp-port-max = 20999\nwebrtc-port-min = 21000\nwebrtc-port-max = 21999\nmax-calls = 100\n[log]\nall = %s\n",
		testpeers.FreePort(t, "tcp"), testpeers.FreePort(t, "udp"), filepath.Join(dir, "gw.log"))
	cmd := exec.Command(binary, "-config", writeFile(t, dir, "gw.ini", conf), "-data", filepath.Join(dir, "data"))
	cmd.Env = append(cmd.Environ(), "NOTIFY_SOCKET="+sock)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var got []string
	next := func(want string) {
		t.Helper()
		buf := make([]byte, 4096)
		for {
			conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			n, err := conn.Read(buf)
			if err != nil {
				t.Fatalf("no %q from the gateway (got %q): %v", want, got, err)
			}
			got = append(got, string(buf[:n]))
			if strings.Contains(string(buf[:n]), want) {
				return
			}
		}
	}
	next("READY=1")
	if !strings.Contains(got[len(got)-1], "STATUS=Running") {
		t.Errorf("READY came with %q, want STATUS=Running", got[len(got)-1])
	}
	next("STATUS=ServiceUnavailable: the SIP Server does not answer")
	cmd.Process.Signal(syscall.SIGTERM)
	next("STOPPING=1")
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
	if !strings.HasPrefix(got[0], "STATUS=Initializing") {
		t.Errorf("first notification %q, want STATUS=Initializing", got[0])
	}
}
