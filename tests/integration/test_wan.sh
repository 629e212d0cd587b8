#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The CI slice of scripts/wan.sh (docs/wan.md): cee-engine's echo and the
# Linux kernel's TCP behind the same impaired path (cee-impair: 5 ms each
# way, 1% loss each way), 2 connections x 1 MiB each, real Linux clients.
#
# Guards against: bytes echoed wrong, lost or duplicated under loss and
# delay (every byte is compared); connections that stall for good or never
# see the server's FIN (bounded by the client's timeout); an engine that does
# not exit 0 on SIGTERM. Goodput figures are printed, never judged.
#
# Usage: test_wan.sh [--engine P --audit P --python P] [--impair P]
# Synchronisation: wan.sh waits for each process's ready line or file.

set -euo pipefail
source "$(dirname "$0")/lib.sh"
it_parse_args "$@"
set -- "${IT_ARGS[@]}"
IMPAIR=
while [[ $# -gt 0 ]]; do
	case $1 in
	--impair) IMPAIR=$2 && shift 2 ;;
	*) it_fail "unknown argument $1" ;;
	esac
done
[[ $EUID -eq 0 ]] || it_skip "needs root: network namespaces, veth pairs and AF_PACKET sockets"
[[ -n $CEE_ENGINE && -x $CEE_ENGINE ]] || it_fail "cee-engine not found (pass --engine PATH)"
[[ -n $IMPAIR ]] || IMPAIR=$(dirname "$CEE_ENGINE")/../bench/cee-impair
[[ -x $IMPAIR ]] || it_fail "cee-impair not found (pass --impair PATH)"

audit=()
[[ -z $CEE_AUDIT ]] || audit=(--audit "$CEE_AUDIT")
exec "$IT_ROOT/scripts/wan.sh" --quick --engine "$CEE_ENGINE" --impair "$IMPAIR" "${audit[@]}" --python "$CEE_PYTHON"
