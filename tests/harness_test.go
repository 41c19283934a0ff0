// Package tests runs caddy-logout end to end: the real Caddy binary built
// from cmd/caddy, started as a process from a Caddyfile, serving real HTTP
// in front of a real upstream app.
package tests

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/internal/testutil"
)

// caddyBin is the binary built once for the whole package.
var caddyBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "caddy-logout-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	caddyBin = filepath.Join(dir, "caddy")
	build := exec.Command("go", "build", "-o", caddyBin, "../cmd/caddy")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building cmd/caddy:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freePort asks the kernel for a port that is free right now.
func freePort(t testing.TB) int { return testutil.FreePort(t) }

// upstream is the app behind the gateway. It knows nothing of logout: it
// reports what it saw, so tests can tell what the gateway let through.
type upstream struct {
	*http.Server
	port int
	mu   sync.Mutex
	seen []seenRequest
}

type seenRequest struct {
	Path   string `json:"path"`
	Cookie string `json:"cookie"`
	Token  string `json:"token"`
	Auth   string `json:"auth"`
}

func startUpstream(t testing.TB) *upstream {
	t.Helper()
	u := &upstream{port: freePort(t)}
	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: randomValue(), Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	// The legacy app's own logout: forgets nothing, redirects wherever asked.
	mux.HandleFunc("/logout", func(w http.ResponseWriter, r *http.Request) {
		u.record(r)
		to := r.URL.Query().Get("next")
		if to == "" {
			to = "/"
		}
		http.Redirect(w, r, to, http.StatusFound)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s := u.record(r)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(s)
	})
	u.Server = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", u.port))
	if err != nil {
		t.Fatal(err)
	}
	go u.Serve(l)
	t.Cleanup(func() { u.Close() })
	return u
}

func (u *upstream) record(r *http.Request) seenRequest {
	s := seenRequest{Path: r.URL.Path, Cookie: r.Header.Get("Cookie"), Token: r.Header.Get("X-Session-Token"), Auth: r.Header.Get("Authorization")}
	u.mu.Lock()
	u.seen = append(u.seen, s)
	u.mu.Unlock()
	return s
}

func (u *upstream) requests() []seenRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]seenRequest(nil), u.seen...)
}

func randomValue() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// caddyProc is one running Caddy process.
type caddyProc struct {
	t         testing.TB
	cmd       *exec.Cmd
	dataHome  string // XDG_DATA_HOME: the bolt file and generated key live here
	adminPort int
	port      int
	config    string
	logs      *testutil.SyncBuffer
	exited    chan struct{}
}

// siteConfig renders a Caddyfile: the gateway on port in front of the
// upstream, with the given lines inside the logout block.
func siteConfig(adminPort, port, upstreamPort int, logoutBlock string) string {
	return fmt.Sprintf(`{
	admin 127.0.0.1:%d
	auto_https off
	grace_period 5s
}

http://127.0.0.1:%d {
	logout {
		%s
	}
	reverse_proxy 127.0.0.1:%d
}
`, adminPort, port, logoutBlock, upstreamPort)
}

// startCaddy runs the binary with caddyfile (which may use %[1]d for the
// admin port and %[2]d for the site port, see siteConfig). dataHome is
// reused across restarts to test persistence; "" makes a fresh one.
func startCaddy(t testing.TB, dataHome string, render func(admin, port int) string) *caddyProc {
	t.Helper()
	if dataHome == "" {
		dataHome = t.TempDir()
	}
	admin, port := freePort(t), freePort(t)
	return runCaddy(t, dataHome, render(admin, port), admin, port)
}

// runCaddy runs the binary with a ready config whose admin endpoint and
// site listen on the given ports.
func runCaddy(t testing.TB, dataHome, config string, adminPort, port int) *caddyProc {
	t.Helper()
	p := &caddyProc{t: t, dataHome: dataHome, adminPort: adminPort, port: port, config: config}
	p.start()
	t.Cleanup(p.stop)
	return p
}

func (p *caddyProc) start() {
	t := p.t
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(p.config), 0o644); err != nil {
		t.Fatal(err)
	}
	p.logs = &testutil.SyncBuffer{}
	p.cmd = exec.Command(caddyBin, "run", "--config", file, "--adapter", "caddyfile")
	p.cmd.Env = append(os.Environ(),
		"XDG_DATA_HOME="+p.dataHome,
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
		"HOME="+dir,
	)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.exited = make(chan struct{})
	go func() { p.cmd.Wait(); close(p.exited) }()
	p.waitReady()
}

// waitReady polls the admin API and then the site until both answer.
func (p *caddyProc) waitReady() {
	t := p.t
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for _, addr := range []string{fmt.Sprintf("http://127.0.0.1:%d/config/", p.adminPort), p.url("/")} {
		for {
			resp, err := http.Get(addr)
			if err == nil {
				resp.Body.Close()
				break
			}
			select {
			case <-p.exited:
				t.Fatalf("caddy exited during start:\n%s", p.logs.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("caddy not ready at %s: %v\n%s", addr, err, p.logs.String())
			}
			time.Sleep(25 * time.Millisecond)
		}
	}
}

// kill stops Caddy the hard way: no Cleanup, no graceful close.
func (p *caddyProc) kill() {
	p.cmd.Process.Kill()
	<-p.exited
}

func (p *caddyProc) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.kill()
	}
}

// restart starts the same config again on the same data directory.
func (p *caddyProc) restart() {
	p.start()
}

// reload loads a new Caddyfile through the admin API, as `caddy reload` does.
func (p *caddyProc) reload(caddyfile string) error {
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/load", p.adminPort), strings.NewReader(caddyfile))
	req.Header.Set("Content-Type", "text/caddyfile")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("reload: %s: %s", resp.Status, body)
	}
	return nil
}

func (p *caddyProc) url(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", p.port, path)
}

// client is a browser-like client: a cookie jar, no automatic redirects.
func client(t testing.TB) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{
		Jar:           jar,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// do sends a request and returns the response with its body read.
func do(t testing.TB, c *http.Client, method, rawURL string, header http.Header, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, rawURL, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// seen decodes what the upstream reported seeing.
func seen(t testing.TB, body []byte) seenRequest {
	t.Helper()
	var s seenRequest
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatalf("upstream answer %q: %v", body, err)
	}
	return s
}

// logoutFlow is the answer of GET /self-service/logout/browser.
type logoutFlow struct {
	LogoutURL   string `json:"logout_url"`
	LogoutToken string `json:"logout_token"`
}

// createLogout asks for a logout URL with the session cookie sid=value.
func createLogout(t testing.TB, p *caddyProc, cookie string, query string) logoutFlow {
	t.Helper()
	resp, body := do(t, http.DefaultClient, "GET", p.url("/self-service/logout/browser"+query),
		http.Header{"Cookie": {cookie}, "Accept": {"application/json"}}, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("create logout: %s %s", resp.Status, body)
	}
	var f logoutFlow
	if err := json.Unmarshal(body, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

// errorBody is Kratos's error envelope.
type errorBody struct {
	Error struct {
		ID      string `json:"id"`
		Code    int    `json:"code"`
		Status  string `json:"status"`
		Reason  string `json:"reason"`
		Message string `json:"message"`
	} `json:"error"`
}

func decodeError(t testing.TB, body []byte) errorBody {
	t.Helper()
	var e errorBody
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	return e
}

// withQuery appends ?k=v pairs.
func withQuery(base string, kv ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Add(kv[i], kv[i+1])
	}
	return base + "?" + q.Encode()
}

var errTimeout = errors.New("timed out")
