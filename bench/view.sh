# The stores' views of their revocations, measured through the real Caddy:
# sourced by bench/run.sh, which runs view_bench for `bench/run.sh view`
# (about 15 minutes; the 10M phase needs about 3 GB of memory for Redis and
# Caddy together). It uses run.sh's helpers (run_wrk, median, wait_up).
#
#   flood      one Caddy, three sites in front of the same app, in
#              interleaved rounds of never-seen session cookies (every
#              request a cookie no node has seen): (a) plain reverse_proxy,
#              (r) logout on the redis store, (o) logout on the bolt store.
#              Caddy CPU per request gives the capacity ratios a/r and a/o;
#              INFO commandstats around each (r) run, Redis commands per
#              guarded request. With BEFORE=<git ref>, that ref's Caddy
#              serves (r0) and (o0) in the same rounds: the before/after.
#              Then a CPU profile of each flood: where the rest goes.
#   startup    Redis holds 1M revocations: a fresh Caddy, from exec until
#              its view is current; its heap and RSS against the same Caddy
#              on an empty Redis.
#   10m        Redis holds 10M more: one Caddy with two redis stores, on 1k
#              and on the 10M (default view_limit), flooded in turn (cost per
#              request at 1k and 10M), its heap and RSS; then the 10M with
#              view_limit 1000000: memory bounded by the limit.
#   inprocess  BenchmarkCache_View: ns per lookup at 1k and 10M.
#   crossnode  three Caddy nodes on one Redis: a logout on one, timed until
#              both others refuse the session (bench/viewtool propagate).
#
# Knobs: VIEW_PHASES (all five, in that order), VIEW_ROUNDS (9),
# VIEW_DURATION seconds per flood run (3), VIEW_10M (10000000),
# PROPAGATION_ROUNDS (500), BEFORE.

VIEW_REDIS_FLOOD=$((PORT_BASE + 20)) VIEW_REDIS_1M=$((PORT_BASE + 21))
VIEW_REDIS_10M=$((PORT_BASE + 22)) VIEW_REDIS_1K=$((PORT_BASE + 23))
VIEW_SITE_A=$((PORT_BASE + 30)) VIEW_SITE_R=$((PORT_BASE + 31)) VIEW_SITE_O=$((PORT_BASE + 32))
VIEW_SITE_R0=$((PORT_BASE + 33)) VIEW_SITE_O0=$((PORT_BASE + 34)) VIEW_ADMIN0=$((PORT_BASE + 35))
VIEW_NODE_ADMIN=$((PORT_BASE + 40)) VIEW_NODE_SITE=$((PORT_BASE + 43)) # three of each

view_bench() {
	local p
	for p in $(seq $((PORT_BASE + 20)) $((PORT_BASE + 23))) $(seq $((PORT_BASE + 30)) $((PORT_BASE + 35))) \
		$(seq $((PORT_BASE + 40)) $((PORT_BASE + 45))); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "bench: port $p is in use; set PORT_BASE" >&2
			exit 1
		fi
	done
	go build -o "$WORK/viewtool" ./bench/viewtool
	VIEW_SUMMARY=$WORK/view-summary.txt
	: >"$VIEW_SUMMARY"
	start_redis "$VIEW_REDIS_FLOOD"
	view_baseline
	local phase
	for phase in ${VIEW_PHASES:-flood startup 10m inprocess crossnode}; do
		"view_$phase"
	done
	stop_redis "$VIEW_REDIS_FLOOD"
	echo
	echo "summary:"
	sed 's/^/  /' "$VIEW_SUMMARY"
}

# view_baseline measures a Caddy whose view is empty, for the memory the
# revocations add.
view_baseline() {
	view_caddy empty "$PORT_ADMIN" "$(view_site "$VIEW_SITE_R" "$(redis_store "$VIEW_REDIS_FLOOD" "key_prefix empty:")")"
	wait_current 60s >/dev/null
	read -r VIEW_HEAP0 VIEW_RSS0 <<<"$(settled_memory "$CADDY_PID")"
	stop_caddy "$CADDY_PID"
}

