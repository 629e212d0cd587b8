#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Malformed and hostile frames against cee-engine.
#
# Guards against: a malformed frame (bad IPv4/TCP checksum, bad lengths, IHL
# < 5, wrong IP version, bad TCP data offset, malformed options, invalid flag
# combinations, IP fragments) crashing the engine, allocating connection state
# or going uncounted; a blind RST or out-of-window segment killing or
# corrupting a live connection (RFC 5961, RFC 9293); a segment for no
# connection not answered with RST, or allocating state.
#
# bad_input.py (AF_PACKET socket in the namespace) keeps one normal
# connection open, sends the frames, checks the connection still echoes and a
# new one works. check_bad_input.py then compares --stats drop counters with
# the frames sent and checks that only the normal connections have events.
# Synchronisation: the engine's ready line; bad_input.py's exit; both normal
# connections' `closed` events in the events file (polled with a deadline)
# before SIGTERM.

set -euo pipefail
source "$(dirname "$0")/lib.sh"
it_parse_args "$@"
PORT=7

it_require
it_setup badinput

EVENTS=$WORK/events.jsonl
STATS=$WORK/stats.json
SENT=$WORK/sent.json

it_start_engine 1 "$WORK/engine.log" \
	--ip "$NETNS_ENGINE_IP/$NETNS_PREFIX" --listen "tcp:$PORT:echo" \
	--events "jsonl:$EVENTS" --stats "$STATS" \
	--idle-timeout 300 --time-wait 100 --poll-idle-us 50

FAILED=0
BAD_RC=0
timeout 300 ip netns exec "$NETNS_NAME" "$CEE_PYTHON" "$IT_DIR/bad_input.py" --iface "$NETNS_PEER_IF" \
	--peer-ip "$NETNS_PEER_IP" --engine-ip "$NETNS_ENGINE_IP" --port "$PORT" --out "$SENT" || BAD_RC=$?
[[ $BAD_RC -eq 0 ]] || {
	echo "FAIL: bad_input.py exit status $BAD_RC"
	FAILED=1
}
kill -0 "$ENGINE_PID" 2>/dev/null || it_fail "the engine died during the bad input"
[[ -e $SENT ]] || it_fail "bad_input.py wrote no result"

it_wait_until 30 "closed events of the 2 normal connections" it_at_least "$EVENTS" "$(it_type_re closed)" 2 ||
	it_log "the normal connections' closed events did not show; going on"

ENGINE_RC=0
it_stop_engine || ENGINE_RC=$?
[[ $ENGINE_RC -eq 0 ]] || {
	echo "FAIL: engine exit status $ENGINE_RC after SIGTERM (expected 0)"
	FAILED=1
}

"$CEE_PYTHON" "$IT_DIR/check_bad_input.py" --events "$EVENTS" --stats "$STATS" --sent "$SENT" || FAILED=1
it_log "cee-audit $EVENTS"
"$CEE_AUDIT" "$EVENTS" || {
	echo "FAIL: cee-audit rejected the event stream"
	FAILED=1
}

[[ $FAILED -eq 0 ]] || it_fail "test_bad_input failed"
it_log "PASS test_bad_input"
