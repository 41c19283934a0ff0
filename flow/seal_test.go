package flow_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/zap"
	zapobserver "go.uber.org/zap/zaptest/observer"

	"github.com/caddy-logout/caddy-logout/flow"
	"github.com/caddy-logout/caddy-logout/session"
)

// An app whose remember-me cookie is the same value for every login of a
// user (an HMAC of a token kept per user), with a PHP session beside it.
const (
	remember      = "remember"
	rememberValue = "alice.3f8a1c0d9e2b7f6a5c4d3e2f1a0b9c8d"
)

func withSealedRemember(c *flow.Config) {
	c.Cookies = []string{"PHPSESSID"}
	c.Seal = []string{"remember*"}
	c.Intercept = []string{"/logout.php"}
}

// loginAnswer is the app's answer to a login: a fresh PHP session and the
// constant remember-me value.
func loginAnswer(sid string) *app {
	return &app{status: http.StatusFound, header: http.Header{
		"Location": {"/"},
		"Set-Cookie": {
			"PHPSESSID=" + sid + "; path=/; HttpOnly",
			remember + "=" + rememberValue + "; expires=Fri, 31 Dec 2027 23:59:59 GMT; Max-Age=2592000; path=/; HttpOnly",
		},
	}}
}

// sealedLogin logs in and returns the remember-me value the browser got.
func (h *harness) sealedLogin(sid string) string {
	h.t.Helper()
	res := h.serve(newReq(http.MethodPost, "/login.php", strings.NewReader("user=alice&remember=1")), loginAnswer(sid))
	assertStatus(h.t, res, http.StatusFound)
	var got string
	for _, line := range setCookies(res) {
		if v, ok := strings.CutPrefix(line, remember+"="); ok {
			got, _, _ = strings.Cut(v, ";")
			if !strings.HasSuffix(line, "; expires=Fri, 31 Dec 2027 23:59:59 GMT; Max-Age=2592000; path=/; HttpOnly") {
				h.t.Errorf("the attributes changed: %q", line)
			}
		}
	}
	if !session.IsSealed(got) {
		h.t.Fatalf("remember-me went out as %q, not sealed: %q", got, setCookies(res))
	}
	return got
}

// appGets is the Cookie header the app receives for a request carrying raw.
func (h *harness) appGets(raw string) string {
	h.t.Helper()
	return strings.Join(appSees(h.t, h, get("/", cookies(raw))), "; ")
}

func TestSeal_EachLoginGetsItsOwnValue_TheAppSeesItsOwn(t *testing.T) {
	h := newHarness(t, withSealedRemember)
	first, second := h.sealedLogin("sid-1"), h.sealedLogin("sid-2")
	if first == second || strings.Contains(first, rememberValue) {
		t.Fatalf("two logins, sealed values %q and %q", first, second)
	}
	for _, sealed := range []string{first, second} {
		if got, want := h.appGets("theme=dark; remember="+sealed), "theme=dark; remember="+rememberValue; got != want {
			t.Errorf("app got %q, want %q", got, want)
		}
	}
}

