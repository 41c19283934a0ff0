package memory_test

import (
	"testing"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/memory"
	"github.com/caddy-logout/caddy-logout/session/storetest"
)

func TestOwners(t *testing.T) {
	storetest.RunOwners(t, func(t *testing.T) session.Store { return memory.New() })
}
