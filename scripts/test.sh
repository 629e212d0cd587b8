#!/usr/bin/env bash
# The test command: install dependencies, build with warnings as errors, run
# every test; then build again with ASan+UBSan and run the suite once more;
# then the fuzz targets' CI slice (scripts/fuzz.sh ci: seeds and regression
# inputs replayed, each target fuzzed a few seconds).
#   scripts/test.sh            all three
#   CEE_TEST_SANITIZE=0 scripts/test.sh   without the ASan+UBSan pass
#   CEE_TEST_FUZZ=0 scripts/test.sh       without the fuzz slice
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh

run_suite() {
	local dir=$1
	shift
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" -Dwerror=true "$@"
	fi
	ninja -C "$dir"
	meson test -C "$dir" --print-errorlogs --num-processes 1
}

run_suite build-ci
if [ "${CEE_TEST_SANITIZE:-1}" != 0 ]; then
	# DPDK's EAL and LeakSanitizer disagree about memory it maps itself;
	# leaks are checked in the unit tests only (no EAL there).
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
	run_suite build-asan -Db_sanitize=address,undefined -Db_lundef=false
fi
if [ "${CEE_TEST_FUZZ:-1}" != 0 ]; then
	# the libFuzzer targets (clang, ASan+UBSan): every seed and regression
	# input once, then each target a few seconds (docs/fuzzing.md); the long
	# runs are scripts/fuzz.sh TARGET SECONDS
	unset ASAN_OPTIONS UBSAN_OPTIONS
	scripts/fuzz.sh ci "${CEE_TEST_FUZZ_SECONDS:-3}"
fi
echo "test.sh: all suites passed"