// TestSeal_LogoutRevokesOneCopy_LaterLoginsKeepRememberMe: the app's value
// never changes, yet a logout ends only the copy it carried.
func TestSeal_LogoutRevokesOneCopy_LaterLoginsKeepRememberMe(t *testing.T) {
	h := newHarness(t, withSealedRemember)
	old := h.sealedLogin("sid-1")

	// The app's own logout deletes its cookies, and re-sends its constant
	// value once more (as DokuWiki re-sends its session id): that value is
	// what the app got from the revoked copy, so it does not go out again.
	logoutAnswer := &app{status: http.StatusFound, header: http.Header{
		"Location": {"https://app.example.com/login.php"},
		"Set-Cookie": {
			"PHPSESSID=deleted; expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0; path=/",
			remember + "=" + rememberValue + "; path=/",
			remember + "=deleted; expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0; path=/",
		},
	}}
	res := h.serve(get("/logout.php", cookies("PHPSESSID=sid-1; remember="+old)), logoutAnswer)
	assertStatus(t, res, http.StatusFound)
	assertHeader(t, res, "Location", "https://app.example.com/login.php")
	h.assertRevoked(old)
	for _, line := range setCookies(res) {
		if strings.HasPrefix(line, remember+"=") && !strings.Contains(line, "Max-Age=0") {
			t.Errorf("the logout answer sets remember-me again: %q", line)
		}
	}
	if !strings.Contains(strings.Join(setCookies(res), "\n"), remember+"=deleted; expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0; path=/") {
		t.Errorf("the app's deletion did not pass as it sent it: %q", setCookies(res))
	}

	// The copied cookie is refused; the app sees no remember-me.
	if got := h.appGets("remember=" + old); got != "" {
		t.Errorf("replaying the revoked copy, the app got %q", got)
	}
	// The next login's remember-me works, with the same app value.
	next := h.sealedLogin("sid-2")
	h.assertNotRevoked(next)
	if got := h.appGets("remember=" + next); got != "remember="+rememberValue {
		t.Errorf("after a new login, the app got %q", got)
	}
}

// TestSeal_WhatDoesNotOpen_NeverReachesTheApp: under a sealed name, only a
// value sealed by this gateway, for this name, with a configured key,
// reaches the app; the other cookies still do.
func TestSeal_WhatDoesNotOpen_NeverReachesTheApp(t *testing.T) {
	h := newHarness(t, withSealedRemember)
	sealed := h.sealedLogin("sid-1")
	otherKey, err := session.NewSealer([]byte(strings.Repeat("o", 32)))
	if err != nil {
		t.Fatal(err)
	}
	withOtherKey, err := otherKey.Seal(remember, rememberValue)
	if err != nil {
		t.Fatal(err)
	}
	ours, err := h.keys.Sealer()
	if err != nil {
		t.Fatal(err)
	}
	forOtherName, err := ours.Seal("remember_me", rememberValue)
	if err != nil {
		t.Fatal(err)
	}
	last := sealed[len(sealed)-1]
	flipped := sealed[:len(sealed)-1] + string("AB"[map[bool]int{true: 1}[last == 'A']])
	for name, value := range map[string]string{
		"the app's raw value":          rememberValue,
		"a forgery in the sealed form": "s1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"sealed with another key":      withOtherKey,
		"sealed for another name":      forOtherName,
		"one character changed":        flipped,
		"sealed prefix only":           "s1.",
		"empty":                        "",
	} {
		t.Run(name, func(t *testing.T) {
			if got := h.appGets("theme=dark; remember=" + value + "; PHPSESSID=sid-1"); got != "theme=dark; PHPSESSID=sid-1" {
				t.Errorf("app got %q", got)
			}
		})
	}
	// A name the browser spells otherwise (PHP reads "remember" from
	// "remember " too) does not open: the name is the associated data.
	if got := h.appGets("Remember=" + sealed); got != "" {
		t.Errorf("a respelled name reached the app: %q", got)
	}
}

