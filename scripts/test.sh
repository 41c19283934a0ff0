#!/usr/bin/env bash
# Runs every test, in both modules: the plugin's (the root: unit tests,
# in-process Caddy, real redis-server) and tests/ (its own module: the
# real Caddy binary end to end against real apps, parsers, browsers, SDKs
# and identity providers). Formatting, vet and staticcheck first, then
# both test suites with the race detector (side by side: the end-to-end
# suite mostly waits on processes) while the xcaddy-style build and the
# fuzzing binaries build beside them, then each fuzz target for a short
# bounded time. It ends with how long each step took.
set -euo pipefail
cd "$(dirname "$0")/.."

timings=()
# step <name> <command...>: runs the command and notes how long it took.
step() {
	local name=$1 start=$SECONDS
	shift
	"$@"
	timings+=("$(printf '%5ds  %s' $((SECONDS - start)) "$name")")
}
total_start=$SECONDS

step "setup (packages, npm, tools)" scripts/test-setup.sh
. scripts/tools.sh

modules=(. tests)

check_format() {
	local unformatted
	unformatted=$(gofmt -l $(git ls-files '*.go'))
	if [ -n "$unformatted" ]; then
		echo "gofmt would change:"; echo "$unformatted"; exit 1
	fi
}
lint() {
	for m in "${modules[@]}"; do
		(cd "$m" && go vet ./... && "$TOOLS_DIR/bin/staticcheck" ./...)
	done
}
step "gofmt" check_format
step "vet, staticcheck" lint

logs=$(mktemp -d)
# On failure, stop the builds running beside the tests too.
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$logs"' EXIT
# One Caddy binary (with the race detector) for every end-to-end suite.
step "build Caddy with -race" go build -race -o "$logs/caddy" ./cmd/caddy
export CADDY_LOGOUT_BIN="$logs/caddy"

# Beside the tests, which mostly wait on servers: the xcaddy-style build,
# and the fuzzing binaries (one per package, instrumented).
background() { # name log command...
	local name=$1 log=$2 start=$SECONDS
	shift 2
	local rc=0
	"$@" >"$log" 2>&1 || rc=$?
	printf '%5ds  %s (beside the tests)\n' $((SECONDS - start)) "$name" >"$log.time"
	return $rc
}
background "xcaddy-style build" "$logs/xcaddy.log" scripts/xcaddy-check.sh &
xcaddy_pid=$!
background "build fuzzing binaries" "$logs/fuzzbuild.log" scripts/fuzz.sh build "$logs/fuzz" &
fuzzbuild_pid=$!

run_tests() {
	local pids=() failed=0 i
	for m in "${modules[@]}"; do
		(cd "$m" && go test -race -count=1 -timeout 30m ./... >"$logs/$(basename "$PWD").log" 2>&1) &
		pids+=($!)
	done
	for i in "${!modules[@]}"; do
		wait "${pids[$i]}" || failed=1
		cat "$logs/$(cd "${modules[$i]}" && basename "$PWD").log"
	done
	[ "$failed" = 0 ] || { echo "tests failed"; return 1; }
}
step "tests, both modules" run_tests

failed=0
wait "$xcaddy_pid" || failed=1
cat "$logs/xcaddy.log"
wait "$fuzzbuild_pid" || { failed=1; cat "$logs/fuzzbuild.log"; }
timings+=("$(cat "$logs/xcaddy.log.time")" "$(cat "$logs/fuzzbuild.log.time")")
[ "$failed" = 0 ] || { echo "xcaddy-style build or fuzzing build failed"; exit 1; }

step "fuzzing" scripts/fuzz.sh run "$logs/fuzz" "${FUZZTIME:-10s}"

echo
echo "test.sh: passed in $((SECONDS - total_start))s"
printf '  %s\n' "${timings[@]}"
