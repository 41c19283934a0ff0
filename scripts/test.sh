#!/usr/bin/env bash
# Runs every test, in both modules: the plugin's (the root: unit tests,
# in-process Caddy, real redis-server) and tests/ (its own module: the
# real Caddy binary end to end against real apps, parsers, browsers, SDKs
# and identity providers). Formatting, vet and staticcheck first, then the
# xcaddy-style build, both test suites with the race detector (side by
# side: the end-to-end suite mostly waits on processes), then each fuzz
# target for a short bounded time.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/test-setup.sh
. scripts/tools.sh

modules=(. tests)

unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
for m in "${modules[@]}"; do
	(cd "$m" && go vet ./... && "$TOOLS_DIR/bin/staticcheck" ./...)
done
scripts/xcaddy-check.sh

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
# One Caddy binary (with the race detector) for every end-to-end suite.
go build -race -o "$logs/caddy" ./cmd/caddy
export CADDY_LOGOUT_BIN="$logs/caddy"
pids=()
for m in "${modules[@]}"; do
	(cd "$m" && go test -race -count=1 -timeout 30m ./... >"$logs/$(basename "$PWD").log" 2>&1) &
	pids+=($!)
done
failed=0
for i in "${!modules[@]}"; do
	wait "${pids[$i]}" || failed=1
	cat "$logs/$(cd "${modules[$i]}" && basename "$PWD").log"
done
[ "$failed" = 0 ] || { echo "tests failed"; exit 1; }

scripts/fuzz.sh "${FUZZTIME:-10s}"