// TestSeal_ValuesThatCannotBeSealed_AreNotSent: a value too long to stay
// within a browser's 4 KB once sealed, or one outside the cookie grammar
// (it would not come back as it went), is not sent, and the log says why
// without the value.
func TestSeal_ValuesThatCannotBeSealed_AreNotSent(t *testing.T) {
	long := strings.Repeat("v", session.MaxSealedValue+1)
	fits := strings.Repeat("v", session.MaxSealedValue)
	for _, c := range []struct {
		name, value string
		sent        bool
	}{
		{"longest that fits", fits, true},
		{"one byte too long", long, false},
		{"a comma", "a,b", false},
		{"a backslash", `a\b`, false},
		{"quoted", `"abc"`, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			// A harness each: the warning is sampled, once a minute.
			core, logs := zapobserver.New(zap.WarnLevel)
			h := newHarness(t, withSealedRemember, func(c *flow.Config) { c.Logger = zap.New(core) })
			a := &app{header: http.Header{"Set-Cookie": {"PHPSESSID=s; path=/", remember + "=" + c.value + "; path=/"}}}
			res := h.serve(get("/"), a)
			lines := setCookies(res)
			if lines[0] != "PHPSESSID=s; path=/" {
				t.Errorf("the other cookie changed: %q", lines)
			}
			if !c.sent {
				if len(lines) != 1 {
					t.Errorf("sent %q", lines)
				}
				entries := logs.TakeAll()
				if len(entries) != 1 || entries[0].ContextMap()["cookie"] != remember {
					t.Fatalf("log: %v", entries)
				}
				if fmt.Sprint(entries[0].Message, entries[0].ContextMap()) != "" && strings.Contains(fmt.Sprint(entries[0].Message, entries[0].ContextMap()), c.value) {
					t.Errorf("the log holds the value: %v", entries[0])
				}
				return
			}
			if len(lines) != 2 {
				t.Fatalf("sent %q", lines)
			}
			v, _, _ := strings.Cut(strings.TrimPrefix(lines[1], remember+"="), ";")
			if len(remember)+1+len(v) > 4096 {
				t.Errorf("sealed cookie of %d bytes", len(remember)+1+len(v))
			}
			if got := h.appGets(remember + "=" + v); got != remember+"="+c.value {
				t.Errorf("app got %q", got)
			}
		})
	}
}

// TestSeal_AppSetsTheSameValueAgain_BrowserKeepsItsSealedCopy: an app that
// sets its cookie on every answer (a sliding expiry) does not turn one
// login into many credentials: the browser's sealed value is set again,
// and a logout still revokes the one the browser has.
func TestSeal_AppSetsTheSameValueAgain_BrowserKeepsItsSealedCopy(t *testing.T) {
	h := newHarness(t, withSealedRemember)
	sealed := h.sealedLogin("sid-1")
	a := &app{header: http.Header{"Set-Cookie": {remember + "=" + rememberValue + "; Max-Age=2592000; path=/"}}}
	res := h.serve(get("/", cookies("remember="+sealed)), a)
	if got := setCookies(res); len(got) != 1 || got[0] != remember+"="+sealed+"; Max-Age=2592000; path=/" {
		t.Errorf("set %q, want the browser's sealed value again", got)
	}
	// A value the app changes is sealed afresh.
	a = &app{header: http.Header{"Set-Cookie": {remember + "=alice.rotated; path=/"}}}
	res = h.serve(get("/", cookies("remember="+sealed)), a)
	if got := setCookies(res); len(got) != 1 || strings.Contains(got[0], sealed) || !session.IsSealed(strings.TrimPrefix(got[0], remember+"=")[:4]) {
		t.Errorf("set %q, want a fresh sealed value", got)
	}
	// A revoked copy is not handed back to the browser.
	h.revoke(sealed)
	a = &app{header: http.Header{"Set-Cookie": {remember + "=" + rememberValue + "; path=/"}}}
	res = h.serve(get("/", cookies("remember="+sealed)), a)
	if got := setCookies(res); strings.Contains(strings.Join(got, "\n"), remember+"="+sealed+"; path=/") {
		t.Errorf("the revoked sealed value was set again: %q", got)
	}
}

// TestSeal_KeysRotate: a gateway sealing with a new key opens what the old
// key sealed while the old key is listed, and refuses it once dropped.
func TestSeal_KeysRotate(t *testing.T) {
	oldKey, newKey := []byte(strings.Repeat("a", 32)), []byte(strings.Repeat("b", 32))
	sealerOf := func(keys ...[]byte) func(*flow.Config) {
		return func(c *flow.Config) {
			s, err := session.NewSealer(keys...)
			if err != nil {
				t.Fatal(err)
			}
			c.Sealer = s
		}
	}
	before := newHarness(t, withSealedRemember, sealerOf(oldKey))
	sealed := before.sealedLogin("sid-1")

	during := newHarness(t, withSealedRemember, sealerOf(newKey, oldKey))
	if got := during.appGets("remember=" + sealed); got != "remember="+rememberValue {
		t.Errorf("during the rotation, the app got %q", got)
	}
	if fresh := during.sealedLogin("sid-2"); before.appGets("remember="+fresh) != "" {
		t.Error("the old key alone opened a value sealed with the new one")
	}
	after := newHarness(t, withSealedRemember, sealerOf(newKey))
	if got := after.appGets("remember=" + sealed); got != "" {
		t.Errorf("after the old key is dropped, the app got %q", got)
	}
}

