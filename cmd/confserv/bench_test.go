package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"webrtcgw/confserv/api"
	"webrtcgw/confserv/client"
	"webrtcgw/confserv/confservtest"
)

// The benchmarks run the real confserv process (built without -race) with
// its bbolt file in a temporary directory; `make bench` runs them and
// BENCHMARKS.md records method and results.

// BenchmarkWatchLatency measures change → notification: gateway
// applications (1, then 100), each watching with its own credential and
// connection, are connected to one SIP Server application; every iteration
// is one operator write to the SIP Server, timed from sending the write
// until each watcher has the change. Reports p50/p99 over all deliveries.
func BenchmarkWatchLatency(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("watchers=%d", n), func(b *testing.B) { benchWatch(b, n) })
	}
}

func benchWatch(b *testing.B, watchers int) {
	cs := confservtest.Start(b, b.TempDir(), 0)
	admin := cs.Client("", "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sip, err := admin.CreateApp(ctx, api.Application{Meta: api.Meta{Name: "sip"}, Template: "SIP_Server", Ports: map[string]int{"default": 5060}})
	if err != nil {
		b.Fatal(err)
	}
	type delivery struct {
		rev uint64
		at  time.Time
	}
	got := make(chan delivery, watchers*4)
	var failed atomic.Value
	for i := range watchers {
		name := fmt.Sprintf("gw%03d", i)
		if _, err := admin.CreateApp(ctx, api.Application{Meta: api.Meta{Name: name}, Template: "WebRTC_Gateway", Connections: []string{"sip"}}); err != nil {
			b.Fatal(err)
		}
		token, err := admin.NewCredential(ctx, name)
		if err != nil {
			b.Fatal(err)
		}
		c, err := client.New(client.Config{URL: cs.URL, Token: token})
		if err != nil {
			b.Fatal(err)
		}
		since := sip.Revision // later set-up writes are not about sip
		go func() {
			for ctx.Err() == nil {
				w, err := c.Watch(ctx, since, 30*time.Second)
				if err != nil {
					if ctx.Err() == nil {
						failed.Store(err)
					}
					return
				}
				now := time.Now()
				for _, ev := range w.Events {
					if ev.Kind == api.KindApplication && ev.Name == "sip" {
						got <- delivery{ev.Revision, now}
					}
				}
				since = w.Revision
			}
		}()
	}
	// Let every watcher park in its long poll.
	time.Sleep(500 * time.Millisecond)
	lat := make([]time.Duration, 0, b.N*watchers)
	b.ResetTimer()
	for i := range b.N {
		sip.Annex = api.Sections{"bench": {"n": strconv.Itoa(i)}}
		start := time.Now()
		sip, err = admin.UpdateApp(ctx, sip)
		if err != nil {
			b.Fatal(err)
		}
		for n := 0; n < watchers; {
			select {
			case d := <-got:
				if d.rev != sip.Revision {
					b.Fatalf("a watcher got revision %d while %d was expected", d.rev, sip.Revision)
				}
				lat = append(lat, d.at.Sub(start))
				n++
			case <-time.After(30 * time.Second):
				b.Fatalf("only %d of %d watchers saw revision %d (%v)", n, watchers, sip.Revision, failed.Load())
			}
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(percentile(lat, 50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(percentile(lat, 99).Microseconds())/1000, "p99-ms")
}

func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[(len(sorted)-1)*p/100]
}

// BenchmarkRead measures GET of one application by operators on parallel
// connections.
func BenchmarkRead(b *testing.B) {
	cs := confservtest.Start(b, b.TempDir(), 0)
	admin := cs.Client("", "")
	ctx := context.Background()
	if _, err := admin.CreateApp(ctx, api.Application{Meta: api.Meta{Name: "gw1"}, Template: "WebRTC_Gateway"}); err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(4)
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := admin.App(ctx, "gw1"); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "reads/s")
}

// BenchmarkWrite measures acknowledged (durable) option writes, one after
// another as an operator makes them, each validated against the template.
func BenchmarkWrite(b *testing.B) {
	cs := confservtest.Start(b, b.TempDir(), 0)
	admin := cs.Client("", "")
	ctx := context.Background()
	app, err := admin.CreateApp(ctx, api.Application{Meta: api.Meta{Name: "gw1"}, Template: "WebRTC_Gateway"})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	b.ResetTimer()
	for i := range b.N {
		app.Options["web"]["request-timeout"] = strconv.Itoa(10 + i%100)
		if app, err = admin.UpdateApp(ctx, app); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "writes/s")
}

// BenchmarkThousandApps loads 1000 gateway applications (every option of
// the template set), then measures listing them all; it reports the bbolt
// file's size and the process's resident memory.
func BenchmarkThousandApps(b *testing.B) {
	dir := b.TempDir()
	cs := confservtest.Start(b, dir, 0)
	admin := cs.Client("", "")
	ctx := context.Background()
	for i := range 1000 {
		if _, err := admin.CreateApp(ctx, api.Application{Meta: api.Meta{Name: fmt.Sprintf("gw%04d", i)}, Template: "WebRTC_Gateway"}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		apps, err := admin.Apps(ctx)
		if err != nil || len(apps) != 1000 {
			b.Fatalf("list: %d applications, %v", len(apps), err)
		}
	}
	b.StopTimer()
	st, err := os.Stat(filepath.Join(dir, "confserv.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(st.Size())/(1<<20), "store-MiB")
	b.ReportMetric(procKiB(b, cs.Pid(), "VmRSS")/1024, "rss-MiB")
	b.ReportMetric(procKiB(b, cs.Pid(), "VmHWM")/1024, "peak-rss-MiB")
}

// procKiB reads a kB field of /proc/PID/status.
func procKiB(b *testing.B, pid int, field string) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	b.Fatalf("/proc/%d/status has no %s", pid, field)
	return 0
}
