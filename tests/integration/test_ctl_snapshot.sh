#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Snapshots that agree with the event stream, under churn from real Linux
# peers, and the mailbox stall they cost the shards.
#
# Guards against: orphaned state (fault 2): a snapshot or listing with ghosts
# (destroyed connections) or missing connections, or one whose cut sseq does
# not match what it lists; a half-open connection listed (it has no event
# yet), or one announced after the cut listed in it (half_open.py keeps
# connections half open for a while, then completes or abandons them); a listing that mixes shards up (two shards);
# telemetry that disagrees with the command socket; answering that stalls a
# shard's polling without bound (mailbox_max_ns, wall, is reported;
# mailbox_cpu_max_ns, the work itself, must stay under --max-stall-us).
#
# Usage: test_ctl_snapshot.sh [--engine P --audit P --python P] [--ctl P]
#        [--rounds N] [--idle N] [--max-stall-us US] SHARDS
# Synchronisation: the engine's ready line; ctl_churn.py's ready file; each
# snapshot comparison waits until the stream reaches the cut sseq.

set -euo pipefail
source "$(dirname "$0")/lib.sh"
it_parse_args "$@"
set -- "${IT_ARGS[@]}"
CEE_CTL=
ROUNDS=20
IDLE=20
MAX_STALL_US=20000
while [[ $# -gt 1 ]]; do
	case $1 in
	--ctl) CEE_CTL=$(realpath "$2") && shift 2 ;;
	--rounds) ROUNDS=$2 && shift 2 ;;
	--idle) IDLE=$2 && shift 2 ;;
	--max-stall-us) MAX_STALL_US=$2 && shift 2 ;;
	*) it_fail "unknown argument $1" ;;
	esac
done
SHARDS=${1:-2}
PORT=7
[[ -n $CEE_CTL ]] || CEE_CTL=$(dirname "${CEE_ENGINE:-/nonexistent}")/cee-ctl

it_require
[[ -x $CEE_CTL ]] || it_fail "cee-ctl not found (pass --ctl PATH)"
[[ -x /usr/bin/dpdk-telemetry.py ]] || it_fail "/usr/bin/dpdk-telemetry.py missing (Debian package dpdk-dev; scripts/deps.sh installs it)"
it_setup "ctlsnap$SHARDS"

EVENTS=$WORK/events.jsonl
STATS=$WORK/stats.json
READY=$WORK/churn.ready
STOP=$WORK/churn.stop
MAX_CONNS=$(((IDLE + 2000) * 2))

it_start_engine "$SHARDS" "$WORK/engine.log" \
	--ip "$NETNS_ENGINE_IP/$NETNS_PREFIX" --listen "tcp:$PORT:echo" \
	--events "jsonl:$EVENTS" --stats "$STATS" --max-conns "$MAX_CONNS" \
	--time-wait 100 --poll-idle-us 50
PREFIX="cee-it-$$-$ENGINE_SEQ"

it_log "churn: ctl_churn.py with $IDLE idle connections held"
it_ns sysctl -q -w net.ipv4.ip_local_port_range="1024 65000"
# half-open connections from an address of the namespace's subnet no host holds
RAW_SRC_IP=${NETNS_PEER_IP%.*}.200
ip netns exec "$NETNS_NAME" "$CEE_PYTHON" "$IT_DIR/ctl_churn.py" --server "$NETNS_ENGINE_IP:$PORT" \
	--idle "$IDLE" --ready "$READY" --stop "$STOP" --raw-iface "$NETNS_PEER_IF" \
	--raw-src-ip "$RAW_SRC_IP" >"$WORK/churn.log" 2>&1 &
CHURN_PID=$!
IT_PIDS+=("$CHURN_PID")
churn_ready() { [[ -e $READY ]] || ! kill -0 "$CHURN_PID" 2>/dev/null; }
it_wait_until 300 "ctl_churn.py ready file" churn_ready || it_fail "churn did not start"
[[ -e $READY ]] || it_fail "ctl_churn.py exited early: $(cat "$WORK/churn.log")"

FAILED=0
it_log "$ROUNDS snapshots under churn, each joined with the stream"
"$CEE_PYTHON" "$IT_DIR/ctl_snapshot.py" --ctl "$CEE_CTL" --prefix "$PREFIX" --events "$EVENTS" \
	--rounds "$ROUNDS" --shards "$SHARDS" || FAILED=1

