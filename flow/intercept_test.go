package flow_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/caddy-logout/caddy-logout/flow"
)

func withIntercept(paths ...string) func(*flow.Config) {
	return func(c *flow.Config) { c.Intercept = paths }
}

// newReqRawPath builds a request whose path is exactly p, as a server
// would have parsed it from the request line.
func newReqRawPath(method, p string, opts ...reqOpt) *http.Request {
	r := newReq(method, "/", nil, opts...)
	r.URL.Path = p
	r.URL.RawPath = ""
	r.RequestURI = p
	return r
}

func TestIntercept_PathMatching(t *testing.T) {
	tests := []struct {
		path  string
		match bool
	}{
		{"/logout", true},
		{"/LOGOUT", true},
		{"/LogOut", true},
		{"/logout/", true},
		{"//logout", true},
		{"/logout//", true},
		{"/logout;jsessionid=x", true},
		{"/logout;", true},
		{"/%6c%6fgout", true},     // still encoded (e.g. via RawPath handling upstream)
		{"/%256c%256fgout", true}, // double-encoded
		{"/./logout", true},
		{"/a/../logout", true},
		{"/../logout", true},
		{`\logout`, true},
		{"/logouts", false},
		{"/log/out", false},
		{"/logout/x", false},
		{"/x/logout", false},
		{"/", false},
		{"/logou", false},
		{"/logout%2fx", false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			h := newHarness(t, withIntercept("/logout"))
			a := &app{}
			res := h.serve(newReqRawPath(http.MethodGet, tt.path, cookie(cookieName, "s1")), a)
			if !a.called() {
				t.Fatal("the app was not called")
			}
			cleared := len(setCookies(res)) > 0
			revoked := h.revoked("s1")
			if tt.match && (!cleared || !revoked) {
				t.Errorf("%s was not intercepted (cleared %v, revoked %v)", tt.path, cleared, revoked)
			}
			if !tt.match && (cleared || revoked) {
				t.Errorf("%s was intercepted (cleared %v, revoked %v)", tt.path, cleared, revoked)
			}
		})
	}
}

func TestIntercept_ConfiguredPathIsNormalisedToo(t *testing.T) {
	h := newHarness(t, withIntercept("/Account/LogOut/", "/signout"))
	for _, p := range []string{"/account/logout", "/SIGNOUT"} {
		a := &app{}
		res := h.serve(newReqRawPath(http.MethodGet, p, cookie(cookieName, "s-"+p)), a)
		assertStatus(t, res, http.StatusOK)
		h.assertRevoked("s-" + p)
	}
}

func TestIntercept_AppGetsTheRequestWithItsCookie(t *testing.T) {
	h := newHarness(t, withIntercept("/logout"))
	a := &app{}
	r := get("/logout?next=home", cookies("theme=dark; sid=s1"), header("X-Session-Token", "t1"))
	sent := r.Clone(r.Context())
	h.serve(r, a)
	assertSeenUntouched(t, a, sent)
}

func TestIntercept_RevokesEveryCredentialOfTheRequest(t *testing.T) {
	h := newHarness(t, withIntercept("/logout"), func(c *flow.Config) { c.Cookies = []string{"sid", "PHPSESSID"} })
	r := get("/logout", cookies("sid=s1; PHPSESSID=p1; theme=dark"), header("X-Session-Token", "t1"),
		header("Authorization", "Bearer b1"))
	assertStatus(t, h.serve(r, &app{}), http.StatusOK)
	for _, c := range []string{"s1", "p1", "t1", "b1"} {
		h.assertRevoked(c)
	}
	h.assertNotRevoked("dark")
}

