// Package oidc runs OpenID Connect single logout end to end, with real
// parts only: the Caddy binary with caddy-logout, oauth2-proxy v7.15.6 in
// front of the app (forward_auth), oidc-provider 8.8.1 (an OpenID
// Certified provider, on Node) and Ory Hydra v2.3.0 as identity providers,
// real redis-server for several nodes, and real Chromium for the
// front-channel iframe.
package oidc

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/caddy-logout/caddy-logout/internal/testutil"
	"github.com/caddy-logout/caddy-logout/tests/e2e"
)

func TestMain(m *testing.M) { e2e.Main(m) }

// idpHost is where oidc-provider listens: another loopback address than
// Caddy's 127.0.0.1, so a browser keeps the provider's cookies apart from
// the app's, as it would for idp.example.com and app.example.com.
const idpHost = "127.0.0.2"

// freePortOn asks the kernel for a port free on host right now.
func freePortOn(t testing.TB, host string) int {
	t.Helper()
	l, err := net.Listen("tcp", host+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// provider is a running oidc-provider, and the key it signs with (the test
// hands the key to it, so it can sign logout tokens as the provider does).
type provider struct {
	*e2e.Process
	Issuer string
	Key    *rsa.PrivateKey
	KID    string
}

// client is oidc-provider client metadata.
type client map[string]any

func startProvider(t *testing.T, clients ...client) *provider {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	kid := "test-" + randomID()
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key, KeyID: kid, Algorithm: "RS256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	clientsJSON, err := json.Marshal(clients)
	if err != nil {
		t.Fatal(err)
	}
	port := freePortOn(t, idpHost)
	dir, err := filepath.Abs("idp")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "oidc-provider")); err != nil {
		t.Fatalf("oidc-provider is not installed in %s (%v): run scripts/test-setup.sh", dir, err)
	}
	cmd := exec.Command("node", "idp.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "IDP_HOST="+idpHost, fmt.Sprintf("IDP_PORT=%d", port), "IDP_JWKS="+string(jwks), "IDP_CLIENTS="+string(clientsJSON), "DEBUG=")
	p := &provider{Process: e2e.StartProcess(t, "oidc-provider", cmd), Key: key, KID: kid,
		Issuer: fmt.Sprintf("http://%s:%d", idpHost, port)}
	p.WaitLine(t, 20*time.Second, `"event":"ready"`)
	return p
}

// oauth2Proxy is a running oauth2-proxy for one client, answering Caddy's
// forward_auth at /oauth2/auth and serving its /oauth2/* endpoints.
type oauth2Proxy struct {
	*e2e.Process
	Port int
}

func (o *oauth2Proxy) Addr() string { return fmt.Sprintf("127.0.0.1:%d", o.Port) }

// startOAuth2Proxy runs oauth2-proxy as the oauth2-proxy docs set it up
// behind Caddy: the OIDC provider, the identity handed to the app in
// X-Auth-Request-User and Authorization: Bearer <ID token>.
func startOAuth2Proxy(t *testing.T, issuer, clientID, secret, publicURL string, extra ...string) *oauth2Proxy {
	t.Helper()
	port := e2e.FreePort(t)
	issuerHost := strings.TrimPrefix(strings.TrimPrefix(issuer, "http://"), "https://")
	issuerHost, _, _ = strings.Cut(issuerHost, "/")
	cookieSecret := make([]byte, 32)
	rand.Read(cookieSecret)
	args := append([]string{
		"--http-address=127.0.0.1:" + fmt.Sprint(port),
		"--provider=oidc",
		"--oidc-issuer-url=" + issuer,
		"--client-id=" + clientID,
		"--client-secret=" + secret,
		"--redirect-url=" + publicURL + "/oauth2/callback",
		"--cookie-secret=" + base64.RawURLEncoding.EncodeToString(cookieSecret),
		"--cookie-secure=false",
		"--email-domain=*",
		"--upstream=static://202",
		"--reverse-proxy=true",
		"--trusted-proxy-ip=127.0.0.1/32",
		"--set-xauthrequest",
		"--set-authorization-header",
		"--skip-provider-button",
		"--whitelist-domain=" + issuerHost,
		"--code-challenge-method=S256",
		"--scope=openid email profile",
	}, extra...)
	o := &oauth2Proxy{Process: e2e.StartProcess(t, "oauth2-proxy", exec.Command(testutil.Tool(t, "oauth2-proxy"), args...)), Port: port}
	o.WaitHTTP(t, 20*time.Second, e2e.StatusOK, "http://"+o.Addr()+"/ping")
	return o
}

func randomID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return fmt.Sprintf("%x", b)
}
