package legacy

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// spelling is one line of flow/testdata/intercept_spellings.txt.
type spelling struct{ kind, target string }

func readSpellings(t *testing.T) []spelling {
	t.Helper()
	b, err := os.ReadFile("../../flow/testdata/intercept_spellings.txt")
	if err != nil {
		t.Fatal(err)
	}
	var out []spelling
	for _, line := range strings.Split(string(b), "\n") {
		kind, rest, _ := strings.Cut(line, " ")
		target, _, _ := strings.Cut(strings.TrimSpace(rest), " ")
		if kind == "logout" || kind == "caught" || kind == "other" {
			out = append(out, spelling{kind, target})
		}
	}
	return out
}

// TestPHP_ReadsEveryInterceptSpellingAsTheLogout: each spelling of
// DokuWiki's logout that flow's table says an app reads as the logout is
// read so by the real PHP (php-fpm, as DokuWiki reads do=: $_REQUEST and
// DokuWiki's own act_clean), in its default configuration or with
// arg_separator.input ";&"; the gateway in front intercepts it; and the
// spellings no app reads as the logout are neither read nor intercepted.
func TestPHP_ReadsEveryInterceptSpellingAsTheLogout(t *testing.T) {
	if _, err := os.Stat("/usr/share/dokuwiki/inc/actions.php"); err != nil {
		t.Fatalf("DokuWiki is missing (%v): run scripts/test-setup.sh", err)
	}
	root := t.TempDir()
	probe := `<?php
// What DokuWiki's doku.php takes for the action: $_REQUEST['do'], cleaned by
// DokuWiki's own act_clean.
require '/usr/share/dokuwiki/inc/actions.php';
header('Content-Type: text/plain');
echo act_clean($_REQUEST['do'] ?? null);
`
	if err := os.WriteFile(filepath.Join(root, "doku.php"), []byte(probe), 0o644); err != nil {
		t.Fatal(err)
	}
	logout := "cookie DokuWiki\n\t\ton_revoked deny\n\t\tintercept /doku.php?do=logout"
	plain := StartSite(t, root, StartFPM(t), logout, false, 0, 0)
	semicolons := StartSite(t, root, StartFPMWith(t, `php_admin_value[arg_separator.input] = ";&"`), logout, false, 0, 0)

	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	ask := func(site *Site, rawQuery, cookie string) (int, string) {
		t.Helper()
		u, _ := url.Parse(site.URL)
		req := &http.Request{Method: "GET", URL: &url.URL{Scheme: "http", Host: u.Host, Path: "/doku.php", RawQuery: rawQuery},
			Header: http.Header{"Cookie": {"DokuWiki=" + cookie}}, Host: u.Host}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	intercepted := func(site *Site, rawQuery string) bool {
		sid := randomHex(16)
		if status, body := ask(site, rawQuery, sid); status >= 500 {
			t.Fatalf("?%s: %d %s", rawQuery, status, body)
		}
		status, _ := ask(site, "do=show", sid)
		return status == http.StatusUnauthorized
	}
	checked := 0
	for _, s := range readSpellings(t) {
		q, ok := strings.CutPrefix(s.target, "/doku.php?")
		if !ok {
			continue // a spelling of the path: PHP's file system decides, not its parser
		}
		checked++
		_, readPlain := ask(plain, q, randomHex(16))
		_, readSemi := ask(semicolons, q, randomHex(16))
		phpReadsLogout := readPlain == "logout" || readSemi == "logout"
		gatewayCaught := intercepted(plain, q) && intercepted(semicolons, q)
		what := fmt.Sprintf("?%s (PHP reads do as %q, with ';' separators %q)", q, readPlain, readSemi)
		switch s.kind {
		case "logout":
			if !phpReadsLogout {
				t.Errorf("%s: the table says the app reads it as the logout; PHP does not", what)
			}
			if !gatewayCaught {
				t.Errorf("%s: PHP logs out, the gateway did not intercept it", what)
			}
		case "caught":
			if phpReadsLogout {
				t.Errorf("%s: PHP reads it as the logout; mark it logout in the table", what)
			}
			if !gatewayCaught {
				t.Errorf("%s: not intercepted", what)
			}
		case "other":
			if phpReadsLogout {
				t.Errorf("%s: PHP reads it as the logout, the table says no app does", what)
			}
			if intercepted(plain, q) {
				t.Errorf("%s: intercepted, though no app reads it as the logout", what)
			}
		}
	}
	if checked < 20 {
		t.Fatalf("only %d spellings checked", checked)
	}
}
