#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Send-buffer pinning (issue 13, "hostile traffic"): peers that send to the
# echo listener and never read, so that the server's send buffers fill and
# their windows close, while other clients connect, echo and close; against
# cee-engine and, in its turn, the Linux kernel's TCP on the same path.
#
#   scripts/pinning.sh [--quick] [--peers N] [--sources K] [--fill BYTES]
#                      [--persist S] [--idle-timeout S] [--sndbufs N]
#                      [--rate R] [--duration S] [--no-service-goal]
#                      [--keep] [--engine PATH --audit PATH] [--python PATH]
#                      [-- cee-engine options]
#
# Topology (as scripts/synflood.sh): namespace C (the peers and the
# clients) --veth-- namespace S, where the kernel holds 10.97.X.3 (the echo
# server of tests/integration/pin_clients.py: it reads and echoes, and
# stops reading a connection whose echo the kernel will not take) and
# cee-engine's af_packet port answers as 10.97.X.1 on the same interface.
#
# A run: the server; --peers N (default 5,000) pinning peers from K extra
# addresses of C (--sources, default 10), each with a 4 KiB receive
# buffer, connecting (256 at a time), writing --fill bytes (default
# 48 KiB: more than cee's 32 KiB send buffer and the peer's window) and
# never reading; once every peer has connected or been refused and the
# bytes the server took have settled (under 0.1% more in 0.5 s: "ready"),
# clients from C's own address start, --rate R a second (default 50) for
# --duration S (default 40 s; with --quick 10 s), each connecting, echoing
# 256 bytes and closing within 10 s; then cee gets SIGTERM (pinned
# connections still live end with `shutdown`) and the peers are stopped.
# cee runs with its defaults (--max-conns 65536, --sndbufs 4096 per
# shard: 5,000 peers are more than there are send buffers, which is the
# point) and --persist-timeout 10 (--persist), --idle-timeout 60
# (--idle-timeout), --sndbufs only if given; options after -- are
# appended (e.g. -- --max-conns-per-ip 400).
# Printed, per server: the peers (connected, refused, holding a buffer),
# how they ended and when (as they saw it), the other clients' success
# share over the run and while the pinning held, second by second, their
# latency (connect to echo, p50/p99/max); for cee no_sndbuf,
# refused_sndbuf, refused, zero_window_probes, the pinned connections'
# closed reasons with their durations, and how their RSTs reached them.
# Judged (cee): pinned connections end by zero_window_timeout (some must;
# idle_timeout, or shutdown at SIGTERM, also allowed), none sooner than
# --persist after it opened; those holding a buffer at ready are let go
# before the end (when the run lasts 2 x --persist + 3 s after ready); at
# least 90% of the zero_window_timeout RSTs reach their peer at once (its
# socket sees the reset within 300 ms: the RST must be acceptable to a
# peer whose window is 0); the goal: every other client that started while
# the pinning held (from ready until the engine let the first pinned
# connection go) served (--no-service-goal: printed, not judged); engine
# ready, exiting 0 at SIGTERM, cee-audit accepting the events. Linux is
# printed, not judged (a harness failure aside).
# --quick (the CI slice, tests/integration/test_hostile.sh): 500 peers,
# --sndbufs 256, --persist 3, clients 20/s for 10 s (Linux: 3 s).
# Exit 1 naming each failure; 77 without root. The work directory (kept
# unless --quick passes) holds each run's files and summary.json.
set -euo pipefail
CALLER_PWD=$PWD
cd "$(dirname "$0")/.."

usage() { sed -n '/^#   scripts\/pinning.sh/,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2; }

QUICK=0
PEERS=
SOURCES=10
FILL=49152
PERSIST=
IDLE=60
SNDBUFS=
RATE=
DURATION=
SERVICE_GOAL=1
KEEP=0
ENGINE=
AUDIT=
PYTHON=/usr/bin/python3
EXTRA=()
while [[ $# -gt 0 ]]; do
	case $1 in
	--quick) QUICK=1 && shift ;;
	--peers) PEERS=$2 && shift 2 ;;
	--sources) SOURCES=$2 && shift 2 ;;
	--fill) FILL=$2 && shift 2 ;;
	--persist) PERSIST=$2 && shift 2 ;;
	--idle-timeout) IDLE=$2 && shift 2 ;;
	--sndbufs) SNDBUFS=$2 && shift 2 ;;
	--rate) RATE=$2 && shift 2 ;;
	--duration) DURATION=$2 && shift 2 ;;
	--no-service-goal) SERVICE_GOAL=0 && shift ;;
	--keep) KEEP=1 && shift ;;
	--engine) ENGINE=$2 && shift 2 ;;
	--audit) AUDIT=$2 && shift 2 ;;
	--python) PYTHON=$2 && shift 2 ;;
	--)
		shift
		EXTRA=("$@")
		break
		;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		echo "pinning.sh: unknown argument '$1'" >&2
		usage
		exit 2
		;;
	esac
