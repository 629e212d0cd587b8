#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# A file sink on a full disk loses nothing. cee-bench exports into a jsonl
# and a binary file on a small tmpfs that a filler file has nearly filled;
# the disk fills under load, and once both sinks have reported the failure
# ("No space left on device") the filler is removed.
#
# Must hold: both sinks failed with ENOSPC and recovered; cee-bench exits 0
# (its in-process audit passed and every sink delivered everything); each
# file passes cee-audit (each event once, none missing, in order) and holds
# as many events as cee-bench exported. (Admission stopping behind a failed
# sink is sink_stall's and the unit tests'; here the rings may absorb the
# failure.)
#
# Guards against: a short write at the disk's end losing or repeating the
# bytes after it (the rest of a line or record written again, or not at
# all), records dropped while the disk is full, a failed file sink that is
# never retried.
#
# Usage: test_sink_diskfull.sh CEE_BENCH CEE_AUDIT [--keep]. Needs root (a
# tmpfs mount; exit 77 without).
set -euo pipefail
source "$(dirname "$0")/lib.sh" # it_log, it_fail, it_skip, it_wait_until, it_file_has
BENCH=$(realpath "$1")
AUDIT=$(realpath "$2")
KEEP=${3:-}
PY=/usr/bin/python3

[[ $(id -u) -eq 0 ]] || it_skip "needs root to mount a small tmpfs"
WORK=$(mktemp -d /tmp/cee-diskfull.XXXXXX)
MNT=$WORK/disk
BENCH_PID=
cleanup() {
	local rc=$?
	[[ -z $BENCH_PID ]] || kill "$BENCH_PID" 2>/dev/null || true
	mountpoint -q "$MNT" && { cp "$MNT"/*.jsonl "$MNT"/*.bin "$WORK"/ 2>/dev/null || true; umount "$MNT"; }
	if [[ $rc -ne 0 || $KEEP == --keep ]]; then
		echo "work directory kept: $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM # (meson's timeout: the tmpfs is unmounted)
mkdir "$MNT"
# 100,000 lifecycles make about 87 MB of lines and 26 MB of records; the 8 MB
# free at first fill up after a fifteenth of them
# (as root, above, a failed mount is a broken set-up: it was a skip, unless
# mounts are refused here, a container without CAP_SYS_ADMIN)
if ! mount -t tmpfs -o size=192m cee-diskfull "$MNT"; then
	unshare -m true 2>/dev/null || it_skip "mounts are refused here (no CAP_SYS_ADMIN)"
	it_fail "cannot mount a tmpfs, though mounts are allowed"
fi
dd if=/dev/zero of="$MNT/filler" bs=1M count=184 status=none

ncpu=$(nproc)
if [ "$ncpu" -ge 2 ]; then LCORES="0@1,1@1,2@0"; else LCORES="0@0,1@0,2@0"; fi
it_log "cee-bench into $MNT (tmpfs 192 MB, 184 MB taken)"
"$BENCH" --no-huge -m 1024 --no-pci --file-prefix "cee-diskfull-$$" --lcores "$LCORES" \
	--log-level=lib.eal:error -- --json --conns 100000 --concurrency 64 --close mix \
	--events "jsonl:$MNT/events.jsonl" --events "binary:$MNT/events.bin" \
	>"$WORK/bench.json" 2>"$WORK/bench.err" &
BENCH_PID=$!
# each sink by name: one sink failing twice (a recovery, then ENOSPC again)
# counted two as well, and the other sink's ENOSPC path went untested
said() { grep -qF "cee: events sink '$1:$MNT/$2' $3" "$WORK/bench.err"; }
fails() { said jsonl events.jsonl "failed: No space left on device" &&
	said binary events.bin "failed: No space left on device"; }
it_wait_until 60 "both sinks to fail with ENOSPC" fails || it_fail "the disk never filled (see $WORK/bench.err)"
it_log "both sinks failed: $(df -k --output=used,avail "$MNT" | tail -n 1) KB used/free; removing the filler"
rm "$MNT/filler"
rc=0
wait "$BENCH_PID" || rc=$?
BENCH_PID=
grep -v TELEMETRY "$WORK/bench.err" | grep -v "cee-bench: t=" | head -n 8
grep "cee-bench: t=" "$WORK/bench.err" | tail -n 2 || true
[[ $rc -eq 0 ]] || it_fail "cee-bench exited $rc (see $WORK/bench.err)"
for k in "jsonl events.jsonl" "binary events.bin"; do
	# shellcheck disable=SC2086 # two words: kind and file
	said $k "recovered after" || it_fail "the ${k%% *} sink did not report recovering"
done
read -r want refused < <("$PY" -c 'import json,sys; r=json.loads(open(sys.argv[1]).read().splitlines()[-1]); print(r["audit"]["events"], r["refused"])' "$WORK/bench.json")
for f in events.jsonl events.bin; do
	"$AUDIT" --json "$MNT/$f" >"$WORK/$f.audit" 2>&1 || { tail -n 5 "$WORK/$f.audit"; it_fail "cee-audit rejected $f"; }
	got=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["events"])' "$WORK/$f.audit")
	[[ $got -eq $want ]] || it_fail "$f holds $got events, cee-bench exported $want"
	it_log "$f: $got events, audit OK"
done
it_log "connections refused meanwhile: $refused; PASS test_sink_diskfull"
