#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Figure (issue 13): what share of each shard's CPU the keyed hashing takes in
# cee-bench's default scenario, by profile rather than by throughput A/B (on
# this VM two builds of the same packet path differ by up to ±5% in a 20-pair
# A/B; a profile's shares come from one run and do not depend on the
# machine's speed mode or on the binary's layout).
#
#   scripts/hashshare.sh [--runs N] [--duration S] [--unkeyed]
#
# Builds (release, -O3, with debug information for the attribution;
# build-prof, or build-prof-unkeyed) and runs `cee-bench --duration S` N
# times (default 3, 4 s) under `perf record -e cpu-clock -F 10000`, then
# prints, per run, lifecycles/s and the share of each shard thread's samples
# (rte-worker-1 = engine, rte-worker-2 = generator) whose source line is in
# the hashing code: cee_siphash.h (SipHash), cee_conn.h (the inline bucket
# and tuple-hash wrappers) and rte_jhash.h.
#
# --unkeyed: the same measurement for a variant built from a temporary
# worktree of HEAD in which the table's bucket is the unkeyed 64-bit mix and
# the ISN's F the 32-bit-keyed jhash used before issue 13: the baseline the
# 3% budget is measured against. Not a product build.
# Needs perf (Debian linux-perf). Exit 2 on bad usage or a missing tool.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=3
DURATION=4
UNKEYED=0
while [[ $# -gt 0 ]]; do
	case $1 in
	--runs) RUNS=$2 && shift 2 ;;
	--duration) DURATION=$2 && shift 2 ;;
	--unkeyed) UNKEYED=1 && shift ;;
	*) sed -n '2,24s/^# \{0,1\}//p' "$0" && exit 2 ;;
	esac
done
command -v perf >/dev/null || { echo "hashshare: perf is needed (apt-get install linux-perf)" >&2; exit 2; }
PY=/usr/bin/python3
SRC=$PWD
BUILD=$PWD/build-prof
if ((UNKEYED)); then
	WT=$(mktemp -d /tmp/cee-unkeyed.XXXXXX)
	trap 'git -C "$SRC" worktree remove --force "$WT" >/dev/null 2>&1 || true' EXIT
	git worktree add -q --detach "$WT" HEAD
	"$PY" - "$WT" <<'PYEOF'
import re, sys
d = sys.argv[1]
p = d + "/dataplane/cee_conn.h"
s = open(p).read()
mix = """{
	uint64_t x = ((uint64_t)remote_ip << 32 | (uint32_t)remote_port << 16 | local_port) *
		     UINT64_C(0x9e3779b97f4a7c15);
	x ^= (uint64_t)local_ip * UINT64_C(0xc2b2ae3d27d4eb4f);
	x ^= x >> 29;
	x *= UINT64_C(0xbf58476d1ce4e5b9);
	x ^= x >> 32;
	return (uint32_t)x >> h->shift;
}"""
s, n = re.subn(r"(static inline uint32_t cee_conn_bucket_h\([^)]*\)\n)\{.*?\n\}", lambda m: m.group(1) + mix, s, count=1, flags=re.S)
assert n == 1, "cee_conn_bucket_h() not found"
open(p, "w").write(s)
p = d + "/dataplane/cee_shard.c"
s = open(p).read()
jh = """uint32_t f = rte_jhash_3words(c->local_ip, c->remote_ip,
				      (uint32_t)c->local_port << 16 | c->remote_port,
				      (uint32_t)s->isn_key.k0);"""
s, n = re.subn(r"uint32_t f = \(uint32_t\)cee_siphash_12\(\s*2, 4, &s->isn_key,[^;]*;", lambda m: jh, s, count=1)
assert n == 1, "tcp_isn()'s SipHash not found"
open(p, "w").write(s)
PYEOF
	SRC=$WT
	BUILD=$PWD/build-prof-unkeyed
	rm -rf "$BUILD" # set up again: its source is a new worktree each time
fi
[[ -f $BUILD/build.ninja ]] || meson setup "$BUILD" "$SRC" --buildtype=release -Ddebug=true >/dev/null
ninja -C "$BUILD" apps/cee-bench >/dev/null
DATA=$(mktemp -d /tmp/cee-hashshare.XXXXXX)
for i in $(seq 1 "$RUNS"); do
	perf record -q -e cpu-clock -F 10000 -o "$DATA/$i.data" -- "$BUILD/apps/cee-bench" --no-huge \
		-m 1024 --no-pci --file-prefix "hashshare$$" --lcores 0@1,1@1,2@0 -- --duration "$DURATION" \
		--json 2>/dev/null >"$DATA/$i.json"
	perf report -i "$DATA/$i.data" --no-children --sort comm,srcfile --stdio 2>/dev/null |
		"$PY" -c '
import collections, json, re, sys
r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
tot, h = collections.Counter(), collections.Counter()
for l in sys.stdin:
    m = re.match(r"\s+([\d.]+)%\s+(\S+)\s*(\S*)", l)
    if not m:
        continue
    p, comm, src = float(m.group(1)), m.group(2), m.group(3)
    tot[comm] += p
    if src in ("cee_siphash.h", "cee_conn.h", "rte_jhash.h"):
        h[comm] += p
share = lambda c: 100 * h[c] / tot[c] if tot[c] else 0
print("run %s: %.0f lifecycles/s (audit %s); hashing: engine %.2f%%, generator %.2f%% of the shard'"'"'s samples"
      % (sys.argv[2], r["cps"], "ok" if r["audit"]["ok"] else "FAILED", share("rte-worker-1"), share("rte-worker-2")))
' "$DATA/$i.json" "$i"
done
rm -rf "$DATA"
