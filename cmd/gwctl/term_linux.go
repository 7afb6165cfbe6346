package main

import (
	"errors"
	"io"
	"os"
	"os/signal"
	"strings"

	"golang.org/x/sys/unix"
)

// terminal reports whether r is a terminal, and its file.
func terminal(r io.Reader) (*os.File, bool) {
	f, ok := r.(*os.File)
	if !ok {
		return nil, false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return f, err == nil
}

// readNoEcho reads a line from the terminal f with echo off. The terminal
// is restored before returning, also on Ctrl-C.
func readNoEcho(f *os.File) (string, error) {
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return "", err
	}
	noEcho := *old
	noEcho.Lflag &^= unix.ECHO
	noEcho.Lflag |= unix.ICANON | unix.ISIG
	noEcho.Iflag |= unix.ICRNL
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &noEcho); err != nil {
		return "", err
	}
	defer unix.IoctlSetTermios(fd, unix.TCSETS, old) //nolint:errcheck // best effort

	interrupt := make(chan os.Signal, 1)
	signal.Notify(interrupt, os.Interrupt)
	defer signal.Stop(interrupt)
	type result struct {
		line string
		err  error
	}
	done := make(chan result, 1)
	// The reader ends with the line, or with the process after an interrupt.
	go func() {
		var b strings.Builder
		buf := make([]byte, 1)
		for {
			n, err := f.Read(buf)
			if n == 1 && buf[0] != '\n' {
				b.WriteByte(buf[0])
			}
			if (n == 1 && buf[0] == '\n') || err != nil {
				if errors.Is(err, io.EOF) && b.Len() > 0 {
					err = nil
				}
				done <- result{strings.TrimRight(b.String(), "\r"), err}
				return
			}
		}
	}()
	select {
	case r := <-done:
		return r.line, r.err
	case <-interrupt:
		return "", &codeError{code: 130, msg: "interrupted"}
	}
}
