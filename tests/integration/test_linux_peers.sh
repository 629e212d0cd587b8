#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Real Linux TCP peers against cee-engine's echo port over af_packet/veth.
#
# Guards against: lost close events under 1000 connections closing
# concurrently (fault 3: peer.py --burst, all open at once, their FINs back
# to back); identity confusion when a client port is reused
# (fault 1: events matched by id and by the order of opens per port, never by
# address alone); wrong close reasons (peer_fin, peer_rst, idle_timeout,
# shutdown); half-close handled as a full close; byte counters that disagree
# with the client; events emitted by a shard that does not own the connection
# or connections not spread over shards (SHARDS=2); sseq gaps; SIGTERM that
# leaves connections without closed/destroyed, does not RST peers or does not
# exit 0; --stats disagreeing with the event stream.
#
# Usage: test_linux_peers.sh [--engine P --audit P --python P] [--count N] [--hold N] [--burst N] SHARDS
# Synchronisation: the engine's ready line; peer.py's ready file (all pooled
# connections done, hold connections established); then as many `closed`
# events in the events file as the peer had connections accepted; all polled
# with deadlines.

set -euo pipefail
source "$(dirname "$0")/lib.sh"
it_parse_args "$@"
set -- "${IT_ARGS[@]}"
COUNT=1200
HOLD=20
BURST=1000
while [[ $# -gt 1 ]]; do
	case $1 in
	--count) COUNT=$2 && shift 2 ;;
	--hold) HOLD=$2 && shift 2 ;;
	--burst) BURST=$2 && shift 2 ;;
	*) it_fail "unknown argument $1" ;;
	esac
done
SHARDS=${1:-1}
PORT=7
IDLE_TIMEOUT=2

it_require
it_setup "peers$SHARDS"

EVENTS=$WORK/events.jsonl
STATS=$WORK/stats.json
PEER_LOG=$WORK/peer.json
READY=$WORK/peer.ready
STOP=$WORK/peer.stop

it_start_engine "$SHARDS" "$WORK/engine.log" \
	--ip "$NETNS_ENGINE_IP/$NETNS_PREFIX" --listen "tcp:$PORT:echo" \
	--events "jsonl:$EVENTS" --stats "$STATS" \
	--idle-timeout "$IDLE_TIMEOUT" --time-wait 100 --poll-idle-us 50

it_log "peer: $COUNT pooled connections, then a burst of $BURST closed at once; $HOLD held"
ip netns exec "$NETNS_NAME" "$CEE_PYTHON" "$IT_DIR/peer.py" --server "$NETNS_ENGINE_IP:$PORT" \
	--count "$COUNT" --hold "$HOLD" --burst "$BURST" --concurrency 64 \
	--log "$PEER_LOG" --ready "$READY" --stop "$STOP" &
PEER_PID=$!
IT_PIDS+=("$PEER_PID")

peer_ready() { [[ -e $READY ]] || ! kill -0 "$PEER_PID" 2>/dev/null; }
it_wait_until 400 "peer.py ready file" peer_ready || it_fail "peer did not finish its connections"
[[ -e $READY ]] || it_fail "peer.py exited before its ready file"
ACCEPTED=$("$CEE_PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["accepted"])' "$READY")

# Every pooled connection's FIN/RST must have reached the engine before
# SIGTERM, or it would close with reason shutdown: wait for its closed events.
if ! it_wait_until 30 "$ACCEPTED closed events in $EVENTS" it_at_least "$EVENTS" "$(it_type_re closed)" "$ACCEPTED"; then
	it_log "only $(it_count "$EVENTS" "$(it_type_re closed)") closed events of $ACCEPTED (sink not flushed, or closes lost); going on"
fi

it_log "SIGTERM to the engine with $HOLD connections held"
ENGINE_RC=0
it_stop_engine || ENGINE_RC=$?

# The held connections end when the engine's shutdown RST reaches them.
peer_done() { ! kill -0 "$PEER_PID" 2>/dev/null; }
if ! it_wait_until 15 "peer.py to see its held connections reset" peer_done; then
	touch "$STOP"
	it_wait_until 30 "peer.py to exit after the stop file" peer_done || it_fail "peer.py does not exit"
fi
PEER_RC=0
wait "$PEER_PID" || PEER_RC=$?

FAILED=0
[[ $ENGINE_RC -eq 0 ]] || {
	echo "FAIL: engine exit status $ENGINE_RC after SIGTERM (expected 0)"
	FAILED=1
}
[[ $PEER_RC -eq 0 ]] || {
	echo "FAIL: peer.py exit status $PEER_RC"
	FAILED=1
}

"$CEE_PYTHON" "$IT_DIR/check_events.py" --events "$EVENTS" --peer-log "$PEER_LOG" --stats "$STATS" \
	--shards "$SHARDS" --engine-ip "$NETNS_ENGINE_IP" --peer-ip "$NETNS_PEER_IP" --port "$PORT" \
	--idle-timeout "$IDLE_TIMEOUT" || FAILED=1

it_log "cee-audit $EVENTS"
"$CEE_AUDIT" "$EVENTS" || {
	echo "FAIL: cee-audit rejected the event stream"
	FAILED=1
}

[[ $FAILED -eq 0 ]] || it_fail "test_linux_peers ($SHARDS shard(s)) failed"
it_log "PASS test_linux_peers ($SHARDS shard(s))"
