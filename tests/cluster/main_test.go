// Package cluster runs several Caddy processes (the real binary, each with
// its own data directory) on real redis-servers: revocations seen by every
// node, Redis outages, restarts, failovers, TLS, and the go-redis client's
// logging.
package cluster

import (
	"testing"

	"github.com/caddy-logout/caddy-logout/tests/e2e"
)

func TestMain(m *testing.M) { e2e.Main(m) }
