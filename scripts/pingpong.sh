#!/usr/bin/env bash
# Figure: the echo round trip of one Linux client through the engine, and
# what an idle shard costs: N sequential 64-byte echoes (default 3000, 0.5 ms
# apart, TCP_NODELAY) over one connection, then the shard thread's CPU
# share over 3 idle seconds (schedstat). The engine's --poll-idle-us (default
# 20) decides both: how soon a sleeping shard sees the next segment, and how
# often an idle one wakes. Needs root.
#   scripts/pingpong.sh [--engine PATH] [--idle-us US] [--count N]
set -euo pipefail
cd "$(dirname "$0")/.."
ENGINE= IDLE_US=20 COUNT=3000
while [[ $# -gt 0 ]]; do
	case $1 in
	--engine) ENGINE=$(realpath "$2") && shift 2 ;;
	--idle-us) IDLE_US=$2 && shift 2 ;;
	--count) COUNT=$2 && shift 2 ;;
	*) echo "usage: $0 [--engine PATH] [--idle-us US] [--count N]" >&2 && exit 2 ;;
	esac
done
source scripts/engine-env.sh pingpong
[[ -z $ENGINE ]] || CEE_ENGINE=$ENGINE
it_start_engine 1 "$WORK/engine.log" --ip "$NETNS_ENGINE_IP/$NETNS_PREFIX" --listen tcp:7:echo \
	--events "jsonl:$WORK/events.jsonl" --poll-idle-us "$IDLE_US"
it_ns "$CEE_PYTHON" - "$NETNS_ENGINE_IP" "$COUNT" <<'PY'
import socket, sys, time
n = int(sys.argv[2])
s = socket.create_connection((sys.argv[1], 7), timeout=5)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
rtt = []
for _ in range(n):
    t0 = time.perf_counter()
    s.sendall(b"x" * 64)
    got = 0
    while got < 64:
        d = s.recv(64 - got)
        if not d:
            sys.exit("pingpong: the engine closed the connection")
        got += len(d)
    rtt.append((time.perf_counter() - t0) * 1e6)
    time.sleep(0.0005)
s.close()
rtt.sort()
print("pingpong: echo RTT us over %d: p50 %.0f p90 %.0f p99 %.0f max %.0f"
      % (n, rtt[n // 2], rtt[n * 9 // 10], rtt[n * 99 // 100], rtt[-1]))
PY
shard=
for t in /proc/"$ENGINE_PID"/task/*; do
	[[ $(cat "$t/comm") != rte-worker-1 ]] || shard=$t
done
[[ -n $shard ]] || it_fail "no shard thread (rte-worker-1) in the engine"
a=$(cut -d' ' -f1 "$shard/schedstat")
sleep 3
b=$(cut -d' ' -f1 "$shard/schedstat")
echo "pingpong: idle shard: $(((b - a) / 30000000))% of a CPU (--poll-idle-us $IDLE_US)"
it_stop_engine >/dev/null