func TestIntercept_AppAnswers(t *testing.T) {
	const signedOut = "You have been signed out."
	tests := []struct {
		name       string
		app        *app
		opts       []reqOpt
		method     string
		target     string
		wantStatus int
		wantLoc    string // "" : no Location
		wantBody   string // contained in the body
		notInBody  string
	}{
		{name: "app 200 kept", app: &app{body: "bye from the app", status: 200},
			wantStatus: 200, wantBody: "bye from the app"},
		{name: "app 204 kept", app: &app{status: 204}, wantStatus: 204},
		{name: "app 302 to an allowed place kept",
			app:        &app{status: 302, header: http.Header{"Location": {"https://app.example.com/goodbye"}}},
			wantStatus: 302, wantLoc: "https://app.example.com/goodbye"},
		{name: "app 302 to an allowed wildcard place kept",
			app:        &app{status: 302, header: http.Header{"Location": {"https://eu.example.org/app/bye"}}},
			wantStatus: 302, wantLoc: "https://eu.example.org/app/bye"},
		{name: "app relative 303 on an allowed host kept", target: "https://app.example.com/logout",
			app:        &app{status: 303, header: http.Header{"Location": {"/goodbye?x=1"}}},
			wantStatus: 303, wantLoc: "https://app.example.com/goodbye?x=1"},
		{name: "app 302 to a disallowed place rewritten",
			app:        &app{status: 302, header: http.Header{"Location": {"https://evil.com/"}}},
			wantStatus: 302, wantLoc: defaultReturn},
		{name: "app 302 protocol-relative rewritten",
			app:        &app{status: 302, header: http.Header{"Location": {"//evil.com/x"}}},
			wantStatus: 302, wantLoc: defaultReturn},
		{name: "app 302 javascript rewritten",
			app:        &app{status: 302, header: http.Header{"Location": {"javascript:alert(1)"}}},
			wantStatus: 302, wantLoc: defaultReturn},
		{name: "app 302 with backslash trick rewritten",
			app:        &app{status: 302, header: http.Header{"Location": {`https://app.example.com\@evil.com/`}}},
			wantStatus: 302, wantLoc: defaultReturn},
		{name: "app 500 replaced by a signed-out page",
			app:        &app{status: 500, body: "stack trace", header: http.Header{"X-Debug": {"leak"}}},
			wantStatus: 200, wantBody: signedOut, notInBody: "stack trace"},
		{name: "app 404 replaced by a signed-out page", app: &app{status: 404, body: "not found"},
			wantStatus: 200, wantBody: signedOut, notInBody: "not found"},
		{name: "app 500 to a JSON client: 204", app: &app{status: 500, body: "stack trace"}, opts: []reqOpt{asJSON},
			wantStatus: 204, notInBody: "stack trace"},
		{name: "upstream down: error without an answer", app: &app{silent: true, err: errors.New("dial tcp: connection refused")},
			wantStatus: 200, wantBody: signedOut},
		{name: "upstream down to a JSON client", app: &app{silent: true, err: errors.New("dial tcp: connection refused")},
			opts: []reqOpt{asJSON}, wantStatus: 204},
		{name: "app writes nothing", app: &app{silent: true}, wantStatus: 200, wantBody: signedOut},
		{name: "POST logout form", method: http.MethodPost,
			opts:       []reqOpt{header("Content-Type", "application/x-www-form-urlencoded")},
			app:        &app{status: 303, header: http.Header{"Location": {"https://app.example.com/"}}},
			wantStatus: 303, wantLoc: "https://app.example.com/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, withIntercept("/logout"))
			method, target := tt.method, tt.target
			if method == "" {
				method = http.MethodGet
			}
			if target == "" {
				target = "/logout"
			}
			var body *strings.Reader
			if method == http.MethodPost {
				body = strings.NewReader("csrf=abc")
			} else {
				body = strings.NewReader("")
			}
			r := newReq(method, target, body, append(tt.opts, cookie(cookieName, "s1"))...)
			res, err := h.serveErr(r, tt.app)
			if err != nil {
				t.Fatalf("ServeHTTP returned %v; the gateway answers for a failed app", err)
			}
			if !tt.app.called() {
				t.Fatal("the app was not called")
			}
			assertStatus(t, res, tt.wantStatus)
			if got := res.Header.Get("Location"); got != tt.wantLoc {
				t.Errorf("Location %q, want %q", got, tt.wantLoc)
			}
			b := readBody(t, res)
			if tt.wantBody != "" && !strings.Contains(b, tt.wantBody) {
				t.Errorf("body %q lacks %q", b, tt.wantBody)
			}
			if tt.notInBody != "" && strings.Contains(b, tt.notInBody) {
				t.Errorf("body %q still has %q", b, tt.notInBody)
			}
			if tt.wantStatus == http.StatusNoContent && b != "" {
				t.Errorf("204 with body %q", b)
			}
			assertNoHeader(t, res, "X-Debug")
			if strings.HasPrefix(target, "https:") {
				assertClearsWith(t, res, secureDeletion, cookieName)
			} else {
				assertClears(t, res, cookieName)
			}
			assertNoCacheHeaders(t, res, false)
			h.assertRevoked("s1")
		})
	}
}

func TestIntercept_AppSetCookieKept(t *testing.T) {
	h := newHarness(t, withIntercept("/logout"))
	a := &app{status: 302, header: http.Header{
		"Location":   {"https://app.example.com/"},
		"Set-Cookie": {"remember_me=; Max-Age=0; Path=/"},
	}}
	res := h.serve(get("/logout", cookie(cookieName, "s1")), a)
	got := setCookies(res)
	if !strings.Contains(strings.Join(got, "\n"), "remember_me=") {
		t.Errorf("the app's own Set-Cookie was lost: %q", got)
	}
	assertClears(t, res, cookieName)
}

