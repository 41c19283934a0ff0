// Package e2e is the shared harness of the end-to-end suites under tests/:
// the Caddy binary with caddy-logout (built once, with the race detector),
// Caddy processes started from a Caddyfile, stand-in upstream apps, HTTP
// helpers, real redis-server and real Chromium. Each suite is a package of
// its own that calls Main from its TestMain, so `go test ./...` runs the
// suites side by side.
package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/internal/testutil"
)

// Bin is the Caddy binary the suite runs, set by Main.
var Bin string

// Main is a suite's TestMain: it finds or builds the Caddy binary, runs
// the tests and exits. scripts/test.sh builds the binary once for every
// suite and passes it in CADDY_LOGOUT_BIN; without it (a plain `go test`
// in one package) the suite builds its own.
func Main(m *testing.M) {
	Bin = os.Getenv("CADDY_LOGOUT_BIN")
	var dir string
	if Bin == "" {
		var err error
		if dir, err = os.MkdirTemp("", "caddy-logout-e2e"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		Bin = filepath.Join(dir, "caddy")
		if err := BuildCaddy(Bin); err != nil {
			fmt.Fprintln(os.Stderr, "building cmd/caddy:", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	if dir != "" {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// BuildCaddy builds cmd/caddy into out, in the plugin's own module (the
// repository's root, found from here), as users build it, and with the
// race detector, so the end-to-end tests check Caddy with the module in it.
func BuildCaddy(out string) error {
	root, err := RepoRoot()
	if err != nil {
		return err
	}
	build := exec.Command("go", "build", "-race", "-o", out, "./cmd/caddy")
	build.Dir = root
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	return build.Run()
}

// RepoRoot is the repository's root: the nearest directory above the
// working directory whose go.mod is the plugin's.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			strings.HasPrefix(string(b), "module github.com/caddy-logout/caddy-logout\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no caddy-logout go.mod above the working directory")
		}
		dir = parent
	}
}

// FreePort asks the kernel for a port that is free right now.
func FreePort(t testing.TB) int { return testutil.FreePort(t) }

// Caddy is one running Caddy process.
type Caddy struct {
	t         testing.TB
	proc      *Process // the current run; a restart makes a new one
	DataHome  string   // XDG_DATA_HOME: the bolt file and generated key live here
	AdminPort int
	Port      int
	Config    string
	Logs      *testutil.SyncBuffer // the current run's output
	// Env is added to the process's environment (placeholders such as
	// {env.X}); set it before Start.
	Env []string
}

// SiteConfig renders a Caddyfile: the gateway on port in front of the
// upstream, with the given lines inside the logout block.
func SiteConfig(adminPort, port, upstreamPort int, logoutBlock string) string {
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

// StartCaddy runs the binary with the Caddyfile render returns for a free
// admin port and a free site port (see SiteConfig). dataHome is reused
// across restarts to test persistence; "" makes a fresh one.
func StartCaddy(t testing.TB, dataHome string, render func(admin, port int) string) *Caddy {
	t.Helper()
	if dataHome == "" {
		dataHome = t.TempDir()
	}
	admin, port := FreePort(t), FreePort(t)
	return RunCaddy(t, dataHome, render(admin, port), admin, port)
}

// RunCaddy runs the binary with a ready config whose admin endpoint and
// site listen on the given ports.
func RunCaddy(t testing.TB, dataHome, config string, adminPort, port int, env ...string) *Caddy {
	t.Helper()
	p := NewCaddy(t, dataHome, config, adminPort, port)
	p.Env = env
	p.Start()
	return p
}

// NewCaddy prepares a Caddy process without starting it; it is stopped
// when the test ends.
func NewCaddy(t testing.TB, dataHome, config string, adminPort, port int) *Caddy {
	return &Caddy{t: t, DataHome: dataHome, AdminPort: adminPort, Port: port, Config: config}
}

// Start starts the process and waits until it serves.
func (p *Caddy) Start() {
	p.t.Helper()
	p.Launch()
	p.WaitReady()
}

// Launch starts the process without waiting for it, so that several can
// start together; WaitReady follows.
func (p *Caddy) Launch() {
	t := p.t
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(p.Config), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(Bin, "run", "--config", file, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(),
		"XDG_DATA_HOME="+p.DataHome,
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
		"HOME="+dir,
	)
	cmd.Env = append(cmd.Env, p.Env...)
	p.proc = StartProcess(t, "caddy", cmd)
	p.Logs = p.proc.Logs
}

// WaitReady polls the admin API and then the site until both answer.
func (p *Caddy) WaitReady() {
	p.t.Helper()
	p.proc.WaitHTTP(p.t, 20*time.Second, nil, p.AdminURL("/config/"), p.URL("/"))
}

// Exited is closed when the current run has exited.
func (p *Caddy) Exited() <-chan struct{} { return p.proc.Exited() }

// Kill stops Caddy the hard way: no Cleanup, no graceful close.
func (p *Caddy) Kill() { p.proc.Kill() }

// Stop stops Caddy gracefully (killing it after 10 s).
func (p *Caddy) Stop() {
	if p.proc != nil {
		p.proc.Stop()
	}
}

// Restart starts the same config again on the same data directory.
func (p *Caddy) Restart() {
	p.Start()
}

// Reload loads a new Caddyfile through the admin API, as `caddy reload` does.
func (p *Caddy) Reload(caddyfile string) error {
	req, _ := http.NewRequest(http.MethodPost, p.AdminURL("/load"), strings.NewReader(caddyfile))
	req.Header.Set("Content-Type", "text/caddyfile")
	resp, err := OneShot.Do(req)
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

// URL is path on the site.
func (p *Caddy) URL(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", p.Port, path)
}

// AdminURL is path on the admin endpoint.
func (p *Caddy) AdminURL(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", p.AdminPort, path)
}

// MustFail runs the binary with a Caddyfile that must not load, waits for
// it to exit and returns what it logged. dataHome is the data directory
// (XDG_DATA_HOME) of an earlier run, or "" for a fresh one.
func MustFail(t testing.TB, dataHome, config string) string {
	t.Helper()
	dir := t.TempDir()
	if dataHome == "" {
		dataHome = filepath.Join(dir, "data")
	}
	file := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(Bin, "run", "--config", file, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+dataHome, "XDG_CONFIG_HOME="+filepath.Join(dir, "config"), "HOME="+dir)
	proc := StartProcess(t, "caddy", cmd)
	select {
	case <-proc.Exited():
		if cmd.ProcessState.Success() {
			t.Fatalf("caddy exited cleanly with a config that should not load:\n%s", proc.Logs.String())
		}
	case <-time.After(30 * time.Second):
		proc.Kill()
		t.Fatalf("caddy kept running with a config that should not load:\n%s", proc.Logs.String())
	}
	return proc.Logs.String()
}
