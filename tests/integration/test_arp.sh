#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# ARP across shards, with a 2-shard engine (every shard keeps its own
# neighbour table; the shard that receives an ARP packet copies it to the
# others when they can use it).
#
# Guards against: live connections that keep sending to a neighbour's old
# MAC after it announced a new one with a gratuitous ARP (a gateway's or a
# host's failover): each connection kept the MAC of its SYN for good, so
# every live connection through that neighbour failed while new ones
# worked (arp_check.py's held connections echo after the change, each
# given 3 s; stat arp_moved counts each one re-pointed); the announcement
# reaching only the shard that received it (the other shard's connections
# then failed the same way); and the segment's other
# ARP requests (a busy LAN's broadcasts) copied to every shard: 200 such
# requests here must not be copied (stat arp_shared stays under them; before
# the filter each was copied, 200 of them), and each is counted once in
# drops.not_for_us (twice before: in each shard).
# Synchronisation: the engine's ready line; the client's exit; --stats at
# SIGTERM.

set -euo pipefail
source "$(dirname "$0")/lib.sh"
it_parse_args "$@"
NOISE=200
CLIENTS=20

it_require
"$CEE_PYTHON" -c 'import scapy.layers.l2' 2>/dev/null ||
	it_fail "$CEE_PYTHON cannot import scapy (the project's Debian dependencies must install python3-scapy)"
it_setup arp

STATS=$WORK/stats.json
EVENTS=$WORK/events.jsonl
it_start_engine 2 "$WORK/engine.log" \
	--ip "$NETNS_ENGINE_IP/$NETNS_PREFIX" --listen "tcp:7:echo" \
	--events "jsonl:$EVENTS" --stats "$STATS" --time-wait 100 --poll-idle-us 50

FAILED=0
timeout 120 ip netns exec "$NETNS_NAME" "$CEE_PYTHON" "$IT_DIR/arp_check.py" \
	--server "$NETNS_ENGINE_IP:7" --iface "$NETNS_PEER_IF" --peer-ip "$NETNS_PEER_IP" \
	--other-prefix "${NETNS_ENGINE_IP%.*}." --noise "$NOISE" --clients "$CLIENTS" ||
	{
		echo "FAIL: arp_check.py: an echo failed (above)"
		FAILED=1
	}
it_wait_until 30 "closed events" it_at_least "$EVENTS" "$(it_type_re closed)" $((2 * CLIENTS)) || FAILED=1
it_stop_engine || FAILED=1

"$CEE_PYTHON" - "$STATS" "$NOISE" "$CLIENTS" <<'PY' || FAILED=1
import json, sys
st = json.load(open(sys.argv[1]))
t = st["total"]
noise = int(sys.argv[2])
clients = int(sys.argv[3])
per = [(s["arp_shared"], s["arp_moved"], s["drops"]["not_for_us"], s["opened"]) for s in st["shards"]]
print(f"engine: arp_shared {t['arp_shared']}, arp_moved {t['arp_moved']}, arp_moved_lost "
      f"{t['arp_moved_lost']}, drops.not_for_us {t['drops']['not_for_us']}, arp_replies "
      f"{t['arp_replies']}; per shard (arp_shared, arp_moved, not_for_us, opened): {per}")
assert t["arp_moved"] == clients, f"arp_moved {t['arp_moved']}: each of the {clients} held connections re-pointed once"
assert all(s["opened"] > 0 for s in st["shards"]), "a shard had no connection: both must be tried"
assert t["arp_shared"] >= 1, "the gratuitous ARP was not copied to the other shard"
assert t["arp_shared"] < noise, f"{t['arp_shared']} ARP copies: the {noise} requests for others were copied"
assert noise <= t["drops"]["not_for_us"] < 2 * noise, \
    f"drops.not_for_us {t['drops']['not_for_us']}: each request for another address counted once"
PY
"$CEE_AUDIT" "$EVENTS" >/dev/null || {
	echo "FAIL: cee-audit rejected the event stream"
	FAILED=1
}
[[ $FAILED -eq 0 ]] || it_fail "test_arp failed"
it_log "PASS test_arp"
