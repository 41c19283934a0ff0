package flow_test

import (
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/caddy-logout/caddy-logout/flow"
)

func withRules(rules ...flow.InterceptRule) func(*flow.Config) {
	return func(c *flow.Config) { c.InterceptRules = rules }
}

// matcherFunc stands in for a Caddy matcher set in these tests (package
// flow knows nothing of Caddy; caddymodule's tests run the real ones).
type matcherFunc func(*http.Request) (bool, error)

func (f matcherFunc) MatchWithError(r *http.Request) (bool, error) { return f(r) }

// pathIs matches as Caddy's path matcher does for a plain pattern: the
// request's path, lowercased, equal to the pattern.
func pathIs(p string) flow.RequestMatcher {
	return matcherFunc(func(r *http.Request) (bool, error) { return strings.ToLower(r.URL.Path) == p, nil })
}

func methodIs(m string) flow.RequestMatcher {
	return matcherFunc(func(r *http.Request) (bool, error) { return r.Method == m, nil })
}

func headerIs(name, value string) flow.RequestMatcher {
	return matcherFunc(func(r *http.Request) (bool, error) { return r.Header.Get(name) == value, nil })
}

func allOf(ms ...flow.RequestMatcher) flow.RequestMatcher {
	return matcherFunc(func(r *http.Request) (bool, error) {
		for _, m := range ms {
			if ok, err := m.MatchWithError(r); err != nil || !ok {
				return ok, err
			}
		}
		return true, nil
	})
}

// intercepted sends r through h and reports whether it was taken as a
// logout (the session revoked), checking that the app was called.
func intercepted(t *testing.T, h *harness, r *http.Request, sid string) bool {
	t.Helper()
	a := &app{}
	h.serve(r, a)
	if !a.called() {
		t.Fatal("the app was not called")
	}
	return h.revoked(sid)
}

// interceptSpellings are DokuWiki's logout spellings from
// testdata/intercept_spellings.txt: the ones an app reads as the logout, and
// the ones it does not.
func interceptSpellings(t *testing.T) (logout, other []string) {
	t.Helper()
	b, err := os.ReadFile("testdata/intercept_spellings.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		kind, rest, _ := strings.Cut(line, " ")
		target, _, _ := strings.Cut(strings.TrimSpace(rest), " ")
		switch kind {
		case "logout", "caught":
			logout = append(logout, target)
		case "other":
			other = append(other, target)
		}
	}
	if len(logout) == 0 || len(other) == 0 {
		t.Fatal("testdata/intercept_spellings.txt lists no spellings")
	}
	return logout, other
}

func TestIntercept_Shorthand_QueryAndPathSpellings(t *testing.T) {
	dokuLogoutSpellings, dokuNotLogout := interceptSpellings(t)
	for i, target := range dokuLogoutSpellings {
		t.Run(target, func(t *testing.T) {
			h := newHarness(t, withIntercept("/doku.php?do=logout"))
			sid := "s" + strconv.Itoa(i)
			if !intercepted(t, h, get(target, cookie(cookieName, sid)), sid) {
				t.Errorf("%s was not intercepted", target)
			}
		})
	}
	for i, target := range dokuNotLogout {
		t.Run("not "+target, func(t *testing.T) {
			h := newHarness(t, withIntercept("/doku.php?do=logout"))
			sid := "n" + strconv.Itoa(i)
			if intercepted(t, h, get(target, cookie(cookieName, sid)), sid) {
				t.Errorf("%s was intercepted", target)
			}
		})
	}
}

func TestIntercept_Shorthand_FormBody(t *testing.T) {
	form := "application/x-www-form-urlencoded"
	tests := []struct {
		name, contentType, body string
		match                   bool
	}{
		{"form", form, "do=logout&sectok=abc", true},
		{"form with charset", form + "; charset=UTF-8", "id=start&do=logout", true},
		{"encoded key", form, "%64o=logout", true},
		{"login form", form, "u=alice&p=secret&do=login", false},
		{"not a form", "text/plain", "do=logout", false},
		{"multipart is not read", "multipart/form-data; boundary=x", "do=logout", false},
		{"beyond the peek", form, "pad=" + strings.Repeat("x", 70<<10) + "&do=logout", false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, withIntercept("/doku.php?do=logout"))
			sid := "s" + strconv.Itoa(i)
			var seenBody string
			next := flow.NextFunc(func(w http.ResponseWriter, r *http.Request) error {
				b, err := io.ReadAll(r.Body)
				seenBody = string(b)
				return err
			})
			r := newReq(http.MethodPost, "/doku.php", strings.NewReader(tt.body), header("Content-Type", tt.contentType), cookie(cookieName, sid))
			h.serve(r, next)
			if got := h.revoked(sid); got != tt.match {
				t.Errorf("intercepted %v, want %v", got, tt.match)
			}
			if seenBody != tt.body {
				t.Errorf("the app read %d bytes of the body, the client sent %d", len(seenBody), len(tt.body))
			}
		})
	}
}

func TestIntercept_Shorthand_KeyWithoutValue_AnyValue(t *testing.T) {
	h := newHarness(t, withIntercept("/index.php?logout"))
	for i, target := range []string{"/index.php?logout", "/index.php?logout=1", "/index.php?a=b&logout="} {
		sid := "s" + strconv.Itoa(i)
		if !intercepted(t, h, get(target, cookie(cookieName, sid)), sid) {
			t.Errorf("%s was not intercepted", target)
		}
	}
	if intercepted(t, h, get("/index.php?login", cookie(cookieName, "n")), "n") {
		t.Error("/index.php?login was intercepted")
	}
}

