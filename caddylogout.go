// Package caddylogout is the package xcaddy imports: it registers
// caddy-logout's Caddy modules (http.handlers.logout, the logout
// directive, the logout.stores.* backends and the admin API) and holds
// nothing else. Build Caddy with it:
//
//	xcaddy build --with github.com/caddy-logout/caddy-logout
package caddylogout

import (
	_ "github.com/caddy-logout/caddy-logout/caddymodule"
)
