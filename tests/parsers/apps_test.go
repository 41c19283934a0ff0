package parsers

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/internal/testutil"
	"github.com/caddy-logout/caddy-logout/tests/e2e"
)

// parser is one framework's cookie parser behind an echo app.
type parser struct {
	name string // also the path prefix the gateway routes to it
	port int
}

// echoAnswer is what an echo app prints: what its parser read for the
// cookie asked for, and the Cookie header as it reached the app.
type echoAnswer struct {
	Type  string `json:"type"`  // string, missing, or other (an array, a JSON value)
	Value string `json:"value"` // hex of the string read
	Other string `json:"other"` // what the parser made of it, when not a string
	Raw   string `json:"raw"`   // hex of the Cookie header's bytes
}

// reads reports whether the answer is the session whose reading is want
// (a string): read as that string, or found inside whatever else the
// parser made of the cookie (PHP's arrays, Express's JSON values).
func (a echoAnswer) reads(want string) bool {
	switch a.Type {
	case "string":
		v, _ := hex.DecodeString(a.Value)
		return string(v) == want
	case "other":
		return strings.Contains(a.Other, want)
	}
	return false
}

// rawCookie is the Cookie header the app received.
func (a echoAnswer) rawCookie() string {
	b, _ := hex.DecodeString(a.Raw)
	return string(b)
}

// appsDir holds the echo apps (and the npm packages, installed from the
// committed lockfile by scripts/test-setup.sh).
func appsDir(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs("apps")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "cookie-parser")); err != nil {
		t.Fatalf("the npm packages of %s are not installed (%v): run scripts/test-setup.sh", dir, err)
	}
	return dir
}

// debianPython is Debian's interpreter, which has python3-werkzeug and
// python3-django (a python3 earlier on PATH may be another one).
const debianPython = "/usr/bin/python3"

// startParsers starts every echo app and waits until each answers.
func startParsers(t *testing.T) []parser {
	t.Helper()
	dir := appsDir(t)
	commands := []struct {
		name string
		argv func(port int) []string
	}{
		{"php", func(p int) []string { return []string{"php", "-S", fmt.Sprintf("127.0.0.1:%d", p), "echo.php"} }},
		{"node-cookie", func(p int) []string { return []string{"node", "cookie.js", fmt.Sprint(p)} }},
		{"express", func(p int) []string { return []string{"node", "express.js", fmt.Sprint(p)} }},
		{"werkzeug", func(p int) []string { return []string{debianPython, "echo.py", "werkzeug", fmt.Sprint(p)} }},
		{"django", func(p int) []string { return []string{debianPython, "echo.py", "django", fmt.Sprint(p)} }},
		{"simplecookie", func(p int) []string { return []string{debianPython, "echo.py", "simplecookie", fmt.Sprint(p)} }},
		{"rack", func(p int) []string { return []string{"ruby", "echo.rb", fmt.Sprint(p)} }},
	}
	var out []parser
	for _, c := range commands {
		port := e2e.FreePort(t)
		argv := c.argv(port)
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir = dir
		logs := &testutil.SyncBuffer{}
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			<-exited
		})
		out = append(out, parser{name: c.name, port: port})
		t.Cleanup(func() {
			if t.Failed() && logs.String() != "" {
				t.Logf("%s echo app output:\n%s", c.name, logs.String())
			}
		})
	}
	out = append(out, parser{name: "go", port: startGoEcho(t)})
	for _, p := range out {
		waitListening(t, p)
	}
	return out
}

// startGoEcho serves Go's net/http cookie parsing (Request.Cookie) from
// the test process.
func startGoEcho(t *testing.T) int {
	port := e2e.FreePort(t)
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := echoAnswer{Type: "missing", Raw: hex.EncodeToString([]byte(strings.Join(r.Header["Cookie"], "; ")))}
		if c, err := r.Cookie(r.URL.Query().Get("name")); err == nil {
			a.Type, a.Value = "string", hex.EncodeToString([]byte(c.Value))
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(a)
	})}
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return port
}

func waitListening(t *testing.T, p parser) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := send(p.port, "/?name=probe", "Cookie: probe=1\r\n")
		if err == nil && res.status == http.StatusOK {
			if _, err := res.echo(); err == nil {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s echo app not answering on port %d: %v", p.name, p.port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// response is a raw exchange's answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) echo() (echoAnswer, error) {
	var a echoAnswer
	if err := json.Unmarshal(r.body, &a); err != nil {
		return a, fmt.Errorf("echo answer %q: %w", r.body, err)
	}
	return a, nil
}

// send writes one request over a fresh TCP connection, with the given
// header lines exactly as they are (each ending in CRLF), and reads the
// answer. The bytes matter: no client library gets to tidy them.
func send(port int, target, headerLines string) (response, error) {
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
	if err != nil {
		return response{}, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	var req bytes.Buffer
	fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAccept: text/html\r\nConnection: close\r\n", target, port)
	req.WriteString(headerLines)
	req.WriteString("\r\n")
	if _, err := conn.Write(req.Bytes()); err != nil {
		return response{}, err
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	var body bytes.Buffer
	if _, err := body.ReadFrom(res.Body); err != nil {
		return response{}, err
	}
	return response{status: res.StatusCode, header: res.Header, body: body.Bytes()}, nil
}
