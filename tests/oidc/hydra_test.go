package oidc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/internal/testutil"
	"github.com/caddy-logout/caddy-logout/tests/e2e"
)

// hydra is a running Ory Hydra (in-memory database), with its public
// (issuer) and admin URLs.
type hydra struct {
	*e2e.Process
	Issuer string // with the trailing slash Hydra gives it
	Admin  string
}

// startHydra runs Hydra with its login, consent and logout UI at ui, and
// where it sends browsers after a logout.
func startHydra(t *testing.T, ui, postLogout string) *hydra {
	t.Helper()
	pub, adm := e2e.FreePort(t), e2e.FreePort(t)
	h := &hydra{Issuer: fmt.Sprintf("http://127.0.0.1:%d/", pub), Admin: fmt.Sprintf("http://127.0.0.1:%d", adm)}
	cfg := fmt.Sprintf(`serve:
  public: {host: 127.0.0.1, port: %d}
  admin: {host: 127.0.0.1, port: %d}
urls:
  self: {issuer: %q}
  login: %s/login
  consent: %s/consent
  logout: %s/logout
  post_logout_redirect: %s
secrets:
  system: ["a-system-secret-for-the-tests-0123456789"]
oauth2:
  expose_internal_errors: true
log:
  level: info
`, pub, adm, h.Issuer, ui, ui, ui, postLogout)
	file := filepath.Join(t.TempDir(), "hydra.yml")
	if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testutil.Tool(t, "hydra"), "serve", "all", "--dev", "--sqa-opt-out", "-c", file)
	cmd.Env = append(os.Environ(), "DSN=memory")
	h.Process = e2e.StartProcess(t, "hydra", cmd)
	eventually(t, 30*time.Second, "hydra ready", func() bool {
		resp, err := http.Get(h.Admin + "/health/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	// The first discovery makes Hydra generate its signing keys (a second
	// or so); do it now rather than inside oauth2-proxy's start.
	if resp, err := http.Get(h.Issuer + ".well-known/openid-configuration"); err == nil {
		resp.Body.Close()
	}
	return h
}

// admin calls Hydra's admin API with a JSON body and decodes the answer.
func (h *hydra) admin(t testing.TB, method, path string, in, out any) {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, h.Admin+path, body)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("hydra admin %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("hydra admin %s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("hydra admin %s %s: %v: %s", method, path, err, b)
		}
	}
}

// startHydraUI is Hydra's login, consent and logout app, as small as Ory's
// docs describe it: a form asking for a user name, everything else
// accepted as asked. It runs in the test; Hydra calls it through the
// browser. hydraOf is read on each request (Hydra starts after it).
func startHydraUI(t *testing.T, hydraOf func() *hydra) string {
	t.Helper()
	accept := func(w http.ResponseWriter, r *http.Request, kind, challenge string, body any) {
		var out struct {
			RedirectTo string `json:"redirect_to"`
		}
		hydraOf().admin(t, http.MethodPut, "/admin/oauth2/auth/requests/"+kind+"/accept?"+kind+"_challenge="+url.QueryEscape(challenge), body, &out)
		http.Redirect(w, r, out.RedirectTo, http.StatusFound)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		challenge := r.URL.Query().Get("login_challenge")
		var req struct {
			Skip    bool   `json:"skip"`
			Subject string `json:"subject"`
		}
		hydraOf().admin(t, http.MethodGet, "/admin/oauth2/auth/requests/login?login_challenge="+url.QueryEscape(challenge), nil, &req)
		if req.Skip {
			accept(w, r, "login", challenge, map[string]any{"subject": req.Subject})
			return
		}
		fmt.Fprintf(w, `<!doctype html><title>Sign in</title><form method="post" action="/login">
<input type="hidden" name="challenge" value="%s"><input id="subject" name="subject"><button id="submit" type="submit">Sign in</button></form>`,
			html.EscapeString(challenge))
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		accept(w, r, "login", r.FormValue("challenge"), map[string]any{"subject": r.FormValue("subject"), "remember": true, "remember_for": 3600})
	})
	mux.HandleFunc("GET /consent", func(w http.ResponseWriter, r *http.Request) {
		challenge := r.URL.Query().Get("consent_challenge")
		var req struct {
			Subject  string   `json:"subject"`
			Scope    []string `json:"requested_scope"`
			Audience []string `json:"requested_access_token_audience"`
		}
		hydraOf().admin(t, http.MethodGet, "/admin/oauth2/auth/requests/consent?consent_challenge="+url.QueryEscape(challenge), nil, &req)
		accept(w, r, "consent", challenge, map[string]any{
			"grant_scope": req.Scope, "grant_access_token_audience": req.Audience, "remember": true, "remember_for": 3600,
			"session": map[string]any{"id_token": map[string]any{"email": req.Subject + "@example.com", "email_verified": true}},
		})
	})
	mux.HandleFunc("GET /logout", func(w http.ResponseWriter, r *http.Request) {
		accept(w, r, "logout", r.URL.Query().Get("logout_challenge"), nil)
	})
	mux.HandleFunc("GET /bye", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><title>Signed out</title><p id="state">signed out at the provider</p>`)
	})
	return serve(t, mux)
}

// serve runs handler on a free loopback port for the test.
func serve(t *testing.T, handler http.Handler) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return "http://" + l.Addr().String()
}

// tee records the logout tokens Hydra sends and passes each request on to
// the gateway, answering with the gateway's answer: the test sees Hydra's
// token exactly as the gateway got it.
type tee struct {
	mu     sync.Mutex
	tokens []string
}

func (tt *tee) start(t *testing.T, to string) string {
	return serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		tt.mu.Lock()
		tt.tokens = append(tt.tokens, form.Get("logout_token"))
		tt.mu.Unlock()
		resp, err := http.Post(to, r.Header.Get("Content-Type"), bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
}

func (tt *tee) Tokens() []string {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	return append([]string(nil), tt.tokens...)
}
