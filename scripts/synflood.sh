#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A spoofed SYN flood (hping3 --rand-source) against cee-engine's echo and,
# in its turn, the Linux kernel's TCP, on the same path, while real Linux
# clients connect, echo a short message and close. For each flood rate and
# each server it prints the flood rate achieved, the clients that succeeded,
# their connect latency (p50/p99, client-measured), and for cee the event
# stream checked against the clients (every connection matched to a
# client's port; spoofed ones counted) and the SYN-cookie counters; Linux's
# own cookie counters beside them; cee's p99 / Linux's p99.
#
#   scripts/synflood.sh [--quick] [--rates LIST] [--clients N] [--spread S]
#                       [--keep] [--pcap] [--pin] [--shield] [--no-latency-goal]
#                       [--engine PATH --audit PATH] [--python PATH]
#                       [-- cee-engine options]
#
# Topology: namespace C (the clients and hping3) --veth-- namespace S, where
# the kernel holds 10.99.X.3 (synflood_echo.py, listen backlog 1024 = cee's
# default --syn-backlog; net.ipv4.tcp_syncookies as the kernel sets it, 1)
# and cee-engine's af_packet port answers as 10.99.X.1 on the same
# interface. S routes everything via C: the SYN-ACKs to spoofed sources go
# there and are dropped (C does not forward), as cee's go to the SYN's
# source MAC.
# --rates: hping3 pacings, comma separated: uN (hping3 -i uN, a SYN every N
# us as hping3 manages it: the rate achieved is measured and printed) or
# flood (hping3 --flood: the most it sends here). Default u100,u20,u10,flood
# (about 7k, 20k, 35k and 130k SYN/s on the 2-CPU VM). Every rate runs cee
# (--syn-cookies auto, the default), then Linux; the last rate also runs cee
# with --syn-cookies always. A run: the server, one check connection, the
# flood, and once the server's interface has counted 3,072 of its frames,
# --clients N (default 200) starting evenly over --spread S seconds
# (default 4), each connecting, echoing 64 bytes and closing within 12 s;
# the flood stops when the last client is done; cee then ends the clients'
# connections and gets SIGTERM.
# --quick: one rate (u20), 100 clients; cee auto, Linux, cee always (about
# 15 s; tests/integration/test_synflood.sh). A full run takes 1-2 minutes.
# Goals (issue "hostile traffic"): at every rate >= 99% of the clients
# succeed against cee; cee's p99 handshake time <= 2 x Linux's, the
# handshake as the clients' kernel timed it (SYN sent to SYN-ACK received,
# TCP_INFO's first RTT sample: synflood_client.py), so that the clients'
# own waits for a CPU shared with hping3 (a wake-up can wait a 4 ms
# scheduler tick, in either server's turn) are not counted against the
# server; their wall-clock connect p50/p99 are printed beside it
# (--no-latency-goal: printed, not judged); no spoofed connection in the
# events, with --syn-cookies auto as with always. Exit 1 naming each goal missed, or on a
# harness or engine failure (engine not ready or not exiting 0, cee-audit
# rejecting the events, a connection from the clients' address that no
# client made, a client's completed echo missing from the events); 77
# without root or without hping3.
# Beside the table, per run: hping3's count, the engine's counters (frames
# read, and those its af_packet ring never delivered), the events by type
# and the closed reasons of legitimate and spoofed connections, Linux's
# TcpExt counters, and how long the server's threads and the clients
# waited for a CPU (schedstat: on a shared 2-CPU machine the engine's shard
# competes with hping3, while the kernel answers SYNs in softirq).
# --pcap: tcpdump the clients' packets (not the flood's) at their interface
# and print SYN -> SYN-ACK times there (the server and the path, without the
# clients' scheduling). --pin: hping3 and the clients on CPU 0, the server
# on CPU 1: Linux's echo server (the kernel answers SYNs in softirq where
# they arrive), or cee's shard (EAL -l 0,1: its control thread, which is
# not on the packet path and wakes every 200 us when idle, stays on CPU 0),
# which then busy-polls (--poll-idle-us 0), as a DPDK lcore on a core of
# its own does. Without --pin cee-engine gets --poll-idle-us 20 (its shard
# shares 2 CPUs with the flood, the clients and the kernel; "--
# --poll-idle-us 0" busy-polls). cee-engine gets
# --shield (implies --pin): for the whole run, every other thread that may
# move (the machine's processes and the kernel threads not bound to a CPU)
# and every IRQ are moved off CPU 1 (to CPU 0 on a 2-CPU machine), so that
# CPU 1 runs the server alone, as
# isolcpus, irqaffinity and housekeeping CPUs for kernel threads give a DPDK
# lcore a core of its own (what still runs there: the kernel's per-CPU
# threads, the timer tick); RCU's threads get real-time priority there.
# The affinities are put back at exit (a SIGKILLed run leaves the machine's
# threads off CPU 1: `taskset -a -p -c 0-N PID` puts them back; a process
# that another one started during the run inherited that and keeps it; two
# shielded runs at once undo each other's shield). How long the
# server's threads waited for CPU 1 is in each run's schedstat.txt. Also with
# --shield, both servers' answers to the spoofed sources are taken at the
# server's egress and freed (nftables, apt-get install nftables), as a
# network would carry them away, instead of being received by the clients'
# namespace: over a veth pair that receiving is done in softirq on the
# sender's CPU, which put cee's shard behind ksoftirqd/1 for up to 30 ms
# at a time (see the comment at shield_on's call).
# cee-engine gets af_packet framecnt=4096 ($CEE_SYNFLOOD_VDEV_ARGS replaces
# ",framecnt=4096"); options after -- are appended to cee-engine's. The
# work directory (kept unless --quick) has every run's files and
# summary.json.
set -euo pipefail
CALLER_PWD=$PWD
cd "$(dirname "$0")/.."

