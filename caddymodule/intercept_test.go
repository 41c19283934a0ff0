package caddymodule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// provisioned is a Handler from a logout block, provisioned as Caddy does,
// with Caddy's own matcher modules.
func provisioned(t *testing.T, block string) *Handler {
	t.Helper()
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	var h Handler
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("logout {\n" + block + "\n}")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := h.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Cleanup() })
	return &h
}

// serveCaddy runs a request through the handler the way Caddy's server
// prepares it (a replacer and vars in the context).
func serveCaddy(t *testing.T, h *Handler, r *http.Request) *http.Response {
	t.Helper()
	ctx := context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer())
	ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, map[string]any{})
	rec := httptest.NewRecorder()
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusOK)
		return nil
	})
	if err := h.ServeHTTP(rec, r.WithContext(ctx), next); err != nil {
		t.Fatal(err)
	}
	return rec.Result()
}

// TestIntercept_Block_RealMatchers_HostileSpellings: an intercept block of
// Caddy's path, query and method matchers catches the logout however the
// client spells its path and query, where Caddy's matchers alone would not
// (Caddy's query matcher gives up on a query with ';' or a bad escape).
func TestIntercept_Block_RealMatchers_HostileSpellings(t *testing.T) {
	h := provisioned(t, `
		store memory
		signing_key 0123456789abcdef0123456789abcdef
		on_revoked deny
		intercept {
			path /index.php
			query title=Special:UserLogout
			method POST
		}`)
	caught := []string{
		"/index.php?title=Special:UserLogout",
		"/index.php?title=Special%3AUserLogout&returnto=Main",
		"/index.php?%74itle=special:userlogout",
		"/index.php?returnto=Main;title=Special:UserLogout",
		"/index.php?title=Special:UserLogout&x=%zz",
		"/INDEX.PHP?title=Special:UserLogout",
		"//index.php?title=Special:UserLogout",
		"/index.php;x=1?title=Special:UserLogout",
		"/%69ndex.php?title=Special:UserLogout",
		"/w/../index.php?title=Special:UserLogout",
		"/index.php/?title=Special:UserLogout",
	}
	for i, target := range caught {
		sid := "caught-" + strconv.Itoa(i)
		r := httptest.NewRequest(http.MethodPost, target, nil)
		r.Header.Set("Cookie", "ory_kratos_session="+sid)
		serveCaddy(t, h, r)
		page := httptest.NewRequest(http.MethodGet, "/page", nil)
		page.Header.Set("Cookie", "ory_kratos_session="+sid)
		if res := serveCaddy(t, h, page); res.StatusCode != http.StatusUnauthorized {
			t.Errorf("POST %s was not intercepted: the session still works (%d)", target, res.StatusCode)
		}
	}
	for i, target := range []string{"/index.php?title=Main_Page", "/index.php", "/other.php?title=Special:UserLogout"} {
		sid := "passed-" + strconv.Itoa(i)
		r := httptest.NewRequest(http.MethodPost, target, nil)
		r.Header.Set("Cookie", "ory_kratos_session="+sid)
		serveCaddy(t, h, r)
		page := httptest.NewRequest(http.MethodGet, "/page", nil)
		page.Header.Set("Cookie", "ory_kratos_session="+sid)
		if res := serveCaddy(t, h, page); res.StatusCode != http.StatusOK {
			t.Errorf("POST %s was intercepted (%d)", target, res.StatusCode)
		}
	}
	// GET is not the rule's method.
	r := httptest.NewRequest(http.MethodGet, caught[0], nil)
	r.Header.Set("Cookie", "ory_kratos_session=get")
	serveCaddy(t, h, r)
	page := httptest.NewRequest(http.MethodGet, "/page", nil)
	page.Header.Set("Cookie", "ory_kratos_session=get")
	if res := serveCaddy(t, h, page); res.StatusCode != http.StatusOK {
		t.Errorf("GET was intercepted (%d)", res.StatusCode)
	}
}

// TestCaddyfile_InterceptBlock_ErrorNamesTheLine: the line of the matcher
// that can never match, not only the block's.
func TestCaddyfile_InterceptBlock_ErrorNamesTheLine(t *testing.T) {
	caddyfile := ":8080 {\n\tlogout {\n\t\tintercept {\n\t\t\tmethod GET\n\t\t\tpath /doku.php?do=logout\n\t\t}\n\t}\n}\n"
	_, err := adapt(caddyfile)
	if err == nil || !strings.Contains(err.Error(), "Caddyfile:5") || !strings.Contains(err.Error(), "query do=logout") {
		t.Fatalf("error %v, want one at Caddyfile:5 saying to write query do=logout", err)
	}
}
