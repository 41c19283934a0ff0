package flow_test

// Shared test scaffolding: a Gateway over session.NewCache(memory.New())
// with a clock the test controls, request builders, an app double that
// records what it saw, and assertions for SPEC's wire shapes.
//
// Responses are always read through httptest.ResponseRecorder.Result(),
// whose header is the snapshot taken when the status was written: a header
// added after WriteHeader (a Set-Cookie too late to reach the client) is
// invisible to every assertion here.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/flow"
	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/memory"
)

const (
	// cookieName is the session cookie every harness is configured with
	// unless a test says otherwise.
	cookieName = "sid"

	logoutPath  = "/self-service/logout"
	browserPath = "/self-service/logout/browser"
	apiPath     = "/self-service/logout/api"
	errorsPath  = "/self-service/errors"

	defaultReturn = "https://app.example.com/"
	noCache       = "private, no-cache, no-store, must-revalidate"

	reasonNoSession     = "No active session was found in this request."
	reasonMissingToken  = "Please include a token in the URL query."
	reasonTokenMismatch = "Unable to log out because the logout token in the URL query does not match the session cookie."
	reasonAPITokenBad   = "The provided Ory Session Token could not be found, is invalid, or otherwise malformed."

	msg400 = "The request was malformed or contained invalid parameters"
	msg401 = "request does not have a valid authentication session"
	msg403 = "The requested action was forbidden"

	// The deletion attributes SPEC 1.6 requires, verbatim.
	deletionTail = "; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly"
)

var testKey = []byte("0123456789abcdef0123456789abcdef") // 32 bytes

// clock is a Config.Now the test moves. It starts at the current second, so
// that revocations (which expire relative to the store's real clock) are
// live, and stays there until advanced.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().UTC().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// harness is one Gateway and what it stands on.
type harness struct {
	t     *testing.T
	gw    *flow.Gateway
	cfg   flow.Config
	store *memory.Store
	cache *session.Cache
	keys  *session.Keys
	clock *clock
}

// newHarness builds a Gateway with cookie "sid", default return URL
// https://app.example.com/, allowed_return_urls https://app.example.com/
// and https://*.example.org/app, and a fixed clock; mutate adjusts the
// Config before New.
func newHarness(t *testing.T, mutate ...func(*flow.Config)) *harness {
	t.Helper()
	h := &harness{t: t, store: memory.New(), clock: newClock()}
	cache, err := session.NewCache(h.store, session.CacheOptions{MaxEntries: 10_000})
	if err != nil {
		t.Fatal(err)
	}
	h.cache = cache
	t.Cleanup(func() {
		_ = cache.Close()
		_ = h.store.Close()
	})
	keys, err := session.NewKeys(testKey)
	if err != nil {
		t.Fatal(err)
	}
	h.keys = keys
	def, err := flow.ParseDefaultReturnURL(defaultReturn)
	if err != nil {
		t.Fatal(err)
	}
	h.cfg = flow.Config{
		Cookies:          []string{cookieName},
		DefaultReturnURL: def,
		ReturnPolicy:     mustPolicy(t, "https://app.example.com/", "https://*.example.org/app"),
		Keys:             keys,
		Store:            cache,
		Now:              h.clock.Now,
	}
	for _, m := range mutate {
		m(&h.cfg)
	}
	gw, err := flow.New(h.cfg)
	if err != nil {
		t.Fatalf("flow.New: %v", err)
	}
	h.gw = gw
	return h
}

