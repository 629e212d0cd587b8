#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# --shutdown-grace against real Linux clients (TCP, Python's ssl over TLS
# 1.2/1.3, hand-built WebSocket frames over both): SIGTERM closes every
# connection the way a server going away should, and resets only what does
# not answer within the grace.
#
# Guards against: a graceful shutdown that resets clients anyway (an SBC
# restart that every browser sees as 1006 abnormal closure, every TLS peer
# as a truncated stream, a wss client whose upgrade was not done yet too); a WebSocket Close other than 1001 "going away"
# (RFC 6455 7.4.1), or our FIN before the peer's Close; TLS without
# close_notify; a peer that never answers holding the engine past the grace;
# a second SIGTERM that does not cut the grace short; closes reported with
# another reason than `shutdown`, or an event stream left incomplete
# (cee-audit); and, with the grace 0 (the default), anything but today's
# reset of every connection.
#
# Usage: test_shutdown_grace.sh [--engine P --audit P --python P] [SHARDS]
# Synchronisation: the engine's ready line; the clients' ready file (every
# connection up and echoed once) and closes file (every Close frame or end
# seen); the engine's exit and the clients' exit (deadlines).

set -euo pipefail
source "$(dirname "$0")/lib.sh"
it_parse_args "$@"
set -- "${IT_ARGS[@]}"
SHARDS=${1:-2}
CERTS=$IT_ROOT/tests/certs
PORTS=7000,7443,8080,8443
GRACE=3 # (below the WebSocket close timeout, 5 s: the silent ones are reset at the grace)
MIX="tcp=20,tls=20,ws=20,wss=20,silent=10,wssnoup=5"

it_require
it_setup "grace$SHARDS"

# phase NAME GRACE MIX SECOND_SIGNAL: an engine with --shutdown-grace GRACE,
# clients of MIX, SIGTERM once every client is ready (and a second one once
# every client saw its Close or end, when SECOND_SIGNAL is 1); the engine must
# exit within LIMIT s of the first.
phase() {
	local name=$1 grace=$2 mix=$3 second=$4 limit=$5
	local ev=$WORK/events-$name.jsonl log=$WORK/clients-$name.json
	rm -f "$WORK/ready-$name" "$WORK/closes-$name"
	it_start_engine "$SHARDS" "$WORK/engine-$name.log" --ip "$NETNS_ENGINE_IP/$NETNS_PREFIX" \
		--listen tcp:7000:echo --listen tls:7443:echo --listen ws:8080:echo --listen wss:8443:echo \
		--tls-cert "$CERTS/server.pem" --tls-key "$CERTS/server.key" --poll-idle-us 50 \
		--time-wait 100 --shutdown-grace "$grace" --events "jsonl:$ev" --stats "$WORK/stats-$name.json"
	ip netns exec "$NETNS_NAME" "$CEE_PYTHON" "$IT_DIR/shutdown_grace.py" --ip "$NETNS_ENGINE_IP" \
		--ports "$PORTS" --certs "$CERTS" --mix "$mix" --ready-file "$WORK/ready-$name" \
		--closes-file "$WORK/closes-$name" --log "$log" --timeout 120 --exit-file "$WORK/exited-$name" &
	local cpid=$!
	it_wait_until 60 "the clients of $name up" test -s "$WORK/ready-$name" ||
		it_fail "$name: the clients did not get ready"
	# (a TLS client is up on its side before the engine read its Finished:
	# the engine's tls_up events say it is up on both)
	local tls_ups
	tls_ups=$(tr , '\n' <<<"$mix" | awk -F= '$1 == "tls" || $1 == "wss" || $1 == "wssnoup" { n += $2 } END { print n + 0 }')
	it_wait_until 30 "$tls_ups tls_up events" it_at_least "$ev" "$(it_type_re tls_up)" "$tls_ups" ||
		it_fail "$name: the engine did not report every TLS client up"
	it_log "$name: $(cat "$WORK/ready-$name"); SIGTERM"
	local t0=$SECONDS
	kill -TERM "$ENGINE_PID"
	if [[ $second == 1 ]]; then
		it_wait_until 60 "every client of $name to see its Close or end" test -s "$WORK/closes-$name" ||
			it_fail "$name: the clients did not see the engine's Close frames"
		it_log "$name: every Close seen; a second SIGTERM"
		kill -TERM "$ENGINE_PID"
	fi
	local pid=$ENGINE_PID
	engine_gone() { ! kill -0 "$pid" 2>/dev/null; }
	ENGINE_PID=
	if ! it_wait_until "$limit" "the engine to exit" engine_gone; then
		ENGINE_PID=$pid
		it_fail "$name: the engine did not exit within $limit s of SIGTERM (--shutdown-grace $grace)"
	fi
	local rc=0
	wait "$pid" || rc=$?
	touch "$WORK/exited-$name"
	it_log "$name: engine exited with status $rc after $((SECONDS - t0)) s"
	[[ $rc -eq 0 ]] || it_fail "$name: engine exit status $rc"
	rc=0
	wait "$cpid" || rc=$?
	[[ $rc -eq 0 ]] || it_fail "$name: the clients did not see the ends expected (above; $log)"
	it_audit "$ev"
	"$CEE_PYTHON" - "$ev" "$log" "$WORK/stats-$name.json" <<'PY' || it_fail "$name: events or stats wrong"
import collections, json, sys
events = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
clients = json.load(open(sys.argv[2]))["conns"]
stats = json.load(open(sys.argv[3]))
# (by both ports: Linux gives one ephemeral port to connections to two
# listeners at once, and a tls client's closed was once checked as a wss one's)
kinds = {(c["lport"], c["port"]): c["kind"] for c in clients}
assert len(kinds) == len(clients), "two clients with the same ports"
opened = {e["conn"]: e for e in events if e["type"] == "open"}
closed = [e for e in events if e["type"] == "closed"]
assert len(closed) == len(clients) == len(opened), f"{len(closed)} closed, {len(opened)} open, {len(clients)} clients"
by = collections.Counter()
for e in closed:
    o = opened[e["conn"]]
    kind = kinds.get((int(o["remote"].rsplit(":", 1)[1]), int(o["local"].rsplit(":", 1)[1])))
    assert kind is not None, f"a connection of no client: {o}"
    assert e["reason"] == "shutdown", f"{kind}: closed with reason {e['reason']}: {e}"
    if kind in ("ws", "wss"):
        assert e.get("ws_code") == 1001 and e.get("ws_clean") is True, f"{kind}: {e}"
    if kind == "silent":
        assert e.get("ws_clean") is False, f"silent: {e}"
    by[kind] += 1
t = stats["total"]
assert t["live"] == 0, f"live {t['live']} at the end"
print("closed (reason shutdown) by kind:", dict(by))
PY
}

