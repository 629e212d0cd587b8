#!/usr/bin/env bash
# libFuzzer targets (tests/fuzz/, docs/fuzzing.md), built with clang under
# ASan + UBSan in build-fuzz/.
#
#   scripts/fuzz.sh list                 the targets
#   scripts/fuzz.sh TARGET SECONDS       fuzz one target (builds first)
#   scripts/fuzz.sh all SECONDS          fuzz each target in turn, SECONDS each
#   scripts/fuzz.sh replay [TARGET]      run every seed and regression input once
#   scripts/fuzz.sh ci [SECONDS]         replay, then each target SECONDS (10) s:
#                                        the bounded slice for CI; exit 1 on any crash
#   scripts/fuzz.sh seeds                rewrite tests/fuzz/corpus/ (fuzz_seedgen;
#                                        fuzz_nats writes its own)
#
# One fuzzer process at a time, under nice (CEE_FUZZ_NICE, default 19).
# New corpus entries go to build-fuzz/fuzz-corpus/TARGET, crashes to
# build-fuzz/fuzz-crashes/TARGET/, logs to build-fuzz/fuzz-logs/. A crash
# worth keeping is copied to tests/fuzz/regress/TARGET/ by hand.
# CEE_FUZZ_KNOWN=name,... steps around known bugs (docs/fuzzing.md) while
# fuzzing; the replay of tests/fuzz/regress/ ignores it.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=(net tcp json audit audit_reader ctl tls tls_client ws ws_client nats)
BUILD=${CEE_FUZZ_BUILD:-build-fuzz}
NICE=${CEE_FUZZ_NICE:-19}
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:allocator_may_return_null=1}
# the stack frames of a crash's report (llvm-14, scripts/deps.sh)
if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ] && [ -x /usr/lib/llvm-14/bin/llvm-symbolizer ]; then
	export ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-14/bin/llvm-symbolizer
fi
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

usage() {
	sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
}

known_target() {
	local t
	for t in "${TARGETS[@]}"; do
		[ "$t" = "$1" ] && return 0
	done
	return 1
}

build() {
	scripts/deps.sh
	local cc
	cc=$(command -v clang-14 || command -v clang || true)
	if [ -z "$cc" ]; then
		echo "fuzz.sh: clang not found (scripts/deps.sh installs clang-14)" >&2
		exit 1
	fi
	if [ ! -f "$BUILD/build.ninja" ]; then
		CC=$cc meson setup "$BUILD" -Dfuzz=true -Dtests=false \
			-Db_sanitize=address,undefined -Db_lundef=false >/dev/null
	fi
	local want=()
	for t in "$@"; do
		want+=("tests/fuzz/fuzz_$t")
	done
	# (its output kept, not thrown away: a target that did not build was
	# skipped without a word once)
	if ! nice -n "$NICE" ninja -C "$BUILD" "${want[@]}" >"$BUILD/fuzz-build.log" 2>&1; then
		grep -E 'error|FAILED' "$BUILD/fuzz-build.log" | head -n 20 >&2
		echo "fuzz.sh: the build failed (the whole output: $BUILD/fuzz-build.log)" >&2
		exit 1
	fi
}

# The last "cov: N ft: M" figures and the executions of a libFuzzer log.
summarize() {
	local t=$1 secs=$2 log=$3
	local line execs rate cov ft corp crashes
	line=$(grep -a -E '^#[0-9]+.*cov: [0-9]+ ft: [0-9]+' "$log" | tail -1 || true)
	cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$line")
	ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$line")
	corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$line")
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	[ -n "$execs" ] || execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' <<<"$line")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	# crash-, leak-, timeout-, oom- artifacts; slow-unit- ones are only reported
	crashes=$(grep -a -E 'Test unit written to' "$log" | grep -a -c -v '/slow-unit-' || true)
	slow=$(grep -a -c 'Test unit written to .*/slow-unit-' "$log" || true)
	printf 'fuzz %-12s %5ss  execs %-10s exec/s %-7s cov %-5s ft %-6s corpus %-5s crashes %s\n' \
		"$t" "$secs" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$crashes"
	if [ "$slow" != 0 ]; then
		echo "  $slow slow unit(s) (over 10 s once; rerun one to see whether it is slow):"
		grep -a -E 'Test unit written to .*/slow-unit-' "$log" | sed 's/.*Test unit written to /    /'
	fi
	if [ "$crashes" != 0 ]; then
		grep -a -E 'Test unit written to' "$log" | grep -a -v '/slow-unit-' |
			sed 's/.*Test unit written to /  reproducer: /'
		grep -a -m1 -E 'ERROR: (Address|Leak|Undefined)Sanitizer|runtime error|fuzz check failed|ERROR: libFuzzer' "$log" | sed 's/^/  /'
		grep -a -E '^ +#[0-9]+ 0x[0-9a-f]+ in ' "$log" | grep -a -v -E 'fuzzer::|libc_start|_start |__sanitizer|pthread_kill|raise |in abort | in main ' | head -8 | sed 's/^ */    /'
		echo "  log: $log"
	fi
	[ "$crashes" = 0 ]
}

# libFuzzer's -max_len for a target: nats' inputs carry whole batches of
# JSON lines (its seeds are up to 8 KiB), the others' fit in 4 KiB.
max_len() {
	case $1 in
	nats) echo 8192 ;;
	*) echo 4096 ;;
	esac
}

