package identity

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	ory "github.com/ory/client-go"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/tests/e2e"
)

// sdkGateway is Kratos's cookie name in front of forward_auth, with three
// sessions of alice and one of bob, all recorded.
func sdkGateway(t *testing.T) (p *e2e.Caddy, alice []string, bob string) {
	t.Helper()
	app := startApp(t)
	auth := startAuthServiceFor(t, "ory_kratos_session")
	p = e2e.StartCaddy(t, "", func(admin, port int) string {
		return site(admin, port, `identity {
			subject {http.request.header.X-Auth-Request-User}
		}`, forwardAuth(auth, "X-Auth-Request-User"), app.Port)
	})
	alice = []string{auth.login("alice"), auth.login("alice"), auth.login("alice")}
	bob = auth.login("bob")
	for _, sid := range append(alice, bob) {
		resp, _ := e2e.Do(t, e2e.OneShot, http.MethodGet, p.URL("/"), http.Header{"Cookie": {"ory_kratos_session=" + sid}}, "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("visit: %d", resp.StatusCode)
		}
	}
	for _, sid := range alice {
		waitRecordedIDs(t, p, "alice", session.CookieID(sid))
	}
	waitRecordedIDs(t, p, "bob", session.CookieID(bob))
	return p, alice, bob
}

func publicID(sid string) string { return session.CookieID(sid).PublicID() }

// Ory's Go SDK (client-go), unchanged: ListMySessions, DisableMySession,
// DisableMyOtherSessions.
func TestSDK_Go_MySessions(t *testing.T) {
	p, alice, bob := sdkGateway(t)
	cfg := ory.NewConfiguration()
	cfg.Servers = ory.ServerConfigurations{{URL: p.URL("")}}
	cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	c := ory.NewAPIClient(cfg)
	ctx := context.Background()
	me := "ory_kratos_session=" + alice[0]

	list, resp, err := c.FrontendAPI.ListMySessions(ctx).Cookie(me).Execute()
	if err != nil || resp.StatusCode != http.StatusOK || len(list) != 2 {
		t.Fatalf("ListMySessions: %d sessions, %v, %v", len(list), resp, err)
	}
	ids := map[string]bool{}
	for _, s := range list {
		ids[s.Id] = true
		if !s.GetActive() || s.ExpiresAt == nil || s.AuthenticatedAt == nil || s.IssuedAt == nil {
			t.Fatalf("session %+v", s)
		}
	}
	if !ids[publicID(alice[1])] || !ids[publicID(alice[2])] || ids[publicID(alice[0])] || ids[publicID(bob)] {
		t.Fatalf("listed %v: want alice's other two", ids)
	}

	resp, err = c.FrontendAPI.DisableMySession(ctx, publicID(alice[1])).Cookie(me).Execute()
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DisableMySession: %v, %v", resp, err)
	}
	if status, _ := visitCookie(t, p, alice[1]); status == http.StatusOK {
		t.Fatal("the session DisableMySession revoked still reaches the app")
	}
	resp, err = c.FrontendAPI.DisableMySession(ctx, publicID(alice[0])).Cookie(me).Execute()
	var apiErr *ory.GenericOpenAPIError
	if err == nil || resp.StatusCode != http.StatusBadRequest || !errors.As(err, &apiErr) {
		t.Fatalf("DisableMySession(current): %v, %v; want Kratos's 400", resp, err)
	}

	count, resp, err := c.FrontendAPI.DisableMyOtherSessions(ctx).Cookie(me).Execute()
	if err != nil || resp.StatusCode != http.StatusOK || count.GetCount() != 1 {
		t.Fatalf("DisableMyOtherSessions: %+v, %v, %v; want count 1", count, resp, err)
	}
	if status, _ := visitCookie(t, p, alice[2]); status == http.StatusOK {
		t.Fatal("a session DisableMyOtherSessions revoked still reaches the app")
	}
	for _, sid := range []string{alice[0], bob} {
		if status, _ := visitCookie(t, p, sid); status != http.StatusOK {
			t.Fatalf("the current session or bob's after DisableMyOtherSessions: %d", status)
		}
	}

	_, resp, err = c.FrontendAPI.ListMySessions(ctx).Cookie("ory_kratos_session=unknown").Execute()
	if err == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("ListMySessions for a session without a known owner: %v, %v", resp, err)
	}
	if !errors.As(err, &apiErr) {
		t.Fatalf("not an SDK error: %v", err)
	}
	if model, ok := apiErr.Model().(ory.ErrorGeneric); !ok || model.Error.GetId() != "session_owner_unknown" {
		t.Fatalf("the SDK did not decode Kratos's error envelope: %T %s", apiErr.Model(), apiErr.Body())
	}
	_, resp, err = c.FrontendAPI.ListMySessions(ctx).Execute()
	if err == nil || resp.StatusCode != http.StatusUnauthorized || !errors.As(err, &apiErr) {
		t.Fatalf("ListMySessions without a session: %v, %v", resp, err)
	}
	if model, ok := apiErr.Model().(ory.ErrorGeneric); !ok || model.Error.GetMessage() == "" {
		t.Fatalf("401 not decoded: %s", apiErr.Body())
	}
}

// Ory's JavaScript SDK (@ory/client, tests/sdk-js), unchanged.
func TestSDK_JS_MySessions(t *testing.T) {
	p, alice, bob := sdkGateway(t)
	dir, _ := filepath.Abs("../sdk-js")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@ory", "client")); err != nil {
		t.Fatalf("@ory/client is not installed in %s: run scripts/test-setup.sh (the README's test command does)", dir)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "sessions.mjs", p.URL(""), "ory_kratos_session="+alice[0], publicID(alice[1]))
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("@ory/client: %v\n%s", err, out)
	}
	var saw struct {
		DisableOthers struct {
			Data struct {
				Count int `json:"count"`
			} `json:"data"`
		} `json:"disableOthers"`
	}
	if err := json.Unmarshal(out, &saw); err != nil || saw.DisableOthers.Data.Count != 1 {
		t.Fatalf("SDK output %s: %v; want disableMyOtherSessions to count 1", out, err)
	}
	for _, sid := range alice[1:] {
		if status, _ := visitCookie(t, p, sid); status == http.StatusOK {
			t.Fatal("a session revoked through the JS SDK still reaches the app")
		}
	}
	for _, sid := range []string{alice[0], bob} {
		if status, _ := visitCookie(t, p, sid); status != http.StatusOK {
			t.Fatalf("the current session or bob's: %d", status)
		}
	}
}

// visitCookie is one app request with Kratos's session cookie.
func visitCookie(t *testing.T, p *e2e.Caddy, sid string) (int, []byte) {
	t.Helper()
	resp, body := e2e.Do(t, e2e.OneShot, http.MethodGet, p.URL("/"), http.Header{"Cookie": {"ory_kratos_session=" + sid}, "Accept": {"application/json"}}, "")
	return resp.StatusCode, body
}
