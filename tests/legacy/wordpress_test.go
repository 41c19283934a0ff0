package legacy

import (
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddy-logout/caddy-logout/tests/e2e"
)

// The WordPress recipes of the README, as the tests run them. Over plain
// HTTP the auth cookie is wordpress_<hash>, which only wordpress_* catches
// (with wordpress_test_cookie, whose shared value is too short to count);
// over HTTPS it is wordpress_sec_<hash>.
const (
	wordPressLogoutHTTP = `cookie wordpress_*
		cookie_path / /wp-admin /wp-content/plugins
		intercept /wp-login.php?action=logout`
	wordPressLogoutHTTPS = `cookie wordpress_sec_* wordpress_logged_in_*
		cookie_path / /wp-admin /wp-content/plugins
		intercept /wp-login.php?action=logout`
)

// WordPress is a private copy of Debian's WordPress on its own MariaDB,
// installed for one site URL, with users alice and bob.
type WordPress struct {
	Root  string
	Users map[string]string
}

// NewWordPress copies Debian's WordPress (with the twentytwentythree theme),
// gives it a wp-config.php of its own (the database, fresh salts, the site
// URL, no outgoing requests, no cron) and installs it from the PHP CLI.
func NewWordPress(t *testing.T, db *MariaDB, siteURL string) *WordPress {
	t.Helper()
	for _, f := range []string{"/usr/share/wordpress/wp-login.php", "/usr/share/wordpress/wp-content/themes/twentytwentythree/style.css"} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("%v: run scripts/test-setup.sh (Debian's wordpress and wordpress-theme-twentytwentythree)", err)
		}
	}
	dir := t.TempDir()
	wp := &WordPress{Root: filepath.Join(dir, "wordpress"), Users: map[string]string{
		"alice": "alice-" + randomHex(6), "bob": "bob-" + randomHex(6),
	}}
	if out, err := exec.Command("cp", "-rL", "/usr/share/wordpress", wp.Root).CombinedOutput(); err != nil {
		t.Fatalf("copying WordPress: %v\n%s", err, out)
	}
	var salts strings.Builder
	for _, k := range []string{"AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY", "NONCE_KEY", "AUTH_SALT", "SECURE_AUTH_SALT", "LOGGED_IN_SALT", "NONCE_SALT"} {
		fmt.Fprintf(&salts, "define('%s', '%s');\n", k, randomHex(32))
	}
	config := fmt.Sprintf(`<?php
define('DB_NAME', '%s');
define('DB_USER', '%s');
define('DB_PASSWORD', '%s');
define('DB_HOST', 'localhost:%s');
define('DB_CHARSET', 'utf8mb4');
define('DB_COLLATE', '');
%s
$table_prefix = 'wp_';
define('WP_HOME', '%[6]s');
define('WP_SITEURL', '%[6]s');
define('WP_DEBUG', false);
define('WP_HTTP_BLOCK_EXTERNAL', true);
define('DISABLE_WP_CRON', true);
define('AUTOMATIC_UPDATER_DISABLED', true);
define('WP_AUTO_UPDATE_CORE', false);
if (!defined('ABSPATH')) define('ABSPATH', __DIR__ . '/');
require_once ABSPATH . 'wp-settings.php';
`, db.DB, db.User, db.Password, db.Socket, salts.String(), siteURL)
	if err := os.WriteFile(filepath.Join(wp.Root, "wp-config.php"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	install := filepath.Join(dir, "install.php")
	u, _ := url.Parse(siteURL)
	script := `<?php
define('WP_INSTALLING', true);
$_SERVER['HTTP_HOST'] = $argv[2];
$_SERVER['REQUEST_URI'] = '/';
require $argv[1] . '/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
$r = wp_install('Logout test blog', 'alice', 'alice@example.test', false, '', $argv[3]);
if (is_wp_error($r)) { fwrite(STDERR, $r->get_error_message()); exit(1); }
$bob = wp_create_user('bob', $argv[4], 'bob@example.test');
if (is_wp_error($bob)) { fwrite(STDERR, $bob->get_error_message()); exit(1); }
switch_theme('twentytwentythree');
echo 'installed';
`
	if err := os.WriteFile(install, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("php", install, wp.Root, u.Host, wp.Users["alice"], wp.Users["bob"]).CombinedOutput()
	if err != nil || !strings.HasSuffix(strings.TrimSpace(string(out)), "installed") {
		t.Fatalf("installing WordPress: %v\n%s", err, out)
	}
	return wp
}

// wpLogin logs in as a browser does: the login page (it sets the cookie
// test), then its form with "Remember Me".
func wpLogin(t *testing.T, b *Browser, user, pass string) {
	t.Helper()
	b.Get("/wp-login.php")
	p := b.Post("/wp-login.php", url.Values{
		"log": {user}, "pwd": {pass}, "rememberme": {"forever"}, "wp-submit": {"Log In"},
		"redirect_to": {b.Site + "/wp-admin/"}, "testcookie": {"1"},
	})
	if !wpInAdmin(p) {
		t.Fatalf("%s is not logged in after the login form (%s):\n%.2000s", user, p.URL, p.Body)
	}
}

// wpInAdmin reports whether a page is the dashboard, not the login form.
func wpInAdmin(p *Page) bool {
	return p.Status == 200 && strings.Contains(p.URL, "/wp-admin/") && strings.Contains(p.Body, "wp-admin-bar-logout")
}

// wpLoggedIn reports whether the browser is logged in, on the dashboard
// (the auth cookie) or on the blog (the logged-in cookie: the admin bar).
func wpLoggedIn(b *Browser) bool {
	b.t.Helper()
	return wpInAdmin(b.Get("/wp-admin/")) || strings.Contains(b.Get("/").Body, `id="wpadminbar"`)
}

// wpSessionCookies are the jar's WordPress session cookies, by the names
// the recipe lists.
func wpSessionCookies(t *testing.T, jar *Jar) []Cookie {
	t.Helper()
	var out []Cookie
	for _, c := range jar.All() {
		if strings.HasPrefix(c.Name, "wordpress_") && c.Name != "wordpress_test_cookie" {
			out = append(out, c)
		}
	}
	if len(out) < 3 {
		t.Fatalf("WordPress set %v; want the auth cookie at two paths and the logged-in cookie", out)
	}
	return out
}

// replayed reports whether a copy of cookies, each sent to every path (a
// thief sets the Path they like), logs in.
func replayed(t *testing.T, site string, cookies ...Cookie) bool {
	t.Helper()
	var everywhere []Cookie
	for _, c := range cookies {
		c.Path = "/"
		everywhere = append(everywhere, c)
	}
	return wpLoggedIn(NewBrowserWith(t, site, JarOf(everywhere...)))
}

func TestWordPress_HTTP_ZeroCodeLogout(t *testing.T) {
	testWordPress(t, false)
}

func TestWordPress_HTTPS_ZeroCodeLogout(t *testing.T) {
	testWordPress(t, true)
}

// testWordPress: Debian's WordPress behind its recipe. After the blog's own
// Log Out link (which the browser follows with only the logged-in cookie:
// the auth cookie lives at /wp-admin), every copied cookie is dead, each
// alone and all together; a bystander stays in; the same browser logs in
// again, stays in, and "Remember Me" survives a browser restart.
func testWordPress(t *testing.T, https bool) {
	db := StartMariaDB(t)
	fpm := StartFPM(t)
	port, tlsPort := freePorts(t)
	siteURL := fmt.Sprintf("http://127.0.0.1:%d", port)
	recipe, authPrefix := wordPressLogoutHTTP, "wordpress_"
	if https {
		siteURL = fmt.Sprintf("https://%s:%d", siteHost, tlsPort)
		recipe, authPrefix = wordPressLogoutHTTPS, "wordpress_sec_"
	}
	wp := NewWordPress(t, db, siteURL)
	site := StartSite(t, wp.Root, fpm, recipe, https, port, tlsPort)

	alice := NewBrowser(t, site.URL)
	wpLogin(t, alice, "alice", wp.Users["alice"])
	bob := NewBrowser(t, site.URL)
	wpLogin(t, bob, "bob", wp.Users["bob"])

	copied := wpSessionCookies(t, alice.Jar)
	auths := 0
	for _, c := range copied {
		switch {
		case strings.HasPrefix(c.Name, "wordpress_logged_in_"):
		case strings.HasPrefix(c.Name, authPrefix) && (https || !strings.HasPrefix(c.Name, "wordpress_sec_")):
			auths++
		default:
			t.Fatalf("cookie %s is not one the recipe expects over %s (%s<hash>, wordpress_logged_in_<hash>)", c, map[bool]string{true: "HTTPS", false: "HTTP"}[https], authPrefix)
		}
	}
	if auths < 2 {
		t.Fatalf("WordPress set %v; want the auth cookie %s<hash> at /wp-admin and /wp-content/plugins", copied, authPrefix)
	}
	if !replayed(t, site.URL, copied...) {
		t.Fatal("control: the copied cookies do not log in before the logout")
	}

	// The blog's own Log Out link, from the dashboard's admin bar.
	logout := alice.Get("/wp-admin/").link(t, "action=logout")
	p := alice.Get(logout)
	first := p.Hops[0]
	if first.Status != 302 || !strings.Contains(first.Location, "loggedout=true") {
		t.Errorf("WordPress's own logout answer was not kept: %d %q", first.Status, first.Location)
	}
	if wpLoggedIn(alice) {
		t.Fatal("still logged in after WordPress's logout")
	}
	if replayed(t, site.URL, copied...) {
		t.Error("the copied cookies log in again")
	}
	for _, c := range copied {
		if replayed(t, site.URL, c) {
			t.Errorf("the copied %s alone logs in again", c)
		}
	}
	if !wpLoggedIn(bob) {
		t.Error("the bystander was logged out")
	}

	// The same browser logs in again at once and stays in.
	wpLogin(t, alice, "alice", wp.Users["alice"])
	for range 3 {
		if !wpLoggedIn(alice) {
			t.Fatal("the new login did not stay in")
		}
	}
	// "Remember Me": a browser restart drops the session cookies only.
	alice.Jar.Restart()
	if !wpLoggedIn(alice) {
		t.Error("Remember Me of the new login does not work after a restart")
	}
}

// TestWordPress_StaleNonce_SameSiteLogsOut_CrossSiteDoesNot: a Log Out link
// whose nonce WordPress no longer accepts (from an earlier session) is
// refused by WordPress with 403 and WordPress keeps the session: clicked on
// the blog itself, the gateway logs out anyway (the user meant it), and the
// copied cookies are dead although WordPress kept its token. The same link
// from another site logs nobody out.
func TestWordPress_StaleNonce_SameSiteLogsOut_CrossSiteDoesNot(t *testing.T) {
	db := StartMariaDB(t)
	fpm := StartFPM(t)
	port, _ := freePorts(t)
	wp := NewWordPress(t, db, fmt.Sprintf("http://127.0.0.1:%d", port))
	site := StartSite(t, wp.Root, fpm, wordPressLogoutHTTP, false, port, 0)

	alice := NewBrowser(t, site.URL)
	wpLogin(t, alice, "alice", wp.Users["alice"])
	logout := alice.Get("/wp-admin/").link(t, "action=logout")

	// From another site, with no nonce at all: WordPress refuses, and so
	// does the gateway.
	evil := alice.Navigate("GET", site.URL+"/wp-login.php?action=logout", nil,
		map[string][]string{"Sec-Fetch-Site": {"cross-site"}, "Referer": {"https://evil.example/"}})
	if evil.Status != 403 || !strings.Contains(evil.Body, "log out") {
		t.Errorf("WordPress's refusal did not go out as it is: %d\n%.500s", evil.Status, evil.Body)
	}
	if !wpLoggedIn(alice) {
		t.Fatal("a cross-site logout link logged the user out")
	}

	// Log in again: the old link's nonce is for the old session.
	copiedOld := wpSessionCookies(t, alice.Jar)
	alice.Get(logout) // the first session ends (the nonce was valid for it)
	if replayed(t, site.URL, copiedOld...) {
		t.Fatal("the first session survived its logout")
	}
	wpLogin(t, alice, "alice", wp.Users["alice"])
	copied := wpSessionCookies(t, alice.Jar)
	p := alice.Get(logout) // stale: WordPress answers 403 and keeps the session
	if p.Hops[0].Status != 200 || !strings.Contains(p.Body, "signed out") {
		t.Errorf("the gateway did not answer for the refused logout: %d\n%.500s", p.Hops[0].Status, p.Body)
	}
	if wpLoggedIn(alice) {
		t.Error("still logged in after a same-site logout with a stale nonce")
	}
	for _, c := range copied {
		if replayed(t, site.URL, c) {
			t.Errorf("the copied %s alone logs in after a logout WordPress refused", c)
		}
	}
}

func freePorts(t *testing.T) (int, int) {
	t.Helper()
	return e2e.FreePort(t), e2e.FreePort(t)
}