func TestIntercept_Shorthand_AllParametersNeeded(t *testing.T) {
	h := newHarness(t, withIntercept("/wp-login.php?action=logout&mode=full"))
	if intercepted(t, h, get("/wp-login.php?action=logout", cookie(cookieName, "a")), "a") {
		t.Error("intercepted with one of two parameters")
	}
	if !intercepted(t, h, get("/wp-login.php?mode=FULL&action=logout", cookie(cookieName, "b")), "b") {
		t.Error("not intercepted with both")
	}
}

func TestIntercept_Rule_MatchersSeeTheNormalForm(t *testing.T) {
	rule := flow.InterceptRule{
		Query: map[string][]string{"title": {"Special:UserLogout"}},
		Match: allOf(pathIs("/index.php"), methodIs(http.MethodPost)),
	}
	for i, target := range []string{
		"/index.php?title=Special:UserLogout",
		"/INDEX.PHP?title=Special:UserLogout",
		"//index.php?title=special:userlogout",
		"/index.php;jsessionid=x?title=Special%3AUserLogout",
		"/%69ndex.php?title=Special:UserLogout",
		"/x/../index.php?title=Special:UserLogout&a=%zz",
		"/index.php?returnto=Main;title=Special:UserLogout",
	} {
		t.Run(target, func(t *testing.T) {
			h := newHarness(t, withRules(rule))
			sid := "s" + strconv.Itoa(i)
			if !intercepted(t, h, newReq(http.MethodPost, target, nil, cookie(cookieName, sid)), sid) {
				t.Errorf("POST %s was not intercepted", target)
			}
			if intercepted(t, h, newReq(http.MethodGet, target, nil, cookie(cookieName, sid+"get")), sid+"get") {
				t.Errorf("GET %s was intercepted; the rule says POST", target)
			}
		})
	}
	h := newHarness(t, withRules(rule))
	if intercepted(t, h, newReq(http.MethodPost, "/index.php?title=Main_Page", nil, cookie(cookieName, "n")), "n") {
		t.Error("another page was intercepted")
	}
}

func TestIntercept_Rule_HeaderUnderscoreSpelling(t *testing.T) {
	// CGI-style backends (FastCGI: PHP) read X_DokuWiki_Do as X-DokuWiki-Do.
	rule := flow.InterceptRule{Paths: []string{"/doku.php"}, Match: headerIs("X-Dokuwiki-Do", "logout")}
	for i, name := range []string{"X-DokuWiki-Do", "X_DokuWiki_Do", "x_dokuwiki-do"} {
		h := newHarness(t, withRules(rule))
		sid := "s" + strconv.Itoa(i)
		r := get("/doku.php", cookie(cookieName, sid))
		r.Header.Add(name, "logout") // canonical, as net/http stores it
		if !intercepted(t, h, r, sid) {
			t.Errorf("header %s was not read as the logout", name)
		}
	}
}

func TestIntercept_Rule_MatcherError_NotALogout(t *testing.T) {
	rule := flow.InterceptRule{Match: matcherFunc(func(*http.Request) (bool, error) { return false, errors.New("boom") })}
	h := newHarness(t, withRules(rule))
	if intercepted(t, h, get("/logout", cookie(cookieName, "s1")), "s1") {
		t.Error("a failing matcher made a logout")
	}
}

func TestIntercept_Rule_OR(t *testing.T) {
	h := newHarness(t, withIntercept("/logout"), withRules(
		flow.InterceptRule{Query: map[string][]string{"action": {"logout"}}, Match: pathIs("/wp-login.php")},
		flow.InterceptRule{Paths: []string{"/user/signout"}, Match: methodIs(http.MethodPost)},
	))
	for i, r := range []*http.Request{
		get("/logout"),
		get("/wp-login.php?action=logout"),
		newReq(http.MethodPost, "/User/SignOut/", nil),
	} {
		sid := "s" + strconv.Itoa(i)
		r.Header.Set("Cookie", cookieName+"="+sid)
		if !intercepted(t, h, r, sid) {
			t.Errorf("%s %s was not intercepted", r.Method, r.URL)
		}
	}
	if intercepted(t, h, get("/user/signout", cookie(cookieName, "n")), "n") {
		t.Error("GET /user/signout was intercepted; its rule says POST")
	}
}

func TestIntercept_ConfigErrors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*flow.Config)
		want   string
	}{
		{"empty query", withIntercept("/doku.php?"), "empty query"},
		{"only separators", withIntercept("/doku.php?&&"), "empty query"},
		{"parameter without a name", withIntercept("/doku.php?=logout"), "without a name"},
		{"relative with query", withIntercept("doku.php?do=logout"), "absolute path"},
		{"empty rule", withRules(flow.InterceptRule{}), "every request"},
		{"rule with an empty query", withRules(flow.InterceptRule{Query: map[string][]string{}, Match: pathIs("/x")}), "empty query"},
		{"placeholder in a query", withRules(flow.InterceptRule{Query: map[string][]string{"do": {"{http.request.uri}"}}}), "placeholders"},
		{"relative rule path", withRules(flow.InterceptRule{Paths: []string{"logout"}}), "absolute path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := newHarness(t).cfg
			tt.mutate(&cfg)
			_, err := flow.New(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "intercept: ") {
				t.Fatalf("New: %v, want an intercept error about %q", err, tt.want)
			}
		})
	}
	if err := flow.CheckInterceptMatchPath("/doku.php?do=logout"); err == nil || !strings.Contains(err.Error(), "query do=logout") {
		t.Errorf("CheckInterceptMatchPath: %v", err)
	}
}
