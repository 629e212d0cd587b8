#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Two network namespaces joined by one veth pair, for the measurement
# scripts that put cee and the Linux kernel behind the identical path
# (scripts/synflood.sh, scripts/blind.sh, scripts/pinning.sh; scripts/wan.sh
# uses its helpers only):
#
#   $NS_CLI: $IF_CLI $CLI_IP/24  ==veth==  $IF_SRV $LINUX_IP/24 :$NS_SRV
#
# The engine owns $IF_SRV through net_af_packet (as its own address) and
# the kernel's server listens on $LINUX_IP in its turn. Offloads are off on
# both ends (no partial checksums, no GRO super-frames at af_packet).
#
# Source it after setting NS_CLI NS_SRV IF_CLI IF_SRV CLI_IP LINUX_IP, and
# the arrays PIDS (processes to stop) and PREFIXES (EAL file prefixes), WORK
# (the work directory) and KEEP/QUICK; then:
#   twons_setup             create both namespaces and the pair
#   trap twons_cleanup EXIT stop PIDS (TERM, then KILL after 2 s), delete the
#                           namespaces and the EAL runtime dirs, keep WORK
#                           when KEEP=1, for a full run (QUICK=0) or a failure
# and the helpers they share: log, wait_for, has_line, alive_or_has,
# stop_pid, forget_pid (scripts/wan.sh, three namespaces of its own, uses
# these alone), and twons_engine, their common start:
#   twons_engine WHO required|optional [TOOL...]: $ENGINE (built into
#       build-run/ when not given) and $AUDIT (cee-audit beside the engine
#       when not given) made absolute; ip, ethtool, sysctl, the TOOLs and
#       $PYTHON present; else exit 1 naming what is missing (WHO: the
#       script's name). A required cee-audit that is not found is an error.

TWONS_OFFLOADS=(rx off tx off tso off gso off gro off)

# (each step says its own failure: called as `if ! setup_ns`, set -e is off
# in here, and a failed step went unnoticed but for the last)
twons_setup() {
	local ns pair dev
	for ns in "$NS_CLI" "$NS_SRV"; do
		ip netns add "$ns" || return 1
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 || return 1
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1 || return 1
		ip netns exec "$ns" ip link set lo up || return 1
	done
	ip link add "$IF_CLI" netns "$NS_CLI" type veth peer name "$IF_SRV" netns "$NS_SRV" || return 1
	for pair in "$NS_CLI:$IF_CLI" "$NS_SRV:$IF_SRV"; do
		ns=${pair%%:*}
		dev=${pair#*:}
		ip netns exec "$ns" ip link set "$dev" mtu 1500 || return 1
		ip netns exec "$ns" ethtool -K "$dev" "${TWONS_OFFLOADS[@]}" >/dev/null || return 1
		ip netns exec "$ns" ip link set "$dev" up || return 1
	done
	ip netns exec "$NS_CLI" ip addr add "$CLI_IP/24" dev "$IF_CLI" || return 1
	ip netns exec "$NS_SRV" ip addr add "$LINUX_IP/24" dev "$IF_SRV" || return 1
}

twons_cleanup() {
	local rc=$?
	set +e
	trap - EXIT
	local p n
	for p in "${PIDS[@]}"; do
		kill -0 "$p" 2>/dev/null && kill -TERM "$p" 2>/dev/null
	done
	for p in "${PIDS[@]}"; do
		n=0
		while kill -0 "$p" 2>/dev/null && ((n < 40)); do
			sleep 0.05
			n=$((n + 1))
		done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	ip netns del "$NS_CLI" 2>/dev/null
	ip netns del "$NS_SRV" 2>/dev/null
	for p in "${PREFIXES[@]}"; do
		rm -rf "/var/run/dpdk/$p"
	done
	if [[ ${KEEP:-0} == 1 || ${QUICK:-0} == 0 || $rc -ne 0 ]]; then
		echo "work directory: $WORK"
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}

twons_engine() {
	local who=$1 audit=$2
	shift 2
	# Building needs the project's packages; a given engine needs only the tools.
	if [[ -z $ENGINE ]]; then
		scripts/deps.sh
		[ -f build-run/build.ninja ] || meson setup build-run --buildtype=release >/dev/null
		ninja -C build-run apps/cee-engine apps/cee-audit >/dev/null
		ENGINE=build-run/apps/cee-engine
	fi
	ENGINE=$(realpath "$ENGINE")
	[[ -n $AUDIT || ! -x $(dirname "$ENGINE")/cee-audit ]] || AUDIT=$(dirname "$ENGINE")/cee-audit
	if [[ -z $AUDIT && $audit == required ]]; then
		echo "$who: cee-audit not found (pass --audit PATH)" >&2
		exit 1
	fi
	[[ -z $AUDIT ]] || AUDIT=$(realpath "$AUDIT")
	twons_tools "$who" "$@"
}

# twons_tools WHO [TOOL...]: ip, ethtool, sysctl, the TOOLs and $PYTHON are
# there, or exit 1 naming the one missing.
twons_tools() {
	local who=$1 t
	shift
	for t in ip ethtool sysctl "$@"; do
		command -v "$t" >/dev/null || {
			echo "$who: '$t' not installed" >&2
			exit 1
		}
	done
	[[ -x $PYTHON ]] || {
		echo "$who: python '$PYTHON' not found" >&2
		exit 1
	}
	export PYTHONDONTWRITEBYTECODE=1
}

log() { echo "[$(date +%T.%3N)] $*"; }
has_line() { [[ -e $1 ]] && grep -qF -- "$2" "$1"; }
alive_or_has() { has_line "$2" "$3" || ! kill -0 "$1" 2>/dev/null; }

# wait_for SECONDS WHAT CMD...: poll CMD every 50 ms
wait_for() {
	local secs=$1 what=$2
	shift 2
	local deadline=$((SECONDS + secs))
	until "$@"; do
		if ((SECONDS >= deadline)); then
			echo "${0##*/}: timed out after ${secs}s waiting for $what" >&2
			return 1
		fi
		sleep 0.05
	done
}

forget_pid() {
	local keep=() p
	for p in "${PIDS[@]}"; do
		[[ $p == "$1" ]] || keep+=("$p")
	done
	PIDS=("${keep[@]}")
}

# stop_pid PID SECONDS [SIGNAL]: signal (TERM), wait, SIGKILL; STOP_RC: its
# exit status.
stop_pid() {
	local pid=$1 secs=$2 sig=${3:-TERM}
	STOP_RC=0
	kill "-$sig" "$pid" 2>/dev/null || true
	local deadline=$((SECONDS + secs))
	while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
		sleep 0.05
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "${0##*/}: pid $pid did not exit within ${secs}s of SIG$sig; killing it" >&2
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || STOP_RC=$?
	forget_pid "$pid"
}
