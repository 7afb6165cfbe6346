package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"webrtcgw/confserv/api"
	"webrtcgw/confserv/store"
	"webrtcgw/gateway/ban"
	"webrtcgw/templates"
)

// The bodies of writes are outside input: operators' tools, the UI and
// scripts send them. FuzzAPIWrite sends them through the API handler over
// a real bbolt file, signed in as the bootstrap admin, with the shipped
// templates, a host h0 and a gateway application gw0 in the store.

// Write targets of FuzzAPIWrite, by the fuzzed kind modulo their number.
var apiWrites = []struct {
	method, path string // PUT paths get If-Match with the object's revision
	collection   string // where a created object is read and deleted
}{
	{http.MethodPost, "/api/v1/hosts", "hosts"},
	{http.MethodPost, "/api/v1/apps", "apps"},
	{http.MethodPut, "/api/v1/apps/gw0", "apps"},
	{http.MethodPut, "/api/v1/hosts/h0", "hosts"},
	{http.MethodPost, "/api/v1/templates/import", "templates"},
}

// apiStatuses are the answers a write may get (docs/confserv-api.md).
var apiStatuses = map[int]bool{200: true, 201: true, 400: true, 404: true, 409: true, 412: true, 413: true, 422: true}

// FuzzAPIWrite: a write's JSON body is stored or refused. The answer is
// one of apiStatuses, never a 500 or a panic; a refusal is an api.Error
// saying why (422: with the problems, each naming what is wrong); a
// stored object reads back under its name with the revision of its ETag,
// writing back what was read changes nothing (same revision), and it is
// deleted again (gw0 and h0 are put back as they were), so that every
// input starts from the same store.
func FuzzAPIWrite(f *testing.F) {
	for _, s := range []string{
		`{"name":"h1","address":"10.0.0.1","lca_port":4999}`,
		`{"name":"h1","address":"bad address"}`,
		`{"name":"h1","address":"10.0.0.1","lca_port":70000}`,
		`{"name":"../etc","address":"x"}`,
		`{"name":"gw1","template":"WebRTC_Gateway","host":"h0","options":{"web":{"https-port":"8443"},"sip":{"sip-server":"10.0.0.5:5060"}}}`,
		`{"name":"gw1","template":"WebRTC_Gateway","options":{"web":{"https-port":"99999"},"media":{"rtp-port-min":"30000","rtp-port-max":"20000"}}}`,
		`{"name":"gw1","template":"WebRTC_Gateway","options":{"media":{"turn-password":"********"}},"annex":{"sml":{"heartbeat-period":"x"}}}`,
		`{"name":"gw1","template":"SIP_Server","connections":["gw0","nope"],"ports":{"sip":0}}`,
		`{"name":"gw1","template":"nope"}`,
		`{"name":"gw1","template":"WebRTC_Gateway","unknown":1}`,
		`{"name":"gw0","template":"WebRTC_Gateway","options":{"log":{"verbose":"debug"}}}`,
		`{"name":"h0","address":"127.0.0.2"}`,
		`{"apd":"<application-template type=\"T1\" version=\"1\"><options><section name=\"a\"><option name=\"b\" value=\"1\"/></section></options></application-template>","metadata":"<metadata type=\"T1\"><section name=\"a\"><option name=\"b\" type=\"integer\" default=\"1\" min=\"0\" max=\"9\"/></section></metadata>"}`,
		`{"apd":"<application-template type=\"T1\"/>","metadata":"<metadata type=\"T2\"/>"}`,
		`{"apd":"<","metadata":""}`,
		`{} {}`, `[]`, `null`, ``,
	} {
		for k := range apiWrites {
			f.Add(uint8(k), []byte(s))
		}
	}
	env := startFuzzAPI(f)
	f.Fuzz(func(t *testing.T, kind uint8, body []byte) {
		w := apiWrites[int(kind)%len(apiWrites)]
		var restore []byte
		var rev string
		if w.method == http.MethodPut {
			restore, rev = env.read(t, w.path)
		}
		status, hdr, res := env.do(w.method, w.path, rev, body)
		if !apiStatuses[status] {
			t.Fatalf("%s %s %q answered %d %s", w.method, w.path, body, status, res)
		}
		if status >= 400 {
			var e api.Error
			if err := json.Unmarshal(res, &e); err != nil || strings.TrimSpace(e.Error) == "" {
				t.Fatalf("%s %s refused (%d) without saying why: %s", w.method, w.path, status, res)
			}
			if status == http.StatusUnprocessableEntity && len(e.Problems) == 0 {
				t.Fatalf("%s %s: 422 without its problems: %s", w.method, w.path, res)
			}
			for _, p := range e.Problems {
				if strings.TrimSpace(p) == "" {
					t.Fatalf("%s %s: an empty problem in %s", w.method, w.path, res)
				}
			}
			return
		}
		var meta api.Meta
		if err := json.Unmarshal(res, &meta); err != nil || api.CheckName(meta.Name) != nil {
			t.Fatalf("%s %s stored something that is not an object with a valid name: %v\n%s", w.method, w.path, err, res)
		}
		path := "/api/v1/" + w.collection + "/" + meta.Name
		read, etag := env.read(t, path)
		if want := fmt.Sprintf("%q", fmt.Sprint(meta.Revision)); etag != want || hdr.Get("ETag") != want {
			t.Fatalf("%s: ETag %s after the write, %s on read, revision %d", path, hdr.Get("ETag"), etag, meta.Revision)
		}
		if w.collection != "templates" {
			again, h, res := env.do(http.MethodPut, path, etag, read)
			if again != http.StatusOK || h.Get("ETag") != etag {
				t.Fatalf("writing back what %s reads: %d, ETag %s (was %s): %s", path, again, h.Get("ETag"), etag, res)
			}
		}
		if restore != nil {
			_, etag = env.read(t, path)
			if st, _, res := env.do(http.MethodPut, path, etag, restore); st != http.StatusOK {
				t.Fatalf("putting %s back: %d %s", path, st, res)
			}
			return
		}
		if st, _, res := env.do(http.MethodDelete, path, etag, nil); st != http.StatusNoContent {
			t.Fatalf("DELETE %s: %d %s", path, st, res)
		}
	})
}

