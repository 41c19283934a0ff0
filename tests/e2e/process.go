package e2e

import (
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/internal/testutil"
)

// Process is a program a test runs (Caddy, Kratos, an identity provider,
// an app server): its output is collected in Logs, and it is stopped
// gracefully when the test ends.
type Process struct {
	Name   string
	Logs   *testutil.SyncBuffer
	cmd    *exec.Cmd
	exited chan struct{}
}

// StartProcess starts cmd (its Stdout and Stderr go to Logs) and stops it
// when the test ends.
func StartProcess(t testing.TB, name string, cmd *exec.Cmd) *Process {
	t.Helper()
	p := &Process{Name: name, Logs: &testutil.SyncBuffer{}, cmd: cmd, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.Logs, p.Logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() { cmd.Wait(); close(p.exited) }()
	t.Cleanup(p.Stop)
	return p
}

// Exited is closed once the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// WaitHTTP polls each URL in turn until ready accepts its answer (any
// answer when ready is nil), failing the test with the process's output
// if it exits first or within passes.
func (p *Process) WaitHTTP(t testing.TB, within time.Duration, ready func(*http.Response) bool, urls ...string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for _, u := range urls {
		for {
			resp, err := OneShot.Get(u)
			if err == nil {
				resp.Body.Close()
				if ready == nil || ready(resp) {
					break
				}
			}
			select {
			case <-p.exited:
				t.Fatalf("%s exited during start:\n%s", p.Name, p.Logs.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not ready at %s within %s (last error %v):\n%s", p.Name, u, within, err, p.Logs.String())
			}
			time.Sleep(25 * time.Millisecond)
		}
	}
}

// WaitLine waits until a line of the output (printed before or coming)
// contains all of parts, and returns the first such line; it fails the
// test if the process exits first or within passes.
func (p *Process) WaitLine(t testing.TB, within time.Duration, parts ...string) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		exited := false
		select {
		case <-p.exited:
			exited = true // read the output once more: the line may be its last
		default:
		}
	lines:
		for _, l := range strings.Split(p.Logs.String(), "\n") {
			for _, s := range parts {
				if !strings.Contains(l, s) {
					continue lines
				}
			}
			return l
		}
		if exited {
			t.Fatalf("%s exited while waiting for %q:\n%s", p.Name, parts, p.Logs.String())
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no line with %q within %s:\n%s", p.Name, parts, within, p.Logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WaitUntil polls ready until it holds, failing the test with the
// process's output if the process exits first or within passes; what
// names the wait in that message.
func (p *Process) WaitUntil(t testing.TB, within time.Duration, what string, ready func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ready() {
		select {
		case <-p.exited:
			t.Fatalf("%s exited while waiting for %s:\n%s", p.Name, what, p.Logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %s within %s:\n%s", p.Name, what, within, p.Logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill stops the process the hard way.
func (p *Process) Kill() {
	p.cmd.Process.Kill()
	<-p.exited
}

// Stop interrupts the process and kills it if it has not exited after 10 s.
func (p *Process) Stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.Kill()
	}
}

// StatusOK accepts a 200 answer, for WaitHTTP.
func StatusOK(resp *http.Response) bool { return resp.StatusCode == http.StatusOK }
