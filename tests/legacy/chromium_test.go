package legacy

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/caddy-logout/caddy-logout/tests/e2e"
)

// chromiumLogin logs in through WordPress's login form in a real tab, with
// "Remember Me", and waits for the dashboard.
func chromiumLogin(t *testing.T, tab *e2e.Tab, site, user, pass string) {
	t.Helper()
	tab.Navigate(site + "/wp-login.php")
	tab.WaitPage("the login form", func(s e2e.PageState) bool { return strings.Contains(s.Href, "wp-login.php") })
	tab.Step("fill in the login form",
		chromedp.SetValue(chromedp.ID("user_login"), user),
		chromedp.SetValue(chromedp.ID("user_pass"), pass),
		chromedp.Click(chromedp.ID("rememberme")),
		chromedp.Click(chromedp.ID("wp-submit")),
	)
	tab.WaitPage("the dashboard", func(s e2e.PageState) bool { return strings.Contains(s.Href, "/wp-admin/") })
}

// chromiumLoggedIn opens the dashboard in the tab and reports whether it
// stays there (WordPress sends anonymous visitors to its login form).
func chromiumLoggedIn(t *testing.T, tab *e2e.Tab, site string) bool {
	t.Helper()
	tab.Navigate(site + "/wp-admin/")
	s := tab.WaitPage("the dashboard or the login form", func(s e2e.PageState) bool {
		return strings.Contains(s.Href, "/wp-admin/") || strings.Contains(s.Href, "wp-login.php")
	})
	return !strings.Contains(s.Href, "wp-login.php")
}

// wpCookies are the tab's WordPress session cookies (not the cookie test).
func wpCookies(tab *e2e.Tab) []*network.Cookie {
	var out []*network.Cookie
	for _, c := range tab.Cookies() {
		if strings.HasPrefix(c.Name, "wordpress_") && c.Name != "wordpress_test_cookie" {
			out = append(out, c)
		}
	}
	return out
}

// TestWordPress_Chromium_ZeroCodeLogout: the WordPress case in a real
// Chromium, whose cookie Path rules decide what each request carries: the
// admin bar's own Log Out link is followed with the logged-in cookie only,
// and still every copied cookie is refused afterwards.
func TestWordPress_Chromium_ZeroCodeLogout(t *testing.T) {
	db := StartMariaDB(t)
	fpm := StartFPM(t)
	port := e2e.FreePort(t)
	wp := NewWordPress(t, db, fmt.Sprintf("http://127.0.0.1:%d", port))
	site := StartSite(t, wp.Root, fpm, wordPressLogoutHTTP, false, port, 0)

	browser := e2e.NewBrowser(t)
	alice := e2e.NewTab(t, browser)
	chromiumLogin(t, alice, site.URL, "alice", wp.Users["alice"])
	copied := wpCookies(alice)
	paths := map[string]bool{}
	for _, c := range copied {
		paths[c.Path] = true
	}
	if len(copied) < 3 || !paths["/wp-admin"] || !paths["/"] {
		t.Fatalf("Chromium holds %v; want the auth cookie at /wp-admin (and plugins) and the logged-in cookie at /", alice.JarHolds(names(copied)...))
	}
	bob := e2e.NewTab(t, browser)
	chromiumLogin(t, bob, site.URL, "bob", wp.Users["bob"])

	// The admin bar's Log Out link, clicked on the dashboard.
	watch := alice.WatchRequests()
	// (A click from the page itself: the admin bar's menu is hidden until hovered.)
	if _, err := e2e.Eval[bool](alice, `document.querySelector('#wp-admin-bar-logout a').click(), true`); err != nil {
		t.Fatalf("clicking Log Out: %v", err)
	}
	alice.WaitPage("WordPress's logged-out page", func(s e2e.PageState) bool { return strings.Contains(s.Href, "loggedout=true") })
	alice.Screenshot(t.Name())
	if !anyContains(watch(), "action=logout") {
		t.Fatalf("the logout link was not requested: %q", watch())
	}
	if left := wpCookies(alice); len(left) != 0 {
		t.Errorf("the browser still holds %v after the logout", alice.JarHolds(names(left)...))
	}
	if chromiumLoggedIn(t, alice, site.URL) {
		t.Fatal("still logged in after the logout")
	}

	replay := func(cs ...*network.Cookie) bool {
		tab := e2e.NewTab(t, browser)
		for _, c := range cs {
			tab.SetCookie(network.SetCookieParams{Name: c.Name, Value: c.Value, Domain: c.Domain, Path: c.Path, HTTPOnly: &c.HTTPOnly})
		}
		return chromiumLoggedIn(t, tab, site.URL)
	}
	if replay(copied...) {
		t.Error("the copied cookies log in again")
	}
	for _, c := range copied {
		if replay(c) {
			t.Errorf("the copied %s (Path=%s) alone logs in again", c.Name, c.Path)
		}
	}
	if !chromiumLoggedIn(t, bob, site.URL) {
		t.Error("the bystander was logged out")
	}

	// The same browser logs in again and stays in.
	chromiumLogin(t, alice, site.URL, "alice", wp.Users["alice"])
	for range 3 {
		if !chromiumLoggedIn(t, alice, site.URL) {
			t.Fatal("the new login did not stay in")
		}
	}
}

func names(cs []*network.Cookie) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

func anyContains(urls []string, want string) bool {
	for _, u := range urls {
		if strings.Contains(u, want) {
			return true
		}
	}
	return false
}
