package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/caddy-logout/caddy-logout/tests/e2e"
)

// The browser tests drive a real Chromium (Debian's chromium package, see
// scripts/test-setup.sh) through the real Caddy binary, in front of a
// stand-in legacy app that knows nothing of caddy-logout.

// signIn loads the app's home page as an anonymous visitor, signs in, and
// returns the session the page shows and the session cookies the jar then
// holds (at least one).
func signIn(t *testing.T, b *e2e.Tab, home string, names ...string) (string, []*network.Cookie) {
	t.Helper()
	b.Navigate(home)
	waitAnonymous(b, home)
	b.Click("#login")
	session := waitSignedIn(b)
	var jar []*network.Cookie
	for _, c := range b.Cookies() {
		for _, n := range names {
			if c.Name == n {
				jar = append(jar, c)
			}
		}
	}
	if len(jar) == 0 {
		t.Fatalf("after signing in the jar holds no cookie named %v: %v", names, b.Cookies())
	}
	return session, jar
}

// checkSignedOut is what every logout must leave behind, once the browser
// shows the app's anonymous page: no session cookie in the jar; Back to the
// last signed-in page (signedIn) and reload show an anonymous visitor; the
// old cookies, put back into the jar, sign nobody in and are deleted again;
// and the app never saw the old session after the logout began (mark),
// except on its own logout path.
func checkSignedOut(t *testing.T, b *e2e.Tab, app *legacyApp, home, signedIn string, old []*network.Cookie, mark int) {
	t.Helper()
	var names, values []string
	for _, c := range old {
		names = append(names, c.Name)
		values = append(values, c.Value)
	}
	if left := b.JarHolds(names...); len(left) > 0 {
		t.Errorf("after logout the jar still holds %q", left)
	}

	before := app.hitCount()
	back := b.Back()
	for i := 0; back.Href != signedIn; i++ {
		if i == 3 {
			t.Fatalf("Back never reached the signed-in page %s: at %s", signedIn, back.Href)
		}
		back = b.Back()
	}
	t.Logf("Back shows %s: %q (%d requests reached the app); reloading", back.Href, back.State, len(app.hitsSince(before)))
	b.Step("reload", chromedp.Reload())
	waitAnonymous(b, "")

	for _, c := range old {
		b.SetCookie(replayOf(c, home))
	}
	if got := b.JarHolds(names...); len(got) != len(old) {
		t.Fatalf("replaying the old cookies: the jar holds %q, want %d cookies", got, len(old))
	}
	b.Navigate(home)
	waitAnonymous(b, home)
	if left := b.JarHolds(names...); len(left) > 0 {
		t.Errorf("the gateway did not tell the browser to delete the replayed cookies: the jar holds %q", left)
	}

	logoutPath := app.cfg.base + "/logout"
	for _, h := range app.hitsSince(mark) {
		for _, v := range values {
			if h.path != logoutPath && strings.Contains(h.cookie, v) {
				t.Errorf("after logout the app saw the old session on %s %s: Cookie %q", h.method, h.path, h.cookie)
			}
		}
	}
}

// replayOf is the cookie c as a user who copied it would put it back: the
// same name, value, Domain (or host-only) and Path.
func replayOf(c *network.Cookie, home string) network.SetCookieParams {
	u, _ := url.Parse(home)
	p := network.SetCookieParams{
		Name: c.Name, Value: c.Value, Path: c.Path,
		Secure: &c.Secure, HTTPOnly: &c.HTTPOnly, SameSite: c.SameSite,
	}
	if strings.HasPrefix(c.Domain, ".") {
		p.Domain = c.Domain
	} else {
		p.URL = u.Scheme + "://" + c.Domain + ":" + u.Port() + c.Path // host-only
	}
	return p
}