view_flood() {
	local rounds=${VIEW_ROUNDS:-9} secs=${VIEW_DURATION:-3} results=$WORK/view-flood.txt
	: >"$results"
	view_caddy flood "$PORT_ADMIN" "$(plain_site "$VIEW_SITE_A")
$(view_site "$VIEW_SITE_R" "$(redis_store "$VIEW_REDIS_FLOOD")")
$(view_site "$VIEW_SITE_O" "store bolt $WORK/flood-bolt.db")"
	local pid=$CADDY_PID pid0=""
	wait_up "http://127.0.0.1:$VIEW_SITE_R/"
	wait_current 60s >/dev/null
	local -A url=([a]="http://127.0.0.1:$VIEW_SITE_A/" [r]="http://127.0.0.1:$VIEW_SITE_R/" [o]="http://127.0.0.1:$VIEW_SITE_O/")
	local -A proc=([a]=$pid [r]=$pid [o]=$pid)
	local base=(a r o)
	if [ -n "${BEFORE:-}" ]; then
		echo "bench: building $BEFORE's cmd/caddy for the before/after"
		mkdir -p "$WORK/before"
		git archive "$BEFORE" | tar -x -C "$WORK/before"
		(cd "$WORK/before" && go build -o "$WORK/caddy-before" ./cmd/caddy)
		CADDY_BIN=$WORK/caddy-before view_caddy before "$VIEW_ADMIN0" \
			"$(view_site "$VIEW_SITE_R0" "$(redis_store "$VIEW_REDIS_FLOOD" "key_prefix before:")")
$(view_site "$VIEW_SITE_O0" "store bolt $WORK/flood-bolt-before.db")"
		pid0=$CADDY_PID
		wait_up "http://127.0.0.1:$VIEW_SITE_R0/"
		url[r0]="http://127.0.0.1:$VIEW_SITE_R0/" url[o0]="http://127.0.0.1:$VIEW_SITE_O0/"
		proc[r0]=$pid0 proc[o0]=$pid0
		base=(a r o r0 o0)
	fi
	echo
	echo "flood of never-seen session cookies: $rounds rounds of ${secs}s per variant (wrk -t$THREADS -c$CONNS), order rotating"
	printf '%-6s %-3s %10s %9s %12s %14s\n' round var "req/s" "p99 ms" "caddy us/req" "redis cmd/req"
	local r v c0 c1 line order
	for r in $(seq "$rounds"); do
		order=("${base[@]:$((r % ${#base[@]}))}" "${base[@]:0:$((r % ${#base[@]}))}")
		for v in "${order[@]}"; do
			curl -fsS -o /dev/null "http://127.0.0.1:$PORT_ADMIN/debug/pprof/heap?gc=1"
			c0=$(redis_calls "$VIEW_REDIS_FLOOD")
			line=$(run_wrk "$v" "${url[$v]}" "${proc[$v]}" "$secs" -s "$WORK/distinct.lua" -- "f$r$v")
			c1=$(redis_calls "$VIEW_REDIS_FLOOD")
			echo "$line" | awk -v r="$r" -v c=$((c1 - c0)) '{ printf "%-6s %-3s %10.0f %9.3f %12.1f %14.5f\n", r, $1, $2, $4, $7, ($6 > 0 ? c / $6 : 0) }' | tee -a "$results"
		done
	done
	# Per round: a's CPU per request over each variant's (capacity), and
	# the commands per request; then medians across rounds.
	awk '{ cpu[$1, $2] = $5; cmd[$1, $2] = $6; rounds[$1] = 1 }
	     END { for (r in rounds) print r, cpu[r, "a"] / cpu[r, "r"], cpu[r, "a"] / cpu[r, "o"],
	             (cpu[r, "r0"] ? cpu[r, "a"] / cpu[r, "r0"] : 0), (cpu[r, "o0"] ? cpu[r, "a"] / cpu[r, "o0"] : 0), cmd[r, "r"], cmd[r, "r0"] }' \
		"$results" >"$WORK/view-ratios.txt"
	med() { awk -v c="$1" '{ print $c }' "$WORK/view-ratios.txt" | median; }
	rng() { awk -v c="$1" 'NR == 1 || $c < lo { lo = $c } NR == 1 || $c > hi { hi = $c } END { printf "%.3f-%.3f", lo, hi }' "$WORK/view-ratios.txt"; }
	local ar ao cmds
	ar=$(med 2) ao=$(med 3) cmds=$(med 6)
	{
		printf 'never-seen flood, capacity a/r (plain over redis, Caddy CPU per request)  %.3f  [%s]  target >= 0.95: %s\n' "$ar" "$(rng 2)" "$(at_least "$ar" 0.95)"
		printf 'never-seen flood, capacity a/o (plain over bolt)                          %.3f  [%s]  target >= 0.95: %s\n' "$ao" "$(rng 3)" "$(at_least "$ao" 0.95)"
		printf 'Redis commands per guarded request (r)                                     %.5f  target <= 0.001: %s\n' "$cmds" "$(at_least 0.001 "$cmds")"
		if [ -n "$pid0" ]; then
			printf '  before (%s): a/r0 %.3f [%s], a/o0 %.3f [%s], Redis commands per request %.3f\n' "$BEFORE" \
				"$(med 4)" "$(rng 4)" "$(med 5)" "$(rng 5)" "$(med 7)"
		fi
	} | tee -a "$VIEW_SUMMARY"

	echo
	echo "where the rest goes: a CPU profile of Caddy under each flood (5s); the guard's own share is"
	echo "flow.(*Gateway).guard minus the reverse_proxy it calls"
	for v in r o; do
		run_wrk "$v" "${url[$v]}" "$pid" 7 -s "$WORK/distinct.lua" -- "p$v" >/dev/null &
		local w=$!
		sleep 1
		curl -fsS -o "$WORK/flood-$v.prof" "http://127.0.0.1:$PORT_ADMIN/debug/pprof/profile?seconds=5"
		wait "$w"
		echo "  ($v) share of Caddy's CPU, cumulative:"
		go tool pprof -top -cum -nodecount=400 "$WORK/caddy" "$WORK/flood-$v.prof" 2>/dev/null |
			grep -E 'flow\.\(\*Gateway\)\.guard$|flow\.\(\*Gateway\)\.check$|session\.\(\*Cache\)\.RevokedUntil$|session\.IDOf$|ViewLookup$|ristretto|bbolt\.\(\*DB\)\.View$|reverseproxy\.\(\*Handler\)\.ServeHTTP$|runtime\.gcBgMarkWorker$' |
			awk '{ printf "    %7s  %s\n", $5, $6 }' | head -12
	done
	stop_caddy "$pid" $pid0
}

