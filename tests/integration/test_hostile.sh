#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The CI slices of scripts/blind.sh and scripts/pinning.sh (issue 13,
# "hostile traffic"), one after the other:
#
# blind.sh --quick: a Linux client's live connection to cee-engine's echo;
# a third party in the namespace that knows the 4-tuple but not the
# sequence numbers sends, as the client, 3,000 RSTs stepping by W/8 around
# the window, 1,000 SYNs and 3,000 data segments with random ACKs (5,000/s,
# frames built with scapy); then blind SYNs, an ACK flood and a data flood
# at the live tuple, 2,000 each at 2,000/s, against cee and the kernel on
# the same path.
# Guards against: a blind RST, SYN or data segment killing the connection
# or getting data into it (every echo byte-exact; its only `closed` is
# peer_fin after the client's FIN, bytes_in = bytes_out = what the client
# sent); a spoofed SYN opening a connection; the engine answering a blind
# attack with more than the RFC 5961 7 per-connection budget (one ACK per
# >= 402 ms: the frames captured at the client and the ACKs the --stats
# counters imply), i.e. reflecting or amplifying it (issue 13: 1.0 frame
# per attack frame before the fix).
#
# pinning.sh --quick: 500 peers that send 48 KiB each and never read,
# against --sndbufs 256 and --persist-timeout 3, while other clients
# connect, echo and close (20/s for 10 s); then the kernel's echo server
# the same way (3 s).
# Guards against: pinned connections that hold send buffers beyond the
# documented bound or end for another reason (each closed by
# zero_window_timeout, not sooner than --persist-timeout after it opened,
# within 2 x --persist-timeout + 3 s of the pinning), a zero_window_timeout
# RST the peer cannot take (its window is 0: the peer must see the reset
# at once), and, the goal, other clients not served while the buffers are
# pinned (--no-service-goal: printed, not judged). Engine ready, exiting 0
# at SIGTERM, cee-audit accepting every event stream, in both.
#
# Usage: test_hostile.sh [--engine P --audit P --python P] [--keep]
#                        [--no-service-goal]
# About 35 s here. Synchronisation: the scripts wait for the engine's ready
# line (the echo server's ready file), the attacker's and the peers' exits
# and ready file, the client's `closed` in the events; frames are counted
# in time windows stamped by the kernel.

set -euo pipefail
source "$(dirname "$0")/lib.sh"
it_parse_args "$@"
set -- "${IT_ARGS[@]}"
PIN_OPTS=()
while [[ $# -gt 0 ]]; do
	case $1 in
	--no-service-goal) PIN_OPTS+=("$1") && shift ;;
	*) it_fail "unknown argument $1" ;;
	esac
done
[[ $EUID -eq 0 ]] || it_skip "needs root: network namespaces, veth pairs, AF_PACKET sockets"
[[ -n $CEE_ENGINE && -x $CEE_ENGINE ]] || it_fail "cee-engine not found (pass --engine PATH)"
[[ -n $CEE_AUDIT && -x $CEE_AUDIT ]] || it_fail "cee-audit not found (pass --audit PATH)"
"$CEE_PYTHON" -c 'import scapy.layers.inet' 2>/dev/null ||
	it_fail "$CEE_PYTHON cannot import scapy (the project's Debian dependencies must install python3-scapy)"

keep=()
[[ $IT_KEEP != 1 ]] || keep=(--keep)
common=(--quick --engine "$CEE_ENGINE" --audit "$CEE_AUDIT" --python "$CEE_PYTHON" "${keep[@]}")
FAILED=()
it_log "scripts/blind.sh --quick"
rc=0
"$IT_ROOT/scripts/blind.sh" "${common[@]}" || rc=$?
[[ $rc -eq 0 ]] || FAILED+=("blind.sh (status $rc)")
it_log "scripts/pinning.sh --quick ${PIN_OPTS[*]}"
rc=0
"$IT_ROOT/scripts/pinning.sh" "${common[@]}" "${PIN_OPTS[@]}" || rc=$?
[[ $rc -eq 0 ]] || FAILED+=("pinning.sh (status $rc)")
[[ ${#FAILED[@]} -eq 0 ]] || it_fail "test_hostile: ${FAILED[*]}"
it_log "PASS test_hostile"
