// Command caddy is Caddy with its standard modules plus caddy-logout, so
// `go run ./cmd/caddy run --config Caddyfile.example` works without xcaddy.
// It imports the same root package an xcaddy build does.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/caddy-logout/caddy-logout"
)

func main() {
	caddycmd.Main()
}
