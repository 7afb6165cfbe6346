package wire

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		line string
		want Message
		err  string
	}{
		{line: `{"op":"register","app":"gw1","pid":7}`, want: Message{Op: OpRegister, App: "gw1", PID: 7}},
		{line: `{"op":"status","status":"Running","future":1}` + "\n", want: Message{Op: OpStatus, Status: Running}},
		{line: ``, err: "empty message"},
		{line: `not json`, err: "malformed message"},
		{line: `{"app":"gw1"}`, err: `no "op"`},
		{line: `{"op":"status","status":"Dancing"}`, err: `unknown status "Dancing"`},
		{line: `{"op":"a"} {"op":"b"}`, err: "more than one JSON value"},
		{line: `{"op":"register","pid":"x"}`, err: "malformed message"},
	} {
		got, err := Decode([]byte(tc.line))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Decode(%q) error = %v, want %q", tc.line, err, tc.err)
			}
			continue
		}
		if err != nil || !cmp.Equal(got, tc.want) {
			t.Errorf("Decode(%q) = %+v, %v; want %+v", tc.line, got, err, tc.want)
		}
	}
}

func TestConnLimitsAndRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	c := NewConn(&buf)
	sent := Message{Op: OpEvent, Event: &AppState{Name: "gw1", Status: Suspended, Restarts: 2}}
	if err := c.Write(sent); err != nil {
		t.Fatal(err)
	}
	buf.WriteString(`{"op":"x","detail":"` + strings.Repeat("a", MaxLine) + `"}` + "\n")
	got, err := c.Read()
	if err != nil || !cmp.Equal(got, sent) {
		t.Fatalf("Read = %+v, %v", got, err)
	}
	if _, err := c.Read(); !errors.Is(err, ErrTooLong) {
		t.Errorf("Read(long line) = %v, want ErrTooLong", err)
	}
	c2 := NewConn(bytes.NewBufferString(`{"op":"cut"`))
	if _, err := c2.Read(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Read(cut line) = %v, want unexpected EOF", err)
	}
}
