package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// Upstream is the app behind the gateway. It knows nothing of logout: it
// reports what it saw, so tests can tell what the gateway let through.
type Upstream struct {
	*http.Server
	Port int
	mu   sync.Mutex
	seen []SeenRequest
}

// SeenRequest is what the upstream saw of one request.
type SeenRequest struct {
	Path   string `json:"path"`
	Cookie string `json:"cookie"`
	Token  string `json:"token"`
	Auth   string `json:"auth"`
}

// StartUpstream starts the stand-in app: /login sets a fresh sid cookie,
// /logout forgets nothing and redirects wherever ?next= says, every other
// path answers with what it saw as JSON.
func StartUpstream(t testing.TB) *Upstream {
	t.Helper()
	u := &Upstream{Port: FreePort(t)}
	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: RandomValue(), Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	// The legacy app's own logout: forgets nothing, redirects wherever asked.
	mux.HandleFunc("/logout", func(w http.ResponseWriter, r *http.Request) {
		u.record(r)
		to := r.URL.Query().Get("next")
		if to == "" {
			to = "/"
		}
		http.Redirect(w, r, to, http.StatusFound)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s := u.record(r)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(s)
	})
	u.Server = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", u.Port))
	if err != nil {
		t.Fatal(err)
	}
	go u.Serve(l)
	t.Cleanup(func() { u.Close() })
	return u
}

func (u *Upstream) record(r *http.Request) SeenRequest {
	s := SeenRequest{Path: r.URL.Path, Cookie: r.Header.Get("Cookie"), Token: r.Header.Get("X-Session-Token"), Auth: r.Header.Get("Authorization")}
	u.mu.Lock()
	u.seen = append(u.seen, s)
	u.mu.Unlock()
	return s
}

// Requests lists every request the upstream saw, in order.
func (u *Upstream) Requests() []SeenRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]SeenRequest(nil), u.seen...)
}

// RandomValue is a fresh random session value (32 hex characters).
func RandomValue() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Client is a browser-like client: a cookie jar, no automatic redirects.
func Client(t testing.TB) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{
		Jar:           jar,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// OneShot is a client that opens a new connection for every request.
// Helpers that set up or check state use it: Caddy swaps its servers on a
// reload, and a kept-alive connection that the old server closes at that
// instant can be reset under the next request on it.
var OneShot = &http.Client{
	Timeout:   10 * time.Second,
	Transport: &http.Transport{DisableKeepAlives: true},
}

// Do sends a request and returns the response with its body read.
func Do(t testing.TB, c *http.Client, method, rawURL string, header http.Header, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, rawURL, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// Seen decodes what the upstream reported seeing.
func Seen(t testing.TB, body []byte) SeenRequest {
	t.Helper()
	var s SeenRequest
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatalf("upstream answer %q: %v", body, err)
	}
	return s
}

// LogoutFlow is the answer of GET /self-service/logout/browser.
type LogoutFlow struct {
	LogoutURL   string `json:"logout_url"`
	LogoutToken string `json:"logout_token"`
}

// CreateLogout asks p for a logout URL with the given Cookie header.
func CreateLogout(t testing.TB, p *Caddy, cookie string, query string) LogoutFlow {
	t.Helper()
	resp, body := Do(t, OneShot, "GET", p.URL("/self-service/logout/browser"+query),
		http.Header{"Cookie": {cookie}, "Accept": {"application/json"}}, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("create logout: %s %s", resp.Status, body)
	}
	var f LogoutFlow
	if err := json.Unmarshal(body, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

// ErrorBody is Kratos's error envelope.
type ErrorBody struct {
	Error struct {
		ID      string `json:"id"`
		Code    int    `json:"code"`
		Status  string `json:"status"`
		Reason  string `json:"reason"`
		Message string `json:"message"`
	} `json:"error"`
}

// DecodeError decodes Kratos's error envelope.
func DecodeError(t testing.TB, body []byte) ErrorBody {
	t.Helper()
	var e ErrorBody
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	return e
}

// WithQuery appends ?k=v pairs.
func WithQuery(base string, kv ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Add(kv[i], kv[i+1])
	}
	return base + "?" + q.Encode()
}
