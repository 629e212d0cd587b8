# shellcheck shell=bash
# SPDX-License-Identifier: BSD-3-Clause
# Shared prelude of the scripts that run cee-engine against Linux clients
# (run-linux-peers.sh, bench_hold.sh): dependencies, a release build in build-run/, the
# integration helpers, root check, namespace. Source it from the repo root;
# @1: a name for the work directory.
scripts/deps.sh
[ -f build-run/build.ninja ] || meson setup build-run --buildtype=release >/dev/null
ninja -C build-run apps/cee-engine apps/cee-audit >/dev/null
source tests/integration/lib.sh
it_parse_args --engine build-run/apps/cee-engine --audit build-run/apps/cee-audit
it_require
it_setup "$1"
