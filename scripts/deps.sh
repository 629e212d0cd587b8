#!/usr/bin/env bash
# Install the Debian packages cee needs to build and test (idempotent).
# Run as root on Debian 12; does nothing when everything is present.
set -euo pipefail
# dpdk-dev: /usr/bin/dpdk-telemetry.py (the control-plane tests query telemetry with it)
# clang-14, libfuzzer-14-dev, libclang-rt-14-dev: the fuzz targets (scripts/fuzz.sh);
# libclang-rt-14-dev holds clang's ASan/UBSan/libFuzzer runtimes, only recommended by clang-14;
# llvm-14: llvm-symbolizer, so that a fuzz crash's report has its stack frames
# hping3: the spoofed SYN flood of scripts/synflood.sh (nftables: its --shield,
# and test_per_ip.sh's client that drops SYN-ACKs to spoofed ports);
# python3-scapy: hand-built packets; python3-cryptography: TLS 1.3 records
# forged under a test client's own keys (tests/integration/tls_forged.py)
# (scripts/blind.sh); nats-server, libnats-dev: the NATS JetStream
# sink, cee-tail and their tests with a real broker
pkgs=(
	build-essential pkg-config meson ninja-build
	libdpdk-dev dpdk dpdk-dev libwolfssl-dev libcmocka-dev
	iproute2 ethtool procps python3 python3-websockets openssl curl
	clang-14 libfuzzer-14-dev libclang-rt-14-dev llvm-14
	hping3 nftables python3-scapy python3-cryptography
	nats-server libnats-dev
)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages: ${missing[*]}; run as root to install them" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null || echo "deps: apt-get update failed; trying the cached lists" >&2
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
