package wire

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Every line the LCA reads comes from a local process that may be anything
// (docs/lca-protocol.md). The seeds are the messages the protocol document
// and the gateway's, gwctl's and testapp's clients send, and broken ones.
var lineSeeds = []string{
	`{"op":"register","app":"gw1","pid":7,"type":"WebRTC_Gateway","version":"8.5.0"}`,
	`{"op":"status","status":"Running","detail":"listening"}`,
	`{"op":"heartbeat"}`,
	`{"op":"hello","token":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}`,
	`{"op":"list","id":1}`,
	`{"op":"stop","id":2,"app":"gw1","force":true}`,
	`{"op":"subscribe","id":18446744073709551615}`,
	`{"op":"event","event":{"name":"gw1","status":"Suspended","since":"2024-01-02T03:04:05.123456789+01:00","restarts":2,"managed":true}}`,
	`{"op":"result","id":1,"apps":[{"name":"gw1","status":"Running","pid":42,"since":"2024-01-02T03:04:05Z","restarts":0,"managed":false}]}`,
	`{"op":"status","status":"Dancing"}`,
	`{"op":"a"} {"op":"b"}`,
	`{"op":"register","pid":"x"}`,
	`{"op":"register","pid":1e3}`,
	`{}`, `[`, `null`, `"op"`, ``,
}

// FuzzDecode: a line decodes into a message with an op and a known status,
// or is refused with an error that says what is wrong; a decoded message
// written back (Conn.Write) decodes to itself.
func FuzzDecode(f *testing.F) {
	for _, s := range lineSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		m, err := Decode(line)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("Decode(%q): an error with no text", line)
			}
			return
		}
		if m.Op == "" || (m.Status != "" && !m.Status.Valid()) {
			t.Fatalf("Decode(%q) accepted %+v", line, m)
		}
		var buf bytes.Buffer
		if err := NewConn(&buf).Write(m); err != nil {
			t.Fatalf("Write(Decode(%q)) = %v", line, err)
		}
		again, err := Decode(buf.Bytes())
		if err != nil {
			t.Fatalf("a decoded message does not decode again: %v\n%s", err, buf.Bytes())
		}
		if diff := cmp.Diff(m, again, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("Decode(Write(Decode(%q))) (-first +again):\n%s", line, diff)
		}
	})
}

// FuzzConnRead: a stream of bytes read message by message (Conn.Read, as
// the LCA and its clients read a connection) gives, line by line, what
// Decode gives for that line, ends with io.EOF (or io.ErrUnexpectedEOF for
// a last line without its newline), and stops at the first line over
// MaxLine with ErrTooLong. long repeats the stream's first line's last byte
// to put lines on either side of MaxLine.
func FuzzConnRead(f *testing.F) {
	f.Add([]byte(strings.Join(lineSeeds, "\n")+"\n"), uint32(0))
	f.Add([]byte(strings.Join(lineSeeds, "\r\n")), uint32(0))
	f.Add([]byte(`{"op":"x","detail":"`), uint32(MaxLine-20))
	f.Add([]byte(`{"op":"x","detail":"`), uint32(MaxLine-21))
	f.Add([]byte("\n\n{\"op\":\"heartbeat\"}\n"), uint32(5000))
	f.Fuzz(func(t *testing.T, stream []byte, long uint32) {
		if long > 0 && len(stream) > 0 {
			long %= MaxLine + 100
			stream = append(stream, append(bytes.Repeat(stream[len(stream)-1:], int(long)), "\"}\n"...)...)
		}
		lines := bytes.SplitAfter(stream, []byte("\n"))
		if len(lines[len(lines)-1]) == 0 {
			lines = lines[:len(lines)-1]
		}
		c := NewConn(bytes.NewBuffer(stream))
		for i, line := range lines {
			m, err := c.Read()
			switch {
			case len(line) > MaxLine+1:
				if !errors.Is(err, ErrTooLong) {
					t.Fatalf("line %d of %d bytes: Read = %v, want ErrTooLong", i, len(line), err)
				}
				return
			case line[len(line)-1] != '\n':
				if !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("last line %q without newline: Read = %+v, %v, want unexpected EOF", line, m, err)
				}
				return
			}
			want, wantErr := Decode(line)
			if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
				t.Fatalf("line %d %q: Read = %v, Decode = %v", i, line, err, wantErr)
			}
			if err == nil && !cmp.Equal(m, want) {
				t.Fatalf("line %d %q: Read = %+v, Decode = %+v", i, line, m, want)
			}
		}
		if _, err := c.Read(); err != io.EOF {
			t.Fatalf("after the last line: Read = %v, want EOF", err)
		}
	})
}
