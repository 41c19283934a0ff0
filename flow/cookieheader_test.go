package flow_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-logout/caddy-logout/flow"
)

// escapeSpellings are pieces that real frameworks read as the session
// cookie sid with the value "dead", outside RFC 6265's grammar, one per
// family the differential test (tests/parsers) found, each after a cookie
// of another name: the guard must never let one reach the app.
var escapeSpellings = []struct{ family, raw string }{
	{"backslash in quotes (Werkzeug, Django, http.cookies)", `sid="\dead"`},
	{"octal in quotes", `sid="\144e\141d"`},
	{"whitespace as a separator (http.cookies)", "x=1 sid=dead"},
	{"tab as a separator", "x=1\tsid=dead"},
	{"comma as a separator (RFC 2109)", "x=1,sid=dead"},
	{"Latin-1 space after the value (WSGI trims it)", "sid=dead\xa0"},
	{"Latin-1 NEL before the name", "\x85sid=dead"},
	{"blank before '='", "sid =dead"},
	{"Express JSON cookie", `sid=j:"dead"`},
	{"Express JSON cookie with escapes", `sid=j:"\u0064ead"`},
	{"PHP array", "sid[]=dead"},
	{"quoted name", `"sid"=dead`},
	{"Unicode long s folds to s", "\u017fid=dead"},
}

// appSees serves r through h to an app that must be reached, and returns
// the Cookie header lines the app got.
func appSees(t *testing.T, h *harness, r *http.Request) []string {
	t.Helper()
	a := &app{}
	assertStatus(t, h.serve(r, a), http.StatusOK)
	return a.request(t).Header.Values("Cookie")
}

func TestGuard_Strip_UnreadableSessionPieceNeverReachesTheApp(t *testing.T) {
	for _, revoked := range []bool{true, false} {
		for _, e := range escapeSpellings {
			t.Run(e.family, func(t *testing.T) {
				h := newHarness(t)
				if revoked {
					h.revoke("dead")
				}
				a := &app{}
				res := h.serve(get("/account", cookies("theme=dark; "+e.raw+"; lang=en")), a)
				assertStatus(t, res, http.StatusOK)
				if got := a.request(t).Header.Values("Cookie"); len(got) != 1 || got[0] != "theme=dark; lang=en" {
					t.Errorf("the app saw Cookie %q, want the other cookies only", got)
				}
				// A revoked reading is cleared like any revoked cookie; a
				// piece the guard only cannot read is dropped, nothing more.
				if revoked {
					assertHeader(t, res, "Set-Cookie", deletion(cookieName))
				} else {
					assertNoSetCookie(t, res)
				}
			})
		}
	}
}

func TestGuard_DenyAndRedirect_EveryEscapeFamily(t *testing.T) {
	for _, e := range escapeSpellings {
		t.Run(e.family, func(t *testing.T) {
			h := newHarness(t, func(c *flow.Config) { c.OnRevoked = flow.Deny })
			h.revoke("dead")
			a := &app{}
			assertNoSessionError(t, h.serve(get("/account", cookies(e.raw), asJSON), a))
			if a.called() {
				t.Error("the app was called")
			}
			h = newHarness(t, func(c *flow.Config) {
				c.OnRevoked, c.OnRevokedRedirect = flow.Redirect, "https://app.example.com/login"
			})
			h.revoke("dead")
			res := h.serve(get("/account", cookies(e.raw), accept("text/html")), a)
			assertStatus(t, res, http.StatusSeeOther)
			assertHeader(t, res, "Location", "https://app.example.com/login")
		})
	}
}

// TestGuard_UnreadablePieceOfAValidSession_DroppedNotDenied: a spelling
// the guard cannot read is dropped, but a session whose readings are all
// unrevoked is no reason to refuse the request, under deny too.
func TestGuard_UnreadablePieceOfAValidSession_DroppedNotDenied(t *testing.T) {
	h := newHarness(t, func(c *flow.Config) { c.OnRevoked = flow.Deny })
	h.revoke("dead")
	if got := appSees(t, h, get("/account", cookies(`sid="\alive"; x=1`))); len(got) != 1 || got[0] != "x=1" {
		t.Errorf("the app saw Cookie %q, want x=1", got)
	}
}

