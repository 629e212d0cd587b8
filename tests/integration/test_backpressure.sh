#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# A stalled event consumer must stop admission, never lose events.
#
# Guards against: events dropped when the sink cannot keep up (fault 3: the
# terminal events' room is reserved at admission); admission that goes on
# without that room; established connections that stop working while
# admission is stopped; admission that never resumes once the consumer
# catches up; refusals that are not counted or that leak `open` events.
#
# The engine writes JSON Lines into a FIFO with a 256-record event ring; a
# `cat` reads the FIFO into a file. bp_client.py (in the namespace) stops the
# reader with SIGSTOP, churns connections until they are refused, checks the
# long-lived ones still echo, resumes the reader with SIGCONT and checks
# admission resumes.
# Synchronisation: the engine's ready line; bp_client.py's exit; then as many
# `closed` events in the file as connections the clients saw accepted, polled
# with a deadline, before SIGTERM; the reader's EOF after the engine exits.

set -euo pipefail
source "$(dirname "$0")/lib.sh"
it_parse_args "$@"
PORT=7

it_require
it_setup backpressure

FIFO=$WORK/events.fifo
EVENTS=$WORK/events.jsonl
STATS=$WORK/stats.json
CLIENT_LOG=$WORK/client.json
mkfifo "$FIFO"

# The reader first: the engine's open of the FIFO waits for it.
cat "$FIFO" >"$EVENTS" &
READER_PID=$!
IT_PIDS+=("$READER_PID")

it_start_engine 1 "$WORK/engine.log" \
	--ip "$NETNS_ENGINE_IP/$NETNS_PREFIX" --listen "tcp:$PORT:echo" \
	--events "jsonl:$FIFO" --event-ring 256 --stats "$STATS" \
	--idle-timeout 300 --time-wait 100 --poll-idle-us 50

FAILED=0
CLIENT_RC=0
ip netns exec "$NETNS_NAME" "$CEE_PYTHON" "$IT_DIR/bp_client.py" --server "$NETNS_ENGINE_IP:$PORT" \
	--reader-pid "$READER_PID" --log "$CLIENT_LOG" &
CLIENT_PID=$!
IT_PIDS+=("$CLIENT_PID")
client_done() { ! kill -0 "$CLIENT_PID" 2>/dev/null; }
it_wait_until 400 "bp_client.py to finish" client_done || it_fail "bp_client.py did not finish"
wait "$CLIENT_PID" || CLIENT_RC=$?
kill -CONT "$READER_PID" 2>/dev/null || true
[[ $CLIENT_RC -eq 0 ]] || {
	echo "FAIL: bp_client.py exit status $CLIENT_RC"
	FAILED=1
}
[[ -e $CLIENT_LOG ]] || it_fail "bp_client.py wrote no log"

ACCEPTED=$("$CEE_PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["summary"]["accepted"])' "$CLIENT_LOG")
if ! it_wait_until 60 "$ACCEPTED closed events through the FIFO" it_at_least "$EVENTS" "$(it_type_re closed)" "$ACCEPTED"; then
	it_log "only $(it_count "$EVENTS" "$(it_type_re closed)") closed events of $ACCEPTED; going on"
fi

ENGINE_RC=0
it_stop_engine || ENGINE_RC=$?
[[ $ENGINE_RC -eq 0 ]] || {
	echo "FAIL: engine exit status $ENGINE_RC after SIGTERM (expected 0)"
	FAILED=1
}
reader_done() { ! kill -0 "$READER_PID" 2>/dev/null; }
it_wait_until 30 "the FIFO reader to see EOF" reader_done || {
	echo "FAIL: the FIFO stays open after the engine exited"
	FAILED=1
}

"$CEE_PYTHON" "$IT_DIR/check_backpressure.py" --events "$EVENTS" --client-log "$CLIENT_LOG" \
	--stats "$STATS" || FAILED=1
it_log "cee-audit $EVENTS"
"$CEE_AUDIT" "$EVENTS" || {
	echo "FAIL: cee-audit rejected the event stream"
	FAILED=1
}

[[ $FAILED -eq 0 ]] || it_fail "test_backpressure failed"
it_log "PASS test_backpressure"
