#!/usr/bin/env bash
# Installs what the tests need besides Go, idempotently: redis-server (Redis
# store and cluster tests), Chromium (browser tests) and Ory's JavaScript SDK
# (SDK compatibility tests). Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v node >/dev/null 2>&1 || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
	echo "test-setup: installing ${missing[*]}"
	as_root apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Ory's JavaScript SDK, pinned by the committed package-lock.json.
if [ ! -d tests/sdk-js/node_modules/@ory/client ]; then
	echo "test-setup: installing @ory/client"
	(cd tests/sdk-js && npm ci --no-audit --no-fund --loglevel=error)
fi
