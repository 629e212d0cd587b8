#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# WebSocket termination (ws: and wss: listeners) against real clients:
# Python `websockets` and hand-built frames over raw sockets in the test
# namespace.
#
# Guards against: lost closed events for WebSocket connections that end
# without a Close frame (TCP FIN only, RST, timeouts) -- the fault cee exists
# to prevent: a widely deployed SIP proxy ran its WebSocket `closed` only on a
# Close frame and reported 0 of 3,000 such closes -- here with 5,000
# connections live at once and then ending together; identity confusion
# (each engine connection is matched to the client of its port, and its
# ws_up and closed must carry that client's User-Agent, Origin, subprotocol,
# close code and reason); wrong reasons, ws_code, ws_clean or ws_reason for
# a Close handshake (1000, 4000-4999 with a reason), FIN without Close, RST,
# the idle timeout (the engine's Close 1001), the ping timeout (a client
# that does not answer pings) and protocol errors (unmasked frame 1002,
# invalid UTF-8 1007, reserved opcode 1002, a message too big 1009); a client
# answering pings cut off; echo that changes a message or its type; message
# byte counters that disagree with the client; sseq gaps (ceeit.check_contract);
# tls_up/ws_up missing or out of order over TLS; refused upgrades answered
# with the wrong status (400, 426 + Sec-WebSocket-Version: 13, 431, 404,
# 403, 405), left open, or not reported (ws_upgrade_failed, http_status,
# ws.upgrade_failures); a slowloris upgrade holding its connection past
# --handshake-timeout; subprotocol negotiation; --stats that disagree; peers
# that begin messages and stop holding every reassembly buffer, so that
# other connections' split messages got Close 1013.
#
# Usage: test_ws.sh [--engine P --audit P --python P] [--keep] mix|wss|upgrades [SHARDS]
#   mix       (default 2 shards) phase 1: ws_mix.py, 5,000 held ws connections
#             (websockets library and raw clients) up and echoing at once, then
#             ended together by Close 1000, Close 4xxx with a reason, FIN, RST,
#             the idle timeout and protocol errors; phase 2, a second engine
#             with --ws-ping 1 --ws-pong-timeout 2: clients that never answer
#             pings (ws_ping_timeout) beside clients that do (kept alive)
#   wss       (default 2 shards) 1,050 held wss connections (TLS 1.2/1.3)
#             ended by Close 1000, close_notify + FIN without Close, FIN
#             without close_notify or Close, RST
#   upgrades  (default 1 shard) ws_upgrades.py: bad upgrade requests, a
#             slowloris, good ones with and without subprotocols; then a
#             second engine whose listener is echo-close: it sends its Close
#             first, and the client answers with a Close, a FIN or an RST:
#             `closed` says local_close each time (not peer_fin or peer_rst);
#             then a third: ws_pin.py's peers begin messages and stop until
#             the reassembly buffers run out, and 10 clients' messages split
#             across segments are still echoed (the buffer held longest is
#             taken back: that pinner's Close 1013, no_resources)
# Synchronisation: the engine's ready line; the clients' own barrier
# (ws_mix.py releases the held connections only when all are up and
# echoing) and their exit; then as many `closed` events as the clients made
# connections, polled with a deadline.

set -euo pipefail
source "$(dirname "$0")/lib.sh"
it_parse_args "$@"
set -- "${IT_ARGS[@]}"
MODE=${1:-}
case $MODE in
mix | wss) SHARDS=${2:-2} ;;
upgrades) SHARDS=${2:-1} ;;
*) it_fail "usage: test_ws.sh [options] mix|wss|upgrades [SHARDS]" ;;
esac
PORT=8080
CERTS=$IT_ROOT/tests/certs
# Held clients echo every KEEPALIVE s until release, well inside the idle
# timeout: 5,000 clients echoing every second kept one Python event loop
# busy while the others connected, and on a slow run (a 98 s ramp) some
# keepalives came more than 6 s apart: the engine rightly closed those
# clients as idle, and the test failed (it failed on the old code too).
# (10 s until session 24: two runs of three there, with ramps of 113 s, had 3
# and 24 of the library clients' keepalives more than 10 s apart while the
# one Python process upgraded the rest, and the engine rightly closed them
# as idle; the engine's longest poll in those runs took 4 and 11 ms)
IDLE_TIMEOUT=20
KEEPALIVE=2
PING=1
PONG_TIMEOUT=2
HANDSHAKE_TIMEOUT=3
# the engine's default with its default --sndbuf (32768): (32768 - 32) / 2;
# an echo of a message must fit the send buffer
MAX_MESSAGE=16368
MAX_CONNS=8192
# phase 1: 5,000 held at once
MIX_MAIN="close1000=1000,closeempty=200,close4k=1000,fin=900,rst=800,idle=400,idle_answer=200,idle_chatter=100,unmasked=150,badutf8=150,badop=50,toobig=50"
MIX_PING="pingto=200,pong=200"
MIX_WSS="close1000=400,notify=200,fin=250,rst=200,close_chatter=50"
MIN_CONCURRENT_MIX=5000
MIN_CONCURRENT_WSS=1000
PIN_LEGIT=10 # upgrades phase 3: clients whose split message needs a buffer

