#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# `cee-ctl drain` against real Linux clients.
#
# Guards against: a drain that disturbs live connections, admits new ones
# (they must be refused with RST and counted), exits before the last
# connection is destroyed or never exits, exits non-zero, or loses events:
# the stream must be complete (cee-audit) with every close a peer's (no
# `shutdown`), and the final --stats must show nothing live.
#
# Usage: test_ctl_drain.sh [--engine P --audit P --python P] [--ctl P] SHARDS
# Synchronisation: the engine's ready line; ctl_drain.py waits on events and
# on the engine's answers; then the engine's own exit (deadline).

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
COUNT=10
[[ -n $CEE_CTL ]] || CEE_CTL=$(dirname "${CEE_ENGINE:-/nonexistent}")/cee-ctl

it_require
[[ -x $CEE_CTL ]] || it_fail "cee-ctl not found (pass --ctl PATH)"
it_setup "ctldrain$SHARDS"

EVENTS=$WORK/events.jsonl
STATS=$WORK/stats.json
it_start_engine "$SHARDS" "$WORK/engine.log" \
	--ip "$NETNS_ENGINE_IP/$NETNS_PREFIX" --listen "tcp:$PORT:echo" \
	--events "jsonl:$EVENTS" --stats "$STATS" --time-wait 100 --poll-idle-us 50
PREFIX="cee-it-$$-$ENGINE_SEQ"

ip netns exec "$NETNS_NAME" "$CEE_PYTHON" "$IT_DIR/ctl_drain.py" --ctl "$CEE_CTL" --prefix "$PREFIX" \
	--events "$EVENTS" --server "$NETNS_ENGINE_IP:$PORT" --count "$COUNT" --shards "$SHARDS" \
	--count-file "$WORK/count" || it_fail "ctl_drain.py failed"
COUNT=$(cat "$WORK/count") # at least 10: more until every shard owned some

# The engine exits by itself; it_wait_until would stop at its death, so
# wait on the pid directly.
PID=$ENGINE_PID
ENGINE_PID=
engine_gone() { ! kill -0 "$PID" 2>/dev/null; }
if ! it_wait_until 30 "the engine to exit by itself after the last connection" engine_gone; then
	ENGINE_PID=$PID
	it_fail "the engine did not exit after drain and the last close"
fi
ENGINE_RC=0
wait "$PID" || ENGINE_RC=$?
it_log "engine exited with status $ENGINE_RC"
[[ $ENGINE_RC -eq 0 ]] || it_fail "engine exit status $ENGINE_RC after drain (expected 0)"
grep -q "drained" "$ENGINE_LOG" || it_fail "the engine stopped, but not because the drain completed"

"$CEE_AUDIT" "$EVENTS" || it_fail "cee-audit rejected the event stream (incomplete after drain?)"
"$CEE_PYTHON" - "$EVENTS" "$STATS" "$COUNT" <<'PY' || it_fail "the drained stream is wrong"
import json, sys
events = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
stats = json.load(open(sys.argv[2]))
count = int(sys.argv[3])
opens = [e for e in events if e["type"] == "open"]
reasons = sorted({e["reason"] for e in events if e["type"] == "closed"})
assert len(opens) == count, f"{len(opens)} opens, expected {count} (one got in while draining?)"
assert len([e for e in events if e["type"] == "destroyed"]) == count, "destroyed events missing"
assert set(reasons) <= {"peer_fin", "peer_rst"}, f"close reasons {reasons}: a drain closes nothing itself"
t = stats["total"]
assert t["live"] == 0 and t["refused"] >= 5, f"final stats: live {t['live']}, refused {t['refused']}"
closes = len([e for e in events if e["type"] == "closed"])
assert t["closed"] == closes == count, f"final stats: closed {t['closed']}, the stream's {closes}"
print(f"drained stream: {count} connections, closes {reasons}, refused {t['refused']}")
PY
it_log "PASS test_ctl_drain ($SHARDS shard(s))"
