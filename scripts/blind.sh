#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Blind (off-path) attacks on a live connection, against cee-engine's echo
# and, in its turn, the Linux kernel's TCP on the same path (issue 13,
# "hostile traffic": RFC 5961).
#
#   scripts/blind.sh [--quick] [--rate PPS] [--reflect N@PPS] [--keep]
#                    [--engine PATH --audit PATH] [--python PATH]
#                    [-- cee-engine options]
#
# Topology (as scripts/synflood.sh): namespace C (the Linux client and the
# attacker) --veth-- namespace S, where the kernel holds 10.98.X.3 (the
# echo server of tests/integration/pin_clients.py) and cee-engine's
# af_packet port answers as 10.98.X.1 on the same interface: both servers
# see the identical path.
#
# 1. Spray (tests/integration/blind_spray.py): a Linux client connects and
#    echoes; a third party in C that knows the 4-tuple but not the
#    sequence numbers sends, as the client's address and port (AF_PACKET,
#    frames built with scapy), RSTs stepping through the whole sequence
#    space by the advertised window (2^32/W of them: one lands in the
#    window), 10,000 SYNs, and data segments stepping the same way with
#    random (stale or unsent) ACKs, at --rate (default 50,000/s). The
#    client echoes 1,000 bytes after each phase and 64 KiB at the end.
#    Judged for cee: every echo whole and equal; the connection's only
#    `closed` is peer_fin after the client's FIN with bytes_in = bytes_out =
#    what the client sent (nothing injected, nothing lost); no connection
#    opened by a spoofed SYN; no RST from the engine; the frames the engine
#    sent to the client's port during each phase (captured in C) within
#    the RFC 5961 7 per-connection limit (one ACK per >= 402 ms, plus one)
#    and so are the ACKs the --stats counters imply (challenge_ack +
#    out_of_window + bad_ack - acks_throttled). Linux gets the same spray,
#    printed.
# 2. Reflection: at a live tuple, blind SYNs, an ACK flood (random
#    sequence and ACK numbers), then a data flood (random sequence
#    numbers), N each at a fixed rate (--reflect N@PPS, default
#    10000@2000); frames sent back per attack frame and per second, cee
#    and Linux, and their ratio. Judged for cee: within the same
#    per-connection bound (about 2 frames a second). (Linux rate-limits
#    its answers to SYNs and ACKs, not to out-of-window data: one ACK per
#    data segment.)
# --quick (the CI slice, tests/integration/test_hostile.sh): the spray
#    steps by W/8 over 3,000 RSTs, 1,000 SYNs and 3,000 data segments
#    around the window at 5,000/s (8 in-window RSTs and data segments, as
#    eight sweeps would land), no Linux spray; reflection 2000@2000.
#
# Exit 1 naming each failure (or on a harness or engine failure: not
# ready, not exiting 0 at SIGTERM, cee-audit rejecting the events); 77
# without root. The work directory (kept unless --quick passes) holds each
# run's files: attack.json, events.jsonl, stats.json, engine.log.
set -euo pipefail
CALLER_PWD=$PWD
cd "$(dirname "$0")/.."

usage() { sed -n '/^#   scripts\/blind.sh/,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2; }

QUICK=0
RATE=
REFLECT=
KEEP=0
ENGINE=
AUDIT=
PYTHON=/usr/bin/python3
EXTRA=()
while [[ $# -gt 0 ]]; do
	case $1 in
	--quick) QUICK=1 && shift ;;
	--rate) RATE=$2 && shift 2 ;;
	--reflect) REFLECT=$2 && shift 2 ;;
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
		echo "blind.sh: unknown argument '$1'" >&2
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
	echo "blind.sh: needs root (network namespaces, a veth pair, AF_PACKET sockets); skipped" >&2
	exit 77
fi
if [[ $QUICK == 1 ]]; then
	RATE=${RATE:-5000}
	REFLECT=${REFLECT:-2000@2000}
	SPRAY_PLAN=rst:3000,syn:1000,data:3000
	SPRAY_OPTS=(--near)
else
	SPRAY_PLAN=rst:full,syn:10000,data:full
	SPRAY_OPTS=()