// appSawSessionOnLogout fails unless the app's own logout path got the
// request with the session (its own clean-up ran).
func appSawSessionOnLogout(t *testing.T, app *legacyApp, mark int, method, session string) {
	t.Helper()
	for _, h := range app.hitsSince(mark) {
		if h.path == app.cfg.base+"/logout" && h.method == method && h.session == session {
			return
		}
	}
	t.Errorf("the app's own logout never got %s with the session: %+v", method, app.hitsSince(mark))
}

// TestBrowser_SignedLogoutURL signs in to the app and out through the
// signed logout URL ({http.logout.url}): the link the gateway injects into
// the app's page with header_up, the Kratos browser flow that an SPA runs,
// and a link on a page that Caddy's templates render.
func TestBrowser_SignedLogoutURL(t *testing.T) {
	app := startLegacyApp(t, hostOnlySession("; SameSite=Lax"))
	p := e2e.StartCaddy(t, "", func(admin, port int) string { return gatewayConfig(admin, port, app, "", "") })
	home := fmt.Sprintf("http://%s:%d/", appHost, p.Port)
	browser := e2e.NewBrowser(t)

	for _, tc := range []struct {
		name, page, button string
	}{
		{"injected link", "", "#logout-link"},
		{"Kratos browser flow", "", "#logout-js"},
		{"templates link", "account-menu", "#menu-logout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := e2e.NewTab(t, browser)
			session, jar := signIn(t, b, home, "sid")
			if len(jar) != 1 || jar[0].Value != session {
				t.Fatalf("the page shows session %q, the jar holds %v", session, jar)
			}
			if tc.page != "" {
				b.Navigate(home + tc.page)
				if s := waitSignedIn(b); s != session {
					t.Fatalf("%s shows session %q, want %q", tc.page, s, session)
				}
			}
			link, err := e2e.Eval[string](b, `(document.getElementById("logout-link") || document.getElementById("menu-logout")).href`)
			if err != nil || !strings.HasPrefix(link, strings.TrimSuffix(home, "/")+"/self-service/logout?token=") {
				t.Fatalf("the signed logout link is %q (%v)", link, err)
			}

			signedIn, mark := b.Location(), app.hitCount()
			b.Click(tc.button)
			waitAnonymous(b, home)
			b.Screenshot(t.Name())
			checkSignedOut(t, b, app, home, signedIn, jar, mark)
			for _, h := range app.hitsSince(mark) {
				if strings.Contains(h.path, "self-service") {
					t.Errorf("the app got the gateway's endpoint %s", h.path)
				}
			}
		})
	}
}

// TestBrowser_InterceptedAppLogout signs out through the app's own
// /logout, which only redirects: with intercept, the gateway makes it a
// real logout, for a GET link and for a POST form. When the app's logout
// fails (an error, or no app at all), the logout happens all the same and
// the browser gets the gateway's "signed out" page.
func TestBrowser_InterceptedAppLogout(t *testing.T) {
	app := startLegacyApp(t, hostOnlySession("; SameSite=Lax"))
	dead := e2e.FreePort(t) // nothing listens there
	p := e2e.StartCaddy(t, "", func(admin, port int) string {
		return gatewayConfig(admin, port, app, "intercept /down/logout",
			fmt.Sprintf("handle /down/* {\n\t\treverse_proxy 127.0.0.1:%d\n\t}", dead))
	})
	home := fmt.Sprintf("http://%s:%d/", appHost, p.Port)
	browser := e2e.NewBrowser(t)

	for _, tc := range []struct {
		name   string
		button string // click this on the signed-in page, or
		path   string // go to this path (a failing logout)
		method string // how the app's logout gets the request ("": never)
	}{
		{"GET link", "#app-logout", "", http.MethodGet},
		{"POST form", "#app-logout-post", "", http.MethodPost},
		{"the app fails", "", "logout?fail", http.MethodGet},
		{"the app is down", "", "down/logout", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := e2e.NewTab(t, browser)
			session, jar := signIn(t, b, home, "sid")
			signedIn, mark := b.Location(), app.hitCount()
			if tc.button != "" {
				b.Click(tc.button)
				waitAnonymous(b, home)
				b.Screenshot(t.Name())
			} else {
				b.Navigate(home + tc.path)
				b.WaitPage("the gateway's signed-out page", func(s e2e.PageState) bool { return s.Title == "Signed out" })
				b.Screenshot(t.Name())
				if len(b.JarHolds("sid")) > 0 {
					t.Errorf("the signed-out page left the session cookie: %q", b.JarHolds("sid"))
				}
				b.Click("a") // Continue
				waitAnonymous(b, home)
			}
			if tc.method != "" {
				appSawSessionOnLogout(t, app, mark, tc.method, session)
			}
			checkSignedOut(t, b, app, home, signedIn, jar, mark)
		})
	}
}

