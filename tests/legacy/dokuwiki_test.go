package legacy

import (
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The DokuWiki recipe of the README, as the tests run it.
const dokuWikiLogout = `cookie DokuWiki DW*
		intercept /doku.php?do=logout
		intercept {
			path /doku.php
			header_regexp X-DokuWiki-Do (?i)^\s*logout\s*$
		}`

// NewDokuWiki copies Debian's DokuWiki into a private instance: its own
// configuration (ACLs on, plain-file users alice and bob, superuser @admin)
// and data directory, Debian's preload (which points at /etc/dokuwiki)
// replaced by an empty one.
func NewDokuWiki(t *testing.T, users map[string]string) string {
	t.Helper()
	if _, err := os.Stat("/usr/share/dokuwiki/doku.php"); err != nil {
		t.Fatalf("DokuWiki is missing (%v): run scripts/test-setup.sh (Debian's dokuwiki)", err)
	}
	root := filepath.Join(t.TempDir(), "wiki")
	for _, c := range [][]string{
		{"cp", "-rL", "/usr/share/dokuwiki", root},
		{"cp", "-rL", "/etc/dokuwiki", filepath.Join(root, "conf")},
		{"cp", "-rL", "/var/lib/dokuwiki/data", filepath.Join(root, "data")},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", c, err, out)
		}
	}
	write := func(rel, content string) {
		if err := os.WriteFile(filepath.Join(root, rel), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("inc/preload.php", "<?php\n// A private instance: configuration in ./conf, data in ./data.\n")
	write("conf/local.php", `<?php
$conf['title'] = 'Logout test wiki';
$conf['useacl'] = 1;
$conf['authtype'] = 'authplain';
$conf['superuser'] = '@admin';
$conf['savedir'] = './data';
$conf['userewrite'] = 0;
$conf['updatecheck'] = 0;
`)
	write("conf/acl.auth.php", "*\t@ALL\t1\n*\t@user\t8\n")
	var lines []string
	for user, pass := range users {
		hash := php(t, `echo password_hash($argv[1], PASSWORD_BCRYPT);`, pass)
		lines = append(lines, fmt.Sprintf("%s:%s:%s:%s@example.test:admin,user", user, hash, user, user))
	}
	write("conf/users.auth.php", strings.Join(lines, "\n")+"\n")
	return root
}

// dokuLogin logs in as a browser does: the start page, then the login
// form with "remember me".
func dokuLogin(t *testing.T, b *Browser, user, pass string) *Page {
	t.Helper()
	b.Get("/doku.php?id=start&do=login")
	p := b.Post("/doku.php?id=start", url.Values{
		"sectok": {""}, "id": {"start"}, "do": {"login"}, "u": {user}, "p": {pass}, "r": {"1"},
	})
	if !dokuLoggedIn(b) {
		t.Fatalf("%s is not logged in after the login form:\n%.2000s", user, p.Body)
	}
	return p
}

// dokuLoggedIn reports whether the wiki shows this browser a Log Out link.
func dokuLoggedIn(b *Browser) bool {
	b.t.Helper()
	return b.Get("/doku.php?id=start").hasLink("do=logout")
}

func dokuAuthCookie(t *testing.T, jar *Jar) Cookie {
	t.Helper()
	for _, c := range jar.All() {
		if strings.HasPrefix(c.Name, "DW") {
			return c
		}
	}
	t.Fatalf("no DW... cookie in %v", jar.All())
	return Cookie{}
}

// TestDokuWiki_ZeroCodeLogout: Debian's DokuWiki behind the recipe. The
// copied cookies are dead after the wiki's own Log Out link, each alone and
// all together, where the wiki itself would let the remember-me cookie log
// back in; a bystander stays in; the same browser logs in again, stays in,
// and its new remember-me cookie works after a browser restart.
func TestDokuWiki_ZeroCodeLogout(t *testing.T) {
	users := map[string]string{"alice": "alice-" + randomHex(4), "bob": "bob-" + randomHex(4)}
	root := NewDokuWiki(t, users)
	fpm := StartFPM(t)
	site := StartSite(t, root, fpm, dokuWikiLogout, false, 0, 0)

	alice := NewBrowser(t, site.URL)
	dokuLogin(t, alice, "alice", users["alice"])
	bob := NewBrowser(t, site.URL)
	dokuLogin(t, bob, "bob", users["bob"])

	copied := alice.Jar.All()
	auth := dokuAuthCookie(t, alice.Jar)
	if !auth.Persistent {
		t.Fatalf("the remember-me cookie %s is not persistent", auth)
	}
	// Control: the remember-me cookie alone logs in before the logout, so
	// the replays below can tell.
	if !dokuLoggedIn(NewBrowserWith(t, site.URL, JarOf(auth))) {
		t.Fatal("control: the remember-me cookie alone does not log in")
	}

	// The wiki's own Log Out link.
	logout := alice.Get("/doku.php?id=start").link(t, "do=logout")
	p := alice.Get(logout)
	first := p.Hops[0]
	if first.Status != 302 || !strings.Contains(first.Location, "do=login") {
		t.Errorf("the wiki's own logout answer was not kept: %d %q", first.Status, first.Location)
	}
	for _, sc := range first.Header.Values("Set-Cookie") {
		for _, c := range copied {
			if strings.HasPrefix(sc, c.Name+"="+c.Value) {
				t.Errorf("the logout answer sets a revoked value again: %q", sc)
			}
		}
	}
	if dokuLoggedIn(alice) {
		t.Fatal("still logged in after the wiki's logout")
	}

	if dokuLoggedIn(NewBrowserWith(t, site.URL, JarOf(copied...))) {
		t.Error("the copied jar logs in again")
	}
	for _, c := range copied {
		if dokuLoggedIn(NewBrowserWith(t, site.URL, JarOf(c))) {
			t.Errorf("the copied %s alone logs in again", c)
		}
	}
	if !dokuLoggedIn(bob) {
		t.Error("the bystander was logged out")
	}

	// The same browser logs in again at once and stays in.
	dokuLogin(t, alice, "alice", users["alice"])
	for range 3 {
		if !dokuLoggedIn(alice) {
			t.Fatal("the new login did not stay in")
		}
	}
	if a := dokuAuthCookie(t, alice.Jar); a.Value == auth.Value {
		t.Fatal("the wiki set the same remember-me value again; the test cannot tell old from new")
	}
	// A browser restart drops the session cookie; remember-me logs in.
	alice.Jar.Restart()
	if _, ok := alice.Jar.Get("DokuWiki"); ok {
		t.Fatal("the session cookie survived the restart")
	}
	if !dokuLoggedIn(alice) {
		t.Error("remember-me of the new login does not work after a restart")
	}
}

// TestDokuWiki_CrossSite_And_HostileSpellings: a logout link on another
// site, without the wiki's sectok, logs nobody out (DokuWiki shows the page
// again, and the gateway follows it); the wiki's own link respelled
// (do[logout]=1, as DokuWiki reads an action from an array key) logs out in
// the wiki and through the gateway alike.
func TestDokuWiki_CrossSite_And_HostileSpellings(t *testing.T) {
	users := map[string]string{"alice": "alice-" + randomHex(4)}
	root := NewDokuWiki(t, users)
	fpm := StartFPM(t)
	site := StartSite(t, root, fpm, dokuWikiLogout, false, 0, 0)

	alice := NewBrowser(t, site.URL)
	dokuLogin(t, alice, "alice", users["alice"])
	p := alice.Navigate("GET", site.URL+"/doku.php?id=start&do=logout", nil,
		map[string][]string{"Sec-Fetch-Site": {"cross-site"}, "Referer": {"https://evil.example/"}})
	if p.Hops[0].Status != 200 {
		t.Errorf("DokuWiki's answer to a logout without its sectok: %d, want its page again", p.Hops[0].Status)
	}
	if !dokuLoggedIn(alice) {
		t.Fatal("a cross-site logout link logged the user out")
	}

	// The action in DokuWiki's header. (Spelled X_DokuWiki_Do it does not
	// reach PHP through Caddy's php_fastcgi at all: measured here.)
	copied := alice.Jar.All()
	link := alice.Get("/doku.php?id=start").link(t, "do=logout")
	byHeader := strings.Replace(link, "do=logout", "do=show", 1)
	alice.Navigate("GET", site.URL+byHeader, nil, map[string][]string{"Sec-Fetch-Site": {"same-origin"}, "X-DokuWiki-Do": {"logout"}})
	if dokuLoggedIn(alice) {
		t.Fatal("the logout by header did not log out")
	}
	for _, c := range copied {
		if dokuLoggedIn(NewBrowserWith(t, site.URL, JarOf(c))) {
			t.Errorf("after the logout by header, the copied %s alone logs in again", c)
		}
	}

	dokuLogin(t, alice, "alice", users["alice"])
	copied = alice.Jar.All()
	link = alice.Get("/doku.php?id=start").link(t, "do=logout")
	respelled := strings.Replace(link, "do=logout", "do%5Blogout%5D=1", 1)
	alice.Get(respelled)
	if dokuLoggedIn(alice) {
		t.Fatal("the respelled logout did not log out")
	}
	for _, c := range copied {
		if dokuLoggedIn(NewBrowserWith(t, site.URL, JarOf(c))) {
			t.Errorf("after %s, the copied %s alone logs in again", respelled, c)
		}
	}
}