// TestSeal_SealedCookiesAreSessionCookies: a sealed cookie is checked and
// cleared like the listed ones, even when it is the only one.
func TestSeal_SealedCookiesAreSessionCookies(t *testing.T) {
	h := newHarness(t, func(c *flow.Config) {
		c.Cookies = nil
		c.Seal = []string{remember}
		c.OnRevoked = flow.Deny
	})
	sealed := h.sealedLogin("sid-1")
	h.revoke(sealed)
	a := &app{}
	res := h.serve(get("/", cookies("remember="+sealed), asJSON), a)
	if a.called() {
		t.Error("a revoked sealed cookie reached the app under on_revoked deny")
	}
	assertClears(t, res, remember)
}

func TestSeal_BadConfig(t *testing.T) {
	for name, c := range map[string]struct {
		seal []string
		want string
	}{
		"not a cookie name": {[]string{"a;b"}, `seal: "a;b" is not a valid cookie name`},
		"too wide":          {[]string{"r*"}, `seal: "r*" matches nearly every cookie`},
	} {
		t.Run(name, func(t *testing.T) {
			keys, err := session.NewKeys(testKey)
			if err != nil {
				t.Fatal(err)
			}
			_, err = flow.New(flow.Config{Seal: c.seal, Keys: keys, Store: nil})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
}

// TestSeal_Recipe_FlaskLogin: the README's Flask-Login recipe. Its
// remember_token is the user's id and an HMAC of it, the same at every
// login (written out here: Flask does not run here); sealed, a logout ends
// the copy it carried and the next login's remember-me works.
func TestSeal_Recipe_FlaskLogin(t *testing.T) {
	const token = "1|9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a089f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	h := newHarness(t, withCookies("session"), func(c *flow.Config) { c.Seal = []string{"remember_token"} }, withIntercept("/logout"))
	login := func(sid string) string {
		res := h.serve(newReq(http.MethodPost, "/login", strings.NewReader("remember=y")), &app{status: http.StatusFound, header: http.Header{"Set-Cookie": {
			"remember_token=" + token + "; Expires=Sat, 01 Jan 2028 00:00:00 GMT; Max-Age=31536000; HttpOnly; Path=/",
			"session=.eJw" + sid + ".Zk2Q.c2lnbmF0dXJl; HttpOnly; Path=/",
		}}})
		v, _, _ := strings.Cut(strings.TrimPrefix(setCookies(res)[0], "remember_token="), ";")
		if !session.IsSealed(v) {
			t.Fatalf("remember_token went out as %q", setCookies(res))
		}
		return v
	}
	old := login("aaaaaaaaaaaaaaaaaaaa")
	h.serve(get("/logout", cookies("remember_token="+old+"; session=.eJwaaaaaaaaaaaaaaaaaaaa.Zk2Q.c2lnbmF0dXJl")), &app{status: http.StatusFound, header: http.Header{
		"Location": {"https://app.example.com/login"},
		"Set-Cookie": {
			"remember_token=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/",
			"session=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; HttpOnly; Path=/",
		},
	}})
	h.assertRevoked(old)
	if got := h.appGets("remember_token=" + old); got != "" {
		t.Errorf("the copied remember_token reached the app: %q", got)
	}
	next := login("bbbbbbbbbbbbbbbbbbbb")
	if got := h.appGets("remember_token=" + next); got != "remember_token="+token {
		t.Errorf("the next login's remember_token: the app got %q", got)
	}
}
