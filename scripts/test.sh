#!/usr/bin/env bash
# The test command: install dependencies, build with warnings as errors, run
# every test; then build again with ASan+UBSan and run the suite once more.
#   scripts/test.sh            both passes
#   CEE_TEST_SANITIZE=0 scripts/test.sh   the plain pass only
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
echo "test.sh: all suites passed"
