#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Many persistent outbound links (cee-engine --links FILE) to one server in a
# network namespace (scripts/links_many.py serve: Python asyncio, holds every
# connection), all up; then the server restarts (SIGKILL: its kernel FINs
# every connection; a new one listens GAP seconds later) and every link must
# come back. Reports the reconnect-rate curve (link_up per 100 ms after the
# drop, from the events' ts_ns), the time until all are back and the
# attempts it took (refused ones included). A figure, not a timed test: exit
# 1 only when a link does not come back (within --deadline), the engine does
# not exit 0 on SIGTERM or cee-audit rejects the stream; 77 without root.
#
#   scripts/links_many.sh [--links N] [--shards 1|2] [--gap S] [--reconnect MIN:MAX]
#                         [--keepalive I:N:C|off] [--deadline S] [--json FILE]
#                         [--max-conns M] [--engine P --audit P --python P] [--keep]
#
# --links N     links (default 10000), each NAME=tcp:SERVER:7000:echo in the file
# --shards      1 (default) or 2 (link i on shard i % 2)
# --gap S       seconds between the old server's exit (it takes a while to
#               close 10,000 connections) and the new one's start (default 1)
# --reconnect   the engine's backoff (default its own, 100:30000)
# --keepalive   the engine's (default 2:0.5:3). A link that retries while the
#               dying server's listener is being torn down can complete its
#               handshake and then lose the server's state without an RST
#               (seen: 508 of 10,000): TCP calls that half-open; without
#               keepalive (or data) the link would stay "up" to nothing.
#               Then the new server must hold every link's connection.
# --deadline S  for each bring-up (default 120)
# --json FILE   the figures as JSON (links_many.py report)
# --max-conns M the engine's connection slots (default 2N + 1024, below);
#               with a large M the event ring stays at 65,536 records
#               beside the links' own (24 each: an attempt's and the
#               next one's, held).
#               1100000 on one shard: a monitor table above 2^20 monitors
#               (a shard's table is its slots + 64), which could not be made
#               before: every link attempt then closed no_resources and the
#               link never tried again (meson test links_large_table)
# Engine: --max-conns 2N + 1024 (N live, plus the refused attempts and what
# TIME-WAIT holds), --time-wait 1000, and a larger af_packet ring
# (framecnt=4096; $CEE_LINKS_VDEV_ARGS replaces ",framecnt=4096"): 10,000
# SYNs at once overflow the PMD's 512 frames. The namespace gets somaxconn
# and tcp_max_syn_backlog 65535 so that the server's kernel takes the burst.
# Synchronisation: the server's ready file, the engine's ready line, and the
# events (links_many.py wait); the one sleep is the restart gap itself.
# The CI slice is `--links 1000` (meson test links_many_1000).

set -euo pipefail
# shellcheck source=../tests/integration/lib.sh
source "$(dirname "$0")/../tests/integration/lib.sh"
it_parse_args "$@"
set -- "${IT_ARGS[@]}"
N=10000
SHARDS=1
GAP=1
RECONNECT=
KEEPALIVE=2:0.5:3
DEADLINE=120
JSON=
MAX_CONNS=
while [[ $# -gt 0 ]]; do
	case $1 in
	--links) N=$2 && shift 2 ;;
	--shards) SHARDS=$2 && shift 2 ;;
	--gap) GAP=$2 && shift 2 ;;
	--reconnect) RECONNECT=$2 && shift 2 ;;
	--keepalive) KEEPALIVE=$2 && shift 2 ;;
	--deadline) DEADLINE=$2 && shift 2 ;;
	--json) JSON=$(realpath -m "$2") && shift 2 ;;
	--max-conns) MAX_CONNS=$2 && shift 2 ;;
	-h | --help)
		sed -n '/^#   scripts/,/^# The CI slice/p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*) it_fail "unknown argument '$1' (--help)" ;;
	esac
done
[[ $N =~ ^[0-9]+$ && $N -ge 1 && $N -le 65536 ]] || it_fail "--links $N: 1..65536"
[[ $SHARDS == 1 || $SHARDS == 2 ]] || it_fail "--shards $SHARDS: 1 or 2"
[[ -z $MAX_CONNS || ($MAX_CONNS =~ ^[0-9]+$ && $MAX_CONNS -ge $((2 * N + 1024))) ]] ||
	it_fail "--max-conns $MAX_CONNS: at least 2N + 1024"
HELPER=$IT_ROOT/scripts/links_many.py
PORT=7000

it_require
it_setup links-many
EVENTS=$WORK/events.jsonl
LINKS_FILE=$WORK/links.txt
SERVER=$NETNS_PEER_IP:$PORT
"$CEE_PYTHON" -c '
import sys
n, server = int(sys.argv[1]), sys.argv[2]
with open(sys.argv[3], "w") as f:
    f.write(f"# {n} links to {server}\n")
    for i in range(n):
        f.write(f"m{i}=tcp:{server}:echo\n")' "$N" "$SERVER" "$LINKS_FILE"
