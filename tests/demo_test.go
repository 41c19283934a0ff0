package tests

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/tests/e2e"
)

// TestDemo_CaddyfileExample runs the README's demo exactly as a newcomer
// does (Caddyfile.example, its fixed ports, the default bolt store), then
// logs in and out of its stand-in app: through Ory's Go and JavaScript
// SDKs, unchanged, and through the app's own intercepted /logout.
func TestDemo_CaddyfileExample(t *testing.T) {
	config, err := os.ReadFile("../Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	for _, port := range []string{"8080", "8081", "2019"} {
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 200*time.Millisecond); err == nil {
			c.Close()
			t.Fatalf("port %s is taken: the demo needs 8080, 8081 and 2019 free", port)
		}
	}
	p := e2e.RunCaddy(t, t.TempDir(), string(config), 2019, 8080)
	base := "http://localhost:8080"

	login := func() string {
		t.Helper()
		resp, _ := e2e.Do(t, e2e.Client(t), "GET", base+"/login", nil, "")
		for _, c := range resp.Cookies() {
			if c.Name == "demo_session" && c.Value != "" {
				return "demo_session=" + c.Value
			}
		}
		t.Fatalf("demo login set no session cookie: %s %v", resp.Status, resp.Header)
		return ""
	}
	page := func(cookie string) string {
		t.Helper()
		_, body := e2e.Do(t, http.DefaultClient, "GET", base+"/", http.Header{"Cookie": {cookie}}, "")
		return string(body)
	}

	t.Run("Go SDK", func(t *testing.T) {
		cookie := login()
		if !strings.Contains(page(cookie), "Signed in.") {
			t.Fatal("the demo app does not see the fresh session")
		}
		sdkGoFlow(t, base, cookie, base+"/")
		if !strings.Contains(page(cookie), "Anonymous visitor.") {
			t.Fatal("the replayed cookie still signs in after the Go SDK's logout")
		}
	})
	t.Run("JS SDK", func(t *testing.T) {
		cookie := login()
		runJSSDK(t, base, cookie)
		if !strings.Contains(page(cookie), "Anonymous visitor.") {
			t.Fatal("the replayed cookie still signs in after the JS SDK's logout")
		}
	})
	t.Run("signed logout URL injected into the app's page", func(t *testing.T) {
		cookie := login()
		m := regexp.MustCompile(`id="logout-link" href="([^"]+)"`).FindStringSubmatch(page(cookie))
		if m == nil || !strings.HasPrefix(m[1], base+"/self-service/logout?token=") {
			t.Fatalf("no signed logout link in the page: %v", m)
		}
		resp, _ := e2e.Do(t, e2e.Client(t), "GET", m[1], http.Header{"Cookie": {cookie}}, "")
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != base+"/" {
			t.Fatalf("following the injected link: %s %q", resp.Status, resp.Header.Get("Location"))
		}
		if !strings.Contains(page(cookie), "Anonymous visitor.") {
			t.Fatal("the replayed cookie still signs in after the injected link's logout")
		}
		if m := regexp.MustCompile(`id="logout-link"`).FindString(page(cookie)); m != "" {
			t.Fatal("an anonymous page still gets a logout link")
		}
	})
	t.Run("the app's own /logout, intercepted", func(t *testing.T) {
		cookie := login()
		resp, _ := e2e.Do(t, e2e.Client(t), "GET", base+"/logout", http.Header{"Cookie": {cookie}}, "")
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Set-Cookie"), "demo_session=;") {
			t.Fatalf("intercepted /logout: %s Set-Cookie %q", resp.Status, resp.Header.Values("Set-Cookie"))
		}
		if !strings.Contains(page(cookie), "Anonymous visitor.") {
			t.Fatal("the replayed cookie still signs in after the app's own logout")
		}
	})
	if strings.Contains(p.Logs.String(), `"level":"error"`) {
		t.Errorf("errors in the demo's log:\n%s", p.Logs.String())
	}
}

// TestPlaceholder_LogoutURL_NeverLiteral: {http.logout.url} is a signed
// URL for a request with a session cookie and empty for any other, never
// the placeholder's own text. (The stand-in app reports the header it gets
// as X-Session-Token, the one header it echoes.)
func TestPlaceholder_LogoutURL_NeverLiteral(t *testing.T) {
	app := e2e.StartUpstream(t)
	p := e2e.StartCaddy(t, "", func(admin, port int) string {
		return fmt.Sprintf(`{
	admin 127.0.0.1:%d
	auto_https off
}
http://127.0.0.1:%d {
	logout {
		cookie sid
	}
	reverse_proxy 127.0.0.1:%d {
		header_up X-Session-Token {http.logout.url}
	}
}
`, admin, port, app.Port)
	})
	for _, c := range []struct{ name, cookie, wantPrefix string }{
		{"no Cookie header", "", ""},
		{"other cookies only", "theme=dark", ""},
		{"session cookie", "sid=placeholder-session", p.URL("/self-service/logout?token=")},
	} {
		h := http.Header{}
		if c.cookie != "" {
			h.Set("Cookie", c.cookie)
		}
		_, body := e2e.Do(t, http.DefaultClient, "GET", p.URL("/page"), h, "")
		got := e2e.Seen(t, body).Token
		if c.wantPrefix == "" && got != "" || !strings.HasPrefix(got, c.wantPrefix) {
			t.Errorf("%s: the app got %q", c.name, got)
		}
	}
}
