#!/usr/bin/env bash
# Load benchmarks of caddy-logout through the real Caddy, on loopback only.
#
#   bench/run.sh [compare]   a/b/c/d/e throughput and latency, interleaved (~4.5 min)
#   bench/run.sh logout      API logouts/s on the bolt store (~40 s)
#   bench/run.sh memory      1M distinct session cookies, cache max_entries 100k:
#                            Caddy's resident memory before and after (~2-3 min)
#   bench/run.sh all         the three, one after the other
#   bench/run.sh inprocess   the guard's check in-process: 0 allocations,
#                            no growth from 1k to 1M revoked (~2 min)
#   bench/run.sh view        the redis store's view: never-seen-cookie flood on
#                            redis and bolt, Redis commands per request, start-up
#                            and RSS at 1M and 10M revocations, cross-node
#                            latency (~10 min; see bench/view.sh)
#
# compare starts one Caddy with three sites in front of the same trivial
# app (bench/backend), one process so that every variant runs in the same
# runtime (apart, the logout one's larger heap meant fewer GC cycles):
#   a  plain reverse_proxy
#   b  logout + reverse_proxy, requests carrying a valid session cookie
#   c  the same site, requests carrying a revoked cookie (on_revoked strip)
#   d  forward_auth to a trivial session service + reverse_proxy
#   e  the same, with the session service's sessions in Redis (one GET
#      per request), as soon as app instances share sessions
# and drives them with wrk in short rounds, rotating the order each round
# and reversing it every other round (a b c d e, e d c b a, b c d e a, ...), so
# that whatever else the machine is doing hits every variant alike and no
# variant always follows the same one. Before each run Caddy collects its
# garbage (admin /debug/pprof/heap?gc=1), so no run pays for the one before.
# Ratios are taken within each round; medians across rounds are what
# count. Two things are judged: b keeps at least 97% of a's req/s, and
# the Caddy CPU per request that b adds to a is at most a tenth of what d
# (forward_auth) adds: CPU time, which load from other processes disturbs
# less than req/s, and which, unlike b/d in req/s, is not capped by the
# session service's own round trip.
#
# Knobs (environment): ROUNDS (15), DURATION seconds per run (3), WARMUP
# seconds (2), CONNS (32), THREADS wrk threads (1), PORT_BASE (18080),
# SESSIONS for memory (1000000), MAX_ENTRIES for memory (100000).
#
# wrk and redis-server come from Debian; they are installed here if missing (a C event loop
# costs a fraction of the CPU per request of a Go client, leaving the two
# cores to the servers being measured). Every process started here is
# killed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${1:-compare}
ROUNDS=${ROUNDS:-15}
DURATION=${DURATION:-3}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-32}
THREADS=${THREADS:-1}
PORT_BASE=${PORT_BASE:-18080}
SESSIONS=${SESSIONS:-1000000}
MAX_ENTRIES=${MAX_ENTRIES:-100000}

case "$MODE" in compare | logout | memory | all | inprocess | view) ;; *)
	echo "usage: bench/run.sh [compare|logout|memory|all|inprocess|view]" >&2
	exit 2
	;;
esac

