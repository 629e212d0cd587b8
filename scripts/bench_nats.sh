#!/usr/bin/env bash
# Figure (issue 14): cee-bench exporting to NATS JetStream (file storage, R1)
# beside the in-process audit alone and beside a plain libnats publisher.
#   scripts/bench_nats.sh [--duration S] [--rounds N] [--window W]
#                         [--batch-bytes B] [--linger-ms MS] [--build DIR]
# Starts its own nats-server (-js, a fresh store and a free port for every
# run) and runs N (default 3) interleaved rounds of
#   (a) cee-bench, default scenario, no sink (in-process audit only)
#   (b) cee-bench --events nats://...&format=jsonl
#   (c) cee-bench --events nats://...&format=binary
#   (d) cee-natspub, messages of (b)'s bytes per message, same window
#   (e) cee-natspub, messages of (c)'s bytes per message, same window
# --duration (default 5) is each cee-bench run's; cee-natspub publishes about
# as long. Prints each run and the medians: lifecycles/s, events/s
# acknowledged, messages/s, MB/s, and the ratios (b)/(a), (c)/(a) lifecycles/s,
# (b)/(d), (c)/(e) MB/s; then whether issue 14's goals are met (>= 1M events/s
# acknowledged; NATS lifecycles/s within 20% of the audit-only rate).
# Binaries come from DIR (default build-perf: release, -Dcpu=native; set up
# and built when missing). EAL arguments: $CEE_BENCH_EAL when set. Every
# report is saved to $CEE_BENCH_OUT (default DIR/bench-nats-results.json).
# Exit status: 0 when every run succeeded (cee-bench audits passed, every
# event acknowledged, cee-natspub published everything), whatever the goals;
# 1 when a run failed; 2 on bad usage or a missing tool.
set -euo pipefail

usage() {
	sed -n '2,22s/^# \{0,1\}//p' "$0"
}

OUT=${CEE_BENCH_OUT:-}
if [[ -n $OUT ]]; then
	OUT=$(realpath -m -- "$OUT")
fi
cd "$(dirname "$0")/.."
PY=/usr/bin/python3

DURATION=5
ROUNDS=3
WINDOW=64
BATCH_BYTES=
LINGER_MS=
BUILD=build-perf
while [[ $# -gt 0 ]]; do
	case $1 in
	-h | --help)
		usage
		exit 0
		;;
	--duration | --rounds | --window | --batch-bytes | --linger-ms | --build)
		if [[ $# -lt 2 ]]; then
			echo "bench_nats.sh: $1 needs a value" >&2
			exit 2
		fi
		opt=$1 val=$2
		shift 2
		;;
	--*=*)
		opt=${1%%=*} val=${1#*=}
		shift
		;;
	*)
		echo "bench_nats.sh: unknown argument '$1' (--help)" >&2
		exit 2
		;;
	esac
	case $opt in
	--duration) DURATION=$val ;;
	--rounds) ROUNDS=$val ;;
	--window) WINDOW=$val ;;
	--batch-bytes) BATCH_BYTES=$val ;;
	--linger-ms) LINGER_MS=$val ;;
	--build) BUILD=$val ;;
	*)
		echo "bench_nats.sh: unknown option '$opt' (--help)" >&2
		exit 2
		;;
	esac
done
if ! [[ $DURATION =~ ^[0-9]+([.][0-9]+)?$ ]]; then
	echo "bench_nats.sh: --duration: '$DURATION' is not a number of seconds" >&2
	exit 2
fi
for v in ROUNDS WINDOW; do
	if ! [[ ${!v} =~ ^[1-9][0-9]*$ ]]; then
		echo "bench_nats.sh: --${v,,}: '${!v}' is not a positive integer" >&2
		exit 2
	fi
done
for v in BATCH_BYTES LINGER_MS; do
	if [[ -n ${!v} ]] && ! [[ ${!v} =~ ^[0-9]+$ ]]; then
		echo "bench_nats.sh: '${!v}' is not a number" >&2
		exit 2
	fi
done
OUT=${OUT:-$PWD/$BUILD/bench-nats-results.json}

