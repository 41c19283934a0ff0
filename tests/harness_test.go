// Package tests runs caddy-logout end to end: the real Caddy binary built
// from cmd/caddy (see package e2e), started as a process from a Caddyfile,
// serving real HTTP in front of real upstream apps, browsers and SDKs.
package tests

import (
	"testing"

	"github.com/caddy-logout/caddy-logout/tests/e2e"
)

func TestMain(m *testing.M) { e2e.Main(m) }
