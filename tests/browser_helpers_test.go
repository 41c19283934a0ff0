package tests

import (
	"fmt"
	"html"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/tests/e2e"
)

// appHost is the stand-in app's name in the browser. Chromium resolves every
// *.example.test to 127.0.0.1 (--host-resolver-rules), so cookies with
// Domain=example.test are real cookies of a real registrable domain.
const appHost = "app.example.test"

// waitSignedIn waits for the app's page to show a session, and returns the
// session as the app saw it.
func waitSignedIn(b *e2e.Tab) string {
	b.T.Helper()
	s := b.WaitPage("the app's signed-in page", func(s e2e.PageState) bool { return strings.HasPrefix(s.State, "Signed in") })
	m := regexp.MustCompile(`session (\S+)`).FindStringSubmatch(s.State)
	if m == nil {
		b.T.Fatalf("the signed-in page names no session: %q", s.State)
	}
	return m[1]
}

// waitAnonymous waits for the app's page to show an anonymous visitor at
// the URL want (any URL when want is "").
func waitAnonymous(b *e2e.Tab, want string) e2e.PageState {
	b.T.Helper()
	return b.WaitPage("the app's anonymous page at "+want, func(s e2e.PageState) bool {
		return s.State == anonymousState && (want == "" || s.Href == want)
	})
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
	a := &legacyApp{port: e2e.FreePort(t), cfg: cfg}
	mux := http.NewServeMux()
	mux.HandleFunc(cfg.base+"/login", func(w http.ResponseWriter, r *http.Request) {
		a.record(r)
		cfg.login(w, e2e.RandomValue())
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
