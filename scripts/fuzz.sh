#!/usr/bin/env bash
# Runs every fuzz target for a bounded time each (default 10s), so CI keeps
# looking for new crashers; any crasher Go writes to testdata/fuzz becomes a
# regression test on the next plain `go test` run.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-${FUZZTIME:-10s}}
# Minimizing each new interesting input may take up to 60s by default,
# which would eat the whole budget without exploring.
minimizetime=${FUZZMINIMIZETIME:-3s}
for module in . tests; do
	for dir in $(cd "$module" && go list -f '{{.Dir}}' ./...); do
		for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do
			echo "fuzz: ${dir#"$PWD"/} $target ($fuzztime)"
			(cd "$dir" && go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime "$minimizetime" .)
		done
	done
done
