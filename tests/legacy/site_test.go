package legacy

import (
	"fmt"
	"testing"

	"github.com/caddy-logout/caddy-logout/tests/e2e"
)

// Site is a PHP app served by the built Caddy through php-fpm, with the
// logout gateway in front.
type Site struct {
	Caddy *e2e.Caddy
	URL   string // the site's base URL, no trailing slash
	Port  int    // the port of URL
}

// siteHost is the name HTTPS sites answer to (Chromium and
// e2e.LoopbackClient map *.example.test to this machine).
const siteHost = "app.example.test"

// StartSite serves root with php_fastcgi and file_server behind a logout
// block holding logout (the lines of the block). Over plain HTTP the site
// is http://127.0.0.1:<port>; with https it is https://app.example.test:
// <tlsPort> (Caddy's internal CA), plus the same site over plain HTTP for
// the harness's readiness check. Ports may be given (0: a free one), as an
// app that records its own URL needs it before Caddy starts.
func StartSite(t *testing.T, root string, fpm *FPM, logout string, https bool, port, tlsPort int) *Site {
	t.Helper()
	if port == 0 {
		port = e2e.FreePort(t)
	}
	if https && tlsPort == 0 {
		tlsPort = e2e.FreePort(t)
	}
	admin := e2e.FreePort(t)
	site := fmt.Sprintf(`(app) {
	root * %[1]s
	logout {
		%[2]s
	}
	php_fastcgi unix/%[3]s
	file_server
}
`, root, logout, fpm.Socket)
	global := "auto_https off"
	sites := fmt.Sprintf("http://127.0.0.1:%d {\n\timport app\n}\n", port)
	s := &Site{URL: fmt.Sprintf("http://127.0.0.1:%d", port), Port: port}
	if https {
		global = "auto_https disable_redirects\n\tskip_install_trust"
		sites = fmt.Sprintf("https://%[1]s:%[2]d {\n\tbind 127.0.0.1\n\ttls internal\n\timport app\n}\n\nhttp://127.0.0.1:%[3]d {\n\timport app\n}\n", siteHost, tlsPort, port)
		s.URL, s.Port = fmt.Sprintf("https://%s:%d", siteHost, tlsPort), tlsPort
	}
	config := fmt.Sprintf("{\n\tadmin 127.0.0.1:%d\n\t%s\n\tgrace_period 5s\n}\n\n%s\n%s", admin, global, site, sites)
	s.Caddy = e2e.RunCaddy(t, "", config, admin, port)
	if https {
		e2e.WaitHTTPS(t, s.URL+"/")
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Caddy's log:\n%s", s.Caddy.Logs.String())
			t.Logf("PHP's errors:\n%s", fpm.Errors())
		}
	})
	return s
}
