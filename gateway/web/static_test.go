package web

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestStaticFiles checks what the gateway serves to browsers.
func TestStaticFiles(t *testing.T) {
	ts := startServer(t, nil)
	for _, tc := range []struct {
		path, contentType, contains string
	}{
		{"/js/webrtc-gateway.js", "text/javascript", "WebRTCGateway"},
		{"/", "text/html", `src="/js/webrtc-gateway.js"`},
		{"/demo.js", "text/javascript", "window.demo"},
		{"/demo.css", "text/css", "{"},
	} {
		res, body := ts.do("GET", tc.path, "", nil)
		if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), tc.contentType) || !strings.Contains(body, tc.contains) {
			t.Errorf("GET %s = %d %q, want %s containing %q", tc.path, res.StatusCode, res.Header.Get("Content-Type"), tc.contentType, tc.contains)
		}
		if tc.path == "/" && !strings.Contains(res.Header.Get("Content-Security-Policy"), "script-src 'self'") {
			t.Errorf("demo page CSP = %q", res.Header.Get("Content-Security-Policy"))
		}
	}
	// With demo-page off, only the library is served.
	reload(t, ts, map[string]string{"demo-page": "false"})
	if res, _ := ts.do("GET", "/", "", nil); res.StatusCode != 404 {
		t.Errorf("GET / with demo-page off = %d, want 404", res.StatusCode)
	}
	if res, _ := ts.do("GET", "/js/webrtc-gateway.js", "", nil); res.StatusCode != 200 {
		t.Errorf("library with demo-page off = %d, want 200", res.StatusCode)
	}
}

// TestJavaScriptUnits runs the library's unit tests with Node.js (node:test).
func TestJavaScriptUnits(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("E2E_REQUIRED") == "1" {
			t.Fatal("node is not installed (Debian package nodejs): the JavaScript unit tests cannot run")
		}
		t.Skip("node is not installed")
	}
	out, err := exec.Command(node, "--test", "static/").CombinedOutput()
	if err != nil {
		t.Fatalf("node --test static/: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "# fail 0") {
		t.Fatalf("node --test output has failures:\n%s", out)
	}
}
