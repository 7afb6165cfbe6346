package web

import (
	"bytes"
	"embed"
	"io/fs"
	"net/http"
	"time"

	"github.com/gorilla/mux"
)

//go:embed static
var staticFiles embed.FS

// demoCSP is the Content-Security-Policy of the demo page: no inline script
// or style; it may call any gateway (the URL field), over HTTPS or HTTP.
const demoCSP = "default-src 'self'; connect-src 'self' https: http:; media-src 'self' blob: mediastream:; " +
	"img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"

// staticRoutes serves the JavaScript library always, and the demo page when
// web/demo-page is on.
func (s *Server) staticRoutes(r *mux.Router) {
	serve := func(name, contentType string, demo bool) http.HandlerFunc {
		return func(w http.ResponseWriter, req *http.Request) {
			if demo && !s.cfg.Load().web.DemoPage {
				textError(w, http.StatusNotFound, "not found")
				return
			}
			data, err := fs.ReadFile(staticFiles, "static/"+name)
			if err != nil {
				textError(w, http.StatusNotFound, "not found")
				return
			}
			h := w.Header()
			h.Set("Content-Type", contentType)
			h.Set("Cache-Control", "no-cache")
			if demo {
				h.Set("Content-Security-Policy", demoCSP)
				h.Set("X-Frame-Options", "DENY")
			}
			http.ServeContent(w, req, name, time.Time{}, bytes.NewReader(data))
		}
	}
	r.HandleFunc("/js/webrtc-gateway.js", serve("webrtc-gateway.js", "text/javascript; charset=utf-8", false)).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/", serve("index.html", "text/html; charset=utf-8", true)).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/demo.js", serve("demo.js", "text/javascript; charset=utf-8", true)).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/demo.css", serve("demo.css", "text/css; charset=utf-8", true)).Methods(http.MethodGet, http.MethodHead)
}