it_ns sysctl -qw net.core.somaxconn=65535
it_ns sysctl -qw net.ipv4.tcp_max_syn_backlog=65535

# start_server NAME: the server in the namespace, in the background; waits for its ready file
SERVER_PID=
start_server() {
	local ready=$WORK/$1.ready
	ip netns exec "$NETNS_NAME" "$CEE_PYTHON" "$HELPER" serve --listen "$SERVER" --ready "$ready" \
		--count "$WORK/$1.count" >>"$WORK/server.log" 2>&1 &
	SERVER_PID=$!
	IT_PIDS+=("$SERVER_PID")
	it_wait_until 30 "the server ($1) listening" test -s "$ready" || it_fail "the server did not start ($WORK/server.log)"
}

# The engine, as it_start_engine starts it, with a larger af_packet ring.
start_engine() {
	local vdev="net_af_packet0,iface=$NETNS_HOST_IF${CEE_LINKS_VDEV_ARGS-,framecnt=4096}"
	local lcores=(-l "0,1")
	if [[ $SHARDS == 2 ]]; then
		vdev+=",qpairs=2"
		lcores=(--lcores "0@0,1@1,2@0")
	fi
	local args=(--ip "$NETNS_ENGINE_IP/$NETNS_PREFIX" --links "$LINKS_FILE" --max-conns "${MAX_CONNS:-$((2 * N + 1024))}"
		--time-wait 1000 --events "jsonl:$EVENTS" --stats "$WORK/stats.json" --poll-idle-us 50)
	# (room for every link's reservations, 24 records, on the shard with the
	# most, and 65,536 more)
	[[ -z $MAX_CONNS ]] || args+=(--event-ring $(((N + SHARDS - 1) / SHARDS * 24 + 65536)))
	[[ -z $RECONNECT ]] || args+=(--reconnect "$RECONNECT")
	[[ $KEEPALIVE == off ]] || args+=(--keepalive "$KEEPALIVE")
	it_launch_engine "$WORK/engine.log" -m 1024 "--vdev=$vdev" "${lcores[@]}" -- "${args[@]}"
}

start_server first
start_engine
"$CEE_PYTHON" "$HELPER" wait --events "$EVENTS" --links "$N" --ups "$N" --deadline "$DEADLINE" \
	--what "first bring-up" || it_fail "not every link came up"

it_log "restart: SIGKILL to the server (pid $SERVER_PID); a new one in $GAP s"
T_KILL=$(date +%s.%N)
kill -KILL "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
T_GONE=$(date +%s.%N)
sleep "$GAP" # the experiment's parameter, not a synchronisation
start_server second
T_BACK=$(date +%s.%N)
it_log "$(awk -v k="$T_KILL" -v g="$T_GONE" -v b="$T_BACK" 'BEGIN { printf "server back: the old one took %.2f s to exit (closing its connections), the new one listened %.2f s after the kill", g - k, b - k }')"
FAILED=0
"$CEE_PYTHON" "$HELPER" wait --events "$EVENTS" --links "$N" --ups "$((2 * N))" --deadline "$DEADLINE" \
	--what "after the restart" || {
	echo "FAIL: not every link came back"
	FAILED=1
}
# The engine says every link is up: the new server must hold them all (a
# link "up" on a connection its server no longer has would be a ghost).
holds() { [[ $(cat "$WORK/second.count" 2>/dev/null) == "$N" ]]; }
if [[ $FAILED -eq 0 ]] && ! it_wait_until 20 "the new server holding $N connections" holds; then
	echo "FAIL: every link is up per the events, the new server holds $(cat "$WORK/second.count" 2>/dev/null) connections"
	FAILED=1
fi
it_ns ss -tan state established "( sport = :$PORT )" | tail -n +2 | wc -l | xargs -I{} echo "server side: {} established connections on port $PORT"
RC=0
it_stop_engine || RC=$?
[[ $RC -eq 0 ]] || {
	echo "FAIL: engine exit status $RC after SIGTERM"
	FAILED=1
}
json=()
[[ -z $JSON ]] || json=(--json "$JSON")
"$CEE_PYTHON" "$HELPER" report --events "$EVENTS" --links "$N" "${json[@]}" || FAILED=1
it_log "cee-audit $EVENTS"
"$CEE_AUDIT" "$EVENTS" | grep -E '^(opens|link_up|link_down|link_bad|lost|gaps|result)' || {
	echo "FAIL: cee-audit rejected the event stream"
	FAILED=1
}
[[ $FAILED -eq 0 ]] || it_fail "links_many: $N links"
it_log "PASS links_many ($N links)"
