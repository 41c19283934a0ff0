package tests

import (
	"context"
	"crypto/tls"
	"fmt"
	"html"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/storage"
	"github.com/chromedp/chromedp"

	"github.com/caddy-logout/caddy-logout/internal/testutil"
)

// chromiumPath is Debian's Chromium, which scripts/test-setup.sh installs.
const chromiumPath = "/usr/bin/chromium"

// appHost is the stand-in app's name in the browser. Chromium resolves every
// *.example.test to 127.0.0.1 (--host-resolver-rules), so cookies with
// Domain=example.test are real cookies of a real registrable domain.
const appHost = "app.example.test"

// Bounds of the browser's work: starting it, and each action.
const (
	browserStartTimeout = 45 * time.Second
	browserStepTimeout  = 20 * time.Second
)

// newBrowser starts a headless Chromium for one test, with a fresh profile,
// and returns its context. Each tab made from it with newTab has a cookie
// jar and storage of its own. The browser goes when the test ends.
func newBrowser(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("Chromium is missing (%v): run scripts/test-setup.sh to install Debian's chromium package", err)
	}
	output := &testutil.SyncBuffer{}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// Every name under example.test is this machine, and so is
		// evil.example: a browser sent there would reach nothing real.
		chromedp.Flag("host-resolver-rules", "MAP *.example.test 127.0.0.1, MAP evil.example 127.0.0.1"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1024, 640),
		chromedp.CombinedOutput(output),
	)
	opts = append(opts, extra...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first Do starts the browser and binds it to ctx, so it cannot
	// carry a deadline of its own: a timer ends it instead.
	stuck := time.AfterFunc(browserStartTimeout, cancel)
	err := chromedp.Do(ctx)
	if !stuck.Stop() {
		t.Fatalf("Chromium did not start within %s:\n%s", browserStartTimeout, output.String())
	}
	if err != nil {
		t.Fatalf("starting Chromium: %v\n%s", err, output.String())
	}
	return ctx
}

// tab is one browser tab in a browser context of its own (its own cookie
// jar and storage), with every action bounded by browserStepTimeout.
type tab struct {
	t   *testing.T
	ctx context.Context
}

func newTab(t *testing.T, browser context.Context) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	stuck := time.AfterFunc(browserStartTimeout, cancel)
	err := chromedp.Do(ctx)
	if !stuck.Stop() {
		t.Fatalf("no new tab within %s", browserStartTimeout)
	}
	if err != nil {
		t.Fatalf("opening a tab: %v", err)
	}
	return &tab{t: t, ctx: ctx}
}

// step runs actions under the step timeout.
func (b *tab) step(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %s: %v", what, err)
	}
}

func (b *tab) navigate(url string) {
	b.t.Helper()
	b.step("navigate to "+url, chromedp.Navigate(url))
}

func (b *tab) click(sel string) {
	b.t.Helper()
	b.step("click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// back presses the browser's Back button and waits for the previous entry
// to show. (chromedp.NavigateBack waits for a load event, which a page
// restored from the back/forward cache never fires.)
func (b *tab) back() pageState {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	hist, err := chromedp.Run(ctx, chromedp.NavigationEntries())
	if err != nil || hist.CurrentIndex < 1 {
		b.t.Fatalf("browser: no history to go back in: %+v (%v)", hist, err)
	}
	prev := hist.Entries[hist.CurrentIndex-1]
	if _, err := chromedp.Call(ctx, page.NavigateToHistoryEntry, page.NavigateToHistoryEntryParams{EntryID: prev.ID}); err != nil {
		b.t.Fatalf("browser: Back: %v", err)
	}
	return b.waitPage("the page Back shows ("+prev.URL+")", func(s pageState) bool { return s.Href == prev.URL })
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](b *tab, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr))
}

func (b *tab) location() string {
	b.t.Helper()
	loc, err := eval[string](b, `location.href`)
	if err != nil {
		b.t.Fatalf("browser: location: %v", err)
	}
	return loc
}

// pageState is what a test reads off the page to decide what the app saw.
type pageState struct {
	Href  string `json:"href"`
	Ready string `json:"ready"`
	Title string `json:"title"`
	State string `json:"state"`
}

const readPageState = `({href: location.href, ready: document.readyState, title: document.title,
	state: (document.getElementById("state") || {textContent: ""}).textContent})`

