package caddymodule

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-logout/caddy-logout/session"
)

func TestCaddyfile_IdentityErrors(t *testing.T) {
	for _, c := range []struct{ name, body, want string }{
		{"literal subject", "identity {\n\t\t\tsubject alice\n\t\t}", `identity subject: "alice" must be a placeholder`},
		{"literal id_token", "identity {\n\t\t\tid_token eyJ\n\t\t}", `identity id_token: "eyJ" must be a placeholder`},
		{"empty block", "identity {\n\t\t}", "identity: needs id_token or subject"},
		{"unknown option", "identity {\n\t\t\tuser {http.auth.user.id}\n\t\t}", `unrecognized identity option "user"`},
		{"max_sessions zero", "identity {\n\t\t\tsubject {http.auth.user.id}\n\t\t\tmax_sessions 0\n\t\t}", "identity max_sessions: expected a number between 1 and 100000"},
		{"max_sessions huge", "identity {\n\t\t\tsubject {http.auth.user.id}\n\t\t\tmax_sessions 1000000\n\t\t}", "identity max_sessions"},
		{"twice", "identity {\n\t\t\tsubject {http.auth.user.id}\n\t\t}\n\t\tidentity {\n\t\t\tsubject {http.auth.user.id}\n\t\t}", "identity: already specified"},
		{"argument", "identity {http.auth.user.id}", "wrong argument count"},
	} {
		t.Run(c.name, func(t *testing.T) { assertAdaptError(t, c.body, c.want) })
	}
}

func TestLoad_IdentityJSON_CheckedLikeTheCaddyfile(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	for _, c := range []struct{ identity, want string }{
		{`{"subject":"alice"}`, "must be a placeholder"},
		{`{}`, "identity: needs id_token or subject"},
		{`{"subject":"{http.auth.user.id}","max_sessions":-1}`, "identity max_sessions"},
	} {
		if err := validateJSON(t, `"store":{"backend":"memory"},"identity":`+c.identity); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.identity, err, c.want)
		}
	}
	if err := validateJSON(t, `"store":{"backend":"memory"},"identity":{"subject":"{http.auth.user.id}","max_sessions":5}`); err != nil {
		t.Fatalf("a good identity block: %v", err)
	}
}

// A third-party store that does not record owners says so at load.
func TestLoad_Identity_StoreWithoutOwnerIndex_FailsSayingSo(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	err := validateJSON(t, `"store":{"backend":"test_no_owners"},"identity":{"subject":"{http.auth.user.id}"}`)
	if err == nil || !strings.Contains(err.Error(), "identity: the session store test-no-owners does not record session owners") {
		t.Fatalf("error %v, want one naming the store and identity", err)
	}
	// Without identity the same store is fine.
	if err := validateJSON(t, `"store":{"backend":"test_no_owners"}`); err != nil {
		t.Fatalf("without identity: %v", err)
	}
}

func validateJSON(t *testing.T, handlerFields string) error {
	t.Helper()
	cfg := `{"apps":{"http":{"servers":{"s":{"listen":["127.0.0.1:0"],"routes":[{"handle":[{"handler":"logout",` + handlerFields + `}]}]}}}}}`
	var config caddy.Config
	if err := json.Unmarshal([]byte(cfg), &config); err != nil {
		t.Fatal(err)
	}
	return caddy.Validate(&config)
}

// noOwnersStore is a third-party backend that only revokes.
type noOwnersStore struct{}

func init() { caddy.RegisterModule(noOwnersStore{}) }

func (noOwnersStore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "logout.stores.test_no_owners", New: func() caddy.Module { return new(noOwnersStore) }}
}
func (noOwnersStore) StoreKey() string                                 { return "test-no-owners" }
func (noOwnersStore) OpenStore(caddy.Context) (session.Store, error)   { return revokeOnly{}, nil }
func (revokeOnly) Revoke(context.Context, session.ID, time.Time) error { return nil }
func (revokeOnly) RevokedUntil(context.Context, session.ID) (time.Time, error) {
	return time.Time{}, nil
}
func (revokeOnly) Close() error { return nil }

type revokeOnly struct{}
