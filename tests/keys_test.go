package tests

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/internal/testutil"
	"github.com/caddy-logout/caddy-logout/session"
)

// performAs opens a logout URL with the cookie, as a JSON client.
func performAs(t *testing.T, logoutURL, cookie string) (*http.Response, []byte) {
	t.Helper()
	return do(t, http.DefaultClient, "GET", logoutURL, http.Header{"Cookie": {cookie}, "Accept": {"application/json"}}, "")
}

// TestKeys_RotationAcrossReloads: a logout URL issued under key A still
// performs after a reload to `signing_key B A`, and stops performing after
// a reload to `signing_key B`; URLs issued in between are signed with B.
func TestKeys_RotationAcrossReloads(t *testing.T) {
	app := startUpstream(t)
	keyA, keyB := "key-a-"+randomValue(), "key-b-"+randomValue()
	var config func(keys string) string
	p := startCaddy(t, "", func(admin, port int) string {
		config = func(keys string) string {
			return siteConfig(admin, port, app.port, "cookie sid\n\t\tsigning_key "+keys)
		}
		return config(keyA)
	})
	x, y, z := "sid=rot-x-"+randomValue(), "sid=rot-y-"+randomValue(), "sid=rot-z-"+randomValue()
	underA1, underA2 := createLogout(t, p, x, ""), createLogout(t, p, y, "")

	if err := p.reload(config(keyB + " " + keyA)); err != nil {
		t.Fatal(err)
	}
	if resp, body := performAs(t, underA1.LogoutURL, x); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("URL of key A after the reload to `B A`: %s %s", resp.Status, body)
	}
	underB := createLogout(t, p, z, "")

	if err := p.reload(config(keyB)); err != nil {
		t.Fatal(err)
	}
	resp, body := performAs(t, underA2.LogoutURL, y)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(decodeError(t, body).Error.Reason, "does not match the session cookie") {
		t.Fatalf("URL of key A after the reload to `B`: %s %s", resp.Status, body)
	}
	if _, body := do(t, http.DefaultClient, "GET", p.url("/page"), http.Header{"Cookie": {y}}, ""); seen(t, body).Cookie != y {
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
	app := startUpstream(t)
	dataHome := t.TempDir()
	nodes := make([]*caddyProc, 2)
	for i := range nodes {
		admin, port := freePort(t), freePort(t)
		block := fmt.Sprintf("cookie sid\n\t\tstore bolt %s", filepath.Join(t.TempDir(), "logout.db"))
		nodes[i] = &caddyProc{t: t, dataHome: dataHome, adminPort: admin, port: port, config: siteConfig(admin, port, app.port, block)}
	}
	for _, n := range nodes {
		launch(t, n)
	}
	for _, n := range nodes {
		n.waitReady()
	}

	for i, n := range nodes {
		other := nodes[1-i]
		cookie := fmt.Sprintf("sid=node-%d-%s", i, randomValue())
		f := createLogout(t, n, cookie, "")
		onOther := strings.Replace(f.LogoutURL, n.url(""), other.url(""), 1)
		if onOther == f.LogoutURL {
			t.Fatalf("logout URL %q is not on node %d", f.LogoutURL, i)
		}
		if resp, body := performAs(t, onOther, cookie); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("URL of node %d performed on node %d: %s %s\nnode %d log:\n%s", i, 1-i, resp.Status, body, i, n.logs.String())
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
		value := fmt.Sprintf("stored-%d-%s", i, randomValue())
		token := keys.SignLogoutToken(session.CookieID(value), time.Now(), time.Hour)
		if resp, body := performAs(t, withQuery(n.url("/self-service/logout"), "token", token), "sid="+value); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("node %d does not sign with the key in storage: %s %s", i, resp.Status, body)
		}
	}
}

// launch starts p's process without waiting for it, so that several start
// together; waitReady follows.
func launch(t *testing.T, p *caddyProc) {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(p.config), 0o644); err != nil {
		t.Fatal(err)
	}
	p.logs = &testutil.SyncBuffer{}
	p.cmd = exec.Command(caddyBin, "run", "--config", file, "--adapter", "caddyfile")
	p.cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+p.dataHome, "XDG_CONFIG_HOME="+filepath.Join(dir, "config"), "HOME="+dir)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.exited = make(chan struct{})
	go func() { p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(p.stop)
}
