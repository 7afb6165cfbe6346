package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"webrtcgw/internal/testpeers"
)

// clientFrom returns an HTTP client of g whose connections come from the
// loopback address from: another client address for the gateway.
func (g *gateway) clientFrom(from string) *http.Client {
	base := trustClient(g.t, filepath.Join(g.dir, "data", "tls", "self-signed.crt"))
	tr := base.Transport.(*http.Transport)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 10 * time.Second}
	tr.DialContext = d.DialContext
	tr.TLSClientConfig = tr.TLSClientConfig.Clone()
	tr.TLSClientConfig.MinVersion = tls.VersionTLS12
	return base
}

// TestAnonymousFlood: one address floods the gateway with 10 500
// anonymous sign-ins, as fast as it takes them (the outside round's flood
// took every one of max-sessions). The address gets its
// share (web/max-anonymous-per-client) and 429 beyond; an agent from another
// address still signs in.
func TestAnonymousFlood(t *testing.T) {
	sip := startSIPSide(t, testpeers.KamailioConfig{})
	g := startGateway(t, gatewayConfig{SIPServer: sip.k.Addr(), Options: map[string]string{"web/max-sessions": "2000"}})

	var (
		admitted, limited, other atomic.Int64
		wg                       sync.WaitGroup
		next                     atomic.Int64
	)
	start := time.Now()
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := next.Add(1)
				if n > 10500 {
					return
				}
				status, _, _, err := g.tryRequest("GET", fmt.Sprintf("/sign_in?anon%d", n), "")
				switch {
				case err != nil:
					other.Add(1)
				case status == 200:
					admitted.Add(1)
				case status == 429:
					limited.Add(1)
				default:
					other.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("10 500 anonymous sign-ins from 127.0.0.1 in %v: %d admitted, %d refused with 429, %d other",
		time.Since(start).Round(time.Millisecond), admitted.Load(), limited.Load(), other.Load())
	if admitted.Load() > 20 || limited.Load() < 10000 {
		t.Errorf("flood from one address: %d admitted, %d limited; want at most 20 (web/max-anonymous-per-client) and the rest 429",
			admitted.Load(), limited.Load())
	}

	agent := g.clientFrom("127.0.0.2")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", g.base+"/sign_in", strings.NewReader("7001:secret1"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := agent.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("agent from 127.0.0.2 after the flood: %d, want 200", res.StatusCode)
	}
	g.waitLog(`signed in: name=7001`)
	g.waitLog(`client_ip=127.0.0.1 limit=`)
	if n := strings.Count(g.log(), "reached a limit"); n > 3 {
		t.Errorf("the limited address was logged %d times, want once a minute per limit", n)
	}
}