func TestIntercept_NoCredential_StillClearsAndCallsApp(t *testing.T) {
	h := newHarness(t, withIntercept("/logout"))
	a := &app{}
	res := h.serve(get("/logout"), a)
	assertStatus(t, res, http.StatusOK)
	if !a.called() {
		t.Error("the app was not called")
	}
	assertClears(t, res, cookieName)
}

func TestIntercept_StoreDown_AppStillCalledCookiesCleared(t *testing.T) {
	h := newHarness(t, withIntercept("/logout"), withFailingStore(t))
	a := &app{}
	res := h.serve(get("/logout", cookie(cookieName, "s1")), a)
	if !a.called() {
		t.Error("the app was not called")
	}
	assertStatus(t, res, http.StatusOK)
	assertClears(t, res, cookieName)
}

func TestIntercept_ClearSiteDataOverHTTPS(t *testing.T) {
	h := newHarness(t, withIntercept("/logout"), func(c *flow.Config) { c.ClearSiteData = []string{"cookies"} })
	res := h.serve(get("https://app.example.com/logout", cookie(cookieName, "s1")), &app{})
	assertHeader(t, res, "Clear-Site-Data", `"cookies"`)
	res = h.serve(get("http://app.example.com/logout", cookie(cookieName, "s2")), &app{})
	assertNoHeader(t, res, "Clear-Site-Data")
}

func TestIntercept_NotConfigured_LogoutPathIsAnAppPath(t *testing.T) {
	h := newHarness(t)
	a := &app{}
	res := h.serve(get("/logout", cookie(cookieName, "s1")), a)
	assertStatus(t, res, http.StatusOK)
	assertNoSetCookie(t, res)
	h.assertNotRevoked("s1")
}

func TestIntercept_RevokedSessionCannotComeBack(t *testing.T) {
	h := newHarness(t, withIntercept("/logout"), func(c *flow.Config) { c.OnRevoked = flow.Deny })
	h.serve(get("/logout", cookie(cookieName, "s1")), &app{})
	a := &app{}
	assertNoSessionError(t, h.serve(get("/account", cookie(cookieName, "s1"), asJSON), a))
	if a.called() {
		t.Error("the revoked session reached the app")
	}
}

func TestIntercept_PathMatching_AsSentOnTheWire(t *testing.T) {
	// The same spellings through the request line, as net/http parses it.
	for _, target := range []string{"/LOGOUT", "/logout/", "//logout", "/logout;jsessionid=x", "/%6c%6fgout",
		"/%2e/logout", "/./logout", "/a/../logout", "/logout?x=1"} {
		t.Run(target, func(t *testing.T) {
			h := newHarness(t, withIntercept("/logout"))
			res := h.serve(get(target, cookie(cookieName, "s1")), &app{})
			assertClears(t, res, cookieName)
			h.assertRevoked("s1")
		})
	}
	for _, target := range []string{"/logouts", "/log/out", "/logout.php", "/%6c%6fgouts"} {
		t.Run(target, func(t *testing.T) {
			h := newHarness(t, withIntercept("/logout"))
			res := h.serve(get(target, cookie(cookieName, "s1")), &app{})
			assertNoSetCookie(t, res)
			h.assertNotRevoked("s1")
		})
	}
}

func TestIntercept_AppWritesWithoutWriteHeader_Implicit200(t *testing.T) {
	h := newHarness(t, withIntercept("/logout"))
	next := flow.NextFunc(func(w http.ResponseWriter, r *http.Request) error {
		_, err := w.Write([]byte("bye"))
		return err
	})
	res := h.serve(get("/logout", cookie(cookieName, "s1")), next)
	assertStatus(t, res, http.StatusOK)
	if b := readBody(t, res); b != "bye" {
		t.Errorf("body %q, want the app's", b)
	}
	assertClears(t, res, cookieName)
}

func TestIntercept_AppStreams_FlushAndResponseController(t *testing.T) {
	h := newHarness(t, withIntercept("/logout"))
	rec := httptest.NewRecorder()
	next := flow.NextFunc(func(w http.ResponseWriter, r *http.Request) error {
		if err := http.NewResponseController(w).Flush(); err != nil {
			return err
		}
		_, err := w.Write([]byte("streamed"))
		return err
	})
	if err := h.gw.ServeHTTP(rec, get("/logout", cookie(cookieName, "s1")), next); err != nil {
		t.Fatal(err)
	}
	res := rec.Result()
	assertStatus(t, res, http.StatusOK)
	if !rec.Flushed {
		t.Error("the flush did not reach the client")
	}
	if b := readBody(t, res); b != "streamed" {
		t.Errorf("body %q", b)
	}
	assertClears(t, res, cookieName)
}