"$CEE_CTL" --file-prefix "$PREFIX" --json stats >"$WORK/ctl_stats.json" || FAILED=1
touch "$STOP"
churn_done() { ! kill -0 "$CHURN_PID" 2>/dev/null; }
it_wait_until 60 "ctl_churn.py to stop" churn_done || FAILED=1
cat "$WORK/churn.log"
# its status: every churn connection echoed right, every idle one once more
wait "$CHURN_PID" || {
	echo "FAIL: ctl_churn.py: a connection failed under the snapshots (see above)"
	FAILED=1
}

# The stall: the longest mailbox phase of any shard, with the listing sizes
# above: wall time (what the poll loop waited, preemption included: shards
# share CPUs here) and the shard thread's CPU time (the work; bounded).
STALL_NS=$("$CEE_PYTHON" -c 'import json,sys; t=json.load(open(sys.argv[1]))["total"]; print(t["mailbox_max_ns"])' "$WORK/ctl_stats.json")
STALL_CPU_NS=$("$CEE_PYTHON" -c 'import json,sys; t=json.load(open(sys.argv[1]))["total"]; print(t["mailbox_cpu_max_ns"])' "$WORK/ctl_stats.json")
"$CEE_PYTHON" - "$WORK/ctl_stats.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for s in r["shards"] + [dict(r["total"], shard="total")]:
    mean = s["mailbox_total_ns"] // max(1, s["mailbox_visits"])
    print(f"  shard {s['shard']}: live {s['live']} opened {s['opened']} mailbox requests "
          f"{s['mailbox_requests']} visits {s['mailbox_visits']} list steps {s['mailbox_list_steps']} "
          f"max {s['mailbox_max_ns']} ns (cpu {s['mailbox_cpu_max_ns']} ns) mean {mean} ns")
PY
it_log "mailbox stall: longest phase $STALL_NS ns wall, $STALL_CPU_NS ns CPU (limit ${MAX_STALL_US} us CPU)"
((STALL_CPU_NS <= MAX_STALL_US * 1000)) || {
	echo "FAIL: a mailbox phase took $STALL_CPU_NS ns of a shard's CPU"
	FAILED=1
}

ENGINE_RC=0
it_stop_engine || ENGINE_RC=$?
[[ $ENGINE_RC -eq 0 ]] || {
	echo "FAIL: engine exit status $ENGINE_RC after SIGTERM"
	FAILED=1
}
"$CEE_AUDIT" "$EVENTS" || {
	echo "FAIL: cee-audit rejected the event stream"
	FAILED=1
}
# The half-open connections: enough completed (announced late) to matter;
# the abandoned ones ended with no event, counted; the completed ones, and
# only they, are in the stream.
"$CEE_PYTHON" - "$WORK/churn.log" "$STATS" "$EVENTS" "$RAW_SRC_IP" <<'PY' || FAILED=1
import json, sys
line = [l for l in open(sys.argv[1]) if l.startswith("ctl_churn: half-open ")]
if not line:
    sys.exit("FAIL: no half-open summary from ctl_churn.py")
h = dict(kv.split("=") for kv in line[-1].split()[2:])
h = {k: int(v) for k, v in h.items()}
t = json.load(open(sys.argv[2]))["total"]
opens = sum(1 for l in open(sys.argv[3]) if '"type":"open"' in l.replace(" ", "")
            and '"remote":"%s:' % sys.argv[4] in l.replace(" ", ""))
print(f"  half-open: {h}; engine half_open_ended {t.get('half_open_ended', 0)}, opens from {sys.argv[4]} {opens}")
ok = True
if h["completed"] < 10 or h["abandoned"] < 5:
    print("FAIL: too few half-open connections completed or abandoned to test anything"); ok = False
if t.get("half_open_ended", 0) < h["abandoned"]:
    print(f"FAIL: half_open_ended {t.get('half_open_ended', 0)} < {h['abandoned']} abandoned"); ok = False
if opens != h["completed"]:
    print(f"FAIL: {opens} open events from {sys.argv[4]}, {h['completed']} handshakes completed"); ok = False
sys.exit(0 if ok else 1)
PY
[[ $FAILED -eq 0 ]] || it_fail "test_ctl_snapshot ($SHARDS shard(s)) failed"
it_log "PASS test_ctl_snapshot ($SHARDS shard(s))"
