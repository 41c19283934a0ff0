package parsers

import (
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/tests/e2e"
)

// revokedValues are session values as apps issue them: alphanumeric,
// base64 (with '+', '/' and '='), percent-encoded base64 as Express's
// connect.sid is sent, and a value with a '%' that is no escape.
var revokedValues = []string{
	"Zx9qT2mB7vK4pL8wN3rY6cF1hJ5dS0aG",
	"ab+cD/ef9Gh+iJ/kl0Mn==",
	"s%3AaB3x%2Fy9Qw.Zq%2Bw%3D",
	"k9%zz-50%-off~Q7",
}

// controlValue is a session that is never revoked.
const controlValue = "Ct7rL0nTr0LvAlUe9x2Q"

// gateway is the built Caddy with one site per on_revoked action, each
// routing /<parser>/ to that parser's echo app.
type gateway struct {
	caddy                 *e2e.Caddy
	strip, deny, redirect int
	redirectTo            string
}

func startGateway(t *testing.T, parsers []parser) *gateway {
	t.Helper()
	g := &gateway{strip: e2e.FreePort(t), deny: e2e.FreePort(t), redirect: e2e.FreePort(t), redirectTo: "http://127.0.0.1/login"}
	admin := e2e.FreePort(t)
	var routes strings.Builder
	for _, p := range parsers {
		fmt.Fprintf(&routes, "\thandle_path /%s/* {\n\t\treverse_proxy 127.0.0.1:%d\n\t}\n", p.name, p.port)
	}
	site := func(port int, onRevoked string) string {
		return fmt.Sprintf("http://127.0.0.1:%d {\n\tlogout {\n\t\tcookie %s\n\t\tstore memory\n\t\ton_revoked %s\n\t}\n%s}\n",
			port, sessionCookie, onRevoked, routes.String())
	}
	config := fmt.Sprintf("{\n\tadmin 127.0.0.1:%d\n\tauto_https off\n\tgrace_period 1s\n}\n", admin) +
		site(g.strip, "strip") + site(g.deny, "deny") + site(g.redirect, "redirect "+g.redirectTo)
	g.caddy = e2e.RunCaddy(t, t.TempDir(), config, admin, g.strip)
	return g
}

// logout logs the session with value v out through the browser flow, with
// the cookie as a browser sends it (the memory store is shared by all
// three sites).
func (g *gateway) logout(t *testing.T, v string) {
	t.Helper()
	cookie := sessionCookie + "=" + v
	f := e2e.CreateLogout(t, g.caddy, cookie, "")
	res, body := e2e.Do(t, e2e.Client(t), "GET", f.LogoutURL, http.Header{"Cookie": {cookie}}, "")
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout of %q: %s %s", v, res.Status, body)
	}
}

const target = "/?name=" + sessionCookie

// readings is what each parser reads from the Cookie header "s_id=<v>",
// for each value: the session as that app knows it.
func readings(t *testing.T, parsers []parser, values []string) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	for _, p := range parsers {
		out[p.name] = map[string]string{}
		for _, v := range values {
			a := mustEcho(t, p.port, target, "Cookie: "+sessionCookie+"="+v+"\r\n")
			if a.Type != "string" {
				t.Fatalf("%s does not read the session cookie %q: %+v", p.name, v, a)
			}
			out[p.name][v] = string(mustHex(a.Value))
		}
	}
	return out
}