done
abs() { [[ -z $1 || $1 == /* ]] && echo "$1" || echo "$CALLER_PWD/$1"; }
ENGINE=$(abs "$ENGINE")
AUDIT=$(abs "$AUDIT")
[[ $PYTHON == */* ]] && PYTHON=$(abs "$PYTHON")
if [[ $EUID -ne 0 ]]; then
	echo "pinning.sh: needs root (network namespaces, a veth pair, AF_PACKET sockets); skipped" >&2
	exit 77
fi
LINUX_DURATION=
if [[ $QUICK == 1 ]]; then
	PEERS=${PEERS:-500}
	SNDBUFS=${SNDBUFS:-256}
	PERSIST=${PERSIST:-3}
	RATE=${RATE:-20}
	DURATION=${DURATION:-10}
	LINUX_DURATION=3
fi
PEERS=${PEERS:-5000}
PERSIST=${PERSIST:-10}
RATE=${RATE:-50}
DURATION=${DURATION:-40}
LINUX_DURATION=${LINUX_DURATION:-$DURATION}
for v in PEERS SOURCES FILL PERSIST IDLE RATE DURATION; do
	[[ ${!v} =~ ^[0-9]+$ && ${!v} -ge 1 ]] || {
		echo "pinning.sh: --${v,,} wants a positive number" >&2
		exit 2
	}
done
((SOURCES <= 100)) || {
	echo "pinning.sh: --sources at most 100" >&2
	exit 2
}

# shellcheck source=twons.sh
source scripts/twons.sh # (the working directory is the repository root)
twons_engine pinning.sh required

# ---- names (from $$: runs can coexist) ----
ID=$$
X=$((ID % 200 + 20))
NS_CLI=cee-pn-$ID-c
NS_SRV=cee-pn-$ID-s
IF_CLI=pnc$ID
IF_SRV=pns$ID
CLI_IP=10.97.$X.2
CEE_IP=10.97.$X.1
LINUX_IP=10.97.$X.3
SRC_IPS=()
for ((i = 0; i < SOURCES; i++)); do
	SRC_IPS+=("10.97.$X.$((100 + i))")
done
SRC_LIST=$(
	IFS=,
	echo "${SRC_IPS[*]}"
)
PORT=7
WORK=$(mktemp -d "/tmp/cee-pinning-XXXXXX")
PIDS=()
PREFIXES=()
FAILED=0


trap twons_cleanup EXIT
trap 'exit 130' INT TERM

setup_ns() {
	twons_setup || return 1
	local a
	for a in "${SRC_IPS[@]}"; do
		ip netns exec "$NS_CLI" ip addr add "$a/24" dev "$IF_CLI" || return 1
	done
	# the Linux server's accept queue as deep as cee's admission (5,000
	# connects in batches of 256)
	ip netns exec "$NS_SRV" sysctl -qw net.core.somaxconn=4096 || return 1
}
if ! setup_ns 2>"$WORK/setup.err"; then
	cat "$WORK/setup.err" >&2
	echo "pinning.sh: namespace/veth setup failed" >&2
	exit 1
fi

alive_or_file() { [[ -e $2 ]] || ! kill -0 "$1" 2>/dev/null; }



RUN_N=0
ENGINE_OPTS=(--ip "$CEE_IP/24" --listen "tcp:$PORT:echo" --poll-idle-us 20
	--persist-timeout "$PERSIST" --idle-timeout "$IDLE")
[[ -z $SNDBUFS ]] || ENGINE_OPTS+=(--sndbufs "$SNDBUFS")

# one_run DIR KIND DURATION: server, peers, clients, stop. @return 1 on a
# harness or engine failure.
one_run() {
	local dir=$1 kind=$2 duration=$3
	mkdir -p "$dir"
	local spid
	if [[ $kind == cee ]]; then
		RUN_N=$((RUN_N + 1))
		local prefix=pn$ID-$RUN_N
		PREFIXES+=("$prefix")
		local eal=(--no-huge -m 512 --no-pci --file-prefix "$prefix"
			"--vdev=net_af_packet0,iface=$IF_SRV,framecnt=4096" -l "0,1")
		local opts=("${ENGINE_OPTS[@]}" --events "jsonl:$dir/events.jsonl" --stats "$dir/stats.json" "${EXTRA[@]}")
		echo "ip netns exec $NS_SRV $ENGINE ${eal[*]} -- ${opts[*]}" >"$dir/engine.cmd"
		ip netns exec "$NS_SRV" "$ENGINE" "${eal[@]}" -- "${opts[@]}" >"$dir/engine.out" 2>"$dir/engine.log" &
		spid=$!
		PIDS+=("$spid")
		SERVER=$CEE_IP:$PORT
		if ! { wait_for 60 "cee-engine ready" alive_or_has "$spid" "$dir/engine.log" "cee-engine: ready" &&
			kill -0 "$spid" 2>/dev/null; }; then
			tail -n 20 "$dir/engine.log" >&2
			echo "pinning.sh: cee-engine did not start ($dir/engine.cmd)" >&2
			stop_pid "$spid" 5
			return 1
		fi
	else
		ip netns exec "$NS_SRV" "$PYTHON" tests/integration/pin_clients.py echo --bind "$LINUX_IP" --port "$PORT" \
			--ready "$dir/echo.ready" >"$dir/echo.json" 2>"$dir/echo.log" &
		spid=$!
		PIDS+=("$spid")
		SERVER=$LINUX_IP:$PORT
		if ! { wait_for 20 "the Linux echo server" alive_or_has "$spid" "$dir/echo.ready" "ready" &&
			kill -0 "$spid" 2>/dev/null; }; then
			cat "$dir/echo.log" >&2
			stop_pid "$spid" 5
			return 1
		fi
	fi
	local rc=0
	ip netns exec "$NS_CLI" "$PYTHON" tests/integration/pin_clients.py pin --server "$SERVER" --sources "$SRC_LIST" \
		--peers "$PEERS" --fill "$FILL" --ready "$dir/ready.json" --out "$dir/pin.json" 2>"$dir/pin.log" &
	local ppid=$!
	PIDS+=("$ppid")
	if ! { wait_for 120 "the pinning peers (ready.json)" alive_or_file "$ppid" "$dir/ready.json" &&
		[[ -e $dir/ready.json ]]; }; then
		cat "$dir/pin.log" >&2
		rc=1
	else
		log "$kind: peers ready: $(cat "$dir/ready.json")"
		ip netns exec "$NS_CLI" "$PYTHON" tests/integration/pin_clients.py churn --server "$SERVER" --bind "$CLI_IP" \
			--rate "$RATE" --duration "$duration" --out "$dir/churn.json" 2>"$dir/churn.log" || {
			cat "$dir/churn.log" >&2
			rc=1
		}
	fi
	# the server first (cee: live pinned connections end with `shutdown`),
	# then the peers write what they saw
	local t
	for t in /proc/"$spid"/task/*; do
		echo "$(cat "$t/comm" 2>/dev/null) $(cat "$t/schedstat" 2>/dev/null)"
	done >"$dir/schedstat.txt" 2>/dev/null || true
	stop_pid "$spid" 60
	if [[ $STOP_RC -ne 0 ]]; then
		echo "pinning.sh: $kind server exit status $STOP_RC after SIGTERM (see $dir)" >&2
		rc=1
	fi
	stop_pid "$ppid" 30
	[[ -e $dir/pin.json ]] || {
		cat "$dir/pin.log" >&2
		echo "pinning.sh: the peers wrote no pin.json" >&2
		rc=1
	}
	if [[ $kind == cee ]]; then
		"$AUDIT" "$dir/events.jsonl" >"$dir/audit.txt" 2>&1 || {
			tail -n 20 "$dir/audit.txt" >&2
			echo "pinning.sh: cee-audit rejected $dir/events.jsonl" >&2
			rc=1
		}
	else
		log "linux: echo server: $(cat "$dir/echo.json")"
	fi
	return "$rc"
}

log "topology: $NS_CLI ($IF_CLI: clients $CLI_IP, peers ${SRC_IPS[0]}..${SRC_IPS[-1]}) -- $NS_SRV ($IF_SRV: Linux $LINUX_IP, cee $CEE_IP)"
log "engine: $ENGINE ${ENGINE_OPTS[*]}${EXTRA[*]:+ ${EXTRA[*]}}"
log "$PEERS peers x $FILL bytes, never read; clients $RATE/s for ${DURATION}s (Linux ${LINUX_DURATION}s); work directory $WORK"
for kind in cee linux; do
	dir=$WORK/$kind
	d=$DURATION
	[[ $kind == cee ]] || d=$LINUX_DURATION
	log "$kind"
	if ! one_run "$dir" "$kind" "$d"; then
		FAILED=1
		log "$kind: FAILED (see $dir)"
	fi
	judge=0
	[[ $kind != cee ]] || judge=1
	"$PYTHON" tests/integration/pin_clients.py report --kind "$kind" --dir "$dir" --sources "$SRC_LIST" \
		--persist "$PERSIST" --judge "$judge" --service-goal "$SERVICE_GOAL" || FAILED=1
done
if [[ $FAILED -ne 0 ]]; then
	echo "pinning.sh: FAILED (messages above; $WORK)" >&2
	exit 1
fi
log "pinning.sh: PASS"