it_require
"$CEE_PYTHON" -c 'import websockets' 2>/dev/null ||
	it_fail "$CEE_PYTHON lacks the websockets module (Debian package python3-websockets)"
it_setup "ws-$MODE"
FAILED=0
fail_soft() {
	echo "FAIL: $*"
	FAILED=1
}
T0=$SECONDS

# connected LOG: client connections that reached the engine (TCP connected)
connected() {
	"$CEE_PYTHON" -c 'import json,sys; print(sum(1 for r in json.load(open(sys.argv[1]))["conns"] if r.get("connected")))' "$1"
}

# run_clients NAME SCRIPT ARGS...: a client program in the namespace (it
# raises its own open-file limit for its sockets, up to the hard limit).
run_clients() {
	local name=$1
	shift
	it_log "$name: $*"
	local rc=0
	it_ns "$CEE_PYTHON" "$@" || rc=$?
	[[ $rc -eq 0 ]] || fail_soft "$name: client exit status $rc"
}

# finish_phase NAME EVENTS STATS CLIENT_LOG CHECK_ARGS...: wait for every client
# connection's closed event, SIGTERM the engine, check and audit the stream.
finish_phase() {
	local name=$1 events=$2 stats=$3 clog=$4
	shift 4
	local n rc=0
	if [[ -s $clog ]]; then
		n=$(connected "$clog")
		it_wait_until 60 "$n closed events in $events" it_at_least "$events" "$(it_type_re closed)" "$n" ||
			it_log "$name: only $(it_count "$events" "$(it_type_re closed)") closed events of $n before SIGTERM; going on (the checker says which)"
	fi
	it_stop_engine || rc=$?
	[[ $rc -eq 0 ]] || fail_soft "$name: engine exit status $rc after SIGTERM (expected 0)"
	if [[ -s $clog ]]; then
		"$CEE_PYTHON" "$IT_DIR/ws_check.py" --events "$events" --clients "$clog" --stats "$stats" \
			--shards "$SHARDS" --engine-ip "$NETNS_ENGINE_IP" --peer-ip "$NETNS_PEER_IP" --port "$PORT" "$@" ||
			fail_soft "$name: ws_check.py"
	else
		fail_soft "$name: no client log $clog"
	fi
	it_log "cee-audit $events"
	"$CEE_AUDIT" "$events" || fail_soft "$name: cee-audit rejected the event stream"
}