scripts/deps.sh
if ! command -v nats-server >/dev/null; then
	echo "bench_nats.sh: nats-server is not installed" >&2
	exit 2
fi
if [[ ! -e $BUILD/build.ninja ]]; then
	meson setup "$BUILD" --buildtype=release -Dcpu=native
fi
ninja -C "$BUILD" apps/cee-bench bench/cee-natspub >&2
CEE_BENCH=$BUILD/apps/cee-bench
NATSPUB=$BUILD/bench/cee-natspub
for b in "$CEE_BENCH" "$NATSPUB"; do
	if [[ ! -x $b ]]; then
		echo "bench_nats.sh: $b is missing (built without libnats?)" >&2
		exit 2
	fi
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/cee-bench-nats.XXXXXX")
NS_PID=
stop_server() {
	if [[ -n $NS_PID ]]; then
		kill "$NS_PID" 2>/dev/null || true
		wait "$NS_PID" 2>/dev/null || true
		NS_PID=
	fi
	rm -rf -- "$WORK/js"
}
cleanup() {
	stop_server
	rm -rf -- "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A fresh broker for one run: JetStream, file storage in a new directory,
# a free port. Sets NS_PORT.
start_server() {
	stop_server
	NS_PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	mkdir -p "$WORK/js"
	nats-server -js -sd "$WORK/js" -a 127.0.0.1 -p "$NS_PORT" >"$WORK/nats-server.log" 2>&1 &
	NS_PID=$!
	local i
	for ((i = 0; i < 100; i++)); do
		if grep -q "Server is ready" "$WORK/nats-server.log" 2>/dev/null; then
			return 0
		fi
		if ! kill -0 "$NS_PID" 2>/dev/null; then
			break
		fi
		sleep 0.1
	done
	echo "bench_nats.sh: nats-server did not start:" >&2
	cat "$WORK/nats-server.log" >&2
	return 1
}

# Quiet machine: say what else is running.
echo "bench_nats.sh: $(uptime)" >&2
busy=$("$PY" - <<'EOF'
import time
def t():
    v = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return sum(v), v[3] + v[4]
a, ai = t(); time.sleep(1); b, bi = t()
print(round(100 * (1 - (bi - ai) / max(1, b - a))))
EOF
)
echo "bench_nats.sh: CPU busy over the last second: $busy%" >&2
if [[ $busy -gt 10 ]]; then
	echo "bench_nats.sh: warning: the machine is not quiet; the figures may be disturbed" >&2
	ps -eo pid,pcpu,comm --sort=-pcpu | head -6 >&2
fi

read -r -a EAL_BASE <<<"${CEE_BENCH_EAL:---no-huge -m 1024 --no-pci --lcores 0@1,1@1,2@0 --log-level=lib.eal:error}"
SINK_OPTS="window=$WINDOW"
[[ -n $BATCH_BYTES ]] && SINK_OPTS+="&batch_bytes=$BATCH_BYTES"
[[ -n $LINGER_MS ]] && SINK_OPTS+="&linger_ms=$LINGER_MS"

# run_cee NAME [cee-bench options...]: report in $WORK/NAME.json, status in NAME.rc
run_cee() {
	local name=$1
	shift
	local eal=("${EAL_BASE[@]}")
	if [[ -z ${CEE_BENCH_EAL:-} ]]; then
		eal+=(--file-prefix "cee-bn-$$-$name")
	fi
	echo "bench_nats.sh: [$name] $CEE_BENCH ${eal[*]} -- --duration $DURATION --json $*" >&2
	local rc=0
	timeout -k 10 $(("${DURATION%.*}" + 120)) \
		"$CEE_BENCH" "${eal[@]}" -- --duration "$DURATION" --json "$@" \
		>"$WORK/$name.out" 2>"$WORK/$name.err" || rc=$?
	grep '^cee-bench: t=' "$WORK/$name.err" | tail -n 1 >&2 || true
	if [[ $rc -ne 0 ]]; then
		tail -n 20 "$WORK/$name.err" >&2
	fi
	tail -n 1 "$WORK/$name.out" >"$WORK/$name.json"
	echo "$rc" >"$WORK/$name.rc"
}

# run_pub NAME SIZE COUNT: report in $WORK/NAME.json
run_pub() {
	local name=$1 size=$2 count=$3
	local url="nats://127.0.0.1:$NS_PORT/$name?stream=${name^^}&window=$WINDOW"
	echo "bench_nats.sh: [$name] $NATSPUB '$url' --size $size --count $count" >&2
	local rc=0
	timeout -k 10 $(("${DURATION%.*}" * 6 + 120)) \
		"$NATSPUB" "$url" --size "$size" --count "$count" \
		>"$WORK/$name.out" 2>"$WORK/$name.err" || rc=$?
	if [[ $rc -ne 0 ]]; then
		tail -n 20 "$WORK/$name.err" >&2
	fi
	tail -n 1 "$WORK/$name.out" >"$WORK/$name.json"
	echo "$rc" >"$WORK/$name.rc"
}

# msg_size NAME: bytes per acknowledged message in cee-bench run NAME's
# measured phase (0 when it has none)
msg_size() {
	"$PY" - "$WORK/$1.json" <<'EOF'
import json, sys
try:
    n = json.load(open(sys.argv[1]))["nats"][0]
    for part in ("run", "end"):
        if n[part]["messages"]:
            print(round(n[part]["bytes"] / n[part]["messages"]))
            break
    else:
        print(0)
except Exception:
    print(0)
EOF
}

# pub_count NAME SIZE: messages for cee-natspub to publish about DURATION
# seconds: from the rate of the previous round's run NAME when there is one,
# else twice the message rate cee-bench run given as $3 reached
pub_count() {
	"$PY" - "$WORK/$1.json" "$WORK/$3.json" "$DURATION" <<'EOF'
import json, sys
prev, cee, duration = sys.argv[1], sys.argv[2], float(sys.argv[3])
rate = 0
try:
    rate = json.load(open(prev))["msgs_per_s"]
except Exception:
    try:
        d = json.load(open(cee))
        rate = 2 * d["nats"][0]["run"]["messages"] / d["seconds"]
    except Exception:
        pass
print(max(100, int(rate * duration)))
EOF
}

for ((r = 1; r <= ROUNDS; r++)); do
	echo "bench_nats.sh: ---- round $r of $ROUNDS ----" >&2
	stop_server
	run_cee "a$r"
	for f in jsonl binary; do
		[[ $f == jsonl ]] && n=b$r || n=c$r
		if start_server; then
			run_cee "$n" --events "nats://127.0.0.1:$NS_PORT/$n?stream=${n^^}&format=$f&$SINK_OPTS"
		else
			echo 2 >"$WORK/$n.rc"
		fi
		stop_server
	done
	for p in "d b" "e c"; do
		read -r n src <<<"$p"
		size=$(msg_size "$src$r")
		if [[ $size -eq 0 ]]; then
			echo "bench_nats.sh: [$n$r] not run: ($src) acknowledged no message" >&2
			echo "not run" >"$WORK/$n$r.rc"
			continue
		fi
		count=$(pub_count "$n$((r - 1))" "$size" "$src$r")
		if start_server; then
			run_pub "$n$r" "$size" "$count"
		else
			echo 2 >"$WORK/$n$r.rc"
		fi
		stop_server
	done
done

mkdir -p -- "$(dirname -- "$OUT")"
"$PY" - "$WORK" "$ROUNDS" "$DURATION" "$WINDOW" "$OUT" <<'EOF'
import json
import os
import statistics
import sys

work, rounds, duration, window, out_path = sys.argv[1:6]
rounds = int(rounds)


def load(name):
    """(report or None, status string)"""
    try:
        rc = open(os.path.join(work, name + ".rc")).read().strip()
    except FileNotFoundError:
        return None, "not run"
    obj = None
    try:
        line = open(os.path.join(work, name + ".json")).read().strip()
        obj = json.loads(line) if line else None
        if not isinstance(obj, dict):
            obj = None
    except (FileNotFoundError, ValueError):
        obj = None
    if rc != "0":
        return obj, f"failed (exit {rc})" if rc.isdigit() else rc
    if obj is None:
        return None, "failed: no JSON report"
    return obj, "ok"


def check_cee(obj, status, nats):
    """status after the audit and, with a sink, the acknowledgement checks"""
    if obj is None or status != "ok":
        return status
    a = obj.get("audit")
    if not isinstance(a, dict):
        return "FAILED: no audit"
    bad = {k: a.get(k) for k in ("lost", "duplicate", "out_of_order", "gaps") if a.get(k) != 0}
    if a.get("ok") is not True or bad:
        return f"FAILED audit {bad}"
    if not nats:
        return "ok"
    n = (obj.get("nats") or [None])[0]
    if not isinstance(n, dict):
        return "FAILED: no nats report"
    e = n["end"]
    why = []
    if e["idle_after_s"] < 0:
        why.append("not all acknowledged before the shutdown timeout")
    if e["events"] != a["events"]:
        why.append(f"acknowledged {e['events']} of {a['events']} events")
    if e["inflight"] or e["sealed"]:
        why.append(f"inflight {e['inflight']} sealed {e['sealed']} at the end")
    return "FAILED: " + "; ".join(why) if why else "ok"


def check_pub(obj, status):
    if obj is None or status != "ok":
        return status
    return "ok"


rows = {k: [] for k in "abcde"}
results = {"duration_s": float(duration), "rounds": rounds, "window": int(window), "runs": []}
all_ok = True
for r in range(1, rounds + 1):
    for k in "abcde":
        name = f"{k}{r}"
        obj, status = load(name)
        if k in "abc":
            status = check_cee(obj, status, k != "a")
        else:
            status = check_pub(obj, status)
        all_ok &= status == "ok"
        row = {"run": name, "status": status, "lps": None, "eps": None, "mps": None,
               "mbps": None, "size": None, "events_per_msg": None, "refused": None,
               "errors": None}
        if obj is not None:
            if k in "abc":
                secs = obj.get("seconds") or 0
                row["lps"] = obj.get("cps")
                row["eps"] = obj.get("events_per_s") if k == "a" else None
                row["refused"] = obj.get("refused")
                row["errors"] = obj.get("errors")
                n = (obj.get("nats") or [None])[0]
                if isinstance(n, dict) and secs:
                    run = n["run"]
                    row["eps"] = n["events_per_s"]
                    row["mps"] = run["messages"] / secs
                    row["mbps"] = run["bytes"] / 1e6 / secs
                    if run["messages"]:
                        row["size"] = run["bytes"] / run["messages"]
                        row["events_per_msg"] = run["events"] / run["messages"]
                    row["republished"] = n["end"]["republished"]
                    row["fail"] = n["end"]["fail"]
                    row["window_full"] = n["end"]["window_full"]
                    row["max_call_us"] = n["end"]["max_call_us"]
            else:
                row["mps"] = obj.get("msgs_per_s")
                row["mbps"] = obj.get("mb_per_s")
                row["size"] = obj.get("size")
                row["seconds"] = obj.get("seconds")
        rows[k].append(row)
        results["runs"].append({"name": name, "status": status, "report": obj})

LABEL = {
    "a": "(a) audit only",
    "b": "(b) nats jsonl",
    "c": "(c) nats binary",
    "d": "(d) natspub ~b",
    "e": "(e) natspub ~c",
}


def fmt(v, nd=0):
    if v is None:
        return "-"
    return f"{v:,.{nd}f}"


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def ratio(x, y):
    return x / y if x is not None and y else None


print()
print(f"== cee-bench with a NATS JetStream sink (file storage, R1, window {window}), "
      f"{rounds} interleaved rounds, {duration} s each ==")
hdr = (f"{'run':18}{'lifecycles/s':>14}{'events/s acked':>16}{'msgs/s':>10}{'MB/s':>9}"
       f"{'B/msg':>10}{'ev/msg':>8}{'refused':>9}  status")
print(hdr)
for r in range(rounds):
    for k in "abcde":
        row = rows[k][r]
        eps = row["eps"]
        print(f"{LABEL[k] + ' #' + str(r + 1):18}{fmt(row['lps']):>14}{fmt(eps):>16}"
              f"{fmt(row['mps']):>10}{fmt(row['mbps'], 1):>9}{fmt(row['size']):>10}"
              f"{fmt(row['events_per_msg']):>8}{fmt(row['refused']):>9}  {row['status']}")
print("median")
meds = {}
for k in "abcde":
    m = {f: med([row[f] for row in rows[k]])
         for f in ("lps", "eps", "mps", "mbps", "size", "events_per_msg")}
    meds[k] = m
    print(f"{LABEL[k]:18}{fmt(m['lps']):>14}{fmt(m['eps']):>16}{fmt(m['mps']):>10}"
          f"{fmt(m['mbps'], 1):>9}{fmt(m['size']):>10}{fmt(m['events_per_msg']):>8}")
# the raw publisher's rate in events: its messages/s times (b)'s / (c)'s events per message
for k, src in (("d", "b"), ("e", "c")):
    if meds[k]["mps"] is not None and meds[src]["events_per_msg"] is not None:
        print(f"{LABEL[k]}: {fmt(meds[k]['mps'] * meds[src]['events_per_msg'])} events/s "
              f"at ({src})'s {fmt(meds[src]['events_per_msg'])} events per message")

print()
print("ratios (per round; median)")
RATIOS = [
    ("(b)/(a) lifecycles/s  jsonl sink / audit only", "b", "a", "lps"),
    ("(c)/(a) lifecycles/s  binary sink / audit only", "c", "a", "lps"),
    ("(b)/(d) MB/s          jsonl sink / raw publisher", "b", "d", "mbps"),
    ("(c)/(e) MB/s          binary sink / raw publisher", "c", "e", "mbps"),
]
ratio_meds = {}
for label, x, y, f in RATIOS:
    per = [ratio(rows[x][r][f], rows[y][r][f]) for r in range(rounds)]
    m = med(per)
    ratio_meds[f"{x}/{y}"] = m
    print(f"  {label}: " + "  ".join(fmt(v, 2) for v in per) + f"   median {fmt(m, 2)}")
# jsonl against binary: the same lifecycles, two encodings
bvc = [ratio(rows["c"][r]["lps"], rows["b"][r]["lps"]) for r in range(rounds)]
print(f"  (c)/(b) lifecycles/s  binary / jsonl: " + "  ".join(fmt(v, 2) for v in bvc)
      + f"   median {fmt(med(bvc), 2)}")
if meds["b"]["size"] and meds["c"]["size"] and meds["b"]["events_per_msg"] and meds["c"]["events_per_msg"]:
    jb = meds["b"]["size"] / meds["b"]["events_per_msg"]
    bb = meds["c"]["size"] / meds["c"]["events_per_msg"]
    print(f"  bytes per event: jsonl {jb:.0f}, binary {bb:.0f} (incl. extension records)")

print()
print("issue 14 goals (medians; informational, not the exit status)")
for k, fmtname in (("b", "jsonl"), ("c", "binary")):
    eps = meds[k]["eps"]
    met = eps is not None and eps >= 1e6
    print(f"  >= 1M events/s acknowledged, {fmtname}: {'MET' if met else 'NOT MET'} ({fmt(eps)})")
for key, fmtname in (("b/a", "jsonl"), ("c/a", "binary")):
    v = ratio_meds[key]
    met = v is not None and v >= 0.8
    print(f"  lifecycles/s within 20% of audit only, {fmtname}: {'MET' if met else 'NOT MET'} "
          f"({fmt(v, 2)} of (a))")
if not all_ok:
    print("a run FAILED (see status above): do not quote these figures")
results.update({"medians": meds, "ratios": ratio_meds, "all_ok": all_ok, "rows": rows})
with open(out_path, "w") as f:
    json.dump(results, f, indent=2)
    f.write("\n")
print(f"results: {out_path}")
sys.exit(0 if all_ok else 1)
EOF