func mustEcho(t *testing.T, port int, target, header string) echoAnswer {
	t.Helper()
	res, err := send(port, target, header)
	if err != nil {
		t.Fatal(err)
	}
	if res.status != http.StatusOK {
		t.Fatalf("port %d, %q: %d %s", port, header, res.status, res.body)
	}
	a, err := res.echo()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestParsers_NoRevokedSessionReachesTheApp is the differential test. For
// each revoked value, every spelling of the corpus goes to each parser
// directly (is it a spelling of the session to that parser?) and through
// the gateway under on_revoked strip, deny and redirect. No parser may
// read the revoked session behind the gateway, deny and redirect must
// refuse every spelling that some parser reads as the session, other
// cookies pass byte for byte, and nothing answers 5xx. The escape counts
// per parser are logged (-v), before the assertions.
func TestParsers_NoRevokedSessionReachesTheApp(t *testing.T) {
	parsers := startParsers(t)
	gw := startGateway(t, parsers)
	known := readings(t, parsers, append([]string{controlValue}, revokedValues...))

	// Before logout, every session gets through to every parser as sent.
	for _, v := range append([]string{controlValue}, revokedValues...) {
		for _, p := range parsers {
			a := mustEcho(t, gw.strip, "/"+p.name+target, "Cookie: "+sessionCookie+"="+v+"\r\n")
			if !a.reads(known[p.name][v]) || a.rawCookie() != sessionCookie+"="+v {
				t.Fatalf("%s behind the gateway, before logout: %+v", p.name, a)
			}
		}
	}
	for _, v := range revokedValues {
		gw.logout(t, v)
	}

	// The sample's size and seed can be changed to look further:
	// PARSERS_SAMPLE=20000 PARSERS_SEED=7 go test ./parsers/
	size, seed := envInt(t, "PARSERS_SAMPLE", 800), envInt(t, "PARSERS_SEED", 1)
	var jobs []job
	for i, v := range revokedValues {
		for _, s := range corpus(v, uint64(seed+i), size) {
			jobs = append(jobs, job{value: v, spelling: s})
		}
	}
	st := newStats(parsers)
	start := time.Now()
	var done atomic.Int64
	runJobs(jobs, 4, func(j job) {
		st.check(t, gw, parsers, known, j)
		if n := done.Add(1); n%1000 == 0 {
			t.Logf("%d of %d spellings, %s", n, len(jobs), time.Since(start).Round(time.Second))
		}
	})
	st.log(t, len(jobs))
	st.assert(t)
	checkControls(t, gw, parsers, known)
}

// checkControls sends the session that was never revoked, in every value
// spelling that keeps to RFC 6265 and in every context that keeps it a
// pair of its own: each parser must read from it behind the gateway what
// it reads without the gateway, and the header must reach the app byte for
// byte. Several Cookie lines reach the app joined into one; without the
// gateway, app servers join them with ", " and misread the session, so
// there the parser must read it as from the plain header.
func checkControls(t *testing.T, gw *gateway, parsers []parser, known map[string]map[string]string) {
	t.Helper()
	var headers []string
	for _, v := range valueSpellings(controlValue) {
		if cleanPair(sessionCookie, v.text) {
			headers = append(headers, "Cookie: "+sessionCookie+"="+v.text+"\r\n")
		}
	}
	for _, c := range contexts() {
		if c.canonical {
			headers = append(headers, c.render(sessionCookie+"="+controlValue))
		}
	}
	// Next to a revoked session of another spelling, the control stays.
	headers = append(headers, "Cookie: "+sessionCookie+"="+controlValue+"; S_ID="+revokedValues[0]+"\r\n")
	n := 0
	for _, h := range headers {
		want := strings.TrimPrefix(strings.TrimPrefix(strings.ReplaceAll(strings.TrimSuffix(h, "\r\n"), "\r\nCookie: ", "; "), "Cookie: "), "cookie: ")
		for _, p := range parsers {
			direct, err := send(p.port, target, h)
			if err != nil || direct.status != http.StatusOK {
				t.Errorf("control %q: %s does not answer directly: %v %d", h, p.name, err, direct.status)
				continue
			}
			through, err := send(gw.strip, "/"+p.name+target, h)
			if err != nil || through.status != http.StatusOK {
				t.Errorf("control %q behind the gateway: %s: %v %d %s", h, p.name, err, through.status, through.body)
				continue
			}
			d, err1 := direct.echo()
			g, err2 := through.echo()
			if err1 != nil || err2 != nil {
				t.Errorf("control %q, %s: %v %v", h, p.name, err1, err2)
				continue
			}
			if strings.Contains(h, "S_ID=") {
				// The revoked spelling goes, and with it every cookie of
				// the session's name: what remains must not be a session.
				if g.Type == "string" && g.reads(controlValue) {
					continue
				}
				if g.Type != "missing" {
					t.Errorf("control next to a revoked spelling, %s: %+v", p.name, g)
				}
				continue
			}
			if strings.Count(h, "\r\n") > 1 {
				if !g.reads(known[p.name][controlValue]) {
					t.Errorf("control %q: %s reads %+v behind the gateway", h, p.name, g)
				}
			} else if g.Type != d.Type || g.Value != d.Value || g.Other != d.Other {
				t.Errorf("control %q: %s reads %+v behind the gateway, %+v without it", h, p.name, g, d)
			}
			if g.rawCookie() != want {
				t.Errorf("control %q: %s got Cookie %q, want %q", h, p.name, g.rawCookie(), want)
			}
			n++
		}
	}
	t.Logf("%d control requests got through unchanged", n)
}

type job struct {
	value    string
	spelling spelling
}

// stats counts, per parser, the spellings it reads as a revoked session
// directly (live) and behind the gateway (escapes).
type stats struct {
	mu       sync.Mutex
	parsers  []parser
	live     map[string]int
	escapes  map[string]int
	examples map[string][]string // parser -> a few escaping spellings
	failures []string            // everything else that went wrong
	families map[string]int      // escapes per value family
}

func newStats(parsers []parser) *stats {
	return &stats{parsers: parsers, live: map[string]int{}, escapes: map[string]int{}, examples: map[string][]string{}, families: map[string]int{}}
}

func (st *stats) fail(format string, args ...any) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.failures) < 40 {
		st.failures = append(st.failures, fmt.Sprintf(format, args...))
	}
}

