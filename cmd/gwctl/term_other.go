//go:build !linux

package main

import (
	"errors"
	"io"
	"os"
)

// terminal reports whether r is a terminal: only known on Linux, where
// passwords are read without echo.
func terminal(io.Reader) (*os.File, bool) { return nil, false }

func readNoEcho(*os.File) (string, error) { return "", errors.New("no terminal support") }
