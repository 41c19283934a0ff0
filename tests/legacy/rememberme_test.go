package legacy

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddy-logout/caddy-logout/tests/e2e"
)

// The app of testdata/rememberme is written for these tests: its
// remember-me cookie (rm_token, an HMAC of a token the app keeps per user,
// beside rm_user) has the same value for every login of a user, and its
// logout leaves it valid. Neither Debian app is like that (DokuWiki and
// WordPress set a new remember-me value at each login), and many PHP apps
// are.

// The recipe of the README for such an app.
const rememberMeLogout = `cookie PHPSESSID
		seal rm_*
		intercept /logout.php`

// NewRememberMeApp copies the app into a private root with its users.
func NewRememberMeApp(t *testing.T, users map[string]string) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "app")
	data := filepath.Join(t.TempDir(), "data")
	for _, dir := range []string{root, data} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"common.php", "index.php", "login.php", "logout.php"} {
		b, err := os.ReadFile(filepath.Join("testdata", "rememberme", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Single-quoted PHP strings: a temporary path, user names and bcrypt
	// hashes hold no quote or backslash.
	config := fmt.Sprintf("<?php\n$data = '%s';\n$users = [\n", data)
	for user, pass := range users {
		config += fmt.Sprintf("\t'%s' => '%s',\n", user, strings.TrimSpace(php(t, `echo password_hash($argv[1], PASSWORD_BCRYPT);`, pass)))
	}
	config += "];\n"
	if err := os.WriteFile(filepath.Join(root, "config.php"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

func rmLogin(t *testing.T, b *Browser, user, pass string) {
	t.Helper()
	b.Get("/login.php")
	b.Post("/login.php", url.Values{"user": {user}, "password": {pass}, "remember": {"1"}})
	if !rmLoggedIn(b) {
		t.Fatalf("%s is not logged in after the login form", user)
	}
}

func rmLoggedIn(b *Browser) bool {
	b.t.Helper()
	return b.Get("/").hasLink("/logout.php")
}

// rmRemember is the remember-me pair a browser holds.
func rmRemember(t *testing.T, jar *Jar) []Cookie {
	t.Helper()
	var out []Cookie
	for _, name := range []string{"rm_user", "rm_token"} {
		c, ok := jar.Get(name)
		if !ok || !c.Persistent {
			t.Fatalf("no persistent %s in %v", name, jar.All())
		}
		out = append(out, c)
	}
	return out
}

// TestRememberMe_WithoutSeal_TheProblem measures the app behind the
// gateway without seal: its remember-me value is the same at every login;
// not listing it leaves a copy working after the logout, and listing it
// ends remember-me for every later login of the user.
func TestRememberMe_WithoutSeal_TheProblem(t *testing.T) {
	users := map[string]string{"alice": "alice-" + randomHex(4)}
	root := NewRememberMeApp(t, users)
	fpm := StartFPM(t)

	t.Run("not listed: the copy logs back in", func(t *testing.T) {
		site := StartSite(t, root, fpm, "cookie PHPSESSID\n\t\tintercept /logout.php", false, 0, 0)
		alice := NewBrowser(t, site.URL)
		rmLogin(t, alice, "alice", users["alice"])
		copied := rmRemember(t, alice.Jar)
		alice.Get(alice.Get("/").link(t, "/logout.php"))
		if rmLoggedIn(alice) {
			t.Fatal("still logged in after the app's logout")
		}
		if !rmLoggedIn(NewBrowserWith(t, site.URL, JarOf(copied...))) {
			t.Fatal("control failed: the copied remember-me cookies do not log in after the logout")
		}
		rmLogin(t, alice, "alice", users["alice"])
		if again := rmRemember(t, alice.Jar); again[1].Value != copied[1].Value {
			t.Fatal("control failed: the app set a new remember-me value at the next login")
		}
	})
	t.Run("listed: the next login's remember-me is dead", func(t *testing.T) {
		site := StartSite(t, root, fpm, "cookie PHPSESSID rm_*\n\t\tintercept /logout.php", false, 0, 0)
		alice := NewBrowser(t, site.URL)
		rmLogin(t, alice, "alice", users["alice"])
		alice.Get(alice.Get("/").link(t, "/logout.php"))
		rmLogin(t, alice, "alice", users["alice"])
		alice.Jar.Restart()
		if rmLoggedIn(alice) {
			t.Fatal("control failed: remember-me of the next login works though its value was revoked")
		}
	})
}

// TestRememberMe_Sealed_ZeroCodeLogout: the same app behind the recipe.
// Each login's remember-me copy is its own: after the app's own logout the
// copied cookies are refused, all together and each alone, as is the
// app's raw value; the same user's other browser and a later login keep
// remember-me; a bystander stays in.
func TestRememberMe_Sealed_ZeroCodeLogout(t *testing.T) {
	users := map[string]string{"alice": "alice-" + randomHex(4), "bob": "bob-" + randomHex(4)}
	root := NewRememberMeApp(t, users)
	fpm := StartFPM(t)

	// The app's raw value, measured behind a gateway that does not seal.
	plain := StartSite(t, root, fpm, "cookie PHPSESSID", false, 0, 0)
	probe := NewBrowser(t, plain.URL)
	rmLogin(t, probe, "alice", users["alice"])
	raw := rmRemember(t, probe.Jar)

	site := StartSite(t, root, fpm, rememberMeLogout, false, 0, 0)
	alice := NewBrowser(t, site.URL)
	rmLogin(t, alice, "alice", users["alice"])
	laptop := NewBrowser(t, site.URL) // alice's other browser
	rmLogin(t, laptop, "alice", users["alice"])
	bob := NewBrowser(t, site.URL)
	rmLogin(t, bob, "bob", users["bob"])

	copied := alice.Jar.All()
	remember := rmRemember(t, alice.Jar)
	for i, c := range remember {
		if c.Value == raw[i].Value || c.Value == rmRemember(t, laptop.Jar)[i].Value {
			t.Fatalf("%s: the browser holds the app's value, or the other login's", c)
		}
	}
	if !rmLoggedIn(NewBrowserWith(t, site.URL, JarOf(remember...))) {
		t.Fatal("control: the sealed remember-me cookies alone do not log in")
	}
	if rmLoggedIn(NewBrowserWith(t, site.URL, JarOf(raw...))) {
		t.Error("the app's raw remember-me value logs in past the gateway")
	}
	// Counted as a value that did not open, not as a store failure.
	_, metrics := e2e.Do(t, http.DefaultClient, "GET", fmt.Sprintf("http://127.0.0.1:%d/metrics", site.Caddy.AdminPort), nil, "")
	if !strings.Contains(string(metrics), `caddy_logout_guard_decisions_total{decision="not_sealed"}`) ||
		!strings.Contains(string(metrics), `caddy_logout_guard_decisions_total{decision="store_error"} 0`) {
		t.Errorf("metrics:\n%s", metrics)
	}

	// The app's own Log Out link; its answer is kept.
	p := alice.Get(alice.Get("/").link(t, "/logout.php"))
	if first := p.Hops[0]; first.Status != 302 || !strings.HasSuffix(first.Location, "/login.php?loggedout=1") {
		t.Errorf("the app's logout answer was not kept: %d %q", first.Status, first.Location)
	}
	if rmLoggedIn(alice) {
		t.Fatal("still logged in after the app's logout")
	}
	if rmLoggedIn(NewBrowserWith(t, site.URL, JarOf(copied...))) {
		t.Error("the copied jar logs in again")
	}
	for _, c := range copied {
		if rmLoggedIn(NewBrowserWith(t, site.URL, JarOf(c))) {
			t.Errorf("the copied %s alone logs in again", c)
		}
	}
	if rmLoggedIn(NewBrowserWith(t, site.URL, JarOf(remember...))) {
		t.Error("the copied remember-me cookies log in again")
	}
	if !rmLoggedIn(bob) {
		t.Error("the bystander was logged out")
	}
	// The other browser's remember-me was another issuance: it still works.
	laptop.Jar.Restart()
	if !rmLoggedIn(laptop) {
		t.Error("the logout ended remember-me of the user's other browser")
	}

	// The same browser logs in again, stays in, and its remember-me works
	// after a restart.
	rmLogin(t, alice, "alice", users["alice"])
	for range 3 {
		if !rmLoggedIn(alice) {
			t.Fatal("the new login did not stay in")
		}
	}
	alice.Jar.Restart()
	if _, ok := alice.Jar.Get("PHPSESSID"); ok {
		t.Fatal("the session cookie survived the restart")
	}
	if !rmLoggedIn(alice) {
		t.Error("remember-me of the new login does not work after a restart")
	}
}
