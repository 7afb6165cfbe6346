package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY returns the two ends of a new pseudo-terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slave.Close() })
	return master, slave
}

// TestPasswordPrompt types a password at a terminal: prompted on stderr, not
// echoed, the terminal restored after.
func TestPasswordPrompt(t *testing.T) {
	master, slave := openPTY(t)
	if _, tty := terminal(slave); !tty {
		t.Fatal("terminal(pty) = false")
	}
	if _, tty := terminal(strings.NewReader("")); tty {
		t.Fatal("terminal(strings.Reader) = true")
	}
	var stderr bytes.Buffer
	c := &cli{stdin: slave, stdout: &bytes.Buffer{}, stderr: &stderr}

	// Type once the echo is off, as a person would after the prompt.
	go func() {
		for range 500 {
			tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
			if err == nil && tio.Lflag&unix.ECHO == 0 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		master.Write([]byte("s3cret pw\n"))
	}()
	got, err := c.readSecret("Password: ", false)
	if err != nil || got != "s3cret pw" {
		t.Fatalf("readSecret = %q, %v", got, err)
	}
	if stderr.String() != "Password: \n" {
		t.Errorf("stderr = %q, want the prompt and a newline", stderr.String())
	}
	tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil || tio.Lflag&unix.ECHO == 0 {
		t.Errorf("echo not restored: %v", err)
	}
	// Nothing of the password came back to the terminal.
	mfd := int(master.Fd()) // Fd puts it in blocking mode: once, before SetNonblock
	if err := unix.SetNonblock(mfd, true); err != nil {
		t.Fatal(err)
	}
	echo := make([]byte, 64)
	n, _ := unix.Read(mfd, echo)
	if n > 0 && bytes.Contains(echo[:n], []byte("s3cret")) {
		t.Errorf("the password was echoed: %q", echo[:n])
	}
}
