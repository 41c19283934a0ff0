package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/internal/testutil"
)

// Kratos is one running Ory Kratos: the real one, built from its module at
// a pinned version by scripts/test-setup.sh, on loopback with DSN=memory
// (every start is a fresh, empty database). It is stopped when the test
// ends.
type Kratos struct {
	PublicPort, AdminPort int
	CookieName            string // the session cookie's name
	Logs                  *testutil.SyncBuffer
}

// KratosConfig is the part of Kratos's configuration that mirrors a
// gateway's logout block; everything else is a fixed minimal setup (one
// identity schema with email + password, the password method).
type KratosConfig struct {
	// CookieName is session.cookie.name; default ory_kratos_session.
	CookieName string
	// DefaultReturnURL is where a logout goes without return_to
	// (selfservice.flows.logout.after.default_browser_return_url); it is
	// also selfservice.default_browser_return_url.
	DefaultReturnURL string
	// AllowedReturnURLs is selfservice.allowed_return_urls.
	AllowedReturnURLs []string
	// ErrorURL is the error UI (selfservice.flows.error.ui_url).
	ErrorURL string
}

// identitySchema is the smallest schema with a password identifier.
const identitySchema = `{
  "$id": "https://schemas.example.test/person.schema.json",
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "properties": {
    "traits": {
      "type": "object",
      "properties": {
        "email": {
          "type": "string",
          "format": "email",
          "ory.sh/kratos": {"credentials": {"password": {"identifier": true}}}
        }
      },
      "required": ["email"],
      "additionalProperties": false
    }
  }
}`

// StartKratos runs Kratos with cfg on two free loopback ports and waits
// until it is ready (about a second).
func StartKratos(t testing.TB, cfg KratosConfig) *Kratos {
	t.Helper()
	bin := testutil.Tool(t, "kratos")
	if cfg.CookieName == "" {
		cfg.CookieName = "ory_kratos_session"
	}
	k := &Kratos{PublicPort: FreePort(t), AdminPort: FreePort(t), CookieName: cfg.CookieName}
	dir := t.TempDir()
	schema := filepath.Join(dir, "identity.schema.json")
	if err := os.WriteFile(schema, []byte(identitySchema), 0o644); err != nil {
		t.Fatal(err)
	}
	allowed := cfg.AllowedReturnURLs
	if allowed == nil {
		allowed = []string{}
	}
	conf := map[string]any{
		"dsn": "memory",
		"serve": map[string]any{
			"public": map[string]any{"base_url": k.PublicURL("/"), "host": "127.0.0.1", "port": k.PublicPort},
			"admin":  map[string]any{"base_url": k.AdminURL("/"), "host": "127.0.0.1", "port": k.AdminPort},
		},
		"selfservice": map[string]any{
			"default_browser_return_url": cfg.DefaultReturnURL,
			"allowed_return_urls":        allowed,
			"methods":                    map[string]any{"password": map[string]any{"enabled": true}},
			"flows": map[string]any{
				"error":  map[string]any{"ui_url": cfg.ErrorURL},
				"login":  map[string]any{"ui_url": "https://ui.example.test/login"},
				"logout": map[string]any{"after": map[string]any{"default_browser_return_url": cfg.DefaultReturnURL}},
			},
		},
		"session": map[string]any{"cookie": map[string]any{"name": cfg.CookieName}},
		"secrets": map[string]any{
			"cookie": []string{"kratos-test-cookie-secret-0123456789"},
			"cipher": []string{"kratos-test-cipher-secret-012345"},
		},
		"identity": map[string]any{
			"default_schema_id": "default",
			"schemas":           []any{map[string]any{"id": "default", "url": "file://" + schema}},
		},
		// Nothing is ever mailed; the courier only needs a syntactically
		// valid address, and --watch-courier=false keeps it idle.
		"courier": map[string]any{"smtp": map[string]any{"connection_uri": "smtp://127.0.0.1:1/"}},
		// The lowest bcrypt cost: tests log in dozens of times.
		"hashers": map[string]any{"algorithm": "bcrypt", "bcrypt": map[string]any{"cost": 4}},
		"log":     map[string]any{"level": "warning"},
	}
	b, err := json.Marshal(conf)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "kratos.json")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	// --dev: plain-HTTP cookies on loopback; --sqa-opt-out: no telemetry
	// (there is no network to send it to).
	cmd := exec.Command(bin, "serve", "--dev", "--watch-courier=false", "--sqa-opt-out", "-c", file)
	cmd.Env = append(os.Environ(), "HOME="+dir)
	proc := StartProcess(t, "kratos", cmd)
	k.Logs = proc.Logs
	proc.WaitHTTP(t, 30*time.Second, StatusOK, k.PublicURL("/health/ready"), k.AdminURL("/admin/health/ready"))
	return k
}

