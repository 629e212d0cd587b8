#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Persistent outbound links (--connect) against a real server in the test
# namespace (links_server.py: Python sockets and ssl), which ends each of the
# link's connections in turn, every way a connection ends.
#
# Guards against: identity confusion (fault 1): a link's old connection,
# ended by the engine and still in TIME-WAIT, whose late `destroyed` (after
# the next connection's `link_up`) ends, hides or confuses the new
# connection (a PBX keyed its disconnect monitors by remote address and its
# registrations never recovered after the first TLS reconnect); a link that
# stays down after close_notify, a FIN without close_notify, an RST, a
# server restart, a silent path (keepalive) or the idle timeout; lost or
# doubled link_up/link_down, or ones naming the wrong connection or reason;
# reconnects outside the backoff; a TLS link that does not verify the
# server; `cee-ctl links` or `cee-ctl watch` disagreeing with the stream.
# Details: links_server.py (what the server does), links_check.py (what the
# stream must hold); the stream must also pass cee-audit.
#
# Usage: test_links.sh [--engine P --audit P --python P] [--ctl P] [--keep] tls|tcp|tcp2
#   tls   one shard, link up1=tls:PEER:5061:echo,sni=server.cee.test
#         (--tls-link-ca ca.pem, beside a --tls-ca other-ca.pem the link must
#         not use; --tls-sni other.cee.test, which the link's own name
#         overrides), 50 drops: close_notify+FIN, close_notify only (the
#         engine FINs first), FIN without close_notify, RST, server restart
#         (a server of another CA in the first gap), blackhole (keepalive),
#         idle timeout; then back once more, held until SIGTERM (shutdown)
#   tcp   one shard, link up1=tcp:PEER:7000:echo, 50 drops: FIN, RST,
#         restart, blackhole, idle timeout; and link noarp to an address of
#         the subnet that answers no ARP (cee-ctl links: arp_wait; one
#         attempt closed host_unreachable each time the resolver gives up)
#   tcp2  two shards, 8 links l0..l7 (link i on shard i % 2), 7 drops each,
#         several endings mixed within a round
# Synchronisation: the server's log (listening, done) and the engine's events
# (the server and its supervisor wait on them); no sleep stands in for one.

set -euo pipefail
source "$(dirname "$0")/lib.sh"
it_parse_args "$@"
set -- "${IT_ARGS[@]}"
CEE_CTL=
while [[ $# -gt 1 ]]; do
	case $1 in
	--ctl) CEE_CTL=$(realpath "$2") && shift 2 ;;
	*) it_fail "unknown argument $1" ;;
	esac
done
MODE=${1:-}
[[ $MODE == tls || $MODE == tcp || $MODE == tcp2 ]] || it_fail "usage: test_links.sh [options] tls|tcp|tcp2"
[[ -n $CEE_CTL ]] || CEE_CTL=$(dirname "${CEE_ENGINE:-/nonexistent}")/cee-ctl
CERTS=$IT_ROOT/tests/certs
# Short timers so that 50 drops fit in well under a minute: keepalive gives
# up 0.5 + 3 x 0.25 s after the last segment, before the 2 s idle timeout;
# TIME-WAIT (2 s) outlasts a reconnect (100-200 ms) by far, so every close
# the engine starts gives a late destroy.
IDLE=2
# The listeners' --idle-timeout, shorter than the links' own: a link closed
# after it (links_check: "closed 1.0 s after the last echo") is the fault of
# an idle limit meant for listeners closing quiet, healthy links.
LISTENER_IDLE=1
TIME_WAIT_MS=2000
RECONNECT=100:1000
KEEPALIVE=0.5:0.25:3
# Every engine-first ending (notify_hold, idle) is followed by a quick one,
# so the next connection drops while the old one is still in TIME-WAIT.
case $MODE in
tls)
	SHARDS=1 PROTO=tls PORT=5061
	LINKS=(up1)
	P10=notify,notify_hold,rst,fin,restart,notify_hold,fin,blackhole,notify,idle
	PLAN=$P10,$P10,$P10,$P10,$P10
	DROPS=50 MIN_LATE=15 CTL_ROUNDS=1,2
	;;
