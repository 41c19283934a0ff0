package cluster

import (
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/session/redis/redistest"

	"github.com/caddy-logout/caddy-logout/tests/e2e"
)

// TestCluster_Groups_LearnedOnOneNode_RevokedTogetherOnAnother: an app
// sets two session cookies at its login, the auth cookie at Path=/admin
// (so a browser never sends it to /logout) and a logged-in cookie at /.
// Node 1 sees the login and learns the group; node 2 sees the logout,
// which carries only the logged-in cookie, and revokes the whole group:
// the auth cookie alone is refused on both nodes, though node 2 had it
// cached as valid for an hour.
func TestCluster_Groups_LearnedOnOneNode_RevokedTogetherOnAnother(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	auth, logged := "auth-"+e2e.RandomValue(), "logged-"+e2e.RandomValue()
	appPort := startGroupApp(t, auth, logged)
	block := "cookie app_auth app_logged\n\t\tcookie_path / /admin\n\t\tintercept /logout\n\t\t" + nodeConfig(redisBlock(srv.Addr))
	nodes := make([]*e2e.Caddy, 2)
	for i := range nodes {
		nodes[i] = e2e.StartCaddy(t, "", func(admin, port int) string { return e2e.SiteConfig(admin, port, appPort, block) })
	}
	authOn := func(p *e2e.Caddy) (int, error) {
		return send("GET", p.URL("/admin/"), http.Header{"Cookie": {"app_auth=" + auth}, "Accept": {"application/json"}}, "")
	}

	if status, err := send("POST", nodes[0].URL("/login"), nil, ""); err != nil || status != http.StatusSeeOther {
		t.Fatalf("login on node 1: %d, %v", status, err)
	}
	if status, err := authOn(nodes[1]); err != nil || status != http.StatusOK {
		t.Fatalf("before the logout, node 2 answered %d, %v for the auth cookie; want 200 (cached as valid)", status, err)
	}
	status, err := send("GET", nodes[1].URL("/logout"), http.Header{"Cookie": {"app_logged=" + logged}, "Sec-Fetch-Site": {"same-origin"}}, "")
	if err != nil || status != http.StatusFound {
		t.Fatalf("logout on node 2: %d, %v; want the app's 302", status, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, p := range nodes {
		for {
			status, err := authOn(p)
			if err == nil && status == http.StatusUnauthorized {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node :%d still answers %d (%v) for the auth cookie the logout did not carry", p.Port, status, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// startGroupApp serves an app whose login sets auth at /admin and logged
// at /, and whose logout redirects to its login page.
func startGroupApp(t *testing.T, auth, logged string) int {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "app_auth", Value: auth, Path: "/admin", HttpOnly: true})
		http.SetCookie(w, &http.Cookie{Name: "app_logged", Value: logged, Path: "/", HttpOnly: true})
		http.Redirect(w, r, "/admin/", http.StatusSeeOther)
	})
	mux.HandleFunc("/logout", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/login", http.StatusFound)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	port := e2e.FreePort(t)
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	s := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })
	return port
}
