#!/usr/bin/env bash
# Builds Caddy the way `xcaddy build --with github.com/caddy-logout/caddy-logout`
# does, against this checkout: a fresh module whose main.go blank-imports
# Caddy's standard modules and this module's ROOT package, with a replace
# to the checkout (xcaddy itself cannot build an unpublished module here: it
# asks the module proxy for the module's versions). Then the built Caddy
# must list the modules and adapt Caddyfile.example.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
caddy_version=$(go list -m -f '{{.Version}}' github.com/caddyserver/caddy/v2)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
# quiet runs a step, showing its output only when it fails.
quiet() { "$@" >"$work/log" 2>&1 || { echo "xcaddy-check: $* failed:"; cat "$work/log"; exit 1; }; }
cat >main.go <<'EOF'
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	// plug in Caddy modules here
	_ "github.com/caddyserver/caddy/v2/modules/standard"
	_ "github.com/caddy-logout/caddy-logout"
)

func main() {
	caddycmd.Main()
}
EOF
quiet go mod init caddy
quiet go mod edit -replace "github.com/caddy-logout/caddy-logout=$root"
quiet go get "github.com/caddyserver/caddy/v2@$caddy_version"
quiet go get github.com/caddy-logout/caddy-logout@v0.0.0
quiet go mod tidy
quiet go build -o caddy .

modules=$(./caddy list-modules)
for m in http.handlers.logout logout.stores.bolt logout.stores.memory logout.stores.redis admin.api.logout; do
	grep -qx "$m" <<<"$modules" || { echo "xcaddy-check: $m missing from list-modules"; exit 1; }
done
./caddy adapt --config "$root/Caddyfile.example" >/dev/null
echo "xcaddy-check: ok (Caddy $caddy_version with github.com/caddy-logout/caddy-logout: $(grep -c logout <<<"$modules") logout modules, Caddyfile.example adapts)"
