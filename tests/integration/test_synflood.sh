#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The CI slice of scripts/synflood.sh: a spoofed SYN flood (hping3
# --rand-source -i u20, about 20k SYN/s on the 2-CPU VM, for about 5 s)
# against cee-engine's echo (--syn-cookies auto, then always) and the Linux
# kernel's TCP on the same veth, while 100 real Linux clients connect, echo
# 64 bytes and close.
#
# Guards against: legitimate clients failing under a flood because of the
# engine (fewer than 99% connect and get their echo within 12 s); spoofed
# connections in the event stream, with --syn-cookies always (a SYN answered
# with a cookie must leave no trace) and with auto (the spoofed SYNs that get
# a half-open slot before cookies engage must leave none either: a passive
# connection is announced when its handshake completes); connections in the events that no
# client made, or a client's completed echo missing from them; an event
# stream cee-audit rejects; an engine that does not start, or does not exit
# 0 on SIGTERM. Figures (flood rate, p50/p99 connect latency, cookie
# counters, cee's p99 / Linux's) are printed; the p99 ratio is not judged
# here (--no-latency-goal): on a machine whose CPUs other jobs share, the
# engine's shard waits for a CPU while the kernel answers SYNs in softirq,
# and the ratio of two sub-millisecond p99s over 100 clients moves several
# fold from run to run. scripts/synflood.sh without --quick judges it.
#
# Usage: test_synflood.sh [--engine P --audit P --python P] [--keep]
# Synchronisation: synflood.sh waits for the engine's ready line (the echo
# server's ready file), for the flood's first 3,072 frames at the server's
# interface, and for the clients' process to finish.

set -euo pipefail
source "$(dirname "$0")/lib.sh"
it_parse_args "$@"
set -- "${IT_ARGS[@]}"
[[ $# -eq 0 ]] || it_fail "unknown argument $1"
[[ $EUID -eq 0 ]] || it_skip "needs root: network namespaces, veth pairs, raw (hping3) and AF_PACKET sockets"
command -v hping3 >/dev/null || it_fail "hping3 not installed (scripts/deps.sh installs it: apt-get install hping3)"
[[ -n $CEE_ENGINE && -x $CEE_ENGINE ]] || it_fail "cee-engine not found (pass --engine PATH)"
[[ -n $CEE_AUDIT && -x $CEE_AUDIT ]] || it_fail "cee-audit not found (pass --audit PATH)"

keep=()
[[ $IT_KEEP != 1 ]] || keep=(--keep)
# --shield (2 CPUs or more, with nft): the harness's isolation of CPU 1 and
# its sink for the answers to spoofed sources must leave the clients'
# traffic alone (a first version dropped those answers in a way that failed
# the af_packet sends carrying them, and every client then timed out), and
# must give the machine's threads their CPUs back at the end.
shield=()
if (($(nproc) >= 2)) && command -v nft >/dev/null; then
	shield=(--shield)
fi
# what --shield changes, to compare after: init's and this shell's CPUs,
# every IRQ's, the default IRQ mask, the kernel's RCU threads' policies
state() {
	taskset -p -c 1 | sed 's/.*: //'
	taskset -p -c $$ | sed 's/.*: //'
	grep -H . /proc/irq/[0-9]*/smp_affinity_list /proc/irq/default_smp_affinity 2>/dev/null
	local t
	for t in /proc/[0-9]*/task/[0-9]*; do
		[[ $(cat "$t/comm" 2>/dev/null) == rcu_* ]] || continue
		echo "${t##*/} $(chrt -p "${t##*/}" 2>/dev/null | tr '\n' ' ')"
	done
}
STATE=$(mktemp -d /tmp/cee-synflood-state-XXXXXX)
trap 'rm -rf "$STATE"' EXIT
state >"$STATE/before"
rc=0
"$IT_ROOT/scripts/synflood.sh" --quick --no-latency-goal "${shield[@]}" --engine "$CEE_ENGINE" \
	--audit "$CEE_AUDIT" --python "$CEE_PYTHON" "${keep[@]}" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null' INT TERM
wait "$child" || rc=$?
# (a signal ends the first wait early: wait for the harness's own cleanup)
kill -0 "$child" 2>/dev/null && { wait "$child" || rc=$?; }
state >"$STATE/after"
diff "$STATE/before" "$STATE/after" >&2 ||
	it_fail "--shield did not put every CPU affinity, IRQ mask and RCU thread policy back (diff above)"
exit "$rc"
