package tests

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ory "github.com/ory/client-go"

	"github.com/caddy-logout/caddy-logout/tests/e2e"
)

// oryClient is Ory's published Go SDK pointed at base, unchanged.
func oryClient(base string) *ory.APIClient {
	cfg := ory.NewConfiguration()
	cfg.Servers = ory.ServerConfigurations{{URL: base}}
	cfg.HTTPClient = &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return ory.NewAPIClient(cfg)
}

// sdkError is what the SDK's ErrorGeneric model decoded from our body.
// This SDK version types id and message; reason, code and status arrive
// in its AdditionalProperties.
type sdkError struct {
	id, message, reason string
	code                float64
}

// genericError unwraps the SDK's error into Kratos's error envelope.
func genericError(t *testing.T, err error) sdkError {
	t.Helper()
	var apiErr *ory.GenericOpenAPIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("not an SDK API error: %v", err)
	}
	model, ok := apiErr.Model().(ory.ErrorGeneric)
	if !ok {
		t.Fatalf("SDK did not decode the error body %q into ErrorGeneric: %T", apiErr.Body(), apiErr.Model())
	}
	e := model.Error
	reason, _ := e.AdditionalProperties["reason"].(string)
	code, _ := e.AdditionalProperties["code"].(float64)
	return sdkError{id: e.GetId(), message: e.GetMessage(), reason: reason, code: code}
}

// sdkGoFlow runs the Go SDK's logout calls against base with the session
// cookie, checking each answer the way a Kratos client relies on it.
func sdkGoFlow(t *testing.T, base, cookie, returnTo string) {
	t.Helper()
	ctx := context.Background()
	c := oryClient(base)

	flow, resp, err := c.FrontendAPI.CreateBrowserLogoutFlow(ctx).Cookie(cookie).ReturnTo(returnTo).Execute()
	if err != nil {
		t.Fatalf("CreateBrowserLogoutFlow: %v", err)
	}
	if resp.StatusCode != http.StatusOK || flow.LogoutToken == "" {
		t.Fatalf("CreateBrowserLogoutFlow: %s %+v", resp.Status, flow)
	}
	u, err := url.Parse(flow.LogoutUrl)
	if err != nil || u.Query().Get("token") != flow.LogoutToken || u.Query().Get("return_to") != returnTo {
		t.Fatalf("logout_url %q", flow.LogoutUrl)
	}

	// A wrong token is refused, and the session survives it.
	resp, err = c.FrontendAPI.UpdateLogoutFlow(ctx).Token(flow.LogoutToken + "x").Cookie(cookie).Execute()
	if err == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("UpdateLogoutFlow with a bad token: %v %v", resp, err)
	}
	if e := genericError(t, err); e.reason != "Unable to log out because the logout token in the URL query does not match the session cookie." {
		t.Fatalf("decoded 403: %+v", e)
	}

	resp, err = c.FrontendAPI.UpdateLogoutFlow(ctx).Token(flow.LogoutToken).ReturnTo(returnTo).Cookie(cookie).Execute()
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("UpdateLogoutFlow: %v %v", resp, err)
	}

	_, resp, err = c.FrontendAPI.CreateBrowserLogoutFlow(ctx).Cookie(cookie).Execute()
	if err == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("CreateBrowserLogoutFlow after logout: %v %v", resp, err)
	}
	e := genericError(t, err)
	if e.id != "session_inactive" || e.reason != "No active session was found in this request." ||
		e.message != "request does not have a valid authentication session" || e.code != 401 {
		t.Fatalf("decoded 401: %+v", e)
	}

	token := "go-sdk-token-" + e2e.RandomValue()
	resp, err = c.FrontendAPI.PerformNativeLogout(ctx).PerformNativeLogoutBody(*ory.NewPerformNativeLogoutBody(token)).Execute()
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PerformNativeLogout: %v %v", resp, err)
	}
	resp, err = c.FrontendAPI.PerformNativeLogout(ctx).PerformNativeLogoutBody(*ory.NewPerformNativeLogoutBody("")).Execute()
	if err == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("PerformNativeLogout with an empty token: %v %v", resp, err)
	}
	if e := genericError(t, err); !strings.Contains(e.reason, "could not be found, is invalid, or otherwise malformed") {
		t.Fatalf("decoded 403: %+v", e)
	}
}

