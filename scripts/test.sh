#!/usr/bin/env bash
# Runs every test: formatting and vet, the whole suite with the race
# detector (unit tests, a real Caddy end to end, real redis-server, real
# Chromium, Ory's SDKs), then each fuzz target for a short bounded time.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/test-setup.sh

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './tests/sdk-js/*'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
go vet ./...
go test -race -count=1 -timeout 20m ./...
scripts/fuzz.sh "${FUZZTIME:-10s}"