func TestIntercept_HijackRefused(t *testing.T) {
	h := newHarness(t, withIntercept("/logout"))
	var hijackErr error
	next := flow.NextFunc(func(w http.ResponseWriter, r *http.Request) error {
		_, _, hijackErr = http.NewResponseController(w).Hijack()
		w.WriteHeader(http.StatusOK)
		return nil
	})
	res := h.serve(get("/logout", cookie(cookieName, "s1")), next)
	if !errors.Is(hijackErr, http.ErrNotSupported) {
		t.Errorf("Hijack: %v, want http.ErrNotSupported", hijackErr)
	}
	assertClears(t, res, cookieName)
}

func TestIntercept_AppLocationUnparsable_Rewritten(t *testing.T) {
	for _, loc := range []string{"http://[::1", "https://app.example.com:99999/", "%zz", "https://evil.com\t.app.example.com/"} {
		t.Run(loc, func(t *testing.T) {
			h := newHarness(t, withIntercept("/logout"))
			res := h.serve(get("/logout", cookie(cookieName, "s1")), &app{status: 302, header: http.Header{"Location": {loc}}})
			assertStatus(t, res, http.StatusFound)
			assertHeader(t, res, "Location", defaultReturn)
		})
	}
}

func TestIntercept_NoDefaultReturnURL_SignedOutPageLinksToOrigin(t *testing.T) {
	h := newHarness(t, withIntercept("/logout"), func(c *flow.Config) { c.DefaultReturnURL = nil })
	res := h.serve(get("http://shop.example.net/logout", cookie(cookieName, "s1")), &app{status: 502})
	assertStatus(t, res, http.StatusOK)
	if b := readBody(t, res); !strings.Contains(b, `href="http://shop.example.net/"`) {
		t.Errorf("signed-out page does not link home:\n%s", b)
	}
}

func TestIntercept_HeadAndOptions_NeverLogOut(t *testing.T) {
	for _, method := range []string{http.MethodHead, http.MethodOptions} {
		t.Run(method, func(t *testing.T) {
			h := newHarness(t, withIntercept("/logout"))
			a := &app{}
			res := h.serve(newReq(method, "/logout", nil, cookies("sid=s1")), a)
			assertStatus(t, res, http.StatusOK)
			a.request(t) // the app still answers it
			h.assertNotRevoked("s1")
			if sc := res.Header.Values("Set-Cookie"); len(sc) != 0 {
				t.Errorf("%s cleared cookies: %q", method, sc)
			}
		})
	}
}

func TestIntercept_Prefetch_NeverLogsOut(t *testing.T) {
	for _, hdr := range [][2]string{{"Sec-Purpose", "prefetch"}, {"Sec-Purpose", "prefetch;prerender"}, {"Purpose", "prefetch"}} {
		t.Run(hdr[0]+": "+hdr[1], func(t *testing.T) {
			h := newHarness(t, withIntercept("/logout"))
			a := &app{}
			h.serve(get("/logout", cookies("sid=s1"), header(hdr[0], hdr[1])), a)
			a.request(t)
			h.assertNotRevoked("s1")
		})
	}
}

func TestIntercept_AppRefreshToAnotherSite_Rewritten(t *testing.T) {
	for _, refresh := range []string{"0; url=https://evil.example/", "0;URL='https://evil.example/'", "3; url=//evil.example/x"} {
		t.Run(refresh, func(t *testing.T) {
			h := newHarness(t, withIntercept("/logout"))
			a := &app{header: http.Header{"Refresh": {refresh}}}
			res := h.serve(get("/logout", cookies("sid=s1")), a)
			if got := res.Header.Get("Refresh"); strings.Contains(got, "evil") || !strings.Contains(got, "url=https://app.example.com/") {
				t.Fatalf("Refresh %q", got)
			}
		})
	}
	h := newHarness(t, withIntercept("/logout"))
	res := h.serve(get("/logout", cookies("sid=s1")), &app{header: http.Header{"Refresh": {"5"}}})
	if got := res.Header.Get("Refresh"); got != "5" {
		t.Fatalf("a plain reload Refresh became %q", got)
	}
}

func TestIntercept_PlainPathFastPath_AgreesWithNormalisation(t *testing.T) {
	h := newHarness(t, withIntercept("/logout", "/user/sign-out"))
	for i, p := range []string{"/logout", "/user/sign-out", "/LOGOUT", "/user//sign-out", "/user/./sign-out", "/Logout/", "/logout;x=1"} {
		sid := "caught" + strconv.Itoa(i)
		h.serve(newReqRawPath("GET", p, cookies("sid="+sid)), &app{})
		h.assertRevoked(sid)
	}
	for i, p := range []string{"/logouts", "/user/sign", "/", "/.well-known/x"} {
		sid := "passed" + strconv.Itoa(i)
		h.serve(newReqRawPath("GET", p, cookies("sid="+sid)), &app{})
		h.assertNotRevoked(sid)
	}
}
