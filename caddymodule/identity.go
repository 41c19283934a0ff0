package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-logout/caddy-logout/flow"
	"github.com/caddy-logout/caddy-logout/session"
)

// IdentityConfig says who a session belongs to, so that an admin, the
// user or an identity provider can log out every session of an owner.
// Values are Caddy placeholders, read on requests the guard let through
// after the handlers behind it ran: headers that forward_auth's
// copy_headers set, basic_auth's {http.auth.user.id}.
type IdentityConfig struct {
	// An OpenID Connect ID token (a JWT, "Bearer " allowed), such as
	// {http.request.header.Authorization}: its iss, sub and sid are
	// recorded. It is decoded, not verified: a revocation only refuses, so
	// a forged token can at most get the forger's own session revoked.
	IDToken string `json:"id_token,omitempty"`
	// The subject, such as {http.request.header.X-Auth-Request-User}. It
	// wins over the ID token's sub.
	Subject string `json:"subject,omitempty"`
	// At most this many sessions are recorded per owner; past it the
	// oldest is logged out. Default: 1000.
	MaxSessions int `json:"max_sessions,omitempty"`
}

// maxSessionsLimit bounds max_sessions: an owner's index is read whole on
// every revocation by owner and listing.
const maxSessionsLimit = 100_000

// check validates the block, for JSON config and the Caddyfile alike.
func (c *IdentityConfig) check() error {
	if c.IDToken == "" && c.Subject == "" {
		return errors.New("identity: needs id_token or subject (or both)")
	}
	for option, v := range map[string]string{"id_token": c.IDToken, "subject": c.Subject} {
		if err := checkIdentityPlaceholder(option, v); err != nil {
			return err
		}
	}
	if c.MaxSessions < 0 || c.MaxSessions > maxSessionsLimit {
		return fmt.Errorf("identity max_sessions: must be between 1 and %d (got %d)", maxSessionsLimit, c.MaxSessions)
	}
	return nil
}

// checkIdentityPlaceholder refuses a value without a placeholder: a
// literal would make every session the same owner's.
func checkIdentityPlaceholder(option, v string) error {
	if v != "" && !strings.Contains(v, "{") {
		return fmt.Errorf("identity %s: %q must be a placeholder such as {http.request.header.X-Auth-Request-User} or {http.auth.user.id}: a fixed value would make every session one owner's", option, v)
	}
	return nil
}

// unmarshalIdentity reads the identity block:
//
//	identity {
//	    id_token     <placeholder>
//	    subject      <placeholder>
//	    max_sessions <n>
//	}
func (h *Handler) unmarshalIdentity(d *caddyfile.Dispenser) error {
	if h.Identity != nil {
		return d.Errf("identity: already specified")
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	c := &IdentityConfig{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		option := d.Val()
		var err error
		switch option {
		case "id_token":
			err = oneArg(d, &c.IDToken, func(v string) error { return checkIdentityPlaceholder("id_token", v) })
		case "subject":
			err = oneArg(d, &c.Subject, func(v string) error { return checkIdentityPlaceholder("subject", v) })
		case "max_sessions":
			var s string
			if err = oneArg(d, &s, nil); err == nil {
				n, perr := strconv.Atoi(s)
				if perr != nil || n <= 0 || n > maxSessionsLimit {
					return d.Errf("identity max_sessions: expected a number between 1 and %d (got %q)", maxSessionsLimit, s)
				}
				c.MaxSessions = n
			}
		default:
			return d.Errf("unrecognized identity option %q", option)
		}
		if err != nil {
			return err
		}
	}
	if err := c.check(); err != nil {
		return d.Errf("%v", err)
	}
	h.Identity = c
	return nil
}

// placeholderIdentity reads the identity block's placeholders from the
// request's replacer (flow.IdentitySource). Unknown placeholders read as
// empty, never as their literal text.
type placeholderIdentity struct{ idToken, subject string }

func (p placeholderIdentity) Identity(r *http.Request) flow.IdentityValues {
	repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if !ok {
		return flow.IdentityValues{}
	}
	var v flow.IdentityValues
	if p.idToken != "" {
		v.IDToken = repl.ReplaceAll(p.idToken, "")
	}
	if p.subject != "" {
		v.Subject = repl.ReplaceAll(p.subject, "")
	}
	return v
}

// errNoOwnerIndex is the load error for identity on a store that cannot
// record owners: a third-party backend without session.OwnerIndex.
func errNoOwnerIndex(storeKey string) error {
	return fmt.Errorf("identity: the session store %s does not record session owners (its backend lacks session.OwnerIndex); use memory, bolt or redis, or remove identity: %w",
		storeKey, session.ErrNoOwnerIndex)
}
