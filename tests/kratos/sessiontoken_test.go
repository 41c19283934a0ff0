package kratos

import (
	"net/http"
	"testing"

	"github.com/caddy-logout/caddy-logout/tests/e2e"
)

// A native app holding a session token Kratos issued (the API login flow)
// logs out through the gateway the way Kratos lets it: it asks for a
// logout URL with X-Session-Token, opens it with the same header, and
// from then on the token no longer reaches the app.
func TestSessionToken_LogoutURLThroughTheGateway_RevokesTheToken(t *testing.T) {
	k := e2e.StartKratos(t, e2e.KratosConfig{DefaultReturnURL: defaultReturnURL, ErrorURL: errorUI})
	app := e2e.StartUpstream(t)
	g := e2e.StartCaddy(t, "", func(admin, port int) string {
		return e2e.SiteConfig(admin, port, app.Port, "store memory")
	})
	token := k.LoginAPI(t, k.CreateIdentity(t)).Token
	h := http.Header{"X-Session-Token": {token}}

	_, body := e2e.Do(t, http.DefaultClient, "GET", g.URL("/me"), h, "")
	if e2e.Seen(t, body).Token != token {
		t.Fatal("the app did not see the session token before logout")
	}
	gw := newSide("gateway", g.URL(""), k)
	logoutURL, _ := gw.createWith(t, with(jsonClient, "X-Session-Token", token))
	if o := gw.send(t, "GET", logoutURL, with(jsonClient, "X-Session-Token", token), ""); o.status != http.StatusNoContent || len(o.cookies) != 0 {
		t.Fatalf("perform with X-Session-Token: %d, cookies %v", o.status, o.cookies)
	}
	_, body = e2e.Do(t, http.DefaultClient, "GET", g.URL("/me"), h, "")
	if got := e2e.Seen(t, body).Token; got != "" {
		t.Fatalf("the app still sees the logged-out token %q", got)
	}
	if o := gw.send(t, "GET", createPath, with(jsonClient, "X-Session-Token", token), ""); o.status != http.StatusUnauthorized || o.errID != "session_inactive" {
		t.Fatalf("create after logout: %d %q", o.status, o.errID)
	}
}