usage() { sed -n '/^#   scripts\/synflood.sh/,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2; }

QUICK=0
RATES=
CLIENTS=
SPREAD=
KEEP=0
PCAP=0
PIN=0
SHIELD=0
LATENCY_GOAL=1
ENGINE=
AUDIT=
PYTHON=/usr/bin/python3
EXTRA=()
while [[ $# -gt 0 ]]; do
	case $1 in
	--quick) QUICK=1 && shift ;;
	--rates) RATES=$2 && shift 2 ;;
	--clients) CLIENTS=$2 && shift 2 ;;
	--spread) SPREAD=$2 && shift 2 ;;
	--keep) KEEP=1 && shift ;;
	--pcap) PCAP=1 && shift ;;
	--pin) PIN=1 && shift ;;
	--shield) PIN=1 && SHIELD=1 && shift ;;
	--no-latency-goal) LATENCY_GOAL=0 && shift ;;
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
		echo "synflood.sh: unknown argument '$1'" >&2
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
	echo "synflood.sh: needs root (network namespaces, veth pairs, raw and AF_PACKET sockets); skipped" >&2
	exit 77
fi
if [[ $QUICK == 1 ]]; then
	RATES=${RATES:-u20}
	CLIENTS=${CLIENTS:-100}
fi
RATES=${RATES:-u100,u20,u10,flood}
CLIENTS=${CLIENTS:-200}
SPREAD=${SPREAD:-4}
IFS=, read -r -a RATE_LIST <<<"$RATES"
for r in "${RATE_LIST[@]}"; do
	[[ $r == flood || $r =~ ^u[0-9]+$ ]] || {
		echo "synflood.sh: bad rate '$r' (uN or flood)" >&2
		exit 2
	}
done
[[ $CLIENTS =~ ^[0-9]+$ && $CLIENTS -ge 1 ]] || {
	echo "synflood.sh: --clients wants a positive number" >&2
	exit 2
}

# shellcheck source=twons.sh
source scripts/twons.sh # (the working directory is the repository root)
twons_engine synflood.sh optional nstat
HPING=$(command -v hping3 || true)
if [[ -z $HPING ]]; then
	echo "synflood.sh: hping3 not installed (scripts/deps.sh installs it: apt-get install hping3); skipped" >&2
	exit 77
fi
[[ $PCAP == 0 ]] || command -v tcpdump >/dev/null || {
	echo "synflood.sh: --pcap needs tcpdump (apt-get install tcpdump)" >&2
	exit 1
}
[[ $SHIELD == 0 ]] || command -v nft >/dev/null || {
	echo "synflood.sh: --shield needs nft (scripts/deps.sh installs it: apt-get install nftables)" >&2
	exit 1
}
[[ $PIN == 0 ]] || (($(nproc) >= 2)) || {
	echo "synflood.sh: --pin needs 2 CPUs" >&2
	exit 1
}

