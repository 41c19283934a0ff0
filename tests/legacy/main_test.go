// Package legacy runs zero-code logout against real legacy apps: Debian's
// DokuWiki and WordPress (on a MariaDB the test starts) and a small PHP
// app, on a real php-fpm behind the built Caddy, with a Go client that
// keeps cookies as a browser does, and WordPress in real Chromium too.
// scripts/test-setup.sh installs the Debian packages; nothing is faked
// unless a test says so.
package legacy

import (
	"testing"

	"github.com/caddy-logout/caddy-logout/tests/e2e"
)

func TestMain(m *testing.M) { e2e.Main(m) }
