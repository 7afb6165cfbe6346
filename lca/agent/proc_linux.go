//go:build linux

package agent

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// procInfo reads /proc/PID/stat: the process's state letter and its start
// time in clock ticks after boot (proc(5), fields 3 and 22). The start time
// tells a process from a later one that reuses its pid.
func procInfo(pid int) (state byte, startTicks uint64, err error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// "pid (comm) S ppid …": comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, 0, errors.New("malformed /proc stat")
	}
	fields := strings.Fields(string(data[i+1:]))
	if len(fields) < 20 {
		return 0, 0, errors.New("malformed /proc stat")
	}
	start, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("malformed /proc stat: %v", err)
	}
	return fields[0][0], start, nil
}

// processAlive reports whether pid is a live process (not a zombie) that
// started at startTicks (0: any).
func processAlive(pid int, startTicks uint64) bool {
	if pid <= 0 {
		return false
	}
	state, start, err := procInfo(pid)
	if err != nil {
		return false
	}
	if state == 'Z' || state == 'X' || state == 'x' {
		return false
	}
	return startTicks == 0 || start == startTicks
}

// processStartTicks returns the start time of pid in ticks after boot.
func processStartTicks(pid int) uint64 {
	_, start, err := procInfo(pid)
	if err != nil {
		return 0
	}
	return start
}

var bootTime = sync.OnceValue(func() time.Time {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			secs, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err == nil {
				return time.Unix(secs, 0)
			}
		}
	}
	return time.Time{}
})

// clockTicks is USER_HZ, 100 on every Linux architecture that Go supports.
const clockTicks = 100

// processStartTime returns when pid started, or the zero time when it
// cannot say.
func processStartTime(pid int) time.Time {
	ticks := processStartTicks(pid)
	boot := bootTime()
	if ticks == 0 || boot.IsZero() {
		return time.Time{}
	}
	return boot.Add(time.Duration(ticks) * time.Second / clockTicks)
}
