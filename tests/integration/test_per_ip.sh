#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# --max-conns-per-ip with a real Linux client and SYNs spoofed with its
# address (per_ip.py): the limit counts connections whose handshake
# completed, so spoofed half-open ones answer the client's SYNs with
# cookies instead of locking it out; one connection past the limit is
# refused; spoofed handshakes completed while the limit is full are refused
# (RST, never announced); a connection that ends frees its place.
#
# Guards against: SYNs spoofed with a client's address (the client behind a
# NAT or firewall that drops unsolicited SYN-ACKs) holding its whole share
# for --handshake-timeout while every real SYN got an RST; a half-open
# connection counted past the limit when it completes; refused or spoofed
# connections showing in the event stream. --syn-rate-per-ip: SYNs spoofed
# with the client's address spending its rate (its SYNs then got RSTs).
# Synchronisation: per_ip.py waits for SYN-ACKs and RSTs on the wire and for
# echoes; the destroyed events are polled with a deadline before SIGTERM.

set -euo pipefail
source "$(dirname "$0")/lib.sh"
it_parse_args "$@"
LIMIT=3
SPOOFED=10

it_require
it_setup perip

STATS=$WORK/stats.json
EVENTS=$WORK/events.jsonl
it_start_engine 1 "$WORK/engine.log" \
	--ip "$NETNS_ENGINE_IP/$NETNS_PREFIX" --listen "tcp:9:echo" \
	--max-conns-per-ip "$LIMIT" --events "jsonl:$EVENTS" --stats "$STATS" --poll-idle-us 50

# The client's kernel must not answer what comes to the spoofed ports (it
# would RST the engine's SYN-ACKs and free the half-open slots)
it_ns_shield_ports 9 50000 50999

FAILED=0
timeout 120 ip netns exec "$NETNS_NAME" "$CEE_PYTHON" "$IT_DIR/per_ip.py" \
	--server "$NETNS_ENGINE_IP" --port 9 --iface "$NETNS_PEER_IF" --src "$NETNS_PEER_IP" \
	--limit "$LIMIT" --spoofed "$SPOOFED" --spoof-port 50000 | tee "$WORK/per_ip.json" || FAILED=1
# LIMIT + 1 real connections served, all closed
it_wait_until 30 "destroyed events" it_at_least "$EVENTS" "$(it_type_re destroyed)" $((LIMIT + 1)) || FAILED=1
it_stop_engine || FAILED=1

"$CEE_PYTHON" - "$STATS" "$EVENTS" "$LIMIT" "$SPOOFED" <<'PY' || FAILED=1
import json, sys
t = json.load(open(sys.argv[1]))["total"]
limit, spoofed = int(sys.argv[3]), int(sys.argv[4])
ev = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
opens = [e for e in ev if e["type"] == "open"]
ports = sorted(int(e["remote"].rsplit(":", 1)[1]) for e in opens)
print(f"engine: refused_per_ip {t['refused_per_ip']}, per_ip_cookies {t['per_ip_cookies']}, "
      f"half_open_ended {t['half_open_ended']}, opened {t['opened']}; client ports {ports}")
assert len(opens) == limit + 1, f"{len(opens)} connections announced, want {limit + 1}"
assert all(p < 50000 for p in ports), "a spoofed connection was announced"
# the spoofed SYNs beyond the free half-open places got cookies, and so did
# the client's own SYNs while the spoofed ones held them
assert t["per_ip_cookies"] >= spoofed - limit + 1, "no cookies at the limit"
# one connection past the limit, and every spoofed handshake completed at it
assert t["refused_per_ip"] >= 1 + spoofed, "refusals not counted"
# the neighbour resolver's counters are exported (they were kept inside it)
assert t["arp"]["learned"] >= 1, f"arp counters: {t.get('arp')}"
assert "no_room" in t["monitors"], f"monitor counters: {t.get('monitors')}"
# and the port's own (driver) counters beside them
ports = json.load(open(sys.argv[1]))["ports"]
assert len(ports) == 1 and ports[0]["ipackets"] > 0 and ports[0]["rx_nombuf"] == 0, f"ports: {ports}"
PY
it_audit "$EVENTS" >/dev/null

# --syn-rate-per-ip: SYNs spoofed with the client's address must not spend
# its rate (they took its tokens: its SYNs got RSTs); the rate still holds
# for the client's own connections
RATE=5
EVENTS=$WORK/events-rate.jsonl
STATS=$WORK/stats-rate.json
it_start_engine 1 "$WORK/engine-rate.log" \
	--ip "$NETNS_ENGINE_IP/$NETNS_PREFIX" --listen "tcp:9:echo" \
	--syn-rate-per-ip "$RATE" --events "jsonl:$EVENTS" --stats "$STATS" --poll-idle-us 50
timeout 120 ip netns exec "$NETNS_NAME" "$CEE_PYTHON" "$IT_DIR/per_ip.py" \
	--server "$NETNS_ENGINE_IP" --port 9 --iface "$NETNS_PEER_IF" --src "$NETNS_PEER_IP" \
	--limit 1 --rate "$RATE" --spoof-port 50500 | tee "$WORK/per_ip_rate.json" || FAILED=1
it_stop_engine || FAILED=1
"$CEE_PYTHON" - "$STATS" "$EVENTS" <<'PY' || FAILED=1
import json, sys
t = json.load(open(sys.argv[1]))["total"]
ev = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
ports = [int(e["remote"].rsplit(":", 1)[1]) for e in ev if e["type"] == "open"]
print(f"rate: syn_rate_limited {t['syn_rate_limited']}, syn_rate_cookies {t['syn_rate_cookies']}, "
      f"opened {t['opened']}")
assert all(p < 50000 for p in ports), "a spoofed connection was announced"
assert t["syn_rate_limited"] >= 1, "no handshake refused over the rate"
PY
it_audit "$EVENTS" >/dev/null
[[ $FAILED -eq 0 ]] || it_fail "test_per_ip failed"
it_log "PASS test_per_ip"
