#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Send buffers pinned by out-of-order data, end to end (ooo_pin.py): as many
# hand-built connections as the shard has send buffers (--sndbufs 32) each
# send one byte past a hole and never fill it; a real Linux client must
# still be served, every round, by buffers taken back from them
# (tcp.ooo_reneged), and none refused.
#
# Guards against: a byte per connection past a hole pinning every send
# buffer of a shard for as long as the attacker keeps the connections (the
# buffer could be freed neither by a shut window's eviction nor by a
# timeout), every new client getting an RST (refused_sndbuf) meanwhile.
# The unit test test_renege_ooo_only_buffer covers the TCP side; this one
# the shard's search for such buffers when a SYN finds them short.
# Synchronisation: ooo_pin.py waits for the SYN-ACKs and for each
# out-of-order byte's duplicate ACK on the wire, then for each echo.

set -euo pipefail
source "$(dirname "$0")/lib.sh"
it_parse_args "$@"
PINNERS=32
ROUNDS=5

it_require
it_setup oopin

STATS=$WORK/stats.json
EVENTS=$WORK/events.jsonl
it_start_engine 1 "$WORK/engine.log" \
	--ip "$NETNS_ENGINE_IP/$NETNS_PREFIX" --listen "tcp:9:echo" --sndbufs "$PINNERS" \
	--events "jsonl:$EVENTS" --stats "$STATS" --poll-idle-us 50

# the namespace's kernel must not answer the engine's segments to the
# hand-built connections' ports (it would reset them)
it_ns_shield_ports 9 50000 50999

FAILED=0
timeout 120 ip netns exec "$NETNS_NAME" "$CEE_PYTHON" "$IT_DIR/ooo_pin.py" \
	--server "$NETNS_ENGINE_IP" --port 9 --iface "$NETNS_PEER_IF" --src "$NETNS_PEER_IP" \
	--pinners "$PINNERS" --rounds "$ROUNDS" || FAILED=1
it_wait_until 30 "destroyed events" it_at_least "$EVENTS" "$(it_type_re destroyed)" $((PINNERS + ROUNDS)) || FAILED=1
it_stop_engine || FAILED=1

"$CEE_PYTHON" - "$STATS" "$PINNERS" "$ROUNDS" <<'PY' || FAILED=1
import json, sys
t = json.load(open(sys.argv[1]))["total"]
pinners, rounds = int(sys.argv[2]), int(sys.argv[3])
print(f"engine: ooo_queued {t['tcp']['ooo_queued']}, ooo_reneged {t['tcp']['ooo_reneged']}, "
      f"refused_sndbuf {t['refused_sndbuf']}, no_sndbuf {t['tcp']['no_sndbuf']}, opened {t['opened']}")
assert t["tcp"]["ooo_queued"] >= pinners, "the out-of-order bytes were not queued"
assert t["tcp"]["ooo_reneged"] >= 1, "no buffer taken back from out-of-order data"
assert t["refused_sndbuf"] == 0, "a client refused for want of a send buffer"
assert t["opened"] == pinners + rounds, f"{t['opened']} opened"
PY
it_audit "$EVENTS" >/dev/null
[[ $FAILED -eq 0 ]] || it_fail "test_ooo_pin failed"
it_log "PASS test_ooo_pin"