fi
RATE=${RATE:-50000}
REFLECT=${REFLECT:-10000@2000}
[[ $RATE =~ ^[0-9]+$ && $REFLECT =~ ^[0-9]+@[0-9]+$ ]] || {
	echo "blind.sh: --rate PPS, --reflect N@PPS" >&2
	exit 2
}
REFLECT_PLAN="syn:${REFLECT},ack:${REFLECT},data:${REFLECT}"

# shellcheck source=twons.sh
source scripts/twons.sh # (the working directory is the repository root)
twons_engine blind.sh required
"$PYTHON" -c 'import scapy.layers.inet' 2>/dev/null || {
	echo "blind.sh: $PYTHON cannot import scapy (apt-get install python3-scapy)" >&2
	exit 1
}

# ---- names (from $$: runs can coexist) ----
ID=$$
X=$((ID % 200 + 20))
NS_CLI=cee-bl-$ID-c
NS_SRV=cee-bl-$ID-s
IF_CLI=blc$ID
IF_SRV=bls$ID
CLI_IP=10.98.$X.2
CEE_IP=10.98.$X.1
LINUX_IP=10.98.$X.3
PORT=7
WORK=$(mktemp -d "/tmp/cee-blind-XXXXXX")
PIDS=()
PREFIXES=()
FAILED=0


trap twons_cleanup EXIT
trap 'exit 130' INT TERM

setup_ns() {
	twons_setup || return 1
}
if ! setup_ns 2>"$WORK/setup.err"; then
	cat "$WORK/setup.err" >&2
	echo "blind.sh: namespace/veth setup failed" >&2
	exit 1
fi




RUN_N=0
# start_server DIR KIND: cee-engine or the kernel's echo server in S; sets
# SPID and SERVER.
start_server() {
	local dir=$1 kind=$2
	if [[ $kind == cee ]]; then
		RUN_N=$((RUN_N + 1))
		local prefix=bl$ID-$RUN_N
		PREFIXES+=("$prefix")
		local eal=(--no-huge -m 512 --no-pci --file-prefix "$prefix"
			"--vdev=net_af_packet0,iface=$IF_SRV,framecnt=4096" -l "0,1")
		local opts=(--ip "$CEE_IP/24" --listen "tcp:$PORT:echo" --poll-idle-us 20
			--events "jsonl:$dir/events.jsonl" --stats "$dir/stats.json" "${EXTRA[@]}")
		echo "ip netns exec $NS_SRV $ENGINE ${eal[*]} -- ${opts[*]}" >"$dir/engine.cmd"
		ip netns exec "$NS_SRV" "$ENGINE" "${eal[@]}" -- "${opts[@]}" >"$dir/engine.out" 2>"$dir/engine.log" &
		SPID=$!
		PIDS+=("$SPID")
		SERVER=$CEE_IP:$PORT
		if ! { wait_for 60 "cee-engine ready" alive_or_has "$SPID" "$dir/engine.log" "cee-engine: ready" &&
			kill -0 "$SPID" 2>/dev/null; }; then
			tail -n 20 "$dir/engine.log" >&2
			echo "blind.sh: cee-engine did not start ($dir/engine.cmd)" >&2
			return 1
		fi
	else
		ip netns exec "$NS_SRV" "$PYTHON" tests/integration/pin_clients.py echo --bind "$LINUX_IP" --port "$PORT" \
			--ready "$dir/echo.ready" >"$dir/echo.json" 2>"$dir/echo.log" &
		SPID=$!
		PIDS+=("$SPID")
		SERVER=$LINUX_IP:$PORT
		if ! { wait_for 20 "the Linux echo server" alive_or_has "$SPID" "$dir/echo.ready" "ready" &&
			kill -0 "$SPID" 2>/dev/null; }; then
			cat "$dir/echo.log" >&2
			return 1
		fi
	fi
}

