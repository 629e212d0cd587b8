#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Options cee-bench must refuse at once (exit 2, a message that says why),
# before any run: each case names the fault it guards against.
#
# Usage: test_bench_args.sh CEE_BENCH
set -uo pipefail
BENCH=$1
WORK=$(mktemp -d /tmp/cee-bench-args.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
FAILED=0
N=0

# expect NAME RC SAYS [HIDES] -- CMD...: CMD exits RC and its stderr has SAYS
# (and not HIDES, when given)
expect() {
	local name=$1 want=$2 says=$3 hides=
	shift 3
	if [[ $1 != -- ]]; then
		hides=$1
		shift
	fi
	shift
	local rc=0
	"$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
	if [[ $rc -ne $want ]]; then
		echo "FAIL: $name: exit $rc, want $want"
		FAILED=1
	elif ! grep -qF -- "$says" "$WORK/err"; then
		echo "FAIL: $name: stderr does not say '$says'"
		FAILED=1
	elif [[ -n $hides ]] && grep -qF -- "$hides" "$WORK/err" "$WORK/out"; then
		echo "FAIL: $name: the output shows '$hides'"
		FAILED=1
	else
		echo "ok: $name"
	fi
	sed 's/^/    /' "$WORK/err" | head -n 5
}

# cee-bench: its options are read after the EAL's (no hugepages, no root)
bench() {
	N=$((N + 1))
	"$BENCH" --no-huge -m 128 --no-pci --no-telemetry --file-prefix "cee-ba-$$-$N" \
		--lcores 0@0,1@0,2@0 --log-level='*:error' -- "$@"
}

# Fault (review of the configuration): --max-conns up to 2^24 was taken, but
# a shard's connection pool holds 13,421,772: the engine failed at set-up
# with "Invalid argument"; and a concurrency beyond what the pools hold
expect bench-max-conns 2 "cee-bench: --max-conns 13421773" -- bench --max-conns 13421773
expect bench-concurrency 2 "cee-bench: --concurrency 16000000" -- bench --concurrency 16000000

# Fault (review of the configuration): a fourth --events spec was refused
# with the spec in clear: a broker's password in the log
expect bench-events-redacted 2 "at most 3 sinks" "BENCHSECRET" -- bench --events null: \
	--events null: --events null: --events 'nats://h:4222/p?user=u&password=BENCHSECRET'

[[ $FAILED -eq 0 ]] || exit 1
echo "PASS test_bench_args"
