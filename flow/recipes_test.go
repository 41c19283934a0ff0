package flow_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-logout/caddy-logout/flow"
)

// The README's framework recipes (which session cookies to list, which not
// to), each run against the cookies the framework sets, with its own names,
// paths and value encodings. These apps are stand-ins: the answers below
// are the frameworks' Set-Cookie headers written out, since Express, Rails,
// Flask, Spring and ASP.NET Core do not run here. DokuWiki, WordPress and
// PHP sessions run for real in tests/legacy.
var frameworkRecipes = []struct {
	name    string
	cookies []string // the recipe's cookie line
	// login is the framework's login answer for a session (two of them are
	// made, the second a bystander); %s is replaced by a per-session value.
	login []string
	// keep are cookies the recipe leaves out: they reach the app untouched
	// after another session's logout.
	keep string
}{
	{"PHP", []string{"PHPSESSID"},
		[]string{"PHPSESSID=%s; path=/; HttpOnly"}, "lang=en"},
	{"Express (express-session)", []string{"connect.sid"},
		[]string{"connect.sid=s%3A%s.Zm9vYmFyYmF6cXV4c2lnbmF0dXJlMDAwMDAwMDA; Path=/; HttpOnly"}, "_csrf=shared-csrf-secret-value-1234"},
	{"Django", []string{"sessionid"},
		[]string{"sessionid=%s; expires=Fri, 01 Jan 2100 00:00:00 GMT; HttpOnly; Max-Age=1209600; Path=/; SameSite=Lax",
			"csrftoken=csrf%s; expires=Fri, 01 Jan 2100 00:00:00 GMT; Max-Age=31449600; Path=/; SameSite=Lax"}, "django_language=en"},
	{"Rails (cookie store, Devise)", []string{"_shop_session", "remember_user_token"},
		[]string{"_shop_session=%s--c2lnbmF0dXJlLW9mLXJhaWxz--aXYtb2YtcmFpbHM%3D; path=/; HttpOnly; SameSite=Lax",
			"remember_user_token=eyJfcmFpbHMiOnsibWVzc2FnZSI6IltbMV0sIiVzIl0ifX0%3D--%s; path=/; expires=Fri, 01 Jan 2100 00:00:00 GMT; HttpOnly"}, ""},
	{"Flask (signed session)", []string{"session"},
		[]string{"session=eyJ1c2VyIjoiJXMifQ.%s.c2lnbmF0dXJl; HttpOnly; Path=/"}, ""},
	{"Spring (servlet session)", []string{"JSESSIONID"},
		[]string{"JSESSIONID=%s; Path=/; HttpOnly"}, "XSRF-TOKEN=shared-looking-token-0000"},
	{"ASP.NET Core (cookie auth, chunked)", []string{".AspNetCore.Cookies*"},
		[]string{".AspNetCore.Cookies=chunks-2; path=/; samesite=lax; httponly",
			".AspNetCore.CookiesC1=CfDJ8%sPart1OfTheTicket; path=/; samesite=lax; httponly",
			".AspNetCore.CookiesC2=CfDJ8%sPart2OfTheTicket; path=/; samesite=lax; httponly"}, ".AspNetCore.Antiforgery.Xyz=CfDJ8antiforgery"},
}

func TestRecipes_Frameworks(t *testing.T) {
	for _, rc := range frameworkRecipes {
		t.Run(rc.name, func(t *testing.T) {
			h := newHarness(t, withCookies(rc.cookies...), withIntercept("/logout"), func(c *flow.Config) { c.OnRevoked = flow.Deny })
			jar := func(session string) string {
				var pairs []string
				for _, line := range rc.login {
					pair, _, _ := strings.Cut(strings.ReplaceAll(line, "%s", session), ";")
					pairs = append(pairs, pair)
				}
				if rc.keep != "" {
					pairs = append(pairs, rc.keep)
				}
				return strings.Join(pairs, "; ")
			}
			for _, s := range []string{"alice0123456789abcdef", "bob0123456789abcdef00"} {
				var lines []string
				for _, l := range rc.login {
					lines = append(lines, strings.ReplaceAll(l, "%s", s))
				}
				h.serve(newReq(http.MethodPost, "/login", strings.NewReader("u=x"), cookies("pre=1")), &app{status: 302, header: http.Header{"Set-Cookie": lines, "Location": {"/"}}})
			}
			alice, bob := jar("alice0123456789abcdef"), jar("bob0123456789abcdef00")
			h.serve(get("/logout", cookies(alice)), &app{status: 302, header: http.Header{"Location": {"/"}}})

			// Every session cookie of Alice's, alone, is refused.
			for _, pair := range strings.Split(alice, "; ") {
				name, _, _ := strings.Cut(pair, "=")
				session := false
				for _, n := range rc.cookies {
					if n == name || strings.HasSuffix(n, "*") && strings.HasPrefix(name, strings.TrimSuffix(n, "*")) {
						session = true
					}
				}
				a := &app{}
				h.serve(get("/account", cookies(pair), asJSON), a)
				short := strings.HasSuffix(pair, "=chunks-2") // a marker every chunked ticket has
				if session && !short && a.called() {
					t.Errorf("Alice's %s still reaches the app", pair)
				}
				if (!session || short) && !a.called() {
					t.Errorf("%s, which the recipe leaves out, was refused", pair)
				}
			}
			// Bob's whole jar reaches the app as he sent it.
			a := &app{}
			h.serve(get("/account", cookies(bob)), a)
			if got := a.request(t).Header.Get("Cookie"); got != bob {
				t.Errorf("Bob's jar reached the app as %q, want %q", got, bob)
			}
		})
	}
}