// TestBrowser_CookieVariants: the app keeps its session in cookies scoped
// to /app, host-only and with Domain=example.test (as after a migration
// between the two), and in a cookie chunked over big.0 and big.1. With
// cookie_domain and cookie_path configured, logout leaves none of them.
func TestBrowser_CookieVariants(t *testing.T) {
	cfg := legacyAppConfig{
		base: "/app",
		login: func(w http.ResponseWriter, v string) {
			h := w.Header()
			h.Add("Set-Cookie", "sid="+v+"-host; Path=/app; HttpOnly; SameSite=Lax")
			h.Add("Set-Cookie", "sid="+v+"-domain; Domain=example.test; Path=/app; HttpOnly; SameSite=Lax")
			h.Add("Set-Cookie", "big.0="+v+"-part0; Domain=example.test; Path=/app; HttpOnly; SameSite=Lax")
			h.Add("Set-Cookie", "big.1="+v+"-part1; Domain=example.test; Path=/app; HttpOnly; SameSite=Lax")
		},
		session: func(r *http.Request) string {
			var parts []string
			for _, c := range r.Cookies() {
				if c.Name == "sid" {
					parts = append(parts, c.Value)
				}
			}
			c0, err0 := r.Cookie("big.0")
			c1, err1 := r.Cookie("big.1")
			if err0 == nil && err1 == nil {
				parts = append(parts, c0.Value+c1.Value)
			}
			return strings.Join(parts, ",")
		},
	}
	app := startLegacyApp(t, cfg)
	p := e2e.StartCaddy(t, "", func(admin, port int) string {
		// The cookies only go to /app, so the endpoints live there too.
		return gatewayConfig(admin, port, app, `cookie sid big
		cookie_domain example.test
		cookie_path /app
		endpoints /app/self-service/logout`, "")
	})
	home := fmt.Sprintf("http://%s:%d/app/", appHost, p.Port)
	browser := e2e.NewBrowser(t)

	for _, tc := range []struct {
		name, button string
	}{
		{"signed URL", "#logout-link"},
		{"the app's own logout", "#app-logout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := e2e.NewTab(t, browser)
			_, jar := signIn(t, b, home, "sid", "big.0", "big.1")
			if len(jar) != 4 {
				t.Fatalf("the app's login left %d session cookies in the jar, want 4: %q", len(jar), b.JarHolds("sid", "big.0", "big.1"))
			}
			signedIn, mark := b.Location(), app.hitCount()
			b.Click(tc.button)
			waitAnonymous(b, home)
			b.Screenshot(t.Name())
			checkSignedOut(t, b, app, home, signedIn, jar, mark)
		})
	}
}