view_startup() {
	start_redis "$VIEW_REDIS_1M"
	echo
	echo "start-up: Redis holds 1,000,000 revocations"
	"$WORK/viewtool" fill -redis "127.0.0.1:$VIEW_REDIS_1M" -n 1000000 | sed 's/^/  /'
	local start took heap rss
	start=$(date +%s%N)
	view_caddy 1m "$PORT_ADMIN" "$(view_site "$VIEW_SITE_R" "$(redis_store "$VIEW_REDIS_1M")")"
	wait_current 60s | sed 's/^/  /'
	took=$(since "$start")
	grep -o '"msg":"view of Redis loaded from its records".*' "$WORK/1m.log" | head -1 | sed 's/^/  log: /'
	read -r heap rss <<<"$(settled_memory "$CADDY_PID")"
	{
		printf 'start-up with 1M revocations: view current %.2f s after exec  target <= 5 s: %s\n' "$took" "$(at_least 5 "$took")"
		memory_line "the view of 1M" "$heap" "$rss" 1000000
	} | tee -a "$VIEW_SUMMARY"
	stop_caddy "$CADDY_PID"
	stop_redis "$VIEW_REDIS_1M"
}

view_10m() {
	local rounds=${VIEW_ROUNDS:-9} secs=${VIEW_DURATION:-3} n=${VIEW_10M:-10000000}
	start_redis "$VIEW_REDIS_10M"
	start_redis "$VIEW_REDIS_1K"
	echo
	echo "Redis holds $n revocations (and another one 1,000)"
	"$WORK/viewtool" fill -redis "127.0.0.1:$VIEW_REDIS_10M" -n "$n" | sed 's/^/  /'
	"$WORK/viewtool" fill -redis "127.0.0.1:$VIEW_REDIS_1K" -n 1000 | sed 's/^/  /'
	local start took heap rss
	start=$(date +%s%N)
	view_caddy 10m "$PORT_ADMIN" "$(view_site "$VIEW_SITE_R" "$(redis_store "$VIEW_REDIS_10M")")
$(view_site "$VIEW_SITE_O" "$(redis_store "$VIEW_REDIS_1K")")"
	local pid=$CADDY_PID
	wait_current 300s | sed 's/^/  /'
	took=$(since "$start")
	read -r heap rss <<<"$(settled_memory "$pid")"
	: >"$WORK/scale.txt"
	local r
	for r in $(seq "$rounds"); do
		run_wrk 1k "http://127.0.0.1:$VIEW_SITE_O/" "$pid" "$secs" -s "$WORK/distinct.lua" -- "s${r}k" >>"$WORK/scale.txt"
		run_wrk 10m "http://127.0.0.1:$VIEW_SITE_R/" "$pid" "$secs" -s "$WORK/distinct.lua" -- "s${r}m" >>"$WORK/scale.txt"
	done
	local cpu1k cpu10m
	cpu1k=$(awk '$1 == "1k" { print $7 }' "$WORK/scale.txt" | median) cpu10m=$(awk '$1 == "10m" { print $7 }' "$WORK/scale.txt" | median)
	{
		printf 'start-up with %d revocations: view current %.2f s after exec\n' "$n" "$took"
		memory_line "the views of $n and 1k" "$heap" "$rss" "$n"
		printf 'never-seen flood, Caddy CPU per request: view of 1k %.1f us, of %d %.1f us: ratio %.3f  target: the same\n' \
			"$cpu1k" "$n" "$cpu10m" "$(awk -v a="$cpu10m" -v b="$cpu1k" 'BEGIN { print a / b }')"
	} | tee -a "$VIEW_SUMMARY"
	stop_caddy "$pid"

	view_caddy capped "$PORT_ADMIN" "$(view_site "$VIEW_SITE_R" "$(redis_store "$VIEW_REDIS_10M" "view_limit 1000000")")"
	wait_up "http://127.0.0.1:$VIEW_SITE_R/"
	local metrics=$WORK/capped-metrics.txt
	for _ in $(seq 600); do
		curl -fsS -o "$metrics" "http://127.0.0.1:$PORT_ADMIN/metrics"
		grep -q '^caddy_logout_view_full{.*} 1' "$metrics" && break
		sleep 0.1
	done
	read -r heap rss <<<"$(settled_memory "$CADDY_PID")"
	curl -fsS -o "$metrics" "http://127.0.0.1:$PORT_ADMIN/metrics"
	{
		memory_line "$n revocations and view_limit 1000000" "$heap" "$rss" 0
		awk '/^caddy_logout_view_(full|current|revocations|dropped_total)\{/ { sub(/\{.*\}/, "", $1); printf "  %s %s\n", $1, $2 }' "$metrics"
	} | tee -a "$VIEW_SUMMARY"
	stop_caddy "$CADDY_PID"
	stop_redis "$VIEW_REDIS_10M"
	stop_redis "$VIEW_REDIS_1K"
}