# one_run DIR KIND PLAN [attack options]: server, attack, stop; for cee
# also cee-audit. @return 1 on a harness or engine failure.
one_run() {
	local dir=$1 kind=$2 plan=$3
	shift 3
	mkdir -p "$dir"
	start_server "$dir" "$kind" || return 1
	local rc=0 arc=0
	ip netns exec "$NS_CLI" "$PYTHON" tests/integration/blind_spray.py attack --server "$SERVER" \
		--iface "$IF_CLI" --plan "$plan" --rate "$RATE" --out "$dir/attack.json" "$@" 2>"$dir/attack.log" || arc=$?
	if [[ $arc -ne 0 || ! -e $dir/attack.json ]]; then
		cat "$dir/attack.log" >&2
		echo "blind.sh: $kind: blind_spray.py failed (status $arc)" >&2
		rc=1
	fi
	# the client's FIN was answered (it read EOF): the connection is closed
	# in the engine; its `closed` is in the events once exported
	if [[ $kind == cee && $rc -eq 0 ]]; then
		wait_for 10 "the client's connection's closed event" grep -q '"type": *"closed"' "$dir/events.jsonl" || rc=1
	fi
	stop_pid "$SPID" 60
	if [[ $STOP_RC -ne 0 ]]; then
		echo "blind.sh: $kind server exit status $STOP_RC after SIGTERM (see $dir)" >&2
		rc=1
	fi
	if [[ $kind == cee ]]; then
		"$AUDIT" "$dir/events.jsonl" >"$dir/audit.txt" 2>&1 || {
			cat "$dir/audit.txt" >&2
			echo "blind.sh: cee-audit rejected $dir/events.jsonl" >&2
			rc=1
		}
	fi
	return "$rc"
}

# report DIR KIND: blind_spray.py report (judged for cee)
report() {
	local dir=$1 kind=$2
	[[ -e $dir/attack.json ]] || return 1
	if [[ $kind == cee ]]; then
		"$PYTHON" tests/integration/blind_spray.py report --run "$dir/attack.json" --label "$(basename "$dir")" \
			--events "$dir/events.jsonl" --stats "$dir/stats.json" --json "$dir/summary.json"
	else
		"$PYTHON" tests/integration/blind_spray.py report --run "$dir/attack.json" --label "$(basename "$dir")" \
			--judge 0 --json "$dir/summary.json"
	fi
}

log "topology: $NS_CLI ($IF_CLI $CLI_IP: the client, the attacker) -- $NS_SRV ($IF_SRV: Linux $LINUX_IP, cee $CEE_IP)"
log "engine: $ENGINE${EXTRA[*]:+ (extra options: ${EXTRA[*]})}; kernel $(uname -r), tcp_invalid_ratelimit" \
	"$(ip netns exec "$NS_SRV" sysctl -n net.ipv4.tcp_invalid_ratelimit) ms, tcp_challenge_ack_limit" \
	"$(ip netns exec "$NS_SRV" sysctl -n net.ipv4.tcp_challenge_ack_limit)"
log "spray $SPRAY_PLAN${SPRAY_OPTS[*]:+ ${SPRAY_OPTS[*]}} at $RATE/s; reflection $REFLECT_PLAN; work directory $WORK"

runs=("spray-cee|cee|$SPRAY_PLAN|spray")
[[ $QUICK == 1 ]] || runs+=("spray-linux|linux|$SPRAY_PLAN|spray")
runs+=("reflect-cee|cee|$REFLECT_PLAN|reflect" "reflect-linux|linux|$REFLECT_PLAN|reflect")
for r in "${runs[@]}"; do
	IFS='|' read -r name kind plan what <<<"$r"
	dir=$WORK/$name
	opts=()
	[[ $what != spray ]] || opts=("${SPRAY_OPTS[@]}")
	log "$name: $plan${opts[*]:+ ${opts[*]}}"
	if ! one_run "$dir" "$kind" "$plan" "${opts[@]}"; then
		FAILED=1
		log "$name: FAILED (see $dir)"
	fi
	report "$dir" "$kind" || FAILED=1
done
echo
if [[ -e $WORK/reflect-cee/attack.json && -e $WORK/reflect-linux/attack.json ]]; then
	"$PYTHON" tests/integration/blind_spray.py compare --cee "$WORK/reflect-cee/attack.json" \
		--linux "$WORK/reflect-linux/attack.json"
fi
if [[ $FAILED -ne 0 ]]; then
	echo "blind.sh: FAILED (messages above; $WORK)" >&2
	exit 1
fi
log "blind.sh: PASS"
