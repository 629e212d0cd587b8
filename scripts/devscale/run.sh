#!/usr/bin/env bash
# Multi-core scaling of cee-bench (default scenario) plus the kernel baseline,
# from a self-contained bundle: every binary runs through the bundled glibc
# loader with only .devbundle/lib, so nothing of the host's libraries is used.
#   OUT=/some/dir bash .devbundle/run.sh        (from the repo root, as root)
# Env knobs: DEV_SHARDS ("1 2 4 7"), DEV_RUNS (2), DEV_DURATION (3),
# DEV_BUDGET (225 s for the whole script), DEV_OVERSUB=1 (allow more lcores
# than CPUs, for a small test machine), DEV_EAL (force one EAL flag set);
# tests only: DEV_BADFIRST=1, DEV_NO_TIMEOUT=1, DEVSHIM_TEST=hide|gvisor.
# Output: $OUT/scale.jsonl, $OUT/summary.txt, $OUT/logs/*.err.
set -u
START=$SECONDS
B=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${OUT:-/tmp/devbundle-out}
mkdir -p "$OUT/logs"
JSONL=$OUT/scale.jsonl
SUMMARY=$OUT/summary.txt
: >"$JSONL"
: >"$SUMMARY"

SHARDS_LIST=${DEV_SHARDS:-1 2 4 7}
RUNS=${DEV_RUNS:-2}
DURATION=${DEV_DURATION:-3}
BUDGET=${DEV_BUDGET:-225}
OVERSUB=${DEV_OVERSUB:-0}

LIB=$B/lib
LDSO=$LIB/ld-linux-x86-64.so.2
[[ -x $LDSO ]] || chmod +x "$LDSO" 2>/dev/null || true
PLUGINS=(-d "$B/plugins/librte_mempool_ring.so.23" -d "$B/plugins/librte_mempool_stack.so.23")

log() { echo "$*" | tee -a "$SUMMARY"; }

# timeout(1) when present, else a bash stand-in (TERM, then KILL 3 s later)
if [[ ${DEV_NO_TIMEOUT:-0} != 1 ]] && command -v timeout >/dev/null 2>&1; then
	run_limit() { timeout -k 3 "$@"; }
else
	run_limit() {
		local lim=$1
		shift
		"$@" &
		local pid=$! t=0
		while kill -0 "$pid" 2>/dev/null; do
			if ((t >= lim * 10)); then
				kill -TERM "$pid" 2>/dev/null
				sleep 3
				kill -KILL "$pid" 2>/dev/null
				wait "$pid" 2>/dev/null
				return 124
			fi
			sleep 0.1
			t=$((t + 1))
		done
		wait "$pid"
	}
fi

# seconds left in the budget, capped at 30 (one run's limit)
left() { echo $((BUDGET - (SECONDS - START))); }
limit_for() {
	local l
	l=$(left)
	((l > 30)) && l=30
	echo "$l"
}

