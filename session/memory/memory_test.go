package memory_test

import (
	"testing"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/memory"
	"github.com/caddy-logout/caddy-logout/session/storetest"
)

func TestStore_Conformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) session.Store { return memory.New() })
}

// The interface guard lives in a test so the package need not import more
// than it uses.
var _ session.Store = (*memory.Store)(nil)

func TestStore_GroupsConformance(t *testing.T) {
	storetest.RunGroups(t, func(t *testing.T) session.Store { return memory.New() })
}