view_inprocess() {
	echo
	echo "in-process: BenchmarkCache_View, 3 runs"
	go test -run '^$' -bench 'Cache_View' -benchmem -count 3 ./session/redis/ | grep '^BenchmarkCache_View' | tee "$WORK/inproc.txt" | sed 's/^/  /'
	local k m
	k=$(awk '/revoked=1000\/never_seen/ { print $3 }' "$WORK/inproc.txt" | median)
	m=$(awk '/revoked=10000000\/never_seen/ { print $3 }' "$WORK/inproc.txt" | median)
	printf 'in-process lookup of a never-seen session: %.0f ns at 1k, %.0f ns at 10M (10M no longer fits the CPU caches)\n' "$k" "$m" | tee -a "$VIEW_SUMMARY"
}

view_crossnode() {
	echo
	echo "cross-node: three Caddy nodes on one Redis"
	local nodes=() i
	for i in 0 1 2; do
		view_caddy "node$i" $((VIEW_NODE_ADMIN + i)) "$(view_site $((VIEW_NODE_SITE + i)) "on_revoked deny
		$(redis_store "$VIEW_REDIS_FLOOD" "key_prefix cross:")")"
		nodes+=("$CADDY_PID")
	done
	for i in 0 1 2; do
		"$WORK/viewtool" status -admin "http://127.0.0.1:$((VIEW_NODE_ADMIN + i))" -wait-current 60s >/dev/null
	done
	"$WORK/viewtool" propagate -revoke "http://127.0.0.1:$VIEW_NODE_SITE" \
		-check "http://127.0.0.1:$((VIEW_NODE_SITE + 1)),http://127.0.0.1:$((VIEW_NODE_SITE + 2))" \
		-rounds "${PROPAGATION_ROUNDS:-500}" | tee "$WORK/prop.txt" | sed 's/^/  /'
	awk '{ for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
	     END { printf "cross-node: refused on both other nodes after the 204: p50 %.2f ms, p99 %.2f ms, max %.2f ms  target p99 <= 5 ms: %s\n",
	             v["p50_ms"], v["p99_ms"], v["max_ms"], (v["p99_ms"] <= 5) ? "meets" : "MISSES" }' "$WORK/prop.txt" | tee -a "$VIEW_SUMMARY"
	stop_caddy "${nodes[@]}"
}