func TestSDK_Go_AgainstCaddy(t *testing.T) {
	app := e2e.StartUpstream(t)
	p := e2e.StartCaddy(t, "", func(admin, port int) string {
		// Kratos's own cookie name: the default.
		return e2e.SiteConfig(admin, port, app.Port, "allowed_return_urls http://127.0.0.1/")
	})
	sdkGoFlow(t, p.URL(""), "ory_kratos_session=go-sdk-session", p.URL("/done"))
}

func TestSDK_Go_GetFlowError(t *testing.T) {
	app := e2e.StartUpstream(t)
	p := e2e.StartCaddy(t, "", func(admin, port int) string {
		return e2e.SiteConfig(admin, port, app.Port, "error_url https://ui.example.com/error")
	})
	id := browserErrorID(t, p)
	fe, hr, err := oryClient(p.URL("")).FrontendAPI.GetFlowError(context.Background()).Id(id).Execute()
	if err != nil || hr.StatusCode != http.StatusOK {
		t.Fatalf("GetFlowError: %v %v", hr, err)
	}
	if fe.Id != id || fe.Error["id"] != "session_inactive" || fe.Error["code"] != float64(401) {
		t.Fatalf("flow error %+v", fe)
	}
}

// browserErrorID sends a browser without a session to create a logout URL
// and returns the id of the error it is redirected to the error UI with.
func browserErrorID(t *testing.T, p *e2e.Caddy) string {
	t.Helper()
	resp, _ := e2e.Do(t, e2e.Client(t), "GET", p.URL("/self-service/logout/browser"), http.Header{"Accept": {"text/html"}}, "")
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || err != nil || loc.Query().Get("id") == "" {
		t.Fatalf("no error id: %s %q", resp.Status, resp.Header.Get("Location"))
	}
	return loc.Query().Get("id")
}

// runJSSDK runs tests/sdk-js/logout.mjs (Ory's @ory/client) against base.
func runJSSDK(t *testing.T, base, cookie string) string {
	t.Helper()
	return runJSScript(t, "@ory/client", "logout.mjs", base, cookie)
}

// runJSScript runs one of tests/sdk-js's scripts, which drives sdk, with
// node and args (the first is the base URL). The project's test setup
// installs node_modules; a missing SDK is a failure.
func runJSScript(t *testing.T, sdk, script string, args ...string) string {
	t.Helper()
	dir, _ := filepath.Abs("sdk-js")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", filepath.FromSlash(sdk))); err != nil {
		t.Fatalf("%s is not installed in %s: run scripts/test-setup.sh (the README's test command does)", sdk, dir)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", append([]string{script}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s against %s: %v\n%s", sdk, args[0], err, out)
	}
	return string(out)
}

func TestSDK_JS_AgainstCaddy(t *testing.T) {
	app := e2e.StartUpstream(t)
	p := e2e.StartCaddy(t, "", func(admin, port int) string {
		return e2e.SiteConfig(admin, port, app.Port, "cookie sid\n\t\tallowed_return_urls http://127.0.0.1/")
	})
	out := runJSSDK(t, p.URL(""), "sid=js-sdk-session")
	if !strings.Contains(out, `"perform":{"status":204}`) {
		t.Fatalf("unexpected SDK output: %s", out)
	}
	assertLoggedOut(t, p, "sid=js-sdk-session")
}

// Kratos v0.7 front ends use @ory/kratos-client 0.7: its create, submit,
// native logout and error calls work against the gateway unchanged.
func TestSDK_JS_KratosClient07_AgainstCaddy(t *testing.T) {
	app := e2e.StartUpstream(t)
	p := e2e.StartCaddy(t, "", func(admin, port int) string {
		return e2e.SiteConfig(admin, port, app.Port, "cookie sid\n\t\terror_url https://ui.example.com/error")
	})
	out := runJSScript(t, "@ory/kratos-client", "logout-v0.7.mjs", p.URL(""), "sid=js-v07-session", browserErrorID(t, p))
	if !strings.Contains(out, `"perform":{"status":204}`) || !strings.Contains(out, `"nativeEmpty":{"status":403`) {
		t.Fatalf("unexpected SDK output: %s", out)
	}
	assertLoggedOut(t, p, "sid=js-v07-session")
}

// assertLoggedOut checks that a session logged out through an SDK no
// longer reaches the app.
func assertLoggedOut(t *testing.T, p *e2e.Caddy, cookie string) {
	t.Helper()
	_, body := e2e.Do(t, http.DefaultClient, "GET", p.URL("/"), http.Header{"Cookie": {cookie}}, "")
	if e2e.Seen(t, body).Cookie != "" {
		t.Fatalf("the session %s logged out through the SDK still reaches the app", cookie)
	}
}
