#!/usr/bin/env bash
# A/B of cee-bench's default scenario: a base revision against the working
# tree, release builds, runs in pairs whose order alternates (base then new,
# new then base), so that drift of the machine's speed falls on both alike.
#   scripts/ab.sh [--pairs N] [--duration S] BASE_REV [-- CEE_BENCH_OPTIONS...]
# (options after -- go to both runs: another scenario, e.g. --timestamps on)
# Prints one line per run ("pair mode cps audit errors"), then the ratio
# new/base of the medians and the pairwise median, for all pairs and for
# pairs whose two runs fell in the same speed mode (a small VM jumps between
# two speeds; a pair that straddles them says nothing). Builds: the base in
# a worktree under $CEE_AB_DIR (default /tmp/cee-ab-BASE), build-ab there
# and here. Exit status: 0; 1 when a build or an audit fails or cee-bench
# reports an error; 2 on bad usage.
set -euo pipefail

usage() {
	sed -n '2,13s/^# \{0,1\}//p' "$0"
}

PAIRS=5
DURATION=3
BASE=
EXTRA=()
while [[ $# -gt 0 ]]; do
	case $1 in
	-h | --help)
		usage
		exit 0
		;;
	--pairs | --duration)
		if [[ $# -lt 2 || ! $2 =~ ^[1-9][0-9]*$ ]]; then
			echo "ab.sh: $1 needs a positive whole number" >&2
			exit 2
		fi
		[[ $1 == --pairs ]] && PAIRS=$2 || DURATION=$2
		shift 2
		;;
	--)
		shift
		EXTRA=("$@")
		break
		;;
	-*)
		echo "ab.sh: unknown option $1" >&2
		exit 2
		;;
	*)
		[[ -n $BASE ]] && { echo "ab.sh: one base revision" >&2; exit 2; }
		BASE=$1
		shift
		;;
	esac
done
[[ -n $BASE ]] || { usage >&2; exit 2; }

cd "$(dirname "$0")/.."
NEW=$PWD
rev=$(git rev-parse --verify --quiet "$BASE^{commit}") || {
	echo "ab.sh: no such revision: $BASE" >&2
	exit 2
}
OLD=${CEE_AB_DIR:-/tmp/cee-ab-${rev:0:12}}
PY=/usr/bin/python3
if [[ ! -d $OLD ]]; then
	git worktree add --detach "$OLD" "$rev" >/dev/null
fi
for d in "$OLD" "$NEW"; do
	if [[ ! -e $d/build-ab/build.ninja ]]; then
		meson setup "$d/build-ab" "$d" -Dbuildtype=release -Dtests=false >/dev/null
	fi
	ninja -C "$d/build-ab" >/dev/null || { echo "ab.sh: build failed in $d" >&2; exit 1; }
done
# the two builds alike (a build-ab set up by hand, or by another version of
# this script, could differ in buildtype or cpu and the ratio would say so)
opts() { meson introspect --buildoptions "$1/build-ab" |
	"$PY" -c 'import json,sys; print(sorted((o["name"], str(o["value"])) for o in json.load(sys.stdin)
	if o["name"] in ("buildtype", "cpu", "optimization", "debug", "b_sanitize", "b_lto", "b_ndebug")))'; }
if [[ $(opts "$OLD") != "$(opts "$NEW")" ]]; then
	echo "ab.sh: the builds' options differ: base $(opts "$OLD"), new $(opts "$NEW")" >&2
	exit 1
fi

# the lcore layout of every A/B in docs/performance.md: the main lcore (the
# control thread: the audit) and the engine's shard share CPU 1, the
# generator has CPU 0
EAL=(--no-huge -m 1024 --no-pci --lcores 0@1,1@1,2@0)
results=$(mktemp)
trap 'rm -f "$results"; rm -rf "/var/run/dpdk/ab$$"' EXIT
run() { # run PAIR MODE DIR
	local out
	out=$("$3/build-ab/apps/cee-bench" "${EAL[@]}" --file-prefix "ab$$" -- \
		--json --duration "$DURATION" "${EXTRA[@]}" 2>/dev/null | tail -n 1) || {
		echo "ab.sh: cee-bench failed ($2, pair $1)" >&2
		return 1
	}
	"$PY" -c '
import json, sys
r = json.loads(sys.argv[4])
a = r["audit"]
ok = a["ok"] is True and all(a[k] == 0 for k in ("lost", "duplicate", "out_of_order", "gaps"))
print(sys.argv[1], sys.argv[2], round(r["cps"]), ok, r.get("errors", 0))
if r.get("errors", 0):  # (what they were: the event ring full is the known rare one)
    print("  errors:", {k: r.get(k) for k in ("refused", "refused_ring", "connect_fail", "stalled",
                                              "echo_mismatch")}, file=sys.stderr)
' "$1" "$2" "$3" "$out" | tee -a "$results"
}
for ((i = 1; i <= PAIRS; i++)); do
	if ((i % 2)); then
		run "$i" base "$OLD"
		run "$i" new "$NEW"
	else
		run "$i" new "$NEW"
		run "$i" base "$OLD"
	fi
done

"$PY" - "$results" <<'EOF'
import statistics, sys
runs = {}
bad = False
for line in open(sys.argv[1]):
    pair, mode, cps, ok, errors = line.split()
    runs.setdefault(int(pair), {})[mode] = int(cps)
    bad |= ok != "True" or errors != "0"
cps = [v for p in runs.values() for v in p.values()]
# the VM's two speed modes: split at the middle of the widest gap
s = sorted(cps)
gaps = [(s[k + 1] - s[k], (s[k + 1] + s[k]) / 2) for k in range(len(s) - 1)]
gap, split = max(gaps) if gaps else (0, 0)
bimodal = gap > 0.15 * statistics.median(s)
def report(name, pairs):
    if not pairs:
        return
    b = [p["base"] for p in pairs]
    n = [p["new"] for p in pairs]
    pw = statistics.median(p["new"] / p["base"] for p in pairs)
    print(f"{name}: {len(pairs)} pairs, medians base {statistics.median(b):,.0f} "
          f"new {statistics.median(n):,.0f} ({statistics.median(n) / statistics.median(b):.3f}), "
          f"pairwise median {pw:.3f}")
pairs = [p for p in runs.values() if len(p) == 2]
report("all", pairs)
if bimodal:
    report("fast mode", [p for p in pairs if min(p.values()) > split])
    report("slow mode", [p for p in pairs if max(p.values()) < split])
if bad:
    print("ab.sh: an audit failed or cee-bench counted errors", file=sys.stderr)
    sys.exit(1)
EOF
