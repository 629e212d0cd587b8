#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# An AF_PACKET fanout group clash at start-up ends with exit 75 and a
# message that names it.
#
# DPDK 22.11's net_af_packet puts a port's queues in a kernel fanout group
# whose id is (pid ^ ifindex) & 0xffff, per network namespace. An engine
# whose id another process already holds on another interface (another
# engine: two started side by side, as CI runs tests) had no port and
# exited 2 with "need 1..4 ports, have 0" after the PMD's "could not set
# PACKET_FANOUT ... Invalid argument": a failure that looked like a
# configuration error, at random. Guards against: that clash reported as
# anything but exit 75 (EX_TEMPFAIL: the same command started again
# succeeds, so a supervisor or the tests' it_start_engine start again),
# and against a port missing for another reason (no such interface) being
# called a clash: that stays exit 2.
#
# Usage: test_fanout.sh [--engine P --audit P --python P]
# Synchronisation: the engine's exit; the group is made before it runs
# (fanout_clash.py forks it and holds it on a pipe).

set -euo pipefail
source "$(dirname "$0")/lib.sh"
it_parse_args "$@"
it_require
it_setup fanout

eal() { printf "%s\n" --no-huge -m 512 --no-pci --file-prefix "cee-it-$$-$1"; }
mapfile -t EAL_CLASH < <(eal clash)
mapfile -t EAL_CLASH2 < <(eal clash2)
mapfile -t EAL_NOSUCH < <(eal nosuch)
ARGS=(--ip "$NETNS_ENGINE_IP/$NETNS_PREFIX" --listen "tcp:7:echo")
FAILED=0

# 1. The group taken on lo for the pid the engine will have
rc=$("$CEE_PYTHON" "$IT_DIR/fanout_clash.py" "$NETNS_HOST_IF" lo "$CEE_ENGINE" "${EAL_CLASH[@]}" -l 0,1 \
	"--vdev=net_af_packet0,iface=$NETNS_HOST_IF" -- "${ARGS[@]}" \
	--events "jsonl:$WORK/clash.jsonl" 2>"$WORK/clash.log" </dev/null)
it_log "fanout id taken: exit $rc: $(grep -m1 'fanout group id' "$WORK/clash.log" || true)"
[[ $rc == 75 ]] || { echo "FAIL: with its fanout group id taken the engine exited $rc, not 75"; FAILED=1; }
grep -q "net_af_packet0: the AF_PACKET fanout group id .* for $NETNS_HOST_IF .*start again" "$WORK/clash.log" ||
	{ echo "FAIL: no message naming the fanout group clash on $NETNS_HOST_IF"; FAILED=1; }
grep -q "cee-engine: ready" "$WORK/clash.log" && { echo "FAIL: the engine said ready"; FAILED=1; }
[[ ! -e $WORK/clash.jsonl ]] || { echo "FAIL: the failed start made its event file"; FAILED=1; }

# 2. The same, two queues (qpairs=2: both sockets join one group)
rc=$("$CEE_PYTHON" "$IT_DIR/fanout_clash.py" "$NETNS_HOST_IF" lo "$CEE_ENGINE" "${EAL_CLASH2[@]}" \
	"--vdev=net_af_packet0,iface=$NETNS_HOST_IF,qpairs=2" --lcores 0@0,1@1,2@0 -- "${ARGS[@]}" \
	--events "jsonl:$WORK/clash2.jsonl" 2>"$WORK/clash2.log" </dev/null)
it_log "fanout id taken, two queues: exit $rc"
[[ $rc == 75 ]] || { echo "FAIL: two queues, fanout group id taken: exit $rc, not 75"; FAILED=1; }

# 3. No such interface: a port missing for another reason is not a clash
rc=0
"$CEE_ENGINE" "${EAL_NOSUCH[@]}" -l 0,1 "--vdev=net_af_packet0,iface=cee-nosuch0" -- "${ARGS[@]}" \
	--events "jsonl:$WORK/nosuch.jsonl" 2>"$WORK/nosuch.log" </dev/null || rc=$?
it_log "no such interface: exit $rc: $(grep -m1 'need 1' "$WORK/nosuch.log" || true)"
[[ $rc == 2 ]] || { echo "FAIL: an interface that does not exist: exit $rc, not 2"; FAILED=1; }
grep -q "fanout group id" "$WORK/nosuch.log" &&
	{ echo "FAIL: an interface that does not exist was called a fanout clash"; FAILED=1; }

# 4. The same command with its group free: the engine starts and serves
it_start_engine 1 "$WORK/engine.log" "${ARGS[@]}" --events "jsonl:$WORK/events.jsonl" --poll-idle-us 50
got=$(it_ns_echo 7 fanout-echo)
[[ $got == fanout-echo ]] || { echo "FAIL: echo after the clash: '$got'"; FAILED=1; }
rc=0
it_stop_engine || rc=$?
[[ $rc -eq 0 ]] || { echo "FAIL: engine exit status $rc after SIGTERM"; FAILED=1; }

[[ $FAILED -eq 0 ]] || it_fail "test_fanout failed"
it_log "PASS test_fanout"