tcp)
	SHARDS=1 PROTO=tcp PORT=7000
	LINKS=(up1)
	# and a link to an address of the subnet nobody answers ARP for
	# (cee-ctl links must show it waiting for its next hop)
	UNRESOLVED=noarp
	P10=fin,idle,rst,fin,restart,rst,blackhole,fin,rst,fin
	PLAN=$P10,$P10,$P10,$P10,$P10
	DROPS=50 MIN_LATE=5 CTL_ROUNDS=2
	;;
tcp2)
	SHARDS=2 PROTO=tcp PORT=7000
	LINKS=(l0 l1 l2 l3 l4 l5 l6 l7)
	PLAN=fin/rst,idle,rst/fin,restart,rst/fin/idle/rst,blackhole,fin/rst
	DROPS=7 MIN_LATE=10 CTL_ROUNDS=2
	;;
esac
# A plan of one's own (experiments): CEE_IT_LINKS_PLAN=blackhole,fin,...
if [[ -n ${CEE_IT_LINKS_PLAN:-} ]]; then
	PLAN=$CEE_IT_LINKS_PLAN
	DROPS=$(($(tr -cd , <<<"$PLAN" | wc -c) + 1))
	MIN_LATE=0
	CTL_ROUNDS=${CEE_IT_LINKS_CTL_ROUNDS:-}
fi
REQUIRE_CTL=()
[[ -z $CTL_ROUNDS ]] || REQUIRE_CTL=(--require-ctl)

it_require
[[ -x $CEE_CTL ]] || it_fail "cee-ctl not found (pass --ctl PATH)"
[[ -x /usr/bin/dpdk-telemetry.py ]] || it_fail "/usr/bin/dpdk-telemetry.py missing (Debian package dpdk-dev; scripts/deps.sh installs it)"
it_setup "links-$MODE"
T0=$SECONDS
EVENTS=$WORK/events.jsonl
SLOG=$WORK/server.jsonl
SERVER=$NETNS_PEER_IP:$PORT
: >"$EVENTS" # the server tails it from the start
PREFIX="cee-it-$$-$((ENGINE_SEQ + 1))" # the EAL file prefix it_start_engine will use

CONNECT=()
NAMES=
for n in "${LINKS[@]}"; do
	CONNECT+=(--connect "$n=$PROTO:$SERVER:echo")
	NAMES+=${NAMES:+,}$n
done
SRV_UNRESOLVED=()
if [[ -n ${UNRESOLVED:-} ]]; then
	CONNECT+=(--connect "$UNRESOLVED=tcp:${NETNS_PEER_IP%.*}.99:$PORT:echo")
	SRV_UNRESOLVED=(--unresolved "$UNRESOLVED")
fi
TLS=()
SRV_TLS=()
if [[ $PROTO == tls ]]; then
	# the link names its server (,sni=): --tls-sni, which names another,
	# must not be what it sends or verifies (the server checks the SNI, and
	# its certificate does not match the other name)
	for i in "${!CONNECT[@]}"; do
		[[ ${CONNECT[$i]} == --connect ]] || CONNECT[i]+=,sni=server.cee.test
	done
	# links verify against --tls-link-ca; --tls-ca (for tls: listeners'
	# clients) names a CA that does not know the server: a link that took
	# it would fail every handshake (the option's way in was untested)
	TLS=(--tls-link-ca "$CERTS/ca.pem" --tls-ca "$CERTS/other-ca.pem" --tls-sni other.cee.test)
	SRV_TLS=(--certs "$CERTS" --sni server.cee.test --badcert)
fi