func mustPolicy(t testing.TB, allowed ...string) *flow.ReturnPolicy {
	t.Helper()
	p, err := flow.NewReturnPolicy(allowed)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mustURL(t testing.TB, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// serve runs one request through the Gateway. A nil next fails the test
// if the Gateway calls it (the endpoints answer for themselves).
func (h *harness) serve(r *http.Request, next flow.Next) *http.Response {
	h.t.Helper()
	res, err := h.serveErr(r, next)
	if err != nil {
		h.t.Fatalf("%s %s: ServeHTTP returned %v", r.Method, r.URL, err)
	}
	return res
}

func (h *harness) serveErr(r *http.Request, next flow.Next) (*http.Response, error) {
	h.t.Helper()
	if next == nil {
		t := h.t
		next = flow.NextFunc(func(http.ResponseWriter, *http.Request) error {
			t.Errorf("%s %s: the app was called; the gateway should have answered", r.Method, r.URL)
			return nil
		})
	}
	rec := httptest.NewRecorder()
	err := h.gw.ServeHTTP(rec, r, next)
	return rec.Result(), err
}

// revoke revokes a credential through the cache, as an earlier logout would.
func (h *harness) revoke(credential string) {
	h.t.Helper()
	until := h.clock.Now().Add(time.Hour)
	if err := h.cache.Revoke(context.Background(), session.IDOf(credential), until); err != nil {
		h.t.Fatal(err)
	}
}

// revoked asks the cache, as the flows do; storeRevoked asks the store
// underneath, where a durable revocation must have landed.
func (h *harness) revoked(credential string) bool {
	h.t.Helper()
	ok, err := h.cache.Revoked(context.Background(), session.IDOf(credential))
	if err != nil {
		h.t.Fatal(err)
	}
	return ok
}

func (h *harness) storeRevoked(credential string) bool {
	h.t.Helper()
	until, err := h.store.RevokedUntil(context.Background(), session.IDOf(credential))
	if err != nil {
		h.t.Fatal(err)
	}
	return !until.IsZero()
}

func (h *harness) assertRevoked(credential string) {
	h.t.Helper()
	if !h.storeRevoked(credential) {
		h.t.Errorf("session %q is not revoked in the store", credential)
	}
	if !h.revoked(credential) {
		h.t.Errorf("session %q is not revoked according to the cache", credential)
	}
}

func (h *harness) assertNotRevoked(credential string) {
	h.t.Helper()
	if h.storeRevoked(credential) || h.revoked(credential) {
		h.t.Errorf("session %q was revoked; it must not be", credential)
	}
}

// token signs a logout token for the session whose cookie is credential,
// now, with the default lifetime.
func (h *harness) token(credential string) string {
	return h.keys.SignLogoutToken(session.IDOf(credential), h.clock.Now(), flow.DefaultTokenTTL)
}

// logoutURL asks the create endpoint for a logout URL, as a front end would.
func (h *harness) logoutURL(credential, returnTo string) (logoutURL, token string) {
	h.t.Helper()
	target := browserPath
	if returnTo != "" {
		target += "?" + url.Values{"return_to": {returnTo}}.Encode()
	}
	res := h.serve(get(target, cookie(cookieName, credential)), nil)
	if res.StatusCode != http.StatusOK {
		h.t.Fatalf("create: status %d, body %s", res.StatusCode, readBody(h.t, res))
	}
	var body struct {
		LogoutURL   string `json:"logout_url"`
		LogoutToken string `json:"logout_token"`
	}
	decodeStrict(h.t, res, &body)
	return body.LogoutURL, body.LogoutToken
}

// performTarget is the perform URL for a token (and optional return_to).
func performTarget(token, returnTo string) string {
	q := url.Values{"token": {token}}
	if returnTo != "" {
		q.Set("return_to", returnTo)
	}
	return logoutPath + "?" + q.Encode()
}

// Request building.

type reqOpt func(*http.Request)

func newReq(method, target string, body io.Reader, opts ...reqOpt) *http.Request {
	r := httptest.NewRequest(method, target, body)
	for _, o := range opts {
		o(r)
	}
	return r
}

func get(target string, opts ...reqOpt) *http.Request {
	return newReq(http.MethodGet, target, nil, opts...)
}

func header(k, v string) reqOpt { return func(r *http.Request) { r.Header.Add(k, v) } }

func accept(v string) reqOpt { return header("Accept", v) }

var asJSON = accept("application/json")

// cookie adds one name=value pair to the request's Cookie header.
func cookie(name, value string) reqOpt {
	return func(r *http.Request) { addCookieLine(r, name+"="+value) }
}

// cookies sets a raw Cookie header line, byte for byte.
func cookies(raw string) reqOpt { return header("Cookie", raw) }

func addCookieLine(r *http.Request, pair string) {
	if c := r.Header.Get("Cookie"); c != "" {
		r.Header.Set("Cookie", c+"; "+pair)
		return
	}
	r.Header.Set("Cookie", pair)
}

// app is the handler behind the gateway. It records the request it saw and
// answers as configured (200 "app" by default).
type app struct {
	mu     sync.Mutex
	calls  int
	seen   *http.Request
	status int
	body   string
	header http.Header // added to the answer
	err    error       // returned after answering
	silent bool        // write nothing at all
}

func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls++
	a.seen = r.Clone(context.Background())
	if !a.silent {
		for k, vs := range a.header {
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
		status := a.status
		if status == 0 {
			status = http.StatusOK
		}
		body := a.body
		if body == "" && a.status == 0 {
			body = "app"
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
	return a.err
}

func (a *app) called() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls > 0
}

func (a *app) request(t *testing.T) *http.Request {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.seen == nil {
		t.Fatal("the app was not called")
	}
	return a.seen
}

// Response reading and assertions.

func readBody(t testing.TB, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	res.Body = io.NopCloser(bytes.NewReader(b))
	return string(b)
}

// decodeStrict decodes the whole body into v, refusing unknown fields and
// trailing data: the JSON shapes are part of the wire contract.
func decodeStrict(t testing.TB, res *http.Response, v any) {
	t.Helper()
	body := readBody(t, res)
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("body %q does not decode into %T: %v", body, v, err)
	}
	if dec.More() {
		t.Fatalf("body %q has trailing data", body)
	}
}

// errorBody is Kratos's error object (SPEC 1.5).
type errorBody struct {
	ID      string `json:"id"`
	Code    int    `json:"code"`
	Status  string `json:"status"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// jsonError checks that res is a JSON error envelope with the given status
// and returns its error object. It checks the parts SPEC fixes for every
// error: Content-Type exactly application/json, Ory-Error-Id (when the
// error has an id), code and status text, and the generic message for 400,
// 401 and 403.
func jsonError(t testing.TB, res *http.Response, code int) errorBody {
	t.Helper()
	if res.StatusCode != code {
		t.Fatalf("status %d, want %d; body %s", res.StatusCode, code, readBody(t, res))
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want exactly application/json", ct)
	}
	var env struct {
		Error *errorBody `json:"error"`
	}
	decodeStrict(t, res, &env)
	if env.Error == nil {
		t.Fatal(`error envelope has no "error" object`)
	}
	e := *env.Error
	if e.Code != code || e.Status != http.StatusText(code) {
		t.Errorf("error code/status %d %q, want %d %q", e.Code, e.Status, code, http.StatusText(code))
	}
	// Kratos's 404 for an error it does not hold is its one error
	// without a reason.
	if e.Reason == "" && code != http.StatusNotFound || e.Message == "" {
		t.Errorf("error %+v lacks a reason or message", e)
	}
	if got := res.Header.Get("Ory-Error-Id"); got != e.ID {
		t.Errorf("Ory-Error-Id %q, want %q", got, e.ID)
	}
	want := map[int]string{400: msg400, 401: msg401, 403: msg403}[code]
	if want != "" && e.Message != want {
		t.Errorf("message %q, want %q", e.Message, want)
	}
	return e
}

// assertError checks a JSON error's id ("" for none, as most of Kratos's
// errors have) and reason ("" skips that check).
func assertError(t testing.TB, res *http.Response, code int, id, reason string) {
	t.Helper()
	e := jsonError(t, res, code)
	if e.ID != id {
		t.Errorf("error id %q, want %q", e.ID, id)
	}
	if reason != "" && e.Reason != reason {
		t.Errorf("reason %q, want %q", e.Reason, reason)
	}
}

func assertNoSessionError(t testing.TB, res *http.Response) {
	t.Helper()
	assertError(t, res, http.StatusUnauthorized, "session_inactive", reasonNoSession)
}

// assertErrorPage checks the plain HTML page browsers get without error_url.
func assertErrorPage(t testing.TB, res *http.Response, code int, reason string) {
	t.Helper()
	if res.StatusCode != code {
		t.Fatalf("status %d, want %d", res.StatusCode, code)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type %q, want text/html", ct)
	}
	body := readBody(t, res)
	for _, want := range []string{strconv.Itoa(code), http.StatusText(code), html.EscapeString(reason)} {
		if !strings.Contains(body, want) {
			t.Errorf("error page lacks %q:\n%s", want, body)
		}
	}
}

func assertStatus(t testing.TB, res *http.Response, code int) {
	t.Helper()
	if res.StatusCode != code {
		t.Fatalf("status %d, want %d; body %s", res.StatusCode, code, readBody(t, res))
	}
}

func assertHeader(t testing.TB, res *http.Response, name, want string) {
	t.Helper()
	if got := res.Header.Values(name); len(got) != 1 || got[0] != want {
		t.Errorf("%s: %q, want exactly [%q]", name, got, want)
	}
}

func assertNoHeader(t testing.TB, res *http.Response, name string) {
	t.Helper()
	if got := res.Header.Values(name); len(got) != 0 {
		t.Errorf("%s: %q, want none", name, got)
	}
}

func assertNoCacheHeaders(t testing.TB, res *http.Response, vary bool) {
	t.Helper()
	assertHeader(t, res, "Cache-Control", noCache)
	if vary && !slices.Contains(res.Header.Values("Vary"), "Cookie") {
		t.Errorf("Vary %q, want Cookie", res.Header.Values("Vary"))
	}
}

// setCookies is the response's Set-Cookie values.
func setCookies(res *http.Response) []string { return res.Header.Values("Set-Cookie") }

// deletion is the exact Set-Cookie that clears name over plain HTTP with
// the default attributes (Path=/, SameSite=Lax).
func deletion(name string) string {
	return name + "=; Path=/" + deletionTail + "; SameSite=Lax"
}

// secureDeletion is deletion over HTTPS.
func secureDeletion(name string) string {
	return name + "=; Path=/" + deletionTail + "; Secure; SameSite=Lax"
}

// assertClears checks that the response deletes every named cookie (with
// the default attributes over plain HTTP).
func assertClears(t testing.TB, res *http.Response, names ...string) {
	t.Helper()
	assertClearsWith(t, res, deletion, names...)
}

func assertClearsWith(t testing.TB, res *http.Response, render func(string) string, names ...string) {
	t.Helper()
	got := setCookies(res)
	for _, n := range names {
		if !slices.Contains(got, render(n)) {
			t.Errorf("Set-Cookie %q does not clear %q (want %q)", got, n, render(n))
		}
	}
}

func assertNoSetCookie(t testing.TB, res *http.Response) {
	t.Helper()
	if got := setCookies(res); len(got) != 0 {
		t.Errorf("Set-Cookie %q, want none", got)
	}
}

// failingStore is a session.Store whose backend is down.
type failingStore struct{ revokeOK bool }

var errStoreDown = errors.New("store unreachable")

func (f failingStore) Revoke(context.Context, session.ID, time.Time) error {
	if f.revokeOK {
		return nil
	}
	return errStoreDown
}

func (failingStore) RevokedUntil(context.Context, session.ID) (time.Time, error) {
	return time.Time{}, errStoreDown
}

func (failingStore) Close() error { return nil }

// withFailingStore puts a cache over a store that answers nothing.
func withFailingStore(t *testing.T) func(*flow.Config) {
	return func(c *flow.Config) {
		cache, err := session.NewCache(failingStore{}, session.CacheOptions{MaxEntries: 100})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cache.Close() })
		c.Store = cache
	}
}