run_target() {
	local t=$1 secs=$2
	local bin="$BUILD/tests/fuzz/fuzz_$t"
	local work="$BUILD/fuzz-corpus/$t" art="$BUILD/fuzz-crashes/$t" log="$BUILD/fuzz-logs/$t.log"
	mkdir -p "$work" "$art" "$BUILD/fuzz-logs"
	local rc=0
	nice -n "$NICE" "$bin" -max_total_time="$secs" -print_final_stats=1 -timeout=25 \
		-rss_limit_mb=2560 -max_len="$(max_len "$t")" -artifact_prefix="$art/" \
		"$work" "tests/fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
	summarize "$t" "$secs" "$log" || rc=1
	return "$rc"
}

# Every seed (one run over the directory) and every regression input (one
# run each, so that all failures show), strictly: CEE_FUZZ_KNOWN unset.
replay_target() {
	local t=$1 rc=0
	local bin="$BUILD/tests/fuzz/fuzz_$t" log="$BUILD/fuzz-logs/replay-$t.log"
	mkdir -p "$BUILD/fuzz-logs"
	local n
	n=$(find "tests/fuzz/corpus/$t" -type f | wc -l)
	if [ "$n" -eq 0 ]; then # (an emptied corpus passed, replaying nothing)
		echo "replay $t: no seeds in tests/fuzz/corpus/$t"
		rc=1
	fi
	# (-timeout: an input that loops fails in 25 s, not libFuzzer's 1200)
	if ! env -u CEE_FUZZ_KNOWN "$bin" -runs=0 -timeout=25 -rss_limit_mb=2560 \
		"tests/fuzz/corpus/$t" >"$log" 2>&1; then
		echo "replay $t: a seed fails (log: $log)"
		rc=1
	fi
	# seedgen's recorded flights replay past tls_up (tests/fuzz/fuzz_seed.c
	# fixes wolfSSL's entropy): the client's 50 bytes of plaintext reach the
	# server, the server's 36 the client, then each one's close_notify
	local up="" nup=0
	case $t in tls) up=50 ;; tls_client) up=36 ;; esac
	if [ -n "$up" ]; then
		while IFS= read -r f; do
			nup=$((nup + 1))
			if ! CEE_FUZZ_EXPECT_UP=$up env -u CEE_FUZZ_KNOWN "$bin" -timeout=25 "$f" \
				>"$log.up" 2>&1; then
				echo "replay $t: $f does not replay past tls_up (log: $log.up)"
				grep -a -m1 'fuzz check failed' "$log.up" | sed 's/^/  /'
				rc=1
			fi
		done < <(find "tests/fuzz/corpus/$t" -type f -name '*_flights*' | sort)
		if [ "$nup" -lt 4 ]; then
			echo "replay $t: $nup recorded flights in tests/fuzz/corpus/$t (scripts/fuzz.sh seeds)"
			rc=1
		fi
	fi
	local f nreg=0 bad=0
	if [ -d "tests/fuzz/regress/$t" ]; then
		while IFS= read -r f; do
			nreg=$((nreg + 1))
			if ! env -u CEE_FUZZ_KNOWN "$bin" -timeout=25 -rss_limit_mb=2560 "$f" \
				>"$log.regress" 2>&1; then
				bad=$((bad + 1))
				echo "replay $t: regression input fails: $f"
				grep -a -m1 -E 'ERROR: (Address|Leak|Undefined)Sanitizer|runtime error|fuzz check failed' "$log.regress" | sed 's/^/  /'
			fi
		done < <(find "tests/fuzz/regress/$t" -type f ! -name '*.md' | sort)
	fi
	[ "$bad" = 0 ] || rc=1
	echo "replay $t: $n seeds, $nreg regression inputs, $bad failing"
	return "$rc"
}

cmd=${1:-}
case "$cmd" in
list)
	printf '%s\n' "${TARGETS[@]}"
	;;
seeds)
	build "${TARGETS[@]}"
	nice -n "$NICE" ninja -C "$BUILD" tests/fuzz/fuzz_seedgen >/dev/null
	rm -rf tests/fuzz/corpus
	"$BUILD/tests/fuzz/fuzz_seedgen" tests/fuzz/corpus
	CEE_FUZZ_NATS_SEEDS=tests/fuzz/corpus/nats "$BUILD/tests/fuzz/fuzz_nats"
	for t in "${TARGETS[@]}"; do
		echo "seeds $t: $(find "tests/fuzz/corpus/$t" -type f | wc -l)"
	done
	;;
replay)
	targets=("${TARGETS[@]}")
	if [ $# -ge 2 ]; then
		known_target "$2" || usage
		targets=("$2")
	fi
	build "${targets[@]}"
	rc=0
	for t in "${targets[@]}"; do
		replay_target "$t" || rc=1
	done
	exit "$rc"
	;;
ci)
	secs=${2:-10}
	build "${TARGETS[@]}"
	rc=0
	# (a regression folder under a name no target has was never replayed)
	for d in tests/fuzz/regress/*/; do
		d=$(basename "$d")
		[[ " ${TARGETS[*]} " == *" $d "* ]] || {
			echo "fuzz.sh ci: tests/fuzz/regress/$d is no target's: never replayed"
			rc=1
		}
	done
	for t in "${TARGETS[@]}"; do
		replay_target "$t" || rc=1
	done
	for t in "${TARGETS[@]}"; do
		run_target "$t" "$secs" || rc=1
	done
	[ "$rc" = 0 ] && echo "fuzz.sh ci: no crash" || echo "fuzz.sh ci: FAILED"
	exit "$rc"
	;;
all)
	[ $# -eq 2 ] || usage
	build "${TARGETS[@]}"
	rc=0
	for t in "${TARGETS[@]}"; do
		run_target "$t" "$2" || rc=1
	done
	exit "$rc"
	;;
*)
	[ $# -eq 2 ] && known_target "$cmd" || usage
	build "$cmd"
	run_target "$cmd" "$2"
	;;
esac