// waitPage polls the page (navigations in between are expected) until it
// has loaded and ok accepts it; it fails the test after the step timeout
// with what the page last showed.
func (b *tab) waitPage(what string, ok func(pageState) bool) pageState {
	b.t.Helper()
	deadline := time.Now().Add(browserStepTimeout)
	var last pageState
	var lastErr error
	for {
		s, err := eval[pageState](b, readPageState)
		if err == nil {
			last, lastErr = s, nil
			if s.Ready == "complete" && ok(s) {
				return s
			}
		} else {
			lastErr = err // the page is between two documents
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("browser: waiting for %s: the page shows %+v (last error %v)", what, last, lastErr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitSignedIn waits for the app's page to show a session, and returns the
// session as the app saw it.
func (b *tab) waitSignedIn() string {
	b.t.Helper()
	s := b.waitPage("the app's signed-in page", func(s pageState) bool { return strings.HasPrefix(s.State, "Signed in") })
	m := regexp.MustCompile(`session (\S+)`).FindStringSubmatch(s.State)
	if m == nil {
		b.t.Fatalf("the signed-in page names no session: %q", s.State)
	}
	return m[1]
}

// waitAnonymous waits for the app's page to show an anonymous visitor at
// the URL want (any URL when want is "").
func (b *tab) waitAnonymous(want string) pageState {
	b.t.Helper()
	return b.waitPage("the app's anonymous page at "+want, func(s pageState) bool {
		return s.State == anonymousState && (want == "" || s.Href == want)
	})
}

// cookies is the tab's whole cookie jar (every domain and path).
func (b *tab) cookies() []*network.Cookie {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	c := chromedp.FromContext(b.ctx)
	res, err := chromedp.CallBrowser(ctx, storage.GetCookies, storage.GetCookiesParams{BrowserContextID: c.BrowserContextID})
	if err != nil {
		b.t.Fatalf("browser: reading the cookie jar: %v", err)
	}
	return res.Cookies
}

// jarHolds lists the jar's cookies among names, as name;domain;path=value.
func (b *tab) jarHolds(names ...string) []string {
	b.t.Helper()
	var out []string
	for _, c := range b.cookies() {
		if slices.Contains(names, c.Name) {
			out = append(out, fmt.Sprintf("%s; Domain=%s; Path=%s = %s", c.Name, c.Domain, c.Path, c.Value))
		}
	}
	sort.Strings(out)
	return out
}

// setCookie puts a cookie into the tab's jar, as a user replaying a copied
// cookie would.
func (b *tab) setCookie(p network.SetCookieParams) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, network.SetCookie, p); err != nil {
		b.t.Fatalf("browser: setting cookie %s: %v", p.Name, err)
	}
}

// screenshot saves the page as tests/artifacts/<name>.png and logs where.
func (b *tab) screenshot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("browser: screenshot: %v", err)
	}
	dir, err := filepath.Abs("artifacts")
	if err != nil {
		b.t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	file := filepath.Join(dir, regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(name, "_")+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot of the logged-out page: %s", file)
}

// watchRequests records the URL of every request the tab sends from now on.
func (b *tab) watchRequests() func() []string {
	b.t.Helper()
	var mu sync.Mutex
	var urls []string
	err := chromedp.Listen(b.ctx, func(ev any) {
		if ev, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			urls = append(urls, ev.Request.URL)
			mu.Unlock()
		}
	})
	if err != nil {
		b.t.Fatalf("browser: listening to requests: %v", err)
	}
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(urls)
	}
}

// legacyApp is the stand-in app behind the gateway: it knows nothing of
// caddy-logout. Its login sets session cookies, its page shows who it sees
// (and the logout link the gateway hands it in X-Logout-URL), and its own
// logout only redirects, as legacy apps' often do.
type legacyApp struct {
	port int
	cfg  legacyAppConfig

	mu   sync.Mutex
	hits []appHit
}

type legacyAppConfig struct {
	// base is where the app lives: "" (the root) or a path such as /app.
	base string
	// login sets the session cookies of a fresh login with value v.
	login func(w http.ResponseWriter, v string)
	// session names the session the request carries, "" for none.
	session func(r *http.Request) string
	// logoutTo is where the app's own logout redirects (default: its home).
	logoutTo string
}

// appHit is one request the app got: the session it saw, and the Cookie
// header as it arrived.
type appHit struct {
	method, path, session, cookie string
}

const anonymousState = "Anonymous visitor."

// hostOnlySession is the simplest app: one host-only cookie sid, Path=/.
func hostOnlySession(attrs string) legacyAppConfig {
	return legacyAppConfig{
		login: func(w http.ResponseWriter, v string) {
			w.Header().Add("Set-Cookie", "sid="+v+"; Path=/; HttpOnly"+attrs)
		},
		session: func(r *http.Request) string {
			if c, err := r.Cookie("sid"); err == nil && c.Value != "" {
				return c.Value
			}
			return ""
		},
	}
}

