#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# --sched fifo:N: the shards' threads run SCHED_FIFO at priority N.
#
# Guards against: the option silently not applied (the shard keeps
# competing with every normal process for its CPU: under a SYN flood on a
# shared CPU its replies wait behind hping3, docs/performance.md), applied
# to the wrong threads (the control thread left real-time by the start-up
# check), or a missing privilege found only after the start: without
# CAP_SYS_NICE the engine must exit 2 at once with an error that names it.
# The FIFO shard still serves a real Linux client (an echo), and SIGTERM
# ends it with exit 0.
#
# Usage: test_sched.sh [--engine P --audit P --python P]
# Synchronisation: the engine's ready line; the client's echo; the engine's
# exit (deadline).

set -euo pipefail
source "$(dirname "$0")/lib.sh"
it_parse_args "$@"
PORT=7
PRIO=7

it_require
command -v setpriv >/dev/null || it_skip "setpriv (util-linux) not installed"
it_setup sched

# policy and rt_priority of a thread: fields 41 and 40 of its stat (after
# the parenthesised comm, which may hold spaces)
thread_sched() { sed -E 's/^.*\) //' "$1/stat" | awk '{print $39, $38}'; }

it_start_engine 1 "$WORK/engine.log" \
	--ip "$NETNS_ENGINE_IP/$NETNS_PREFIX" --listen "tcp:$PORT:echo" \
	--events "jsonl:$WORK/events.jsonl" --poll-idle-us 50 --sched "fifo:$PRIO"

# the shard sets its policy when its thread starts, which may be just after
# the ready line
shard_fifo() {
	local t
	for t in /proc/"$ENGINE_PID"/task/*; do
		[[ $(cat "$t/comm") == *worker-1 && $(thread_sched "$t") == "1 $PRIO" ]] && return 0
	done
	return 1
}
it_wait_until 10 "the shard thread to run SCHED_FIFO" shard_fifo || true

FAILED=0
fifo=0 other=0
for t in /proc/"$ENGINE_PID"/task/*; do
	read -r policy prio < <(thread_sched "$t")
	comm=$(cat "$t/comm")
	it_log "thread $(basename "$t") $comm: policy $policy rt_priority $prio"
	if [[ $policy == 1 ]]; then # SCHED_FIFO
		fifo=$((fifo + 1))
		[[ $prio == "$PRIO" ]] || { echo "FAIL: $comm runs SCHED_FIFO at $prio, not $PRIO"; FAILED=1; }
		[[ $comm == *worker* ]] || { echo "FAIL: $comm (not a shard) runs SCHED_FIFO"; FAILED=1; }
	elif [[ $policy == 0 ]]; then
		other=$((other + 1))
		[[ $comm != *worker-1 ]] || { echo "FAIL: the shard $comm runs SCHED_OTHER"; FAILED=1; }
	fi
done
[[ $fifo -eq 1 ]] || { echo "FAIL: $fifo threads SCHED_FIFO, expected the one shard"; FAILED=1; }
[[ $(thread_sched /proc/"$ENGINE_PID") == "0 0" ]] ||
	{ echo "FAIL: the control thread is not SCHED_OTHER after the start-up check"; FAILED=1; }

got=$(it_ns_echo "$PORT" sched-fifo-echo)
[[ $got == sched-fifo-echo ]] || { echo "FAIL: echo through the FIFO shard: '$got'"; FAILED=1; }

ENGINE_RC=0
it_stop_engine || ENGINE_RC=$?
[[ $ENGINE_RC -eq 0 ]] || { echo "FAIL: engine exit status $ENGINE_RC after SIGTERM"; FAILED=1; }

# Without CAP_SYS_NICE (root keeps its other capabilities): a clear error, exit 2.
RC=0
setpriv --bounding-set -sys_nice --inh-caps -sys_nice -- "$CEE_ENGINE" --no-huge -m 512 --no-pci \
	--file-prefix "cee-it-$$-nocap" "--vdev=net_af_packet0,iface=$NETNS_HOST_IF" -l 0,1 -- \
	--ip "$NETNS_ENGINE_IP/$NETNS_PREFIX" --listen "tcp:$PORT:echo" --events "jsonl:$WORK/nocap.jsonl" \
	--sched "fifo:$PRIO" 2>"$WORK/nocap.log" </dev/null || RC=$?
it_log "without CAP_SYS_NICE: exit $RC: $(grep -m1 -- '--sched' "$WORK/nocap.log" || true)"
[[ $RC -eq 2 ]] || { echo "FAIL: without CAP_SYS_NICE the engine exited $RC (expected 2)"; FAILED=1; }
grep -q -- "--sched fifo:$PRIO: .*CAP_SYS_NICE" "$WORK/nocap.log" ||
	{ echo "FAIL: without CAP_SYS_NICE no error naming --sched and CAP_SYS_NICE"; FAILED=1; }
if grep -q "cee-engine: ready" "$WORK/nocap.log"; then
	echo "FAIL: without CAP_SYS_NICE the engine said ready"
	FAILED=1
fi

[[ $FAILED -eq 0 ]] || it_fail "test_sched failed"
it_log "PASS test_sched"