# The server first (listening before the links' first attempts), in the
# namespace, in the background: `ip netns exec` execs the supervisor, so $!
# is its pid.
ip netns exec "$NETNS_NAME" "$CEE_PYTHON" "$IT_DIR/links_server.py" run --proto "$PROTO" \
	--listen "$SERVER" --engine-ip "$NETNS_ENGINE_IP" --links "$NAMES" --plan "$PLAN" \
	--events "$EVENTS" --log "$SLOG" --idle-timeout "$IDLE" --time-wait "$((TIME_WAIT_MS / 1000))" \
	--ctl "$CEE_CTL" --prefix "$PREFIX" --ctl-rounds "$CTL_ROUNDS" --shards "$SHARDS" \
	"${SRV_TLS[@]}" "${SRV_UNRESOLVED[@]}" >"$WORK/server.out" 2>&1 &
SERVER_PID=$!
IT_PIDS+=("$SERVER_PID")
server_alive() { kill -0 "$SERVER_PID" 2>/dev/null; }
server_says() { grep -qE "\"type\": *\"$1\"" "$SLOG" 2>/dev/null; }
listening_or_gone() { server_says listening || ! server_alive; }
settled() { server_says "done" || ! server_alive; }
show_server() {
	echo "---- links_server.py output ($WORK/server.out) ----"
	tail -n 30 "$WORK/server.out"
	echo "----"
}
it_wait_until 30 "links_server.py listening" listening_or_gone || true
server_says listening || {
	show_server
	it_fail "links_server.py did not start"
}

it_start_engine "$SHARDS" "$WORK/engine.log" --ip "$NETNS_ENGINE_IP/$NETNS_PREFIX" \
	"${CONNECT[@]}" "${TLS[@]}" --reconnect "$RECONNECT" --keepalive "$KEEPALIVE" \
	--idle-timeout "$LISTENER_IDLE" --link-idle-timeout "$IDLE" --time-wait "$TIME_WAIT_MS" --handshake-timeout 3 \
	--events "jsonl:$EVENTS" --stats "$WORK/stats.json" --poll-idle-us 50
[[ $PREFIX == "cee-it-$$-$ENGINE_SEQ" ]] || it_fail "EAL file prefix $PREFIX guessed wrong"
it_log "links ${LINKS[*]} ($PROTO, $SHARDS shard(s)): $DROPS drops each: $PLAN"

FAILED=0
fail_soft() {
	echo "FAIL: $*"
	FAILED=1
}
it_wait_until 150 "every link back after the last round (server log: done)" settled ||
	fail_soft "the rounds did not finish"
server_says "done" || {
	show_server
	fail_soft "the server did not see every link come back after round $DROPS"
}
it_log "rounds finished after $((SECONDS - T0)) s; stopping the engine (the held links close with shutdown)"
ENGINE_RC=0
it_stop_engine || ENGINE_RC=$?
[[ $ENGINE_RC -eq 0 ]] || fail_soft "engine exit status $ENGINE_RC after SIGTERM (expected 0)"
SERVER_RC=0
if server_alive; then
	kill -TERM "$SERVER_PID"
fi
wait "$SERVER_PID" || SERVER_RC=$?
[[ $SERVER_RC -eq 0 ]] || {
	show_server
	fail_soft "links_server.py exit status $SERVER_RC"
}

"$CEE_PYTHON" "$IT_DIR/links_check.py" --events "$EVENTS" --server-log "$SLOG" --stats "$WORK/stats.json" \
	--proto "$PROTO" --server "$SERVER" --engine-ip "$NETNS_ENGINE_IP" --shards "$SHARDS" \
	--drops "$DROPS" --reconnect "$RECONNECT" --idle-timeout "$IDLE" --min-late "$MIN_LATE" \
	--min-late-strong "$((MIN_LATE > 0 ? 1 : 0))" "${REQUIRE_CTL[@]}" || fail_soft "links_check.py"
it_log "cee-audit $EVENTS"
"$CEE_AUDIT" "$EVENTS" || fail_soft "cee-audit rejected the event stream"
it_log "links $MODE: $((SECONDS - T0)) s"
[[ $FAILED -eq 0 ]] || it_fail "test_links $MODE failed"
it_log "PASS test_links $MODE"