# 1: the grace is used: every client that answers ends cleanly, the silent
# ones (no answer to the Close) are reset when the grace is over
phase graceful "$GRACE" "$MIX" 0 $((GRACE + 30))
# 2: every client answers: the engine leaves as soon as every close is
# done (its FIN acknowledged), long before the grace (over two shards that
# hand frames to each other: a shard done first keeps forwarding)
phase quick 60 "tcp=10,tls=10,ws=10,wss=10,wssnoup=3" 0 15
# 3: a grace far longer than the test, cut short by a second SIGTERM: the
# stuck clients' closes cannot finish (our FIN waits behind a zero window)
# for --persist-timeout's 120 s
phase cut 600 "tcp=5,stuck=5" 1 30
# 4: a handshake that completes during the grace: announced, then closed
# by the grace too (it was left open, and held the engine to the grace's
# end). Silent WebSocket clients hold the grace meanwhile, until the
# WebSocket close timeout (5 s) ends theirs with our FIN.
# --handshake-timeout 120: the default 10 s could abort the half-open late
# connection (SYN-RECEIVED) before its ACK on a slow run of this phase
it_log "phase late: a handshake completed after the grace began"
rm -f "$WORK/late-"*
it_start_engine "$SHARDS" "$WORK/engine-late.log" --ip "$NETNS_ENGINE_IP/$NETNS_PREFIX" \
	--listen tcp:7000:echo --listen ws:8080:echo --poll-idle-us 50 --shutdown-grace 60 \
	--handshake-timeout 120 --events "jsonl:$WORK/events-late.jsonl"
ip netns exec "$NETNS_NAME" "$CEE_PYTHON" "$IT_DIR/shutdown_grace.py" --ip "$NETNS_ENGINE_IP" \
	--ports "$PORTS" --certs "$CERTS" --mix "silentfin=6" --ready-file "$WORK/late-clients-ready" \
	--closes-file "$WORK/late-closes" --log "$WORK/late-clients.json" --timeout 60 &
HPID=$!
LATE_IP=${NETNS_ENGINE_IP%.*}.77
ip netns exec "$NETNS_NAME" "$CEE_PYTHON" "$IT_DIR/grace_late.py" --iface "$NETNS_PEER_IF" \
	--src-ip "$LATE_IP" --engine-ip "$NETNS_ENGINE_IP" --port 7000 --ready-file "$WORK/late-ready" \
	--go-file "$WORK/late-go" --result "$WORK/late-result" &