// TestBrowser_HTTPS_SameSiteAndClearSiteData runs the gateway over HTTPS
// (tls internal) and plain HTTP with cookie_samesite strict and none and
// clear_site_data cookies storage: a logout over HTTPS empties the app's
// localStorage too, and a logout over plain HTTP sends no Clear-Site-Data
// (browsers ignore it there).
func TestBrowser_HTTPS_SameSiteAndClearSiteData(t *testing.T) {
	for _, sameSite := range []string{"Strict", "None"} {
		t.Run("SameSite="+sameSite, func(t *testing.T) {
			// Besides sid, the app keeps prefixed cookies, which browsers
			// delete only when the deletion obeys the prefix's rules.
			cfg := hostOnlySession("; Secure; SameSite=" + sameSite)
			login := cfg.login
			cfg.login = func(w http.ResponseWriter, v string) {
				login(w, v)
				attrs := "; Path=/; Secure; HttpOnly; SameSite=" + sameSite
				w.Header().Add("Set-Cookie", "__Host-sid="+v+"-host"+attrs)
				w.Header().Add("Set-Cookie", "__Secure-sid="+v+"-secure; Domain=example.test"+attrs)
			}
			app := startLegacyApp(t, cfg)
			tlsPort := e2e.FreePort(t)
			p := e2e.StartCaddy(t, "", func(admin, port int) string {
				return fmt.Sprintf(`{
	admin 127.0.0.1:%[1]d
	auto_https disable_redirects
	skip_install_trust
	grace_period 5s
}

(gateway) {
	logout {
		cookie sid __Host-sid __Secure-sid
		cookie_domain example.test
		store memory
		cookie_samesite %[4]s
		clear_site_data cookies storage
		default_return_url https://%[5]s:%[3]d/
		allowed_return_urls https://%[5]s:%[3]d/
		intercept /logout
	}
	reverse_proxy 127.0.0.1:%[6]d {
		header_up X-Logout-URL {http.logout.url}
	}
}

https://%[5]s:%[3]d {
	bind 127.0.0.1
	tls internal
	import gateway
}

http://%[5]s:%[2]d {
	bind 127.0.0.1
	import gateway
}
`, admin, port, tlsPort, strings.ToLower(sameSite), appHost, app.port)
			})
			home := fmt.Sprintf("https://%s:%d/", appHost, tlsPort)
			plainBase := fmt.Sprintf("http://%s:%d", appHost, p.Port)
			e2e.WaitHTTPS(t, home)

			t.Run("Clear-Site-Data only over HTTPS", func(t *testing.T) {
				for _, base := range []string{strings.TrimSuffix(home, "/"), plainBase} {
					https := strings.HasPrefix(base, "https:")
					for _, how := range []string{"signed URL", "intercept"} {
						resp := logoutOverHTTP(t, base, how)
						csd := resp.Header.Values("Clear-Site-Data")
						switch {
						case https && (len(csd) != 1 || csd[0] != `"cookies", "storage"`):
							t.Errorf("%s over HTTPS: Clear-Site-Data %q, want one \"cookies\", \"storage\"", how, csd)
						case !https && len(csd) > 0:
							t.Errorf("%s over plain HTTP: Clear-Site-Data %q sent, want none", how, csd)
						}
						deletion := resp.Header.Get("Set-Cookie")
						wantAttrs := []string{"sid=;", "Max-Age=0"}
						if https {
							wantAttrs = append(wantAttrs, "Secure", "SameSite="+sameSite)
						}
						for _, a := range wantAttrs {
							if !strings.Contains(deletion, a) {
								t.Errorf("%s over %s: deletion cookie %q lacks %q", how, base, deletion, a)
							}
						}
					}
				}
			})

			browser := e2e.NewBrowser(t, chromedp.IgnoreCertErrors)
			for _, tc := range []struct {
				name, button string
			}{
				{"signed URL", "#logout-link"},
				{"the app's own logout", "#app-logout-post"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					b := e2e.NewTab(t, browser)
					session, jar := signIn(t, b, home, "sid", "__Host-sid", "__Secure-sid")
					if len(jar) != 3 {
						t.Fatalf("the app's login left %d session cookies in the jar, want 3: %q", len(jar), b.JarHolds("sid", "__Host-sid", "__Secure-sid"))
					}
					for _, c := range jar {
						if !c.Secure || string(c.SameSite) != sameSite {
							t.Fatalf("the app's cookie is %+v, want Secure and SameSite=%s", c, sameSite)
						}
					}
					draft, err := e2e.Eval[string](b, `localStorage.getItem("draft") || ""`)
					if err != nil || !strings.Contains(draft, session) {
						t.Fatalf("the app stored no draft in localStorage: %q (%v)", draft, err)
					}
					signedIn, mark := b.Location(), app.hitCount()
					b.Click(tc.button)
					waitAnonymous(b, home)
					b.Screenshot(t.Name())
					n, err := e2e.Eval[int](b, `localStorage.length`)
					if err != nil || n != 0 {
						t.Errorf("after logout over HTTPS localStorage holds %d items (%v): Clear-Site-Data was not honoured", n, err)
					}
					checkSignedOut(t, b, app, home, signedIn, jar, mark)
				})
			}
		})
	}
}