# --- helpers -------------------------------------------------------------

at_least() { awk -v x="$1" -v t="$2" 'BEGIN { print (x >= t) ? "meets" : "MISSES" }'; }
since() { awk -v a="$1" -v b="$(date +%s%N)" 'BEGIN { printf "%.2f", (b - a) / 1e9 }'; }

# redis_calls is how many commands a redis-server has run, INFO's own not
# counted.
redis_calls() {
	redis-cli -p "$1" info commandstats | awk -F'[:=,]' '/^cmdstat_/ && $1 != "cmdstat_info" { s += $3 } END { print s + 0 }'
}

declare -A REDIS_PIDS
start_redis() { # port
	redis-server --bind 127.0.0.1 --port "$1" --save "" --appendonly no >"$WORK/redis-$1.log" 2>&1 &
	REDIS_PIDS[$1]=$!
	PIDS+=("$!")
	for _ in $(seq 100); do
		if redis-cli -p "$1" ping >/dev/null 2>&1; then return; fi
		sleep 0.1
	done
	echo "bench: redis-server never came up on port $1" >&2
	cat "$WORK/redis-$1.log" >&2
	exit 1
}
stop_redis() { kill "${REDIS_PIDS[$1]}" 2>/dev/null || true; wait "${REDIS_PIDS[$1]}" 2>/dev/null || true; }

# view_caddy name admin-port sites: a Caddy with its own data directory;
# sets CADDY_PID. CADDY_BIN picks another binary.
view_caddy() {
	mkdir -p "$WORK/data-$1"
	printf '{\n\tadmin 127.0.0.1:%s\n\tpersist_config off\n\tauto_https off\n\tstorage file_system %s\n}\n%s\n' \
		"$2" "$WORK/data-$1/caddy" "$3" >"$WORK/$1.Caddyfile"
	XDG_DATA_HOME=$WORK/data-$1 "${CADDY_BIN:-$WORK/caddy}" run --adapter caddyfile --config "$WORK/$1.Caddyfile" >"$WORK/$1.log" 2>&1 &
	CADDY_PID=$!
	PIDS+=("$CADDY_PID")
}
stop_caddy() { kill "$@" 2>/dev/null || true; wait "$@" 2>/dev/null || true; }

wait_current() { "$WORK/viewtool" status -admin "http://127.0.0.1:$PORT_ADMIN" -wait-current "$1"; }

plain_site() { printf ':%s {\n\tbind 127.0.0.1\n\treverse_proxy 127.0.0.1:%s\n}\n' "$1" "$PORT_APP"; }

redis_store() { # port, extra lines
	printf 'store redis {\n\t\t\taddress 127.0.0.1:%s\n\t\t\t%s\n\t\t}' "$1" "${2:-}"
}

view_site() { # port, logout options
	cat <<EOF
:$1 {
	bind 127.0.0.1
	logout {
		cookie sid
		signing_key {env.BENCH_LOGOUT_KEY}
		$2
	}
	reverse_proxy 127.0.0.1:$PORT_APP
}
EOF
}

# settled_memory prints a Caddy's Go heap in use and its RSS, in MiB,
# after a GC (through its admin endpoint) and a moment to give memory back.
settled_memory() {
	curl -fsS -o /dev/null "http://127.0.0.1:$PORT_ADMIN/debug/pprof/heap?gc=1" || true
	sleep 3
	local heap
	heap=$(curl -fsS "http://127.0.0.1:$PORT_ADMIN/metrics" | awk '$1 == "go_memstats_heap_inuse_bytes" { printf "%.1f", $2 / 1048576 }')
	printf '%s %s\n' "$heap" "$(awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status")"
}

memory_line() { # what, heap MiB, RSS MiB, revocations (0: no per-revocation figure)
	printf 'memory with %s: Go heap %.0f MiB, RSS %.0f MiB (empty view: %.0f and %.0f MiB)' "$1" "$2" "$3" "$VIEW_HEAP0" "$VIEW_RSS0"
	if [ "$4" -gt 0 ]; then
		awk -v h="$2" -v h0="$VIEW_HEAP0" -v r="$3" -v r0="$VIEW_RSS0" -v n="$4" \
			'BEGIN { printf ": %.1f bytes per revocation in the heap, %.1f in RSS", (h - h0) * 1048576 / n, (r - r0) * 1048576 / n }'
	fi
	echo
}