# --- inprocess -------------------------------------------------------------
# The guard's check in-process, as a regression guard: a cache hit
# allocates nothing, and costs the same with 1 thousand or 1 million
# sessions revoked. One test binary; the two sizes run in turn, each in its
# own process (the 1M fill would otherwise sit in the 1k run's heap).
inprocess() {
	local rounds=${ROUNDS_INPROCESS:-6} r n
	work=$(mktemp -d /tmp/caddy-logout-bench.XXXXXX)
	trap 'rm -rf "$work"' EXIT
	echo "bench: building the flow test binary"
	go test -c -o "$work/flow.test" ./flow/
	echo "bench: zero allocations on the hit path (TestGuard_CacheHit_DoesNotAllocate)"
	"$work/flow.test" -test.run '^TestGuard_CacheHit_DoesNotAllocate$' -test.count 1 >"$work/alloc.txt" 2>&1 ||
		{ cat "$work/alloc.txt"; echo "bench: the hit path allocates: MISSES"; exit 1; }
	echo "bench: Guard_Scale hit, revoked=1000 and revoked=1000000 in turn, $rounds rounds"
	for r in $(seq "$rounds"); do
		for n in 1000 1000000; do
			"$work/flow.test" -test.run '^$' -test.bench "^BenchmarkGuard_Scale\$/^revoked=$n\$/^hit\$" -test.benchmem -test.benchtime 1s |
				grep '^BenchmarkGuard_Scale' | tee -a "$work/scale.txt"
		done
	done
	median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR+1)/2]; else print (v[NR/2] + v[NR/2+1]) / 2 }'; }
	field() { awk -v n="revoked=$1/" -v u="$2" 'index($1, n) { for (i = 2; i < NF; i++) if ($(i+1) == u) print $i }' "$work/scale.txt"; }
	local k1 m1 c1k c1m allocs ratio
	k1=$(field 1000 ns/op | median) m1=$(field 1000000 ns/op | median)
	c1k=$(field 1000 cpu-ns/op | median) c1m=$(field 1000000 cpu-ns/op | median)
	allocs=$(awk '{ for (i = 2; i < NF; i++) if ($(i+1) == "allocs/op") s += $i } END { print s + 0 }' "$work/scale.txt")
	# CPU time, not wall time: other work on the machine stretches ns/op
	# (a benchmark waiting for a core), not cpu-ns/op.
	ratio=$(awk -v a="$c1m" -v b="$c1k" 'BEGIN { printf "%.3f", a / b }')
	echo
	printf '  Guard_Scale hit, revoked=1000:     %7.1f ns/op  %7.1f cpu-ns/op (median of %d)\n' "$k1" "$c1k" "$rounds"
	printf '  Guard_Scale hit, revoked=1000000:  %7.1f ns/op  %7.1f cpu-ns/op\n' "$m1" "$c1m"
	printf '  1M/1k in CPU per op %s (no growth: <= 1.2): %s; allocs/op %s (want 0): %s\n' "$ratio" \
		"$(awk -v x="$ratio" 'BEGIN { print (x <= 1.2) ? "meets" : "MISSES" }')" "$allocs" "$([ "$allocs" = 0 ] && echo meets || echo MISSES)"
	echo "  (for a confidence interval: go run golang.org/x/perf/cmd/benchstat@latest on the two sizes' lines)"
	[ "$allocs" = 0 ] && awk -v x="$ratio" 'BEGIN { exit !(x <= 1.2) }'
}
if [ "$MODE" = inprocess ]; then
	inprocess || { echo "bench: the in-process check regressed" >&2; exit 1; }
	exit 0
