#!/usr/bin/env bash
# Multi-core scaling on a lent machine (the device tool; nothing to install
# there): builds .devbundle/ (ignore it in .git/info/exclude), a
# self-contained bundle of cee-bench and cee-kbaseline with their shared
# libraries, glibc's loader and the DPDK mempool plugins, plus run.sh, which
# measures cee-bench at 1, 2, 4 and 7 shards beside the kernel baseline.
#   meson setup build-dev --buildtype=release -Dcpu=x86-64-v2
#   ninja -C build-dev apps/cee-bench bench/cee-kbaseline
#   scripts/devscale/mkbundle.sh        (from the repository root)
#   then on the device: bash .devbundle/run.sh   (carry .devbundle; $OUT set)
# x86-64-v2, not native: the lent machine's CPU may lack this one's AVX-512.
# sysfs-shim.c (preloaded) answers DPDK's per-CPU topology probe where a
# sandbox (gVisor) has no /sys/devices/system/cpu/cpuN/topology.
set -euo pipefail
B=.devbundle
PMDS=/usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0
rm -rf "$B/bin" "$B/lib" "$B/plugins"
mkdir -p "$B/bin" "$B/lib" "$B/plugins" "$B/src"
cp scripts/devscale/run.sh "$B/run.sh"
cp scripts/devscale/sysfs-shim.c "$B/src/"
cp -L build-dev/apps/cee-bench build-dev/bench/cee-kbaseline "$B/bin/"
# Mempool drivers are plugins on Debian (not linked in): "stack" is the
# engine's default mbuf pool (cee_engine.c), "ring_mp_mc" DPDK's default
# (bench_dup pool and the fallback). net_ring and the buses are linked in.
cp -L "$PMDS/librte_mempool_ring.so.23" "$PMDS/librte_mempool_stack.so.23" "$B/plugins/"
gcc -O2 -shared -fPIC -Wall -o "$B/lib/devshim.so" "$B/src/sysfs-shim.c"
# every shared library, recursively (ldd is recursive), plus the loader
for f in "$B"/bin/* "$B"/plugins/* "$B/lib/devshim.so"; do
	ldd "$f" | awk '/=> \//{print $3} /^\t\/.*ld-linux/{print $1}'
done | sort -u | while read -r so; do
	cp -L "$so" "$B/lib/$(basename "$so")"
done
# glibc's own dlopen'ed helpers: libgcc_s (pthread_cancel/unwinding),
# NSS files; plus the old split libs in case anything asks for them
for so in libgcc_s.so.1 libnss_files.so.2 libresolv.so.2 libpthread.so.0 libdl.so.2 librt.so.1; do
	if [[ -e /lib/x86_64-linux-gnu/$so ]]; then cp -L "/lib/x86_64-linux-gnu/$so" "$B/lib/"; fi
done
# EAL scans RTE_EAL_PMD_PATH (compiled into librte_eal) for plugins when that
# directory exists: blank the string so the bundle never loads the target's
# (or this machine's) DPDK drivers; run.sh passes the plugins with -d.
/usr/bin/python3 - "$B/lib/librte_eal.so.23" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
needle = b'\0/usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0\0'
assert b.count(needle) == 1, 'plugin dir string not found exactly once'
i = b.find(needle) + 1
b[i] = 0
open(p, 'wb').write(bytes(b))
print('patched RTE_EAL_PMD_PATH at', hex(i))
PY
strip --strip-unneeded "$B"/bin/* || true
chmod +x "$B/lib/ld-linux-x86-64.so.2" "$B"/bin/*
(cd "$B" && find bin lib plugins -type f | sort | xargs sha256sum) >"$B/MANIFEST.sha256"
du -sh "$B"