# pin_phase NAME LISTEN ENGINE_ARGS... -- WS_PIN_ARGS...: an engine with
# --listen LISTEN; ws_pin.py's peers begin messages and stop until the
# reassembly buffers run out, then PIN_LEGIT clients' split messages must be
# echoed; the events, the stats and the clients' reads must agree.
pin_phase() {
	local name=$1 listen=$2 n rc=0 port
	shift 2
	port=${listen#*:}
	port=${port%%:*}
	local eng=()
	while [[ $# -gt 0 && $1 != -- ]]; do
		eng+=("$1")
		shift
	done
	[[ $# -eq 0 ]] || shift
	local EV=$WORK/events-$name.jsonl
	# (one shard: its pool is the one the clients fill)
	it_start_engine 1 "$WORK/engine-$name.log" "${BASE_ARGS[@]}" --listen "$listen" \
		--ws-message-timeout 30 "${eng[@]}" --events "jsonl:$EV" --stats "$WORK/stats-$name.json"
	run_clients "ws_pin $name" "$IT_DIR/ws_pin.py" --server "$NETNS_ENGINE_IP:$port" "$@" \
		--legit "$PIN_LEGIT" --log "$WORK/$name.json"
	if [[ -s $WORK/$name.json ]]; then
		n=$("$CEE_PYTHON" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["pinners"] + d["legit_ok"] + len(d["legit_failed"]))' "$WORK/$name.json")
		it_wait_until 30 "$n closed events in $EV" it_at_least "$EV" "$(it_type_re closed)" "$n" ||
			it_log "$name: only $(it_count "$EV" "$(it_type_re closed)") closed events of $n"
	fi
	it_stop_engine || rc=$?
	[[ $rc -eq 0 ]] || fail_soft "$name: engine exit status $rc after SIGTERM (expected 0)"
	"$CEE_PYTHON" - "$EV" "$WORK/stats-$name.json" "$WORK/$name.json" "$PIN_LEGIT" "$name" <<'PY' || fail_soft "$name: events or stats"
import json, sys
events = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
tot = json.load(open(sys.argv[2]))["total"]
pin = json.load(open(sys.argv[3]))
legit = int(sys.argv[4])
closed = [e for e in events if e.get("type") == "closed"]
c1013 = [e for e in closed if e.get("ws_code") == 1013]
bad = [e for e in c1013 if e.get("reason") != "no_resources"]
ws = tot["ws"]
print(f"{sys.argv[5]}: {len(closed)} closed, {len(c1013)} with ws_code 1013; stats ws.no_buffer "
      f"{ws['no_buffer']} ws.buffer_reclaims {ws['buffer_reclaims']}; client: {json.dumps(pin)}")
ok = True
def check(c, what):
    global ok
    if not c:
        print(f"FAIL: {sys.argv[5]}: " + what)
        ok = False
check(len(closed) == pin["pinners"] + legit, f"{len(closed)} closed events, {pin['pinners'] + legit} connections")
check(not bad, f"a Close 1013 whose closed reason is not no_resources: {bad[:1]}")
# the first legit client's split message took a buffer back from the
# oldest pinner (the next ones found it free again once that message was
# whole): that pinner read a Close 1013 meanwhile (more were taken back
# before when pinning took over 1 s: a pinner then took the oldest's)
check(ws["buffer_reclaims"] >= 1, "no buffer taken back (ws.buffer_reclaims 0)")
check(pin["closed_during_legit"] >= 1, "no pinner closed while the legit clients ran")
check(len(c1013) == ws["no_buffer"] + ws["buffer_reclaims"],
      f"{len(c1013)} closed with 1013, stats say {ws['no_buffer']} + {ws['buffer_reclaims']}")
check(pin["pinners_closed"].get("1013", 0) == len(c1013), f"pinners read {pin['pinners_closed']} Close codes, events say {len(c1013)} 1013")
sys.exit(0 if ok else 1)
PY
	it_log "cee-audit $EV"
	"$CEE_AUDIT" "$EV" || fail_soft "$name: cee-audit rejected the event stream"
}

BASE_ARGS=(--ip "$NETNS_ENGINE_IP/$NETNS_PREFIX" --time-wait 100 --poll-idle-us 50 --max-conns "$MAX_CONNS")
# by hand only: more engine options for every engine started (word-split)
# shellcheck disable=SC2206
[[ -z ${CEE_IT_WS_ENGINE_ARGS:-} ]] || BASE_ARGS+=($CEE_IT_WS_ENGINE_ARGS)

case $MODE in
mix)
	EV=$WORK/events.jsonl
	it_start_engine "$SHARDS" "$WORK/engine.log" "${BASE_ARGS[@]}" --listen "ws:$PORT:echo" \
		--idle-timeout "$IDLE_TIMEOUT" --ws-max-message "$MAX_MESSAGE" \
		--events "jsonl:$EV" --stats "$WORK/stats.json"
	run_clients "ws_mix ($MIX_MAIN)" "$IT_DIR/ws_mix.py" --server "$NETNS_ENGINE_IP:$PORT" \
		--mix "$MIX_MAIN" --idle-timeout "$IDLE_TIMEOUT" --keepalive "$KEEPALIVE" \
		--max-message "$MAX_MESSAGE" --log "$WORK/mix.json"
	finish_phase mix "$EV" "$WORK/stats.json" "$WORK/mix.json" \
		--idle-timeout "$IDLE_TIMEOUT" --min-concurrent "$MIN_CONCURRENT_MIX"

	it_log "phase 2: a second engine with --ws-ping $PING --ws-pong-timeout $PONG_TIMEOUT"
	EV=$WORK/events-ping.jsonl
	it_start_engine "$SHARDS" "$WORK/engine-ping.log" "${BASE_ARGS[@]}" --listen "ws:$PORT:echo" \
		--ws-ping "$PING" --ws-pong-timeout "$PONG_TIMEOUT" \
		--events "jsonl:$EV" --stats "$WORK/stats-ping.json"
	run_clients "ws_mix ($MIX_PING)" "$IT_DIR/ws_mix.py" --server "$NETNS_ENGINE_IP:$PORT" \
		--mix "$MIX_PING" --ping "$PING" --pong-timeout "$PONG_TIMEOUT" --max-message "$MAX_MESSAGE" \
		--hold $((3 * (PING + PONG_TIMEOUT))) --log "$WORK/ping.json"
	finish_phase ping "$EV" "$WORK/stats-ping.json" "$WORK/ping.json" \
		--ping "$PING" --pong-timeout "$PONG_TIMEOUT"
	;;
wss)
	PORT=8443
	EV=$WORK/events.jsonl
	it_start_engine "$SHARDS" "$WORK/engine.log" "${BASE_ARGS[@]}" --listen "wss:$PORT:echo" \
		--tls-cert "$CERTS/server.pem" --tls-key "$CERTS/server.key" \
		--events "jsonl:$EV" --stats "$WORK/stats.json"
	run_clients "ws_mix ($MIX_WSS)" "$IT_DIR/ws_mix.py" --proto wss --certs "$CERTS" \
		--server "$NETNS_ENGINE_IP:$PORT" --mix "$MIX_WSS" --max-message "$MAX_MESSAGE" \
		--log "$WORK/wss.json"
	finish_phase wss "$EV" "$WORK/stats.json" "$WORK/wss.json" --proto wss \
		--min-concurrent "$MIN_CONCURRENT_WSS"

	it_log "phase 2: peers pin the reassembly buffers over wss; a Close 1013 is followed by close_notify"
	pin_phase pin-wss "wss:$PORT:echo" --tls-cert "$CERTS/server.pem" --tls-key "$CERTS/server.key" \
		-- --certs "$CERTS"
	;;
upgrades)
	EV=$WORK/events.jsonl
	WS_PATH=/sip
	ORIGIN_OK=https://sip.example.test
	# no handshake limit: a WebSocket listener's upgrade is still bounded,
	# by --ws-message-timeout (a request begun holds a reassembly buffer;
	# a slowloris held it for good with --handshake-timeout 0)
	it_start_engine "$SHARDS" "$WORK/engine.log" "${BASE_ARGS[@]}" --listen "ws:$PORT:echo" \
		--ws-path "$WS_PATH" --ws-origin "https://other.example.test,$ORIGIN_OK" \
		--handshake-timeout 0 --ws-message-timeout "$HANDSHAKE_TIMEOUT" \
		--events "jsonl:$EV" --stats "$WORK/stats.json"
	run_clients ws_upgrades "$IT_DIR/ws_upgrades.py" --server "$NETNS_ENGINE_IP:$PORT" \
		--path "$WS_PATH" --origin-ok "$ORIGIN_OK" --origin-bad https://evil.example.test \
		--handshake-timeout "$HANDSHAKE_TIMEOUT" --log "$WORK/upgrades.json"
	finish_phase upgrades "$EV" "$WORK/stats.json" "$WORK/upgrades.json" \
		--path "$WS_PATH" --handshake-timeout "$HANDSHAKE_TIMEOUT"

	it_log "phase 2: an echo-close listener: the engine closes first"
	EV=$WORK/events-srvclose.jsonl
	it_start_engine "$SHARDS" "$WORK/engine-srvclose.log" "${BASE_ARGS[@]}" --listen "ws:$PORT:echo-close" \
		--ws-path "$WS_PATH" --events "jsonl:$EV" --stats "$WORK/stats-srvclose.json"
	run_clients ws_upgrades "$IT_DIR/ws_upgrades.py" --server "$NETNS_ENGINE_IP:$PORT" \
		--path "$WS_PATH" --origin-ok "$ORIGIN_OK" --origin-bad https://evil.example.test \
		--handshake-timeout "$HANDSHAKE_TIMEOUT" --engine-closes --log "$WORK/srvclose.json"
	finish_phase srvclose "$EV" "$WORK/stats-srvclose.json" "$WORK/srvclose.json" --path "$WS_PATH"

	it_log "phase 3: peers pin the reassembly buffers; the one held longest is taken back"
	pin_phase pin "ws:$PORT:echo"
	;;
esac

it_log "test_ws $MODE: $((SECONDS - T0)) s"
[[ $FAILED -eq 0 ]] || it_fail "test_ws $MODE failed"
it_log "PASS test_ws $MODE"
