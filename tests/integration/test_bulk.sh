#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Echo through the layers (tls:, ws:, wss: listeners) with clients that keep
# up to 256 KiB unechoed, writing whole 16 KiB records and 16,000-byte
# messages (bulk_echo.py, Python ssl and hand-built frames over the Linux
# TCP in the test namespace), one engine with the three listeners and the
# default --sndbuf (32 KiB).
#
# Guards against: layered echo connections reset (no_resources) by a peer
# that kept to the window it was offered. The window of a layered
# connection offered the send buffer's free room (less a quarter), blind to
# the partial TLS record or WebSocket message the layer already held: a
# record completed by bytes that window let in came back larger than the
# room left, and the echo could not be written (layer_send_fail); every
# such client was reset. Also: bytes altered or lost under that load; a
# closed reason other than the clean end each client made (tls_close_notify,
# ws_close); a stream cee-audit rejects.
#
# Usage: test_bulk.sh [--engine P --audit P --python P] [--keep]
# Synchronisation: the engine's ready line; the clients' exit (each waits
# for its last byte and the engine's close_notify or Close); then one
# closed event per client connection, polled with a deadline.

set -euo pipefail
source "$(dirname "$0")/lib.sh"
it_parse_args "$@"
CERTS=$IT_ROOT/tests/certs
CONNS=4
PORT_TLS=5071
PORT_WS=5072
PORT_WSS=5073

it_require
it_setup bulk
FAILED=0
fail_soft() {
	echo "FAIL: $*"
	FAILED=1
}

EV=$WORK/events.jsonl
it_start_engine 1 "$WORK/engine.log" --ip "$NETNS_ENGINE_IP/$NETNS_PREFIX" \
	--listen "tls:$PORT_TLS:echo" --listen "ws:$PORT_WS:echo" --listen "wss:$PORT_WSS:echo" \
	--tls-cert "$CERTS/server.pem" --tls-key "$CERTS/server.key" \
	--time-wait 100 --poll-idle-us 50 --events "jsonl:$EV" --stats "$WORK/stats.json"

for p in tls:$PORT_TLS ws:$PORT_WS wss:$PORT_WSS; do
	proto=${p%%:*}
	it_log "$proto: $CONNS clients x 2 MiB, 256 KiB ahead"
	rc=0
	it_ns "$CEE_PYTHON" "$IT_DIR/bulk_echo.py" --server "$NETNS_ENGINE_IP:${p#*:}" --proto "$proto" \
		--certs "$CERTS" --conns "$CONNS" --log "$WORK/$proto.json" >/dev/null || rc=$?
	[[ $rc -eq 0 ]] || fail_soft "$proto: bulk_echo.py exit status $rc: $(cat "$WORK/$proto.json" 2>/dev/null)"
done

it_wait_until 30 "$((3 * CONNS)) closed events" it_at_least "$EV" "$(it_type_re closed)" $((3 * CONNS)) ||
	fail_soft "only $(it_count "$EV" "$(it_type_re closed)") closed events of $((3 * CONNS))"
rc=0
it_stop_engine || rc=$?
[[ $rc -eq 0 ]] || fail_soft "engine exit status $rc after SIGTERM (expected 0)"

"$CEE_PYTHON" - "$EV" "$WORK/stats.json" "$CONNS" <<'PY' || fail_soft "events or stats"
import collections, json, sys
events = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
tot = json.load(open(sys.argv[2]))["total"]
conns = int(sys.argv[3])
closed = [e for e in events if e.get("type") == "closed"]
by = collections.Counter((e.get("proto"), e.get("reason")) for e in closed)
print("closed (proto, reason):", dict(by), "layer_send_fail", tot.get("layer_send_fail", 0))
ok = True
for want in (("tls", "tls_close_notify"), ("ws", "ws_close"), ("wss", "ws_close")):
    if by.get(want, 0) != conns:
        print("FAIL: %d closed events with proto %s reason %s, expected %d" % (by.get(want, 0), *want, conns))
        ok = False
if tot.get("layer_send_fail", 0) != 0:
    print("FAIL: layer_send_fail %d: an echo found no room in the send buffer" % tot["layer_send_fail"])
    ok = False
sys.exit(0 if ok else 1)
PY
it_audit "$EV"
[[ $FAILED -eq 0 ]] || it_fail "see FAIL lines above"
it_log "PASS"