// logoutOverHTTP logs a made-up session out over base (http or https) with
// a plain Go client, through the signed URL or the intercepted /logout,
// and returns the answer of the logout itself.
func logoutOverHTTP(t *testing.T, base, how string) *http.Response {
	t.Helper()
	c := e2e.LoopbackClient()
	cookie := "sid=" + e2e.RandomValue()
	target := base + "/logout"
	if how == "signed URL" {
		resp, body := e2e.Do(t, c, "GET", base+"/self-service/logout/browser", http.Header{"Cookie": {cookie}, "Accept": {"application/json"}}, "")
		var f e2e.LogoutFlow
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &f) != nil {
			t.Fatalf("create logout over %s: %s %s", base, resp.Status, body)
		}
		target = f.LogoutURL
	}
	resp, body := e2e.Do(t, c, "GET", target, http.Header{"Cookie": {cookie}}, "")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("%s over %s: %s %s", how, base, resp.Status, body)
	}
	return resp
}

// TestBrowser_AppOpenRedirectDoesNotSurvive: the app's own logout sends
// the browser to https://evil.example/; through the gateway the browser
// lands on the default return URL and never asks evil.example for
// anything.
func TestBrowser_AppOpenRedirectDoesNotSurvive(t *testing.T) {
	cfg := hostOnlySession("; SameSite=Lax")
	cfg.logoutTo = "https://evil.example/"
	app := startLegacyApp(t, cfg)
	p := e2e.StartCaddy(t, "", func(admin, port int) string { return gatewayConfig(admin, port, app, "", "") })
	home := fmt.Sprintf("http://%s:%d/", appHost, p.Port)
	browser := e2e.NewBrowser(t)

	for _, tc := range []struct {
		name, button, method string
	}{
		{"GET link", "#app-logout", http.MethodGet},
		{"POST form", "#app-logout-post", http.MethodPost},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := e2e.NewTab(t, browser)
			session, jar := signIn(t, b, home, "sid")
			requests := b.WatchRequests()
			signedIn, mark := b.Location(), app.hitCount()
			b.Click(tc.button)
			// Wherever the browser lands, it lands there at once.
			s := b.WaitPage("the page after the app's logout", func(s e2e.PageState) bool { return s.Href != signedIn })
			if s.Href != home || s.State != anonymousState {
				t.Fatalf("after the app's logout the browser is at %q showing %q, want the default return URL %q", s.Href, s.State, home)
			}
			b.Screenshot(t.Name())
			sawLogout := false
			for _, u := range requests() {
				if strings.Contains(u, "evil.example") {
					t.Errorf("the browser requested %s", u)
				}
				sawLogout = sawLogout || u == home+"logout"
			}
			if !sawLogout {
				t.Fatalf("the request watch missed the logout itself: %q", requests())
			}
			appSawSessionOnLogout(t, app, mark, tc.method, session)
			checkSignedOut(t, b, app, home, signedIn, jar, mark)
		})
	}
}
