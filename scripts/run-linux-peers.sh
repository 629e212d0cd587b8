#!/usr/bin/env bash
# The main job: cee-engine on one end of a veth pair (net_af_packet), real
# Linux TCP clients in a network namespace on the other end, then SIGTERM.
# Prints the head of the exported event stream, its audit against the
# lifecycle contract, the close reasons and the engine's counters.
#   scripts/run-linux-peers.sh [CONNECTIONS]     (default 300; needs root)
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${1:-300}
source scripts/engine-env.sh run

EVENTS=$WORK/events.jsonl
STATS=$WORK/stats.json
it_start_engine 1 "$WORK/engine.log" \
	--ip "$NETNS_ENGINE_IP/$NETNS_PREFIX" --listen tcp:7:echo --listen tcp:9:discard \
	--events "jsonl:$EVENTS" --stats "$STATS" --idle-timeout 2 --time-wait 100 --poll-idle-us 50

it_log "Linux clients: $COUNT connections (echo, FIN, RST, half-close, idle) + 5 held open"
it_ns "$CEE_PYTHON" "$IT_DIR/peer.py" --server "$NETNS_ENGINE_IP:7" --count "$COUNT" --hold 5 \
	--concurrency 32 --log "$WORK/peer.json" --ready "$WORK/peer.ready" --stop "$WORK/peer.stop" &
PEER_PID=$!
IT_PIDS+=("$PEER_PID")
peer_ready() { [[ -e $WORK/peer.ready ]] || ! kill -0 "$PEER_PID" 2>/dev/null; }
it_wait_until 300 "clients" peer_ready || it_fail "clients did not finish"
ACCEPTED=$("$CEE_PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["accepted"])' "$WORK/peer.ready")
it_wait_until 30 "closed events" it_at_least "$EVENTS" "$(it_type_re closed)" "$ACCEPTED" || true

it_log "SIGTERM: the 5 held connections close with reason shutdown"
it_stop_engine || it_fail "engine exit status not 0"
touch "$WORK/peer.stop"
wait "$PEER_PID" || true

echo
echo "== event stream ($(wc -l <"$EVENTS") events; first 12 lines; whole file: $EVENTS) =="
head -n 12 "$EVENTS"
echo
echo "== audit =="
"$CEE_AUDIT" "$EVENTS"
echo
echo "== engine counters (--stats) =="
cat "$STATS"
IT_KEEP=1