# ---- machine -----------------------------------------------------------------
NPROC=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || grep -c ^processor /proc/cpuinfo)
log "nproc: $NPROC"
log "uname: $(uname -a)"
log "cpu: $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //')"
# CPUs this process may run on (Cpus_allowed_list), else 0..nproc-1
CPUS=()
list=$(awk '/^Cpus_allowed_list:/{print $2}' /proc/self/status 2>/dev/null)
if [[ -n $list ]]; then
	IFS=, read -r -a parts <<<"$list"
	for p in "${parts[@]}"; do
		if [[ $p == *-* ]]; then
			for ((c = ${p%-*}; c <= ${p#*-}; c++)); do CPUS+=("$c"); done
		elif [[ -n $p ]]; then
			CPUS+=("$p")
		fi
	done
fi
if ((${#CPUS[@]} == 0 || ${#CPUS[@]} > NPROC * 4)); then
	CPUS=()
	for ((c = 0; c < NPROC; c++)); do CPUS+=("$c"); done
fi
NCPU=${#CPUS[@]}
log "usable cpus ($NCPU): ${CPUS[*]}"
log "bundle glibc: $("$LDSO" --version 2>&1 | head -1)"

# --lcores: lcore i on CPUS[i] (wrapping only when DEV_OVERSUB=1)
lcores_for() {
	local n=$1 s="" i
	for ((i = 0; i <= 2 * n; i++)); do
		s+="${s:+,}$i@${CPUS[i % NCPU]}"
	done
	echo "$s"
}
fits() { ((2 * $1 + 1 <= NCPU)) || [[ $OVERSUB == 1 ]]; }
mem_for() {
	local m=$((512 * ($1 + 1)))
	((m < 1024)) && m=1024
	echo "$m"
}

# ---- cee-bench through the bundled loader -------------------------------------
K=0
CUR_PREFIX=""
# cee_run SHARDS DURATION LIMIT OUTFILE ERRFILE EAL-FLAGS...
cee_run() {
	local n=$1 dur=$2 lim=$3 out=$4 err=$5
	shift 5
	K=$((K + 1))
	CUR_PREFIX=devb$$k$K
	local eal=("$@")
	eal=("${eal[@]//@PREFIX@/$CUR_PREFIX}")
	eal=("${eal[@]//@MEM@/$(mem_for "$n")}")
	run_limit "$lim" env -i PATH=/usr/bin:/bin ${DEVSHIM_TEST:+DEVSHIM_TEST=$DEVSHIM_TEST} \
		"$LDSO" --library-path "$LIB" --preload "$LIB/devshim.so" "$B/bin/cee-bench" \
		"${eal[@]}" --lcores "$(lcores_for "$n")" "${PLUGINS[@]}" \
		-- --shards "$n" --duration "$dur" --json >"$out" 2>"$err"
	local rc=$?
	rm -rf "/var/run/dpdk/$CUR_PREFIX" "/run/dpdk/$CUR_PREFIX" 2>/dev/null
	return $rc
}
# report line = last stdout line, when it is a JSON object
report_of() { tail -n 1 "$1" 2>/dev/null | grep -E '^\{.*\}$'; }
field() { grep -o "\"$2\":[0-9.eE+-]*" <<<"$1" | head -1 | cut -d: -f2; }

# ---- 1. smoke run, choosing the EAL flags -----------------------------------
BASE="--no-huge -m @MEM@ --no-pci --log-level=lib.eal:error"
ATTEMPTS=(
	"$BASE --file-prefix @PREFIX@"
	"$BASE --file-prefix @PREFIX@ --iova-mode=va"
	"$BASE --file-prefix @PREFIX@ --iova-mode=va --no-shconf --no-telemetry"
	"$BASE --in-memory --iova-mode=va --no-telemetry"
	"$BASE --in-memory --iova-mode=va --no-telemetry --legacy-mem"
	"$BASE --in-memory --iova-mode=va --no-telemetry --single-file-segments --log-level=lib.eal:debug"
)
[[ -n ${DEV_EAL:-} ]] && ATTEMPTS=("$DEV_EAL")
# test knob: a first attempt that must fail, to exercise the retries
[[ ${DEV_BADFIRST:-0} == 1 ]] && ATTEMPTS=("$BASE --file-prefix @PREFIX@ --no-such-eal-flag" "${ATTEMPTS[@]}")
EAL=""
log ""
log "== smoke: cee-bench --shards 1 --duration 1"
a=0
for att in "${ATTEMPTS[@]}"; do
	a=$((a + 1))
	lim=$(limit_for)
	((lim > 20)) && lim=20
	if ((lim < 8)); then
		log "smoke: out of time budget"
		break
	fi
	read -r -a flags <<<"$att"
	t0=$SECONDS
	cee_run 1 1 "$lim" "$OUT/logs/smoke$a.out" "$OUT/logs/smoke$a.err" "${flags[@]}"
	rc=$?
	rep=$(report_of "$OUT/logs/smoke$a.out")
	lc=$(field "$rep" lifecycles)
	if [[ $rc == 0 && -n $rep && ${lc:-0} != 0 ]]; then
		log "attempt $a OK ($((SECONDS - t0)) s, rc 0, lifecycles $lc): $att"
		EAL=$att
		break
	fi
	log "attempt $a FAILED (rc $rc, $((SECONDS - t0)) s): $att"
	log "  stderr tail:"
	tail -n 8 "$OUT/logs/smoke$a.err" | sed 's/^/    /' | tee -a "$SUMMARY"
	tail -n 3 "$OUT/logs/smoke$a.out" | sed 's/^/    stdout: /' | tee -a "$SUMMARY"
done
if [[ -z $EAL ]]; then
	log "no EAL flag set worked: cee-bench figures unavailable"
fi
[[ -n $EAL ]] && log "EAL flags used: ${EAL//@MEM@/<512*(shards+1), min 1024>} (+ --lcores, -d plugins)"

# ---- 2. the scaling runs, round by round (so a short budget still covers all)
declare -A CPS MEAN RUNSOK
KB_CPS=()
RUN_SHARDS=()
for n in $SHARDS_LIST; do
	if fits "$n"; then RUN_SHARDS+=("$n"); else log "skip --shards $n: needs $((2 * n + 1)) cpus, have $NCPU"; fi
done
# the largest count that fits, when the list's largest did not
maxfit=$(((NCPU - 1) / 2))
if [[ $OVERSUB != 1 && ${#RUN_SHARDS[@]} -gt 0 && $maxfit -gt ${RUN_SHARDS[-1]} ]]; then
	for n in $SHARDS_LIST; do
		if ! fits "$n"; then RUN_SHARDS+=("$maxfit"); break; fi
	done
fi
KB_CPUS=(--client-cpu "${CPUS[0]}" --server-cpu "${CPUS[$((NCPU > 1 ? 1 : 0))]}")

for ((r = 1; r <= RUNS; r++)); do
	log ""
	log "== round $r"
	if [[ -n $EAL ]]; then
		read -r -a flags <<<"$EAL"
		for n in "${RUN_SHARDS[@]}"; do
			lim=$(limit_for)
			if ((lim < DURATION + 6)); then
				log "cee-bench shards $n run $r: skipped (time budget)"
				continue
			fi
			o=$OUT/logs/cee-s$n-r$r
			t0=$SECONDS
			cee_run "$n" "$DURATION" "$lim" "$o.out" "$o.err" "${flags[@]}"
			rc=$?
			rep=$(report_of "$o.out")
			if [[ -n $rep ]]; then
				printf '{"bench":"cee-bench","shards":%d,"run":%d,"rc":%d,"lcores":"%s","report":%s}\n' \
					"$n" "$r" "$rc" "$(lcores_for "$n")" "$rep" >>"$JSONL"
				cps=$(field "$rep" cps)
				audit=$(grep -o '"audit":{"ok":[a-z]*' <<<"$rep" | sed 's/.*://')
				errs=$(field "$rep" errors)
				log "cee-bench shards $n run $r: rc $rc cps ${cps:-?} cps_mean $(field "$rep" cps_mean) lifecycles $(field "$rep" lifecycles) errors ${errs:-?} audit ${audit:-?} ($((SECONDS - t0)) s)"
				if [[ $rc == 0 && -n $cps ]]; then
					CPS[$n]+="$cps "
					RUNSOK[$n]=$((${RUNSOK[$n]:-0} + 1))
				fi
			else
				printf '{"bench":"cee-bench","shards":%d,"run":%d,"rc":%d,"report":null}\n' "$n" "$r" "$rc" >>"$JSONL"
				log "cee-bench shards $n run $r: FAILED rc $rc, no report ($((SECONDS - t0)) s); stderr tail:"
				tail -n 6 "$o.err" | sed 's/^/    /' | tee -a "$SUMMARY"
			fi
		done
	fi
	lim=$(limit_for)
	if ((lim < DURATION + 4)); then
		log "cee-kbaseline run $r: skipped (time budget)"
		continue
	fi
	o=$OUT/logs/kb-r$r
	t0=$SECONDS
	run_limit "$lim" env -i PATH=/usr/bin:/bin "$LDSO" --library-path "$LIB" "$B/bin/cee-kbaseline" \
		--duration "$DURATION" --json "${KB_CPUS[@]}" >"$o.out" 2>"$o.err"
	rc=$?
	rep=$(report_of "$o.out")
	if [[ -n $rep ]]; then
		printf '{"bench":"cee-kbaseline","pairs":1,"run":%d,"rc":%d,"report":%s}\n' "$r" "$rc" "$rep" >>"$JSONL"
		cps=$(field "$rep" cps)
		log "cee-kbaseline run $r: rc $rc cps ${cps:-?} cps_mean $(field "$rep" cps_mean) errors $(field "$rep" errors) ($((SECONDS - t0)) s)"
		[[ $rc == 0 && -n $cps ]] && KB_CPS+=("$cps")
	else
		printf '{"bench":"cee-kbaseline","pairs":1,"run":%d,"rc":%d,"report":null}\n' "$r" "$rc" >>"$JSONL"
		log "cee-kbaseline run $r: FAILED rc $rc, no report; stderr tail:"
		tail -n 6 "$o.err" | sed 's/^/    /' | tee -a "$SUMMARY"
	fi
done

# ---- 3. summary ----------------------------------------------------------------
mean() { awk '{s=0; for(i=1;i<=NF;i++) s+=$i; if (NF) printf "%.0f", s/NF}' <<<"$*"; }
log ""
log "== summary (cee-bench default scenario, ${DURATION} s runs; cps = median per-second lifecycles/s)"
BASE1=""
[[ -n ${CPS[1]:-} ]] && BASE1=$(mean ${CPS[1]})
printf '%-8s %-6s %-14s %-9s %-10s %s\n' shards lcores "mean cps" speedup "per-shard" "runs (cps)" | tee -a "$SUMMARY"
for n in "${RUN_SHARDS[@]}"; do
	if [[ -z ${CPS[$n]:-} ]]; then
		printf '%-8s %-6s %s\n' "$n" $((2 * n + 1)) "no successful run" | tee -a "$SUMMARY"
		continue
	fi
	m=$(mean ${CPS[$n]})
	sp="-"
	eff="-"
	if [[ -n $BASE1 && $BASE1 != 0 ]]; then
		sp=$(awk -v a="$m" -v b="$BASE1" 'BEGIN{printf "%.2fx", a/b}')
		eff=$(awk -v a="$m" -v b="$BASE1" -v n="$n" 'BEGIN{printf "%.0f%%", 100*a/b/n}')
	fi
	printf '%-8s %-6s %-14s %-9s %-10s %s\n' "$n" $((2 * n + 1)) "$m" "$sp" "$eff" "${CPS[$n]}" | tee -a "$SUMMARY"
done
if ((${#KB_CPS[@]})); then
	kb=$(mean "${KB_CPS[@]}")
	log "linux kernel (cee-kbaseline, 1 client + 1 server thread, loopback): mean cps $kb (runs: ${KB_CPS[*]})"
	[[ -n $BASE1 ]] && log "cee-bench 1 shard / kernel: $(awk -v a="$BASE1" -v b="$kb" 'BEGIN{printf "%.1fx", a/b}')"
else
	log "linux kernel (cee-kbaseline): no successful run"
fi
log "total wall time: $((SECONDS - START)) s; results: $JSONL"
exit 0