func startLegacyApp(t *testing.T, cfg legacyAppConfig) *legacyApp {
	t.Helper()
	a := &legacyApp{port: freePort(t), cfg: cfg}
	mux := http.NewServeMux()
	mux.HandleFunc(cfg.base+"/login", func(w http.ResponseWriter, r *http.Request) {
		a.record(r)
		cfg.login(w, randomValue())
		// A URL of its own, so that Back after logout has a signed-in
		// page in the browser's cache to show.
		http.Redirect(w, r, cfg.base+"/?welcome", http.StatusSeeOther)
	})
	mux.HandleFunc(cfg.base+"/logout", func(w http.ResponseWriter, r *http.Request) {
		a.record(r)
		if r.URL.Query().Has("fail") {
			http.Error(w, "Internal Server Error: the session table is locked", http.StatusInternalServerError)
			return
		}
		to := cfg.logoutTo
		if to == "" {
			to = cfg.base + "/"
		}
		http.Redirect(w, r, to, http.StatusSeeOther)
	})
	mux.HandleFunc(cfg.base+"/{$}", func(w http.ResponseWriter, r *http.Request) {
		s := a.record(r)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<!doctype html>\n<title>Legacy app</title>\n<h1>Legacy app</h1>\n")
		if s == "" {
			fmt.Fprintf(w, "<p id=\"state\">%s</p>\n<p><a id=\"login\" href=\"%s/login\">Sign in</a></p>\n", anonymousState, cfg.base)
			return
		}
		fmt.Fprintf(w, `<p id="state">Signed in with session %[1]s</p>
<p><a id="logout-link" href="%[2]s">Sign out</a> (the signed URL the gateway injects)</p>
<p><button id="logout-js" onclick="signOut()">Sign out with the Kratos browser flow</button></p>
<p><a id="app-logout" href="%[3]s/logout">Sign out (the app's own link)</a></p>
<form method="post" action="%[3]s/logout"><button id="app-logout-post">Sign out (the app's own form)</button></form>
<script>
localStorage.setItem("draft", "unsent message of %[1]s");
async function signOut() {
	const r = await fetch("%[3]s/self-service/logout/browser", {headers: {Accept: "application/json"}});
	location.href = (await r.json()).logout_url;
}
</script>
`, html.EscapeString(s), html.EscapeString(r.Header.Get("X-Logout-URL")), cfg.base)
	})
	srv := &http.Server{Addr: fmt.Sprintf("127.0.0.1:%d", a.port), Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return a
}

func (a *legacyApp) record(r *http.Request) string {
	s := a.cfg.session(r)
	a.mu.Lock()
	a.hits = append(a.hits, appHit{method: r.Method, path: r.URL.Path, session: s, cookie: strings.Join(r.Header.Values("Cookie"), "; ")})
	a.mu.Unlock()
	return s
}

// hitCount is a mark for hitsSince.
func (a *legacyApp) hitCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.hits)
}

func (a *legacyApp) hitsSince(mark int) []appHit {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.hits[mark:])
}

// gatewayConfig renders a Caddyfile: the logout gateway in front of the
// app on plain HTTP at port, for any host name. logout holds extra lines
// for the logout block, site extra directives for the site.
func gatewayConfig(admin, port int, app *legacyApp, logout, site string) string {
	home := fmt.Sprintf("http://%s:%d%s/", appHost, port, app.cfg.base)
	return fmt.Sprintf(`{
	admin 127.0.0.1:%[1]d
	auto_https off
	grace_period 5s
}

http://:%[2]d {
	bind 127.0.0.1
	logout {
		cookie sid
		store memory
		default_return_url %[3]s
		allowed_return_urls %[3]s
		intercept %[4]s/logout
		%[5]s
	}
	# The app's page gets the signed logout URL in a request header.
	reverse_proxy 127.0.0.1:%[6]d {
		header_up X-Logout-URL {http.logout.url}
	}
	# A page of the gateway's own, rendered by Caddy's templates.
	handle /account-menu {
		templates
		header Content-Type "text/html; charset=utf-8"
		respond <<HTML
			<!doctype html>
			<title>Account menu</title>
			{{if .Cookie "sid"}}
			<p id="state">Signed in with session {{.Cookie "sid"}}</p>
			<p><a id="menu-logout" href="{{placeholder "http.logout.url"}}">Sign out</a></p>
			{{else}}
			<p id="state">Anonymous visitor.</p>
			{{end}}
			HTML 200
	}
	%[7]s
}
`, admin, port, home, app.cfg.base, logout, app.port, site)
}

// exampleTestClient reaches every *.example.test on this machine, as the
// browser does, trusts any certificate (Caddy's internal CA) and follows no
// redirects.
func exampleTestClient() *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				_, port, err := net.SplitHostPort(addr)
				if err != nil {
					return nil, err
				}
				return (&net.Dialer{}).DialContext(ctx, network, "127.0.0.1:"+port)
			},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// waitHTTPS polls until url answers over TLS (Caddy issues its internal
// certificate in the background at start).
func waitHTTPS(t *testing.T, url string) {
	t.Helper()
	c := exampleTestClient()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no HTTPS at %s: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