func (st *stats) escape(p parser, j job, mode string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.escapes[p.name+" "+mode]++
	fam := strings.Fields(j.spelling.family)
	for _, f := range fam {
		st.families[f]++
	}
	if len(st.examples[p.name]) < 3 {
		st.examples[p.name] = append(st.examples[p.name], fmt.Sprintf("%s %q (%s)", mode, j.spelling.header, j.spelling.family))
	}
}

// check runs one spelling against every parser, directly and behind the
// gateway.
func (st *stats) check(t *testing.T, gw *gateway, parsers []parser, known map[string]map[string]string, j job) {
	live := false
	for _, p := range parsers {
		// An app server may refuse the request outright (PHP's refuses
		// obs-fold lines): then its parser reads nothing.
		res, err := send(p.port, target, j.spelling.header)
		if err != nil {
			continue
		}
		if a, err := res.echo(); res.status == http.StatusOK && err == nil && a.reads(known[p.name][j.value]) {
			live = true
			st.mu.Lock()
			st.live[p.name]++
			st.mu.Unlock()
		}
	}
	// strip: the request goes on to the app, which must not read the
	// revoked session, and other cookies reach it whole.
	for _, p := range parsers {
		st.throughGateway(gw.strip, p, known, j, "strip")
	}
	// deny and redirect: a spelling that any parser reads as the session
	// is refused; one that is let through must still not be read as it.
	for _, mode := range []struct {
		name   string
		port   int
		status int
	}{{"deny", gw.deny, http.StatusUnauthorized}, {"redirect", gw.redirect, http.StatusSeeOther}} {
		res, err := send(mode.port, "/go"+target, j.spelling.header)
		if err != nil {
			st.fail("%s %q: %v", mode.name, j.spelling.header, err)
			continue
		}
		if res.status >= 500 {
			st.fail("%s %q: %d %s", mode.name, j.spelling.header, res.status, res.body)
		}
		refused := res.status == mode.status
		if refused && mode.name == "redirect" && res.header.Get("Location") != gw.redirectTo {
			st.fail("redirect %q: Location %q", j.spelling.header, res.header.Get("Location"))
		}
		// Not refused: what the app gets is the header strip would have
		// forwarded with nothing revoked found, checked above; what counts
		// here is whether some parser reads the session from it.
		if live && !refused && res.status < 400 {
			st.mu.Lock()
			st.escapes["(not refused) "+mode.name]++
			if len(st.examples["(not refused)"]) < 12 {
				st.examples["(not refused)"] = append(st.examples["(not refused)"], fmt.Sprintf("%s %q (%s)", mode.name, j.spelling.header, j.spelling.family))
			}
			st.mu.Unlock()
			for _, p := range parsers {
				st.throughGateway(mode.port, p, known, j, mode.name)
			}
		}
	}
}