# ---- names (from $$: runs can coexist) ----
ID=$$
X=$((ID % 200 + 20))
NS_CLI=cee-sf-$ID-c
NS_SRV=cee-sf-$ID-s
IF_CLI=sfc$ID # in CLI: the clients and hping3
IF_SRV=sfs$ID # in SRV: the kernel's 10.99.X.3 and cee-engine's af_packet
CLI_IP=10.99.$X.2
CEE_IP=10.99.$X.1
LINUX_IP=10.99.$X.3
PORT=7
BACKLOG=1024 # Linux's listen backlog = cee's default --syn-backlog
WARM_FRAMES=3072
WORK=$(mktemp -d "/tmp/cee-synflood-XXXXXX")
PIDS=()
PREFIXES=()


# ---- --shield: CPU 1 for the server alone ----
SHIELD_SAVED=()
VDEV_EXTRA=
# the online CPUs but 1, as a list (and SHIELD_MASK: as a hex mask, when
# there are at most 32)
shield_cpus() {
	local r a b i out=() mask=0 online
	online=$(cat /sys/devices/system/cpu/online)
	IFS=, read -r -a rs <<<"$online"
	for r in "${rs[@]}"; do
		a=${r%-*}
		b=${r#*-}
		for ((i = a; i <= b; i++)); do
			((i == 1)) && continue
			out+=("$i")
			((i < 32)) && mask=$((mask | (1 << i)))
		done
	done
	SHIELD_LIST=$(IFS=,; echo "${out[*]}")
	SHIELD_MASK=
	((${out[-1]} < 32)) && SHIELD_MASK=$(printf '%x' "$mask")
	return 0
}
# Every change is recorded before it is made (a signal between the two
# would leave it unrecorded, so never put back), and INT/TERM wait until
# the shield is up: the exit trap then takes it down whole.
shield_on() {
	local t tid aff f
	trap '' INT TERM
	shield_cpus
	for t in /proc/[0-9]*/task/[0-9]*; do
		tid=${t##*/}
		# (per-CPU kernel threads refuse, and stay)
		aff=$(taskset -p -c "$tid" 2>/dev/null) || continue
		aff=${aff##*: }
		[[ -n $aff && $aff != "$SHIELD_LIST" ]] || continue
		SHIELD_SAVED+=("task $tid $aff")
		taskset -p -c "$SHIELD_LIST" "$tid" >/dev/null 2>&1 || {
			unset 'SHIELD_SAVED[-1]'
			continue
		}
		# RCU's grace-period threads woke on CPU 1 about 300 times a second
		# under the flood, up to 5.8 ms at a time (perf sched_switch); on
		# CPU 0 behind hping3 as ordinary threads they starved, and network
		# namespace operations waiting for a grace period made some runs'
		# clients start 6-30 s late. Off CPU 1 they get real-time priority
		# (as rcutree.kthread_prio gives them), put back at exit.
		if [[ $(cat "$t/comm" 2>/dev/null) == rcu_* ]] && [[ $(chrt -p "$tid" 2>/dev/null) == *SCHED_OTHER* ]]; then
			SHIELD_SAVED+=("prio $tid other")
			chrt -f -p 1 "$tid" 2>/dev/null || unset 'SHIELD_SAVED[-1]'
		fi
	done
	for f in /proc/irq/[0-9]*/smp_affinity_list; do
		aff=$(cat "$f" 2>/dev/null) || continue
		[[ $aff != "$SHIELD_LIST" ]] || continue
		SHIELD_SAVED+=("list $f $aff")
		echo "$SHIELD_LIST" 2>/dev/null >"$f" || unset 'SHIELD_SAVED[-1]'
	done
	f=/proc/irq/default_smp_affinity
	if [[ -n $SHIELD_MASK && -w $f ]] && aff=$(cat "$f" 2>/dev/null); then
		SHIELD_SAVED+=("mask $f $aff")
		echo "$SHIELD_MASK" 2>/dev/null >"$f" || unset 'SHIELD_SAVED[-1]'
	fi
	trap 'exit 130' INT TERM
	return 0
}
shield_off() {
	local e kind what aff
	for e in "${SHIELD_SAVED[@]}"; do
		read -r kind what aff <<<"$e"
		if [[ $kind == task ]]; then
			taskset -p -c "$aff" "$what" >/dev/null 2>&1 || true
		elif [[ $kind == prio ]]; then
			chrt -o -p 0 "$what" 2>/dev/null || true
		else
			echo "$aff" 2>/dev/null >"$what" || true
		fi
	done
	SHIELD_SAVED=()
}
synflood_exit() {
	local rc=$?
	# (set -e would end the trap at the subshell below when rc is not 0, and
	# a second Ctrl-C would stop it half way)
	set +e
	trap '' INT TERM
	shield_off
	(exit "$rc")
	twons_cleanup
}
trap synflood_exit EXIT
trap 'exit 130' INT TERM

# ---- topology: CLI --veth-- SRV ----
setup_ns() {
	twons_setup || return 1
	# A server on a network: replies to any source leave by a route (without
	# one the kernel would not even queue a spoofed SYN). Loose source
	# checks, as on an Internet-facing host.
	ip netns exec "$NS_SRV" ip route add default via "$CLI_IP" || return 1
	ip netns exec "$NS_SRV" sysctl -qw net.ipv4.conf.all.rp_filter=0 || return 1
	ip netns exec "$NS_SRV" sysctl -qw "net.ipv4.conf.$IF_SRV.rp_filter=0" || return 1
}
if ! setup_ns 2>"$WORK/setup.err"; then
	cat "$WORK/setup.err" >&2
	echo "synflood.sh: namespace/veth setup failed" >&2
	exit 1
fi
{
	echo "kernel $(uname -r); hping3 $HPING"
	ip netns exec "$NS_SRV" sysctl net.ipv4.tcp_syncookies net.ipv4.tcp_max_syn_backlog net.core.somaxconn \
		net.ipv4.tcp_synack_retries
	echo "listen backlog $BACKLOG"
} >"$WORK/linux-tcp.txt"

srv_rx() { ip netns exec "$NS_SRV" cat "/sys/class/net/$IF_SRV/statistics/rx_packets"; }
srv_rx_at_least() { (($(srv_rx) >= $1)); }
cli_tx() { ip netns exec "$NS_CLI" cat "/sys/class/net/$IF_CLI/statistics/tx_packets"; }
# segments the clients' kernel sent (hping3's raw packets are not among them)
cli_tcp_out() { ip netns exec "$NS_CLI" nstat -asz TcpOutSegs | awk '$1 == "TcpOutSegs" {print $2}'; }
now_s() { date +%s.%N; }


stop_all() {
	local p
	for p in "${PIDS[@]}"; do
		stop_pid "$p" 10
	done
}

# client OUT ARGS...: synflood_client.py in CLI, in the background and
# waited for (so that SIGTERM/SIGINT reach the trap at once).
client() {
	local out=$1
	shift
	ip netns exec "$NS_CLI" "${GEN_PIN[@]}" "$PYTHON" scripts/synflood_client.py --server "$SERVER" --out "$out" "$@" \
		>/dev/null 2>"$out.log" &
	local pid=$!
	PIDS+=("$pid")
	local crc=0
	wait "$pid" || crc=$?
	forget_pid "$pid"
	return "$crc"
}

nstat_tcp() {
	ip netns exec "$NS_SRV" nstat -asz TcpExtSyncookiesSent TcpExtSyncookiesRecv TcpExtSyncookiesFailed \
		TcpExtListenDrops TcpExtListenOverflows TcpExtTCPReqQFullDoCookies TcpExtTCPReqQFullDrop |
		awk '!/^#/ {print $1, $2}'
}

ENGINE_OPTS=(--ip "$CEE_IP/24" --listen "tcp:$PORT:echo" --poll-idle-us 20)
GEN_PIN=()
SRV_PIN=()
if [[ $PIN == 1 ]]; then
	GEN_PIN=(taskset -c 0)
	SRV_PIN=(taskset -c 1)
	ENGINE_OPTS=(--ip "$CEE_IP/24" --listen "tcp:$PORT:echo" --poll-idle-us 0)
fi
RUN_N=0
HARNESS_FAILED=0

# one_run DIR KIND(cee|linux) RATE [cee-engine options]: server, a check
# connection, the flood, the clients, stop. Leaves in DIR: client.json,
# check.json, flood.txt, hping.out, server.rc, schedstat.txt, and
# engine.cmd, engine.log, stats.json, events.jsonl, audit.txt/audit.rc or
# echo.json, nstat.before/after (then synflood_report.py adds summary.json).
one_run() {
	local dir=$1 kind=$2 rate=$3
	shift 3
	mkdir -p "$dir"
	echo "$kind $rate $*" >"$dir/run.txt"
	local spid rx_start
	rx_start=$(srv_rx)
	if [[ $kind == cee ]]; then
		RUN_N=$((RUN_N + 1))
		local prefix=sf$ID-$RUN_N
		PREFIXES+=("$prefix")
		local eal=(--no-huge -m 512 --no-pci --file-prefix "$prefix"
			"--vdev=net_af_packet0,iface=$IF_SRV${CEE_SYNFLOOD_VDEV_ARGS-,framecnt=4096}$VDEV_EXTRA" -l "0,1")
		local run_opts=(--events "jsonl:$dir/events.jsonl" --stats "$dir/stats.json" "$@")
		echo "ip netns exec $NS_SRV $ENGINE ${eal[*]} -- ${ENGINE_OPTS[*]} ${run_opts[*]} ${EXTRA[*]}" >"$dir/engine.cmd"
		ip netns exec "$NS_SRV" "$ENGINE" "${eal[@]}" -- "${ENGINE_OPTS[@]}" "${run_opts[@]}" \
			"${EXTRA[@]}" >"$dir/engine.out" 2>"$dir/engine.log" &
		spid=$!
		PIDS+=("$spid")
		SERVER=$CEE_IP:$PORT
		if ! { wait_for 60 "cee-engine ready" alive_or_has "$spid" "$dir/engine.log" "cee-engine: ready" &&
			kill -0 "$spid" 2>/dev/null; }; then
			tail -n 20 "$dir/engine.log" >&2
			echo "synflood.sh: cee-engine did not start (command: $dir/engine.cmd)" >&2
			stop_all
			return 1
		fi
	else
		nstat_tcp >"$dir/nstat.before"
		ip netns exec "$NS_SRV" "${SRV_PIN[@]}" "$PYTHON" scripts/synflood_echo.py --bind "$LINUX_IP" --port "$PORT" \
			--backlog "$BACKLOG" --ready "$dir/echo.ready" >"$dir/echo.json" 2>"$dir/echo.log" &
		spid=$!
		PIDS+=("$spid")
		SERVER=$LINUX_IP:$PORT
		if ! { wait_for 20 "synflood_echo.py ready" alive_or_has "$spid" "$dir/echo.ready" "ready" &&
			kill -0 "$spid" 2>/dev/null; }; then
			cat "$dir/echo.log" >&2
			stop_all
			return 1
		fi
	fi

	# does it answer before the flood? (also resolves ARP both ways)
	local rc=0
	if ! client "$dir/check.json" --clients 1 --spread 0 --timeout 5 ||
		! "$PYTHON" -c 'import json,sys; sys.exit(json.load(open(sys.argv[1]))["succeeded"] != 1)' "$dir/check.json"; then
		echo "synflood.sh: $kind server $SERVER does not answer before the flood (see $dir/check.json)" >&2
		rc=1
	fi

	local hpid t_start t_stop rx0 rx1 tx0 tx1 seg0 seg1
	if [[ $rc -eq 0 ]]; then
		local pace=(--flood)
		[[ $rate == flood ]] || pace=(-i "$rate")
		local tpid=
		if [[ $PCAP == 1 ]]; then
			# the clients' packets only (the BPF filter drops the flood in the kernel)
			ip netns exec "$NS_CLI" "${GEN_PIN[@]}" tcpdump -U -n -s 96 -i "$IF_CLI" -w "$dir/legit.pcap" \
				"host $CLI_IP and tcp port $PORT" 2>"$dir/tcpdump.log" &
			tpid=$!
			PIDS+=("$tpid")
			if ! { wait_for 10 "tcpdump listening" alive_or_has "$tpid" "$dir/tcpdump.log" "listening on" &&
				kill -0 "$tpid" 2>/dev/null; }; then
				cat "$dir/tcpdump.log" >&2
				rc=1
			fi
		fi
		seg0=$(cli_tcp_out)
		tx0=$(cli_tx)
		rx0=$(srv_rx)
		t_start=$(now_s)
		# ip netns exec execs hping3: $! is hping3's pid. It prints its count
		# at SIGINT (its own handler, so the background job's ignored SIGINT
		# does not matter).
		ip netns exec "$NS_CLI" "${GEN_PIN[@]}" "$HPING" -q -S -p "$PORT" --rand-source "${pace[@]}" "${SERVER%:*}" \
			>"$dir/hping.out" 2>&1 &
		hpid=$!
		PIDS+=("$hpid")
		if [[ $rc -ne 0 ]]; then
			:
		elif ! wait_for 20 "the flood to reach the server ($WARM_FRAMES frames)" srv_rx_at_least $((rx0 + WARM_FRAMES)); then
			cat "$dir/hping.out" >&2
			rc=1
		elif ! kill -0 "$spid" 2>/dev/null; then
			echo "synflood.sh: $kind server exited during the flood" >&2
			rc=1
		else
			local t_warm
			t_warm=$(now_s)
			client "$dir/client.json" --clients "$CLIENTS" --spread "$SPREAD" --timeout 12 || {
				echo "synflood.sh: synflood_client.py failed ($(tail -n 3 "$dir/client.json.log"))" >&2
				rc=1
			}
			echo "t_warm $t_warm" >>"$dir/flood.txt"
		fi
		rx1=$(srv_rx)
		tx1=$(cli_tx)
		t_stop=$(now_s)
		seg1=$(cli_tcp_out)
		# hping3 prints its count at SIGINT; it has been seen not to exit on
		# it (after a 5 s flood at -i u10): then its count is lost, the
		# interface counters above stand
		stop_pid "$hpid" 2 INT
		if [[ -n $tpid ]]; then
			# tcpdump may lag behind the wire: one more connection after the
			# flood, and the capture is complete once that one's SYN-ACK is in it
			if client "$dir/marker.json" --clients 1 --spread 0 --timeout 5; then
				local mport
				mport=$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["per_client"][0]["port"])' "$dir/marker.json")
				wait_for 30 "tcpdump to catch up (the marker connection's SYN-ACK)" \
					"$PYTHON" scripts/synflood_report.py pcap-has --pcap "$dir/legit.pcap" --client-ip "$CLI_IP" --port "$mport" || true
			fi
			stop_pid "$tpid" 10 INT
		fi
		{
			echo "t_start $t_start"
			echo "t_stop $t_stop"
			echo "srv_rx $((rx1 - rx0))"
			echo "cli_tx $((tx1 - tx0))"
			echo "legit_segs $((seg1 - seg0))"
			echo "sent $(grep -aoE '^[0-9]+ packets transmitted' "$dir/hping.out" | cut -d' ' -f1 || echo 0)"
		} >>"$dir/flood.txt"
	fi

	# the clients' connections end in the events before the engine stops
	# (a FIN lost to the flood is retransmitted); the spoofed half-open
	# ones of auto cookies are not in the events (never announced)
	if [[ $kind == cee && -n ${hpid:-} ]]; then
		wait_for 15 "cee-engine to end the clients' connections" "$PYTHON" scripts/synflood_report.py settled \
			--events "$dir/events.jsonl" --client-ip "$CLI_IP" || true
	fi
	local src_what=server
	# how long each of the server's threads waited for a CPU (schedstat:
	# ns on CPU, ns runnable but waiting, slices)
	local t
	for t in /proc/"$spid"/task/*; do
		echo "$(cat "$t/comm" 2>/dev/null) $(cat "$t/schedstat" 2>/dev/null)"
	done >"$dir/schedstat.txt" 2>/dev/null || true
	stop_pid "$spid" 60
	echo "$STOP_RC" >"$dir/server.rc"
	echo "$(($(srv_rx) - rx_start))" >"$dir/srv_rx_total"
	if [[ $kind == cee ]]; then
		src_what=cee-engine
		if [[ -n $AUDIT && -e $dir/events.jsonl ]]; then
			local arc=0
			"$AUDIT" "$dir/events.jsonl" >"$dir/audit.txt" 2>&1 || arc=$?
			echo "$arc" >"$dir/audit.rc"
		fi
	else
		nstat_tcp >"$dir/nstat.after"
	fi
	if [[ $STOP_RC -ne 0 ]]; then
		echo "synflood.sh: $src_what exit status $STOP_RC after SIGTERM (see $dir)" >&2
		rc=1
	fi
	return "$rc"
}

log "topology: $NS_CLI ($IF_CLI $CLI_IP: clients, hping3) -- $NS_SRV ($IF_SRV: Linux $LINUX_IP, cee $CEE_IP)"
log "engine: $ENGINE; options ${ENGINE_OPTS[*]}${EXTRA[*]:+ ${EXTRA[*]}}"
log "Linux: $(ip netns exec "$NS_SRV" sysctl -n net.ipv4.tcp_syncookies | sed 's/^/tcp_syncookies=/'), listen backlog $BACKLOG"
if [[ $SHIELD == 1 ]]; then
	# The veth pair bills what its receiver does to the sender's CPU: the
	# SYN-ACKs cee-engine sends to the spoofed sources (100k+ a second)
	# were received by the clients' namespace in softirq on CPU 1, which
	# the kernel hands to ksoftirqd/1 whenever a softirq run straddles a
	# timer tick, and that thread then took CPU 1 from the shard for up to
	# 30 ms at a time (perf sched_switch: 124 preemptions, 326 ms of a 5 s
	# flood). On a network those answers leave for the Internet and cost
	# the server only their transmission. So both servers' frames to any
	# address but the clients' are taken at the server's egress (nftables
	# netdev egress hook) and handed to a veth whose peer is down, which
	# frees them (a plain drop there would fail the af_packet send that
	# carried them, and with it the frames queued behind). cee-engine's
	# af_packet then sends through the qdisc layer (qdisc_bypass=0), where
	# the hook is.
	ip netns exec "$NS_SRV" ip link add sfbh0 type veth peer name sfbh1
	ip netns exec "$NS_SRV" ip link set sfbh0 up
	ip netns exec "$NS_SRV" nft -f - <<-NFT
		table netdev synflood {
			chain out {
				type filter hook egress device "$IF_SRV" priority 0; policy accept;
				ip daddr != $CLI_IP counter fwd to "sfbh0"
			}
		}
	NFT
	VDEV_EXTRA=,qdisc_bypass=0
	shield_on
	log "shield: CPU 1 for the server; $(grep -c '^task' < <(printf '%s\n' "${SHIELD_SAVED[@]}")) threads and $(grep -c '^list' < <(printf '%s\n' "${SHIELD_SAVED[@]}")) IRQs moved to CPUs $SHIELD_LIST"
fi
log "rates: ${RATE_LIST[*]}; $CLIENTS clients over ${SPREAD}s per run; work directory: $WORK"
last=$((${#RATE_LIST[@]} - 1))
for i in "${!RATE_LIST[@]}"; do
	rate=${RATE_LIST[$i]}
	kinds=("cee:auto" "linux:-")
	[[ $i -ne $last ]] || kinds+=("cee:always")
	for kc in "${kinds[@]}"; do
		kind=${kc%%:*}
		cookies=${kc#*:}
		dir=$WORK/$rate-linux
		opts=()
		if [[ $kind == cee ]]; then
			dir=$WORK/$rate-cee-$cookies
			opts=(--syn-cookies "$cookies")
		fi
		log "$rate: $kind${opts[*]:+ ${opts[*]}}"
		if ! one_run "$dir" "$kind" "$rate" "${opts[@]}"; then
			HARNESS_FAILED=1
			log "$rate/$kind: FAILED (see $dir)"
		fi
		echo "$rate $kind $cookies $dir" >>"$WORK/runs.txt"
		"$PYTHON" scripts/synflood_report.py run --dir "$dir" --kind "$kind" --cookies "$cookies" \
			--rate "$rate" --client-ip "$CLI_IP" || HARNESS_FAILED=1
	done
done

echo
rrc=0
"$PYTHON" scripts/synflood_report.py table --runs "$WORK/runs.txt" --clients "$CLIENTS" \
	--latency-goal "$LATENCY_GOAL" || rrc=$?
if [[ $HARNESS_FAILED -ne 0 ]]; then
	echo "synflood.sh: FAILED: a run did not complete, a server misbehaved or cee's events did not match the clients (messages above; $WORK)" >&2
	exit 1
fi
exit "$rrc"