// TestGuard_OtherCookies_ByteForByte: cookies of other names pass as they
// were sent, RFC 6265 or not, and a header with nothing to drop is not
// rewritten at all.
func TestGuard_OtherCookies_ByteForByte(t *testing.T) {
	for _, raw := range []string{
		"wordpress_test_cookie=WP Cookie check; sid=alive",
		`prefs={"theme":"dark","n":[1,2]}; sid=alive;name=José; x`,
		"sid=alive;;  theme=dark ;tz=Europe/Berlin",
		"sid=a%2Bb%3D%3D; connect.sid=s%3Aabc.def",
	} {
		h := newHarness(t)
		h.revoke("dead")
		if got := appSees(t, h, get("/", cookies(raw))); len(got) != 1 || got[0] != raw {
			t.Errorf("sent Cookie %q, the app saw %q", raw, got)
		}
	}
	// Stripping a revoked cookie keeps the others' bytes, odd ones too.
	h := newHarness(t)
	h.revoke("dead")
	got := appSees(t, h, get("/", cookies("wordpress_test_cookie=WP Cookie check; sid=dead;name=José")))
	if len(got) != 1 || got[0] != "wordpress_test_cookie=WP Cookie check; name=José" {
		t.Errorf("the app saw Cookie %q", got)
	}
}

// TestGuard_SeveralCookieLines_OneLineForTheApp: frameworks join several
// Cookie lines differently (Python's WSGI servers with ", ", then split
// on whitespace); the app gets them joined as HTTP/2 joins cookie crumbs.
func TestGuard_SeveralCookieLines_OneLineForTheApp(t *testing.T) {
	h := newHarness(t)
	if got := appSees(t, h, get("/", cookies("a=1"), cookies("sid=alive; b=2"))); len(got) != 1 || got[0] != "a=1; sid=alive; b=2" {
		t.Errorf("the app saw Cookie %q", got)
	}
}

// TestLogout_RevokesTheSessionEveryAppReads: whichever spelling the
// browser sent at logout, the session the app knew is revoked, and every
// other spelling of it that some framework reads as that session is
// refused afterwards.
func TestLogout_RevokesTheSessionEveryAppReads(t *testing.T) {
	for _, c := range []struct {
		atLogout string
		later    []string
	}{
		{"ab+cD/ef==", []string{"ab%2BcD%2Fef%3D%3D", "ab%20cD/ef==", `"ab+cD/ef=="`, "ab%252BcD/ef==", "j:%22ab+cD/ef==%22"}},
		{"s%3Aabc.d%2Bef", []string{"s:abc.d+ef", "s%3aabc.d%2bef", "s%253Aabc.d%252Bef", `"s:abc.d+ef"`}},
		{"ab%41%zz", []string{"abA%zz", "ab%2541%25zz"}},
	} {
		t.Run(c.atLogout, func(t *testing.T) {
			h := newHarness(t)
			logoutURL, _ := h.logoutURL(c.atLogout, "")
			assertStatus(t, h.serve(get(logoutURL, cookie(cookieName, c.atLogout)), nil), http.StatusSeeOther)
			for _, v := range c.later {
				if got := appSees(t, h, get("/account", cookies("x=1; sid="+v))); len(got) != 1 || got[0] != "x=1" {
					t.Errorf("logged out as %q, then %q: the app saw Cookie %q", c.atLogout, v, got)
				}
			}
		})
	}
}

// TestIntercept_AppSeesTheCanonicalHeader: the app's own logout gets the
// sessions being logged out, and none that the guard cannot read.
func TestIntercept_AppSeesTheCanonicalHeader(t *testing.T) {
	h := newHarness(t, func(c *flow.Config) { c.Intercept = []string{"/logout"} })
	a := &app{}
	h.serve(get("/logout", cookies("sid=alive; x=1 sid=other"), cookies("b=2")), a)
	if got := a.request(t).Header.Values("Cookie"); len(got) != 1 || got[0] != "sid=alive; b=2" {
		t.Errorf("the app's logout saw Cookie %q", got)
	}
	h.assertRevoked("alive")
	if strings.Contains(strings.Join(a.request(t).Header.Values("Cookie"), ""), "other") {
		t.Error("the unreadable piece reached the app")
	}
}
