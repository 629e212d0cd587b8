#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Options cee-bench and the bench tools must refuse at once (exit 2, a
# message that says why), before any run: each case names the fault it
# guards against.
#
# Usage: test_bench_args.sh CEE_BENCH CEE_HASHFLOOD CEE_TLSCRYPTO CEE_IMPAIR [CEE_NATSPUB]
set -uo pipefail
BENCH=$1 HASHFLOOD=$2 TLSCRYPTO=$3 IMPAIR=$4 NATSPUB=${5:-}
WORK=$(mktemp -d /tmp/cee-bench-args.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
FAILED=0
N=0

# expect NAME RC SAYS [HIDES] -- CMD...: CMD exits RC within 20 s and its
# stderr has SAYS (and its output not HIDES, when given)
expect() {
	local name=$1 want=$2 says=$3 hides=
	shift 3
	if [[ $1 != -- ]]; then
		hides=$1
		shift
	fi
	shift
	local rc=0
	# (bounded: a value taken by mistake starts the tool's real work)
	timeout 20 "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
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

# cee-bench: its options are read after the EAL's (no hugepages, no root):
# eal [LCORES] sets EAL to the EAL's options, a file prefix of its own each
# time
eal() {
	N=$((N + 1))
	EAL=(--no-huge -m 128 --no-pci --no-telemetry --file-prefix "cee-ba-$$-$N"
		--lcores "${1:-0@0,1@0,2@0}" "--log-level=*:error" --)
}

# Fault (review of the configuration): --max-conns up to 2^24 was taken, but
# a shard's connection pool holds 13,421,772: the engine failed at set-up
# with "Invalid argument"; and a concurrency beyond what the pools hold
eal
expect bench-max-conns 2 "cee-bench: --max-conns 13421773" -- "$BENCH" "${EAL[@]}" --max-conns 13421773
eal
expect bench-concurrency 2 "cee-bench: --concurrency 16000000" -- "$BENCH" "${EAL[@]}" \
	--concurrency 16000000

# Fault (review of the configuration): a fourth --events spec was refused
# with the spec in clear: a broker's password in the log
eal
expect bench-events-redacted 2 "at most 3 sinks" "BENCHSECRET" -- "$BENCH" "${EAL[@]}" \
	--events null: --events null: --events null: \
	--events 'nats://h:4222/p?user=u&password=BENCHSECRET'

# Faults (review of cee-bench, session 32), each a run that never ended or
# measured nothing, now refused at once:
# - --concurrency below --shards: a shard with no room never opened its
#   part of --conns, and the run spun until killed;
# - --close mix --payload 0: the third of the connections sent to the
#   echo-close listener waited for the idle timeout (600 s) and filled the
#   concurrency;
# - --hold --conns: held connections never close, and the run waited for
#   all of them to;
# - --timestamps on with a 1460-byte server-fin payload: it went out in two
#   segments, the server echoed the first and closed, and every lifecycle
#   was an error;
# - --export-sleep 0.5: cut to 0, which turned the sleep off.
eal "0@0,1@0,2@0,3@0,4@0"
expect bench-conc-below-shards 2 "--concurrency 1 < --shards 2" -- "$BENCH" "${EAL[@]}" \
	--shards 2 --concurrency 1 --conns 10
eal
expect bench-mix-payload0 2 "--close mix needs --payload > 0" -- "$BENCH" "${EAL[@]}" \
	--close mix --payload 0 --conns 10
eal
expect bench-hold-conns 2 "--conns is not for it" -- "$BENCH" "${EAL[@]}" --hold --conns 100
eal
expect bench-ts-server-fin 2 "--payload <= 1448 (with --timestamps on)" -- "$BENCH" "${EAL[@]}" \
	--timestamps on --close server-fin --payload 1460 --conns 10
eal
expect bench-export-sleep-fraction 2 "bad value for --export-sleep: '0.5'" -- "$BENCH" \
	"${EAL[@]}" --export-sleep 0.5 --conns 10
# - --gen-sndbuf (session 33) without a layer: a plain send is cut where
#   the buffer ends, so a payload above it would stall or fail every
#   lifecycle (TLS and WebSocket send it in pieces: records, messages)
eal
expect bench-gen-sndbuf-plain 2 "--gen-sndbuf is for --tls, --ws or --wss" -- "$BENCH" \
	"${EAL[@]}" --gen-sndbuf 8192 --conns 10

# Fault (review of the configuration): the bench tools read numbers without
# checks: strtoul with no end or errno check and a 32-bit result
# (cee-hashflood: "12x" was 12, 2^32 + 1 was 1, a --legit near 2^32 wrapped
# the legit + flood <= max-conns check), atoi (cee-tlscrypto: "10x" was 10,
# --handshakes -1 skipped the handshakes), --snap cut to 32 bits before its
# range check (cee-impair: 2^32 + 14 was 14), --count -1 (cee-natspub:
# 2^64 - 1 messages). Each is refused at once: exit 2, the option named.
expect hashflood-trailing 2 "bad value for --max-conns: '65536x'" -- "$HASHFLOOD" --max-conns 65536x
expect hashflood-wrap 2 "bad value for --max-conns: '4294967297'" -- "$HASHFLOOD" --max-conns 4294967297
expect hashflood-negative 2 "bad value for --legit: '-1'" -- "$HASHFLOOD" --legit -1
expect hashflood-empty 2 "bad value for --passes: ''" -- "$HASHFLOOD" --passes ''
expect hashflood-legit-wrap 2 "bad value for --legit: '4294967295'" -- "$HASHFLOOD" --legit 4294967295
expect hashflood-legit-flood 2 "--legit 20000 + 20000 (the flood) > --max-conns 30000" -- \
	"$HASHFLOOD" --max-conns 30000 --legit 20000
expect tlscrypto-trailing 2 "bad value for --iters: '10x'" -- "$TLSCRYPTO" --iters 10x
expect tlscrypto-negative 2 "bad value for --handshakes: '-1'" -- "$TLSCRYPTO" --handshakes -1
expect tlscrypto-overflow 2 "bad value for --rounds: '99999999999'" -- "$TLSCRYPTO" --rounds 99999999999
expect impair-snap-wrap 2 "--snap must be in" -- "$IMPAIR" --a x --b y --snap 4294967310
expect impair-seed-negative 2 "bad --seed '-1'" -- "$IMPAIR" --a x --b y --seed -1
if [[ -n $NATSPUB ]]; then
	expect natspub-count-negative 2 "bad value for --count: '-1'" -- "$NATSPUB" --count -1 \
		nats://127.0.0.1:1/p
	expect natspub-size-overflow 2 "bad value for --size: '99999999999999999999'" -- \
		"$NATSPUB" --size 99999999999999999999 nats://127.0.0.1:1/p
fi

[[ $FAILED -eq 0 ]] || exit 1
echo "PASS test_bench_args"
