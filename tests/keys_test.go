package tests

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/session"

	"github.com/caddy-logout/caddy-logout/tests/e2e"
)

// performAs opens a logout URL with the cookie, as a JSON client.
func performAs(t *testing.T, logoutURL, cookie string) (*http.Response, []byte) {
	t.Helper()
	return e2e.Do(t, e2e.OneShot, "GET", logoutURL, http.Header{"Cookie": {cookie}, "Accept": {"application/json"}}, "")
}

// TestKeys_RotationAcrossReloads: a logout URL issued under key A still
// performs after a reload to `signing_key B A`, and stops performing after
// a reload to `signing_key B`; URLs issued in between are signed with B.
func TestKeys_RotationAcrossReloads(t *testing.T) {
	app := e2e.StartUpstream(t)
	keyA, keyB := "key-a-"+e2e.RandomValue(), "key-b-"+e2e.RandomValue()
	var config func(keys string) string
	p := e2e.StartCaddy(t, "", func(admin, port int) string {
		config = func(keys string) string {
			return e2e.SiteConfig(admin, port, app.Port, "cookie sid\n\t\tsigning_key "+keys)
		}
		return config(keyA)
	})
	x, y, z := "sid=rot-x-"+e2e.RandomValue(), "sid=rot-y-"+e2e.RandomValue(), "sid=rot-z-"+e2e.RandomValue()
	underA1, underA2 := e2e.CreateLogout(t, p, x, ""), e2e.CreateLogout(t, p, y, "")

	if err := p.Reload(config(keyB + " " + keyA)); err != nil {
		t.Fatal(err)
	}
	if resp, body := performAs(t, underA1.LogoutURL, x); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("URL of key A after the reload to `B A`: %s %s", resp.Status, body)
	}
	underB := e2e.CreateLogout(t, p, z, "")

	if err := p.Reload(config(keyB)); err != nil {
		t.Fatal(err)
	}
	resp, body := performAs(t, underA2.LogoutURL, y)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(e2e.DecodeError(t, body).Error.Reason, "does not match the session cookie") {
		t.Fatalf("URL of key A after the reload to `B`: %s %s", resp.Status, body)
	}
	if _, body := e2e.Do(t, e2e.OneShot, "GET", p.URL("/page"), http.Header{"Cookie": {y}}, ""); e2e.Seen(t, body).Cookie != y {
		t.Fatal("the refused URL logged its session out")
	}
	if resp, body := performAs(t, underB.LogoutURL, z); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("URL issued during the rotation (so signed with B) after A was removed: %s %s", resp.Status, body)
	}
}

// TestKeys_GeneratedKey_TwoNodesStartingTogetherAgree: two Caddy processes
// with no signing_key share one storage (XDG_DATA_HOME) and are started at
// the same moment, each with its own bolt file. They end up with one key:
// a URL issued by either node performs on the other, and the key left in
// storage is the one both sign with.
func TestKeys_GeneratedKey_TwoNodesStartingTogetherAgree(t *testing.T) {
	app := e2e.StartUpstream(t)
	dataHome := t.TempDir()
	nodes := make([]*e2e.Caddy, 2)
	for i := range nodes {
		admin, port := e2e.FreePort(t), e2e.FreePort(t)
		block := fmt.Sprintf("cookie sid\n\t\tstore bolt %s", filepath.Join(t.TempDir(), "logout.db"))
		nodes[i] = e2e.NewCaddy(t, dataHome, e2e.SiteConfig(admin, port, app.Port, block), admin, port)
	}
	for _, n := range nodes {
		n.Launch()
	}
	for _, n := range nodes {
		n.WaitReady()
	}

	for i, n := range nodes {
		other := nodes[1-i]
		cookie := fmt.Sprintf("sid=node-%d-%s", i, e2e.RandomValue())
		f := e2e.CreateLogout(t, n, cookie, "")
		onOther := strings.Replace(f.LogoutURL, n.URL(""), other.URL(""), 1)
		if onOther == f.LogoutURL {
			t.Fatalf("logout URL %q is not on node %d", f.LogoutURL, i)
		}
		if resp, body := performAs(t, onOther, cookie); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("URL of node %d performed on node %d: %s %s\nnode %d log:\n%s", i, 1-i, resp.Status, body, i, n.Logs.String())
		}
	}

	stored, err := os.ReadFile(filepath.Join(dataHome, "caddy", "caddy-logout", "signing_key"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(stored)))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := session.NewKeys(key)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range nodes {
		value := fmt.Sprintf("stored-%d-%s", i, e2e.RandomValue())
		token := keys.SignLogoutToken(session.CookieID(value), time.Now(), time.Hour)
		if resp, body := performAs(t, e2e.WithQuery(n.URL("/self-service/logout"), "token", token), "sid="+value); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("node %d does not sign with the key in storage: %s %s", i, resp.Status, body)
		}
	}
}
