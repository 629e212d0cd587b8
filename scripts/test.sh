#!/usr/bin/env bash
# The test command: install dependencies, build with warnings as errors, run
# every test; then build again with ASan+UBSan and run the suite once more;
# then the threaded unit tests under ThreadSanitizer; then the fuzz targets'
# CI slice (scripts/fuzz.sh ci: seeds and regression inputs replayed, each
# target fuzzed a few seconds).
#   scripts/test.sh            all four
#   CEE_TEST_SANITIZE=0 scripts/test.sh   without the ASan+UBSan pass
#   CEE_TEST_TSAN=0 scripts/test.sh       without the ThreadSanitizer pass
#   CEE_TEST_FUZZ=0 scripts/test.sh       without the fuzz slice
#   CEE_TEST_ALLOW_SKIP=1 scripts/test.sh  a test that skips (exit 77) as root
#                                          does not fail the run
#   CEE_TEST_JOBS=N scripts/test.sh      N tests at a time (default 2; those
#                                          meson marks is_parallel: false
#                                          always run alone)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
# where the time goes (CI's whole must stay well under 15 minutes)
phase() { echo "test.sh: $1 done at ${SECONDS} s"; }
phase deps

# run_suite DIR [meson setup options] [-- meson test options]
run_suite() {
	local dir=$1
	shift
	local setup=() tests=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		setup+=("$1")
		shift
	done
	[ $# -gt 0 ] && shift && tests=("$@")
	if [ ! -f "$dir/build.ninja" ]; then
		# -Dnats=enabled: the NATS sink and its tests are part of the
		# product; without libnats the build fails instead of leaving them out
		meson setup "$dir" -Dwerror=true -Dnats=enabled "${setup[@]}"
	fi
	ninja -C "$dir"
	local marker rc=0
	marker=$(mktemp)
	# two at a time (the busy-polling, flooding and timing tests still
	# alone: is_parallel: false in tests/*/meson.build): CI 998 s one at a
	# time, 761 s two at a time (session 29). Two engines started side by
	# side can draw the same AF_PACKET fanout group id (DPDK 22.11's
	# net_af_packet: pid XOR ifindex); the second then exits 75 and the
	# tests start it again (it_launch_engine, tests/integration/lib.sh).
	meson test -C "$dir" --print-errorlogs --num-processes "${CEE_TEST_JOBS:-2}" "${tests[@]}" || rc=$?
	# meson counts a skip (exit 77) as a pass: as root, with scripts/deps.sh
	# run, no test has a reason to skip, and one that did tested nothing
	if [ "$rc" -eq 0 ] && [ "$(id -u)" -eq 0 ] && [ "${CEE_TEST_ALLOW_SKIP:-0}" != 1 ]; then
		local skipped
		skipped=$(python3 -c 'import json, sys
for l in open(sys.argv[1]):
    t = json.loads(l)
    if t.get("result") == "SKIP":
        print(t["name"])' "$dir/meson-logs/testlog.json")
		if [ -n "$skipped" ]; then
			echo "test.sh: skipped as root (CEE_TEST_ALLOW_SKIP=1 allows it): $skipped" >&2
			rc=1
		fi
	fi
	# EAL leaves each process's runtime directory behind (/var/run/dpdk/
	# PREFIX, 6-13 MB with --no-huge: about 1.3 GB a CI run); the tests'
	# own (prefix cee-, made during this pass) go
	if [ -d /var/run/dpdk ]; then
		find /var/run/dpdk -mindepth 1 -maxdepth 1 -name 'cee-*' -newer "$marker" \
			-exec rm -rf {} + || true
	fi
	rm -f "$marker"
	return "$rc"
}

run_suite build-ci
phase "plain pass"
if [ "${CEE_TEST_SANITIZE:-1}" != 0 ]; then
	# DPDK's EAL and LeakSanitizer disagree about memory it maps itself;
	# leaks are checked in the unit tests only (no EAL there: their own
	# ASAN_OPTIONS, tests/unit/meson.build, turns LeakSanitizer back on).
	# Reports also go to files (log_path): a tool run whose status a test
	# does not look at (`cee-ctl ... || true`, a helper killed at cleanup)
	# lost its report with its stderr; any report fails the pass.
	san=$PWD/build-asan/san-reports
	rm -rf "$san"
	mkdir -p "$san"
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1:log_path=$san/asan}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:log_path=$san/ubsan}
	# The suite 'long' (the longest behaviour runs: ws_mix_2shards, links_tcp,
	# links_tls, synflood_quick, nats_cluster, nats_stream_delete,
	# hostile_quick, nats_sink, bench_audit; their code paths are taken by
	# shorter tests too: links by links_tcp_2shards, the TLS client by
	# tls_client fuzzing, the NATS sink through broker failures by
	# nats_broker_kill and fuzz_nats, cee-bench by audit_engines and
	# bench_args) runs in the plain pass only, to keep CI well under 15
	# minutes (1,061 s with nats_sink and bench_audit in both passes, session
	# 28; 785 s with links_tls in both, session 14; 998 s one test at a time
	# and 761 s two at a time, the whole of .ci/run on a fresh clone,
	# sessions 28 and 29).
	rc=0
	run_suite build-asan -Db_sanitize=address,undefined -Db_lundef=false -- --no-suite long || rc=$?
	if [ -n "$(find "$san" -type f -size +0 2>/dev/null)" ]; then
		echo "test.sh: sanitizer reports in the ASan+UBSan pass:" >&2
		find "$san" -type f -size +0 -exec sh -c 'echo "== $1"; head -n 60 "$1"' _ {} \; >&2
		rc=1
	fi
	[ "$rc" -eq 0 ] || exit "$rc"
	phase "ASan+UBSan pass"
fi
if [ "${CEE_TEST_TSAN:-1}" != 0 ]; then
	# ThreadSanitizer over the unit tests whose code runs on more than one
	# thread: the event ring (a shard and the exporter, its threaded
	# stress test), the control mailbox, the sinks (the exporter and
	# libnats' threads). A few seconds; the rest of the suite runs DPDK's
	# lcores, which TSan does not follow.
	unset ASAN_OPTIONS UBSAN_OPTIONS
	[ -f build-tsan/build.ninja ] ||
		meson setup build-tsan -Dwerror=true -Dnats=enabled -Db_sanitize=thread
	ninja -C build-tsan tests/unit/test_evring tests/unit/test_mbox tests/unit/test_sink
	TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1} \
		meson test -C build-tsan --no-rebuild --print-errorlogs evring mbox sink
	phase "TSan pass"
fi
if [ "${CEE_TEST_FUZZ:-1}" != 0 ]; then
	# the libFuzzer targets (clang, ASan+UBSan): every seed and regression
	# input once, then each target a few seconds (docs/fuzzing.md); the long
	# runs are scripts/fuzz.sh TARGET SECONDS
	unset ASAN_OPTIONS UBSAN_OPTIONS
	scripts/fuzz.sh ci "${CEE_TEST_FUZZ_SECONDS:-3}"
	phase "fuzz slice"
fi
echo "test.sh: all suites passed"
