#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Commands by id, and queries across two shards, against real Linux clients.
#
# Guards against: identity confusion (fault 1): `kill` with the stale id of a
# connection whose peer reconnected from the same address and port changing
# anything, or `kill` with the live id closing another connection or without
# reason admin_kill; queries that lose or misplace connections of one of two
# shards, or ids routed to the wrong shard; telemetry that disagrees.
# Details: ctl_kill.py. Afterwards the whole stream must pass cee-audit and
# hold exactly the admin_kill closes ctl_kill.py made.
#
# Usage: test_ctl_kill.sh [--engine P --audit P --python P] [--ctl P] SHARDS
# Synchronisation: the engine's ready line; ctl_kill.py waits on events.

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
SHARDS=${1:-2}
PORT=7
[[ -n $CEE_CTL ]] || CEE_CTL=$(dirname "${CEE_ENGINE:-/nonexistent}")/cee-ctl

it_require
[[ -x $CEE_CTL ]] || it_fail "cee-ctl not found (pass --ctl PATH)"
[[ -x /usr/bin/dpdk-telemetry.py ]] || it_fail "/usr/bin/dpdk-telemetry.py missing (Debian package dpdk-dev; scripts/deps.sh installs it)"
it_setup "ctlkill$SHARDS"

EVENTS=$WORK/events.jsonl
RESULT=$WORK/kill.json
it_start_engine "$SHARDS" "$WORK/engine.log" \
	--ip "$NETNS_ENGINE_IP/$NETNS_PREFIX" --listen "tcp:$PORT:echo" --listen "tls:7443:echo" \
	--tls-cert "$IT_ROOT/tests/certs/server.pem" --tls-key "$IT_ROOT/tests/certs/server.key" \
	--events "jsonl:$EVENTS" --stats "$WORK/stats.json" --time-wait 100 --poll-idle-us 50
PREFIX="cee-it-$$-$ENGINE_SEQ"
SOCK=/var/run/dpdk/$PREFIX/cee_ctl.sock
[[ -S $SOCK ]] || it_fail "no command socket at $SOCK"
MODE=$(stat -c %a "$SOCK")
[[ $MODE == 600 ]] || it_fail "command socket mode $MODE, expected 600 (owner only)"

FAILED=0
ip netns exec "$NETNS_NAME" "$CEE_PYTHON" "$IT_DIR/ctl_kill.py" --ctl "$CEE_CTL" --prefix "$PREFIX" \
	--events "$EVENTS" --server "$NETNS_ENGINE_IP:$PORT" --peer-ip "$NETNS_PEER_IP" \
	--shards "$SHARDS" --result "$RESULT" --tls-port 7443 --certs "$IT_ROOT/tests/certs" || FAILED=1

ENGINE_RC=0
it_stop_engine || ENGINE_RC=$?
[[ $ENGINE_RC -eq 0 ]] || {
	echo "FAIL: engine exit status $ENGINE_RC after SIGTERM"
	FAILED=1
}
[[ $FAILED -eq 0 ]] || it_fail "test_ctl_kill failed"
"$CEE_AUDIT" "$EVENTS" || it_fail "cee-audit rejected the event stream"
# The complete stream: admin_kill exactly on the killed ids.
"$CEE_PYTHON" - "$EVENTS" "$RESULT" <<'PY' || it_fail "admin_kill closes disagree with the kills"
import json, sys
events = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
res = json.load(open(sys.argv[2]))
kills = {e["conn"] for e in events if e["type"] == "closed" and e["reason"] == "admin_kill"}
assert kills == set(res["killed"]), f"admin_kill on {sorted(kills)}, killed {res['killed']}"
stale = [e for e in events if e["conn"] == res["stale"] and e["type"] == "closed"]
assert [e["reason"] for e in stale] == ["peer_rst"], f"stale connection closed as {stale}"
print(f"admin_kill closes: {len(kills)}, all on killed ids; the stale id's connection: peer_rst")
PY
it_log "PASS test_ctl_kill ($SHARDS shard(s))"