// PublicURL is path on Kratos's public API (its serve.public.base_url).
func (k *Kratos) PublicURL(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", k.PublicPort, path)
}

// AdminURL is path on Kratos's admin API.
func (k *Kratos) AdminURL(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", k.AdminPort, path)
}

// KratosIdentity is an identity created through the admin API.
type KratosIdentity struct {
	ID, Email, Password string
}

// CreateIdentity creates a fresh identity with a password through
// POST /admin/identities.
func (k *Kratos) CreateIdentity(t testing.TB) KratosIdentity {
	t.Helper()
	id := KratosIdentity{Email: "user-" + RandomValue()[:12] + "@example.test", Password: "pw-" + RandomValue()}
	var created struct {
		ID string `json:"id"`
	}
	k.postJSON(t, nil, k.AdminURL("/admin/identities"), map[string]any{
		"schema_id":   "default",
		"traits":      map[string]any{"email": id.Email},
		"credentials": map[string]any{"password": map[string]any{"config": map[string]any{"password": id.Password}}},
	}, http.StatusCreated, &created)
	id.ID = created.ID
	return id
}

// KratosSession is a session Kratos issued: through the API flow (Token
// set) or the browser flow (Cookie set).
type KratosSession struct {
	ID     string
	Token  string       // the session token, from the API flow
	Cookie *http.Cookie // the session cookie, from the browser flow
}

// LoginAPI logs the identity in through the API login flow, as a native
// app does, and returns the session with its token.
func (k *Kratos) LoginAPI(t testing.TB, id KratosIdentity) KratosSession {
	t.Helper()
	var flow struct {
		ID string `json:"id"`
	}
	k.getJSON(t, nil, k.PublicURL("/self-service/login/api"), &flow)
	var done struct {
		Token   string `json:"session_token"`
		Session struct {
			ID string `json:"id"`
		} `json:"session"`
	}
	k.postJSON(t, nil, k.PublicURL("/self-service/login?flow="+url.QueryEscape(flow.ID)), map[string]any{
		"method": "password", "identifier": id.Email, "password": id.Password,
	}, http.StatusOK, &done)
	if done.Token == "" {
		t.Fatal("kratos API login gave no session_token")
	}
	return KratosSession{ID: done.Session.ID, Token: done.Token}
}

// LoginBrowser logs the identity in through the browser login flow, as an
// SPA does: the flow sets Kratos's CSRF cookie and carries its token, the
// submission sends both back and gets the session cookie.
func (k *Kratos) LoginBrowser(t testing.TB, id KratosIdentity) KratosSession {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	var flow struct {
		ID string `json:"id"`
		UI struct {
			Nodes []struct {
				Attributes struct {
					Name  string `json:"name"`
					Value any    `json:"value"`
				} `json:"attributes"`
			} `json:"nodes"`
		} `json:"ui"`
	}
	k.getJSON(t, jar, k.PublicURL("/self-service/login/browser"), &flow)
	var csrf string
	for _, n := range flow.UI.Nodes {
		if n.Attributes.Name == "csrf_token" {
			csrf, _ = n.Attributes.Value.(string)
		}
	}
	if csrf == "" {
		t.Fatal("kratos browser login flow has no csrf_token")
	}
	var done struct {
		Session struct {
			ID string `json:"id"`
		} `json:"session"`
	}
	k.postJSON(t, jar, k.PublicURL("/self-service/login?flow="+url.QueryEscape(flow.ID)), map[string]any{
		"method": "password", "identifier": id.Email, "password": id.Password, "csrf_token": csrf,
	}, http.StatusOK, &done)
	u, _ := url.Parse(k.PublicURL("/"))
	for _, c := range jar.Cookies(u) {
		if c.Name == k.CookieName {
			return KratosSession{ID: done.Session.ID, Cookie: c}
		}
	}
	t.Fatalf("kratos browser login set no %s cookie", k.CookieName)
	return KratosSession{}
}

func (k *Kratos) getJSON(t testing.TB, jar http.CookieJar, u string, out any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Accept", "application/json")
	k.do(t, jar, req, http.StatusOK, out)
}

func (k *Kratos) postJSON(t testing.TB, jar http.CookieJar, u string, body any, want int, out any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, u, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	k.do(t, jar, req, want, out)
}

func (k *Kratos) do(t testing.TB, jar http.CookieJar, req *http.Request, want int, out any) {
	t.Helper()
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("kratos %s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("kratos %s %s: %s %s", req.Method, req.URL.Path, resp.Status, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("kratos %s %s: %v in %s", req.Method, req.URL.Path, err, b)
	}
}
