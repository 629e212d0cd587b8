#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Unusual paths against cee-engine's echo service (issue 9), with a
# hand-driven peer (path_peer.py: AF_PACKET in the namespace, an address of
# its own): a peer announcing MSS 1, and a peer behind a 1280-byte MTU hop
# that answers a too-large frame with ICMP fragmentation needed.
#
# Guards against: a frame storm for a tiny MSS (every segment must carry at
# least 64 bytes, the floor); a path-MTU black hole (the transfer must
# complete in smaller segments); and either one going uncounted (--stats:
# tcp.mss_clamped, tcp.pmtu_lowered).
# Synchronisation: the engine's ready line; path_peer.py's exit (each case
# ends when the echo and the engine's FIN are back, or fails after a
# deadline).

set -euo pipefail
source "$(dirname "$0")/lib.sh"
it_parse_args "$@"
PORT=7

it_require
it_setup path

STATS=$WORK/stats.json
EVENTS=$WORK/events.jsonl
it_start_engine 1 "$WORK/engine.log" \
	--ip "$NETNS_ENGINE_IP/$NETNS_PREFIX" --listen "tcp:$PORT:echo" \
	--events "jsonl:$EVENTS" --stats "$STATS" --time-wait 100 --poll-idle-us 50

FAILED=0
timeout 120 ip netns exec "$NETNS_NAME" "$CEE_PYTHON" "$IT_DIR/path_peer.py" --iface "$NETNS_PEER_IF" \
	--peer-ip "$NETNS_SUBNET.9" --hop-ip "$NETNS_SUBNET.254" --engine-ip "$NETNS_ENGINE_IP" \
	--port "$PORT" --out "$WORK/path.json" || FAILED=1
kill -0 "$ENGINE_PID" 2>/dev/null || it_fail "the engine died"
it_stop_engine || FAILED=1

"$CEE_PYTHON" - "$STATS" <<'PY' || FAILED=1
import json, sys
t = json.load(open(sys.argv[1]))["total"]["tcp"]
print(f"engine: mss_clamped {t['mss_clamped']} pmtu_lowered {t['pmtu_lowered']} retransmits {t['retransmits']}")
assert t["mss_clamped"] >= 1, "the MSS 1 peer was not counted in tcp.mss_clamped"
assert t["pmtu_lowered"] >= 1, "the ICMP fragmentation-needed was not taken (tcp.pmtu_lowered)"
PY
"$CEE_AUDIT" "$EVENTS" >/dev/null || {
	echo "FAIL: cee-audit rejected the event stream"
	FAILED=1
}
[[ $FAILED -eq 0 ]] || it_fail "test_path failed"
it_log "PASS test_path"
