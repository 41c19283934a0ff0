#!/usr/bin/env bash
# Runs every fuzz target for a bounded time each (default 10s), so CI keeps
# looking for new crashers; any crasher Go writes to testdata/fuzz becomes a
# regression test on the next plain `go test` run.
#
#   scripts/fuzz.sh [fuzztime]          build, then run every target
#   scripts/fuzz.sh build <dir>         only build the fuzz binaries into dir
#   scripts/fuzz.sh run <dir> [time]    only run them (built by `build`)
#
# Each package is compiled once with fuzzing instrumentation (go test -c
# -fuzz), and that binary runs each of the package's targets in turn: a
# `go test -fuzz` per target would link the instrumented binary (for
# caddymodule, all of Caddy) once per target. test.sh builds while the
# tests run and fuzzes after them. Targets keep their corpus where
# `go test -fuzz` keeps it ($GOCACHE/fuzz/<package>).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

# packages prints "<module dir> <package dir> <import path> <targets...>"
# for every package with fuzz targets.
packages() {
	local module dir path targets
	for module in . tests; do
		while read -r dir path; do
			targets=$(cat "$dir"/*_test.go 2>/dev/null | sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\).*/\1/p' | tr '\n' ' ' || true)
			if [ -n "$targets" ]; then echo "$module $dir $path $targets"; fi
		done < <(cd "$module" && go list -f '{{.Dir}} {{.ImportPath}}' ./...)
	done
}

build() { # dir
	local out=$1 module dir path
	mkdir -p "$out"
	while read -r module dir path _; do
		(cd "$dir" && go test -c -fuzz=. -o "$out/${path//\//_}.test" .)
	done < <(packages)
}

run() { # dir fuzztime
	local out=$1 fuzztime=$2 module dir path targets target cache
	# Minimizing each new interesting input may take up to 60s by default,
	# which would eat the whole budget without exploring.
	local minimizetime=${FUZZMINIMIZETIME:-3s}
	cache=$(go env GOCACHE)/fuzz
	while read -r module dir path targets; do
		for target in $targets; do
			echo "fuzz: ${dir#"$root"/} $target ($fuzztime)"
			# From the package's directory, as go test runs it: crashers go to
			# its testdata/fuzz.
			(cd "$dir" && "$out/${path//\//_}.test" -test.run '^$' -test.fuzz "^${target}\$" \
				-test.fuzztime "$fuzztime" -test.fuzzminimizetime "$minimizetime" -test.fuzzcachedir "$cache/$path")
		done
	done < <(packages)
}

case "${1:-}" in
build) build "$2" ;;
run) run "$2" "${3:-${FUZZTIME:-10s}}" ;;
*)
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
	build "$work"
	run "$work" "${1:-${FUZZTIME:-10s}}"
	;;
esac
