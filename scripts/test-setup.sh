#!/usr/bin/env bash
# Installs everything the tests need besides Go, idempotently: Debian
# packages (servers, browsers, apps, parsers), the npm packages of every
# committed package-lock.json under tests/, and the Go programs the tests
# run (linters, identity providers, auth proxies), each built once at a
# pinned version into a cache outside the checkout. Safe to run again: it
# only installs what is missing or out of date.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/tools.sh
. scripts/tools.sh
# One setup at a time on a machine (several checkouts may share it).
exec 9>"$TOOLS_DIR/.setup.lock"
flock 9

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# Debian packages, by what needs them.
packages=(
	redis-server           # Redis store, cluster and outage tests
	chromium               # browser tests (chromedp)
	php-cli                # tests/parsers: PHP's $_COOKIE under php -S
	python3-werkzeug       # tests/parsers: Werkzeug's (Flask's) request cookies
	python3-django         # tests/parsers: Django's request cookies
	ruby-rack ruby-webrick # tests/parsers: Rack's request cookies under WEBrick
	php8.2-fpm             # tests/legacy: the PHP apps on a real php-fpm
	php8.2-cli             # tests/legacy: installing the apps, hashing passwords
	php8.2-mysql           # tests/legacy: WordPress on MariaDB
	mariadb-server         # tests/legacy: WordPress's database (started by the test)
	dokuwiki               # tests/legacy: Debian's DokuWiki
	wordpress              # tests/legacy: Debian's WordPress
	wordpress-theme-twentytwentythree # tests/legacy: its default theme (the admin bar on the blog)
)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# Node.js and npm (Ory's JavaScript SDK and the npm test apps): whichever
# the machine has (it may come with a newer one than Debian's), else Debian's.
command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
	echo "test-setup: installing ${missing[*]}"
	as_root apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm packages, exactly as each committed lockfile pins them. node_modules
# is never committed; it is reinstalled whenever its lockfile changes.
while IFS= read -r lock; do
	dir=$(dirname "$lock")
	stamp="$dir/node_modules/.installed-from-lock"
	want=$(sha256sum "$lock" | cut -d' ' -f1)
	if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
		echo "test-setup: npm ci in $dir"
		(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
		echo "$want" >"$stamp"
	fi
done < <(git ls-files 'tests/*package-lock.json')

# Go programs at pinned versions, outside the product's go.mod.
go_tool staticcheck honnef.co/go/tools/cmd/staticcheck v0.8.2
# The real Ory Kratos, the oracle of the wire protocol the endpoints speak
# (tests/kratos). The sqlite tag gives it DSN=memory; Version is what its
# /health/version reports.
go_module_tool kratos github.com/ory/kratos v1.3.1 -tags sqlite \
	-ldflags "-X github.com/ory/kratos/driver/config.Version=v1.3.1"
# OIDC single logout (tests/oidc): the auth proxy in front of the app, and
# Ory Hydra, the identity provider with front-channel logout (oidc-provider,
# the other one, is an npm package under tests/oidc/idp). Hydra's go.mod
# points its API client at a nested module that its zip leaves out; the
# published client it requires is used instead (only its CLI uses it). The
# sqlite tags give it DSN=memory.
go_tool oauth2-proxy github.com/oauth2-proxy/oauth2-proxy/v7 v7.15.6
GO_MODULE_TOOL_DROP_REPLACE=github.com/ory/hydra-client-go/v2 \
	go_module_tool hydra github.com/ory/hydra/v2 v2.3.0 -tags sqlite,sqlite_omit_load_extension \
	-ldflags "-X github.com/ory/hydra/v2/driver/config.Version=v2.3.0"