func (st *stats) throughGateway(port int, p parser, known map[string]map[string]string, j job, mode string) {
	res, err := send(port, "/"+p.name+target, j.spelling.header)
	if err != nil {
		st.fail("%s %s %q: %v", mode, p.name, j.spelling.header, err)
		return
	}
	if res.status >= 500 {
		st.fail("%s %s %q: %d %s", mode, p.name, j.spelling.header, res.status, res.body)
		return
	}
	if res.status != http.StatusOK {
		return // refused by the gateway or its HTTP server: nothing reached the app
	}
	a, err := res.echo()
	if err != nil {
		st.fail("%s %s %q: %v", mode, p.name, j.spelling.header, err)
		return
	}
	if a.reads(known[p.name][j.value]) {
		st.escape(p, j, mode)
	}
	raw := a.rawCookie()
	for _, other := range j.spelling.others {
		if !strings.Contains(raw, other) {
			st.fail("%s %s %q: the app got Cookie %q, without %q", mode, p.name, j.spelling.header, raw, other)
		}
	}
}

func (st *stats) log(t *testing.T, n int) {
	t.Logf("%d spellings of %d revoked values", n, len(revokedValues))
	t.Logf("%-14s %8s %8s %8s %8s", "parser", "live", "strip", "deny", "redirect")
	for _, p := range st.parsers {
		t.Logf("%-14s %8d %8d %8d %8d", p.name, st.live[p.name], st.escapes[p.name+" strip"], st.escapes[p.name+" deny"], st.escapes[p.name+" redirect"])
	}
	t.Logf("live spellings let through: deny %d, redirect %d", st.escapes["(not refused) deny"], st.escapes["(not refused) redirect"])
	var fams []string
	for f, n := range st.families {
		fams = append(fams, fmt.Sprintf("%s=%d", f, n))
	}
	sort.Strings(fams)
	if len(fams) > 0 {
		t.Logf("escapes by family: %s", strings.Join(fams, " "))
	}
	for _, p := range st.parsers {
		for _, e := range st.examples[p.name] {
			t.Logf("escape to %s: %s", p.name, e)
		}
	}
	for _, e := range st.examples["(not refused)"] {
		t.Logf("read as the session by some parser directly, but not refused: %s", e)
	}
}

func (st *stats) assert(t *testing.T) {
	for _, f := range st.failures {
		t.Error(f)
	}
	for k, n := range st.escapes {
		if n > 0 {
			t.Errorf("%s: %d spellings of a revoked session got past the gateway", k, n)
		}
	}
	// The corpus is only worth something if it spells the session in ways
	// each parser reads: beyond the plain spelling, for every one.
	for _, p := range st.parsers {
		if st.live[p.name] <= len(revokedValues) {
			t.Errorf("%s reads the revoked session from only %d spellings of the corpus: the corpus tests nothing new for it", p.name, st.live[p.name])
		}
	}
}

func envInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a number", name, s)
	}
	return n
}

// runJobs runs fn over jobs, n at a time.
func runJobs(jobs []job, n int, fn func(job)) {
	ch := make(chan job)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range ch {
				fn(j)
			}
		}()
	}
	for _, j := range jobs {
		ch <- j
	}
	close(ch)
	wg.Wait()
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}