fi

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if [ ${#missing[@]} -gt 0 ]; then
	echo "bench: installing ${missing[*]}"
	as_root apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PORT_A=$((PORT_BASE + 1)) PORT_B=$((PORT_BASE + 2)) PORT_D=$((PORT_BASE + 3))
PORT_M=$((PORT_BASE + 4)) PORT_ADMIN=$((PORT_BASE + 5)) PORT_E=$((PORT_BASE + 6))
PORT_APP=$((PORT_BASE + 11)) PORT_AUTH=$((PORT_BASE + 12)) PORT_AUTH_REDIS=$((PORT_BASE + 13))
PORT_REDIS=$((PORT_BASE + 14))
for p in $PORT_A $PORT_B $PORT_D $PORT_M $PORT_ADMIN $PORT_E $PORT_APP $PORT_AUTH $PORT_AUTH_REDIS $PORT_REDIS; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
		echo "bench: port $p is in use; set PORT_BASE" >&2
		exit 1
	fi
done

WORK=$(mktemp -d /tmp/caddy-logout-bench.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

VALID=$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')
REVOKED=$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')
export BENCH_LOGOUT_KEY
BENCH_LOGOUT_KEY=$(head -c 32 /dev/urandom | base64)
export XDG_DATA_HOME=$WORK/data XDG_CONFIG_HOME=$WORK/config

echo "bench: building cmd/caddy and bench/backend"
go build -o "$WORK/caddy" ./cmd/caddy
go build -o "$WORK/backend" ./bench/backend
for s in logout distinct; do cat bench/lua/report.lua "bench/lua/$s.lua" >"$WORK/$s.lua"; done

# --- machine and load ------------------------------------------------------
cpu_busy() { # percent of all cores busy over $1 seconds, from /proc/stat
	local a b
	read -ra a </proc/stat
	sleep "$1"
	read -ra b </proc/stat
	awk -v u1="${a[1]}" -v n1="${a[2]}" -v s1="${a[3]}" -v i1="${a[4]}" -v w1="${a[5]}" -v q1="${a[6]}" -v sq1="${a[7]}" -v st1="${a[8]}" \
		-v u2="${b[1]}" -v n2="${b[2]}" -v s2="${b[3]}" -v i2="${b[4]}" -v w2="${b[5]}" -v q2="${b[6]}" -v sq2="${b[7]}" -v st2="${b[8]}" \
		'BEGIN { busy = (u2-u1)+(n2-n1)+(s2-s1)+(q2-q1)+(sq2-sq1)+(st2-st1); idle = (i2-i1)+(w2-w1);
		         printf "%.0f", (busy+idle) ? 100*busy/(busy+idle) : 0 }'
}
load_note() {
	echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
}
echo "bench: $(load_note)"
echo "bench: other work on the machine before starting: $(cpu_busy 3)% of all cores busy"

# --- processes -------------------------------------------------------------
backend_args=(-app "127.0.0.1:$PORT_APP" -auth "127.0.0.1:$PORT_AUTH" -session "$VALID")
if [ "$MODE" = compare ] || [ "$MODE" = all ]; then
	# The session store of variant e: no snapshots, nothing on disk.
	redis-server --bind 127.0.0.1 --port "$PORT_REDIS" --save "" --appendonly no >"$WORK/redis.log" 2>&1 &
	PIDS+=("$!")
	for i in $(seq 101); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$PORT_REDIS") 2>/dev/null; then break; fi
		if [ "$i" = 101 ]; then
			echo "bench: redis-server never came up on port $PORT_REDIS:" >&2
			cat "$WORK/redis.log" >&2
			exit 1
		fi
		sleep 0.1
	done
	backend_args+=(-auth-redis "127.0.0.1:$PORT_AUTH_REDIS" -redis "127.0.0.1:$PORT_REDIS")
fi
"$WORK/backend" "${backend_args[@]}" 2>"$WORK/backend.log" &
PIDS+=("$!")
BACKEND_PID=$!

GLOBAL="{
	admin off
	auto_https off
	storage file_system $WORK/data/caddy
}"

start_caddy() { # name, Caddyfile body; sets CADDY_PID
	printf '%s\n%s\n' "$GLOBAL" "$2" >"$WORK/$1.Caddyfile"
	"$WORK/caddy" run --adapter caddyfile --config "$WORK/$1.Caddyfile" >"$WORK/$1.log" 2>&1 &
	CADDY_PID=$!
	PIDS+=("$CADDY_PID")
}

wait_up() { # url
	for _ in $(seq 100); do
		if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	echo "bench: $1 never came up; logs in $WORK" >&2
	tail -n 20 "$WORK"/*.log >&2
	exit 1
}

logout_site() { # port, extra options
	cat <<EOF
:$1 {
	bind 127.0.0.1
	logout {
		cookie sid
		signing_key {env.BENCH_LOGOUT_KEY}
		store bolt $WORK/sessions-$1.db
		$2
	}
	reverse_proxy 127.0.0.1:$PORT_APP
}
EOF
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
CLK_TCK=$(getconf CLK_TCK)

# run_wrk label url pid seconds [wrk args...]: prints
# "label req/s p50 p99 errors requests caddy-cpu-us/req backend-cpu-us/req"
run_wrk() {
	local label=$1 url=$2 pid=$3 secs=$4
	shift 4
	local c0 b0 c1 b1 line opts=() args=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1") && shift; done
	[ $# -gt 0 ] && args=("$@") # "--" and the script's arguments, after the URL
	c0=$(cpu_ticks "$pid") b0=$(cpu_ticks "$BACKEND_PID")
	line=$(wrk -t"$THREADS" -c"$CONNS" -d"${secs}s" --latency "${opts[@]}" "$url" "${args[@]}" | grep '^BENCH ') || {
		echo "bench: wrk failed for $label" >&2
		exit 1
	}
	c1=$(cpu_ticks "$pid") b1=$(cpu_ticks "$BACKEND_PID")
	echo "$line" | awk -v l="$label" -v c=$((c1 - c0)) -v b=$((b1 - b0)) -v hz="$CLK_TCK" \
		'{ n = $6 > 0 ? $6 : 1; printf "%s %s %s %s %s %s %.1f %.1f\n", l, $2, $3, $4, $5, $6, c*1e6/hz/n, b*1e6/hz/n }'
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR+1)/2]; else print (v[NR/2] + v[NR/2+1]) / 2 }'; }
col() { awk -v k="$1" -v c="$2" '$1 == k { print $c }' "$3"; }

# --- compare ---------------------------------------------------------------
compare() {
	# One Caddy process serves the three sites, so every variant runs in the
	# same runtime: separate processes would give the logout one a larger
	# live heap (its cache), hence fewer GC cycles, flattering b and c.
	GLOBAL="{
	admin 127.0.0.1:$PORT_ADMIN
	persist_config off
	auto_https off
	storage file_system $WORK/data/caddy
}" start_caddy compare ":$PORT_A {
	bind 127.0.0.1
	reverse_proxy 127.0.0.1:$PORT_APP
}
$(logout_site "$PORT_B" "")
:$PORT_D {
	bind 127.0.0.1
	forward_auth 127.0.0.1:$PORT_AUTH {
		uri /whoami
		copy_headers X-User
	}
	reverse_proxy 127.0.0.1:$PORT_APP
}
:$PORT_E {
	bind 127.0.0.1
	forward_auth 127.0.0.1:$PORT_AUTH_REDIS {
		uri /whoami
		copy_headers X-User
	}
	reverse_proxy 127.0.0.1:$PORT_APP
}"
	local PID=$CADDY_PID
	wait_up "http://127.0.0.1:$PORT_A/"
	wait_up "http://127.0.0.1:$PORT_B/"

	# Revoke the c cookie through the API (its token and the cookie name the
	# same session), then check every variant answers as it should.
	local code out
	code=$(curl -sS -o /dev/null -w '%{http_code}' -X DELETE -H 'Content-Type: application/json' \
		-d "{\"session_token\":\"$REVOKED\"}" "http://127.0.0.1:$PORT_B/self-service/logout/api")
	[ "$code" = 204 ] || { echo "bench: revoking the c cookie answered $code" >&2; exit 1; }
	check() { # what url cookie want-status want-header-regex
		out=$(curl -sS -D - -o /dev/null -H "Cookie: sid=$3" "$2")
		echo "$out" | head -1 | grep -q " $4" || { echo "bench: $1: want $4, got: $out" >&2; exit 1; }
		if [ -n "$5" ]; then echo "$out" | grep -qiE "$5" || { echo "bench: $1: no $5 in: $out" >&2; exit 1; }; fi
	}
	check "a" "http://127.0.0.1:$PORT_A/" "$VALID" 200 ""
	check "b (valid cookie)" "http://127.0.0.1:$PORT_B/" "$VALID" 200 ""
	out=$(curl -sS -D - -o /dev/null -H "Cookie: sid=$VALID" "http://127.0.0.1:$PORT_B/")
	if echo "$out" | grep -qi '^set-cookie'; then
		echo "bench: b: the valid cookie was cleared" >&2
		exit 1
	fi
	check "c (revoked cookie)" "http://127.0.0.1:$PORT_B/" "$REVOKED" 200 '^set-cookie: sid=;.*max-age=0'
	check "d (valid cookie)" "http://127.0.0.1:$PORT_D/" "$VALID" 200 ""
	check "d (unknown cookie)" "http://127.0.0.1:$PORT_D/" "$REVOKED" 401 ""
	check "e (valid cookie)" "http://127.0.0.1:$PORT_E/" "$VALID" 200 ""
	check "e (unknown cookie)" "http://127.0.0.1:$PORT_E/" "$REVOKED" 401 ""
	echo "bench: a, b, c, d, e answer as expected (c strips and clears the revoked cookie, d and e refuse an unknown one)"

	local -A URL=([a]="http://127.0.0.1:$PORT_A/" [b]="http://127.0.0.1:$PORT_B/" [c]="http://127.0.0.1:$PORT_B/"
		[d]="http://127.0.0.1:$PORT_D/" [e]="http://127.0.0.1:$PORT_E/")
	local -A COOKIE=([a]="$VALID" [b]="$VALID" [c]="$REVOKED" [d]="$VALID" [e]="$VALID")
	local base=(a b c d e) order results=$WORK/compare.txt
	: >"$results"
	echo "bench: warm-up ${WARMUP}s each, then $ROUNDS rounds of ${DURATION}s each (wrk -t$THREADS -c$CONNS)"
	for v in "${base[@]}"; do
		run_wrk "$v" "${URL[$v]}" "$PID" "$WARMUP" -H "Cookie: sid=${COOKIE[$v]}" -s bench/lua/report.lua >/dev/null
	done
	printf '%-6s %-3s %10s %9s %9s %7s %12s %13s\n' round var "req/s" "p50 ms" "p99 ms" errors "caddy us/req" "backend us/req"
	for r in $(seq "$ROUNDS"); do
		order=("${base[@]}")
		if [ $((r % 2)) = 0 ]; then order=(); for v in "${base[@]}"; do order=("$v" "${order[@]}"); done; fi
		for v in "${order[@]}"; do
			curl -fsS -o /dev/null "http://127.0.0.1:$PORT_ADMIN/debug/pprof/heap?gc=1"
			run_wrk "$v" "${URL[$v]}" "$PID" "$DURATION" -H "Cookie: sid=${COOKIE[$v]}" -s bench/lua/report.lua |
				awk -v r="$r" '{ printf "%-6s %-3s %10.0f %9.3f %9.3f %7d %12.1f %13.1f\n", r, $1, $2, $3, $4, $5, $7, $8 }' | tee -a "$results"
		done
		if [ $((r % 2)) = 0 ]; then base=("${base[@]:1}" "${base[0]}"); fi
	done

	# Per round: the req/s ratios to (a), and the Caddy CPU per request
	# each variant adds to (a); then medians across rounds.
	awk '{ rps[$1, $2] = $3; cpu[$1, $2] = $7; rounds[$1] = 1 }
	     END { for (r in rounds) printf "%s %.4f %.4f %.4f %.2f %.2f %.2f %.2f\n", r,
	             rps[r, "b"] / rps[r, "a"], rps[r, "c"] / rps[r, "a"], cpu[r, "b"] / cpu[r, "a"],
	             cpu[r, "b"] - cpu[r, "a"], cpu[r, "c"] - cpu[r, "a"], cpu[r, "d"] - cpu[r, "a"], cpu[r, "e"] - cpu[r, "a"] }' \
		"$results" | sort -n >"$WORK/ratios.txt"
	echo
	echo "medians over $ROUNDS rounds:"
	printf '  %-40s %10s %9s %9s %13s\n' variant "req/s" "p50 ms" "p99 ms" "caddy us/req"
	for v in a b c d e; do
		local label
		case $v in
		a) label="a  reverse_proxy" ;;
		b) label="b  logout + reverse_proxy, valid cookie" ;;
		c) label="c  logout + reverse_proxy, revoked cookie" ;;
		d) label="d  forward_auth + reverse_proxy" ;;
		e) label="e  forward_auth (Redis sessions) + r_p" ;;
		esac
		printf '  %-40s %10.0f %9.3f %9.3f %13.1f\n' "$label" \
			"$(awk -v v="$v" '$2 == v { print $3 }' "$results" | median)" \
			"$(awk -v v="$v" '$2 == v { print $4 }' "$results" | median)" \
			"$(awk -v v="$v" '$2 == v { print $5 }' "$results" | median)" \
			"$(awk -v v="$v" '$2 == v { print $7 }' "$results" | median)"
	done
	med() { awk -v c="$1" '{ print $c }' "$WORK/ratios.txt" | median; }
	range() { awk -v c="$1" -v f="$2" 'NR == 1 || $c < lo { lo = $c } NR == 1 || $c > hi { hi = $c } END { printf f " to " f, lo, hi }' "$WORK/ratios.txt"; }
	local ba added_b added_d
	ba=$(med 2) added_b=$(med 5) added_d=$(med 7)
	echo
	echo "throughput against (a), per round, then the median (range across rounds in brackets):"
	printf '  b/a req/s  %.3f  [%s]  target >= 0.97: %s\n' "$ba" "$(range 2 %.3f)" "$(awk -v x="$ba" 'BEGIN { print (x >= 0.97) ? "meets" : "MISSES" }')"
	printf '  c/a req/s  %.3f  [%s]\n' "$(med 3)" "$(range 3 %.3f)"
	printf '  b/a Caddy CPU per request  %.3f  [%s]\n' "$(med 4)" "$(range 4 %.3f)"
	# The comparison with forward_auth: what each adds to Caddy's own work per
	# request. (Their req/s ratio is capped by the session service's round
	# trip on loopback, whatever the guard costs.)
	echo
	echo "Caddy CPU each variant adds to (a) per request, per round, then the median:"
	printf '  b  logout, valid cookie                %+7.1f us  [%s]\n' "$added_b" "$(range 5 %+.1f)"
	printf '  c  logout, revoked cookie              %+7.1f us  [%s]\n' "$(med 6)" "$(range 6 %+.1f)"
	printf '  d  forward_auth                        %+7.1f us  [%s]\n' "$added_d" "$(range 7 %+.1f)"
	printf '  e  forward_auth, Redis sessions        %+7.1f us  [%s]\n' "$(med 8)" "$(range 8 %+.1f)"
	printf '  target: b adds at most a tenth of what d adds (%+.1f us <= %.1f us): %s\n' "$added_b" \
		"$(awk -v d="$added_d" 'BEGIN { print d / 10 }')" "$(awk -v b="$added_b" -v d="$added_d" 'BEGIN { print (b * 10 <= d) ? "meets" : "MISSES" }')"
	grep -c '"revoked credential refused"' "$WORK/compare.log" | xargs printf '  (c wrote %s audit lines "revoked credential refused": 20 a second, then 1 in 100)\n'
}

# --- logout ----------------------------------------------------------------
logout_bench() {
	start_caddy l "$(logout_site "$PORT_M" "")"
	local pid=$CADDY_PID url="http://127.0.0.1:$PORT_M/self-service/logout/api"
	wait_up "http://127.0.0.1:$PORT_M/"
	local results=$WORK/logout.txt
	: >"$results"
	echo
	echo "API logouts on bolt (DELETE /self-service/logout/api, a new session_token each, fsynced before the 204):"
	printf '  %-26s %10s %9s %9s %7s\n' "" "logouts/s" "p50 ms" "p99 ms" errors
	local saved=$THREADS
	for r in 1 2 3; do
		CONNS=64 run_wrk "concurrent-64" "$url" "$pid" "$DURATION" -s "$WORK/logout.lua" -- "c$r" | tee -a "$results" |
			awk '{ printf "  %-26s %10.0f %9.3f %9.3f %7d\n", $1" (round '"$r"')", $2, $3, $4, $5 }'
		THREADS=1 CONNS=1 run_wrk "serial-1" "$url" "$pid" "$DURATION" -s "$WORK/logout.lua" -- "s$r" | tee -a "$results" |
			awk '{ printf "  %-26s %10.0f %9.3f %9.3f %7d\n", $1" (round '"$r"')", $2, $3, $4, $5 }'
	done
	THREADS=$saved
	local conc ser
	conc=$(col concurrent-64 2 "$results" | median)
	ser=$(col serial-1 2 "$results" | median)
	printf '  median: %.0f logouts/s with 64 clients (target >= 2000: %s), %.0f/s one at a time; %.1fx from group commit\n' \
		"$conc" "$(awk -v x="$conc" 'BEGIN { print (x >= 2000) ? "meets" : "MISSES" }')" "$ser" "$(awk -v a="$conc" -v b="$ser" 'BEGIN { print a / b }')"
	# A logout of the first round must now be refused by the guard. (Not the
	# very first: wrk may build one request it never sends.)
	local out
	out=$(curl -sS -D - -o /dev/null -H "Cookie: sid=c1-1-1000" "http://127.0.0.1:$PORT_M/")
	if echo "$out" | grep -qi '^set-cookie: sid=;'; then
		echo "  check: a session logged out by the benchmark is refused afterwards (cookie stripped and cleared)"
	else
		echo "bench: a session logged out by the benchmark still passes the guard: $out" >&2
		exit 1
	fi
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# --- memory ----------------------------------------------------------------
memory_bench() {
	local global_admin="{
	admin 127.0.0.1:$PORT_ADMIN
	auto_https off
	persist_config off
	storage file_system $WORK/data/caddy
}"
	printf '%s\n%s\n' "$global_admin" "$(logout_site "$PORT_M" "cache {
			max_entries $MAX_ENTRIES
		}")" >"$WORK/m.Caddyfile"
	"$WORK/caddy" run --adapter caddyfile --config "$WORK/m.Caddyfile" >"$WORK/m.log" 2>&1 &
	local pid=$!
	PIDS+=("$pid")
	wait_up "http://127.0.0.1:$PORT_M/"
	rss() { awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status"; }
	hwm() { awk '/^VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status"; }
	metric() { curl -sS "http://127.0.0.1:$PORT_ADMIN/metrics" | awk -v m="$1" '$1 ~ "^"m"({|$)" { s += $2 } END { printf "%.0f", s }'; }
	heap() { metric go_memstats_heap_inuse_bytes | awk '{ printf "%.1f", $1 / 1048576 }'; }
	served() { curl -sS "http://127.0.0.1:$PORT_APP/_count"; }
	echo
	echo "memory: $SESSIONS distinct session cookies through Caddy with cache max_entries $MAX_ENTRIES (store bolt, none revoked)"
	printf '  %-22s %9s %9s %9s %14s\n' "" "RSS MiB" "peak MiB" "heap MiB" "cache entries"
	row() { printf '  %-22s %9s %9s %9s %14s\n' "$1" "$(rss)" "$(hwm)" "$(heap)" "$(metric caddy_logout_cache_entries)"; }
	row "started"
	local base start=$SECONDS marks=() next=0 m last=0
	for m in $MAX_ENTRIES $((SESSIONS / 4)) $((SESSIONS / 2)) $((SESSIONS * 3 / 4)); do
		if [ "$m" -lt "$SESSIONS" ] && [ "$m" -gt "$last" ]; then
			marks+=("$m")
			last=$m
		fi
	done
	marks+=("$SESSIONS")
	base=$(served)
	wrk -t"$THREADS" -c"$CONNS" -d600s -s "$WORK/distinct.lua" "http://127.0.0.1:$PORT_M/" -- m >"$WORK/memory-wrk.txt" 2>&1 &
	local wpid=$!
	PIDS+=("$wpid")
	while [ $next -lt ${#marks[@]} ]; do
		local n=$(($(served) - base))
		if [ $n -ge "${marks[$next]}" ]; then
			[ "${marks[$next]}" = "$SESSIONS" ] && kill -INT "$wpid" 2>/dev/null
			row "after $n"
			next=$((next + 1))
		fi
		if [ $((SECONDS - start)) -gt 590 ]; then echo "bench: memory run took too long" >&2; break; fi
		sleep 0.2
	done
	kill "$wpid" 2>/dev/null || true
	wait "$wpid" 2>/dev/null || true
	sleep 1
	row "load over"
	echo "  ($(($(served) - base)) requests in $((SECONDS - start))s; RSS counts the Go heap not yet returned to the OS)"
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

case "$MODE" in
compare) compare ;;
logout) logout_bench ;;
memory) memory_bench ;;
view)
	. bench/view.sh
	view_bench
	;;
all)
	compare
	logout_bench
	memory_bench
	;;
esac
echo
echo "bench: $(load_note)"
echo "bench: done; every process started here is stopped"