LPID=$!
it_wait_until 30 "the late client half open" test -s "$WORK/late-ready" || it_fail "late: no SYN-ACK"
it_wait_until 30 "the silent clients up" test -s "$WORK/late-clients-ready" || it_fail "late: clients"
kill -TERM "$ENGINE_PID"
T0=$SECONDS
it_wait_until 30 "every shard's graceful close begun" \
	it_at_least "$WORK/engine-late.log" "shutdown-grace: closing" "$SHARDS" ||
	it_fail "late: the shards did not say they were closing"
# the event file rotated during the grace (logrotate's rename, then SIGHUP):
# the closes that follow go to a new file at the path (the rotation was
# looked at only before the shutdown: they went on into the renamed file)
mv "$WORK/events-late.jsonl" "$WORK/events-late.1.jsonl"
kill -HUP "$ENGINE_PID"
touch "$WORK/late-go"
LATE_PID=$ENGINE_PID
ENGINE_PID=
late_gone() { ! kill -0 "$LATE_PID" 2>/dev/null; }
it_wait_until 15 "the engine to exit" late_gone || {
	ENGINE_PID=$LATE_PID
	it_fail "late: the engine held its 60 s grace past the silent clients' 5 s (the late connection left open?)"
}
wait "$LATE_PID" || it_fail "late: engine exit status"
wait "$LPID" || it_fail "late: grace_late.py failed"
# (the silent clients' Close went unanswered: the WebSocket close timeout
# ended each with our FIN, before the grace; their exit was not looked at)
wait "$HPID" || it_fail "late: the silent clients did not see Close 1001 and then our FIN"
[[ $(cat "$WORK/late-result") == fin ]] || it_fail "late: the late connection ended with $(cat "$WORK/late-result"), not our FIN"
[[ -s $WORK/events-late.jsonl ]] &&
	(($(it_count "$WORK/events-late.jsonl" '"reason": *"shutdown"') >= 1)) ||
	it_fail "late: no closed in the new event file after the rotation during the grace"
cat "$WORK/events-late.1.jsonl" "$WORK/events-late.jsonl" >"$WORK/events-late-all.jsonl"
it_audit "$WORK/events-late-all.jsonl"
[[ $(it_count "$WORK/events-late-all.jsonl" '"reason": *"shutdown"') -eq 7 ]] ||
	it_fail "late: not every closed (6 silent, the late one) says shutdown"
it_log "late: closed by the grace with a FIN; the engine left after $((SECONDS - T0)) s"
# 5: without --shutdown-grace every connection is reset at once (today's
# shutdown, unchanged): the clients expect nothing graceful here
it_log "phase reset: --shutdown-grace 0"
rm -f "$WORK/ready-reset"
it_start_engine "$SHARDS" "$WORK/engine-reset.log" --ip "$NETNS_ENGINE_IP/$NETNS_PREFIX" \
	--listen tcp:7000:echo --listen ws:8080:echo --poll-idle-us 50 --shutdown-grace 0 \
	--events "jsonl:$WORK/events-reset.jsonl"
ip netns exec "$NETNS_NAME" "$CEE_PYTHON" "$IT_DIR/shutdown_grace.py" --ip "$NETNS_ENGINE_IP" \
	--ports "$PORTS" --certs "$CERTS" --mix "tcp=5,silent=5" --ready-file "$WORK/ready-reset" \
	--closes-file "$WORK/closes-reset" --log "$WORK/clients-reset.json" --timeout 60 &
CPID=$!
it_wait_until 60 "the clients of reset up" test -s "$WORK/ready-reset" || it_fail "reset: clients not ready"
it_stop_engine || it_fail "reset: engine exit status"
# (the clients expect a graceful end, not this phase's: their status
# says so; what each saw is in their log, checked below)
wait "$CPID" || true
it_audit "$WORK/events-reset.jsonl"
"$CEE_PYTHON" - "$WORK/clients-reset.json" "$WORK/events-reset.jsonl" <<'PY' || it_fail "reset: the clients were not reset at once"
import json, sys
ends = [(c["kind"], c["end"], c["close_code"]) for c in json.load(open(sys.argv[1]))["conns"]]
assert len(ends) == 10, f"{len(ends)} client connections in the log, 10 made"
assert all(e == "rst" and code is None for _, e, code in ends), ends
events = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
reasons = [e.get("reason") for e in events if e.get("type") == "closed"]
assert len(reasons) == 10 and all(r == "shutdown" for r in reasons), f"closed reasons {reasons}"
print(f"reset: {len(ends)} clients, every one reset without a Close frame; 10 closed, reason shutdown")
PY
it_log "PASS test_shutdown_grace ($SHARDS shard(s))"