// fuzzAPI is the API handler over a temporary store, with an admin token.
type fuzzAPI struct {
	h     http.Handler
	token string
}

func startFuzzAPI(f *testing.F) *fuzzAPI {
	st, err := store.Open(filepath.Join(f.TempDir(), "cs.db"), 100)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	log := hclog.NewNullLogger()
	srv := New(Deps{Log: log, Store: st, Bans: ban.New(ban.Config{}, log, nil)})
	shipped := map[string][2]string{}
	files, err := fs.Glob(templates.FS, "*.apd")
	if err != nil || len(files) == 0 {
		f.Fatalf("no shipped templates: %v", err)
	}
	for _, file := range files {
		base := strings.TrimSuffix(file, ".apd")
		apd, err1 := fs.ReadFile(templates.FS, file)
		meta, err2 := fs.ReadFile(templates.FS, base+".metadata.xml")
		if err1 != nil || err2 != nil {
			f.Fatal(err1, err2)
		}
		shipped[base] = [2]string{string(apd), string(meta)}
	}
	password, err := srv.Bootstrap(shipped)
	if err != nil {
		f.Fatal(err)
	}
	env := &fuzzAPI{h: srv.Handler()}
	login, _ := json.Marshal(api.Login{Name: "admin", Password: password})
	status, _, res := env.do(http.MethodPost, "/api/v1/login", "", login)
	var sess api.Session
	if status != http.StatusOK || json.Unmarshal(res, &sess) != nil {
		f.Fatalf("login: %d %s", status, res)
	}
	env.token = sess.Token
	for _, c := range []struct{ path, body string }{
		{"/api/v1/hosts", `{"name":"h0","address":"127.0.0.1"}`},
		{"/api/v1/apps", `{"name":"gw0","template":"WebRTC_Gateway","host":"h0"}`},
	} {
		if status, _, res := env.do(http.MethodPost, c.path, "", []byte(c.body)); status != http.StatusCreated {
			f.Fatalf("POST %s: %d %s", c.path, status, res)
		}
	}
	return env
}

// do sends one request; ifMatch, when set, is sent as If-Match.
func (e *fuzzAPI) do(method, path, ifMatch string, body []byte) (int, http.Header, []byte) {
	req := httptest.NewRequest(method, path, bytes.NewReader(body)).WithContext(context.Background())
	req.RemoteAddr = "127.0.0.1:40000"
	req.Header.Set("Content-Type", "application/json")
	if e.token != "" {
		req.Header.Set("Authorization", "Bearer "+e.token)
	}
	if ifMatch != "" {
		req.Header.Set("If-Match", ifMatch)
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec.Code, rec.Header(), rec.Body.Bytes()
}

// read GETs path, which must exist, and returns it with its ETag.
func (e *fuzzAPI) read(t *testing.T, path string) ([]byte, string) {
	t.Helper()
	status, h, res := e.do(http.MethodGet, path, "", nil)
	if status != http.StatusOK || h.Get("ETag") == "" {
		t.Fatalf("GET %s: %d %s", path, status, res)
	}
	return res, h.Get("ETag")
}
