// Package parsers is the differential test of the guard against the cookie
// parsers of real frameworks: the built Caddy in front of one echo app per
// parser (PHP's $_COOKIE, Node's cookie package, Express with
// cookie-parser, Werkzeug, Django, Python's http.cookies, Go's net/http,
// Rack), each printing what its framework reads for the session cookie.
// A generated corpus of spellings of revoked session values goes over raw
// sockets, byte for byte, and no parser may ever read a revoked session.
package parsers

import (
	"testing"

	"github.com/caddy-logout/caddy-logout/tests/e2e"
)

func TestMain(m *testing.M) { e2e.Main(m) }
