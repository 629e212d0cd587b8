#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Send buffers pinned by out-of-order data (test_ooo_pin.sh; run inside the
client's namespace, whose kernel drops what comes to the attacker's ports:
nft). Built by hand through an AF_PACKET socket: PINNERS connections from
the namespace's own address (ports 50000..), each completes its handshake
and sends one byte past a hole (sequence ISN+2: ISN+1 never comes), so each
holds a send buffer with nothing it could ever deliver. Then a real client
connects and echoes ROUNDS times: every round must be served (before
session 14 each pinned buffer stayed pinned and new SYNs got an RST:
refused_sndbuf). The pinned connections are reset at the end.

Prints one JSON line of what it saw; exit 1 on a failed expectation.
"""

import argparse
import json
import select
import socket
import sys
import time

from bad_input import ACK, RST, SYN, parse
from half_open import HalfOpener, resolve_engine


def fail(msg):
    print(f"ooo_pin: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--iface", required=True)
    ap.add_argument("--src", required=True, help="the namespace's own address")
    ap.add_argument("--pinners", type=int, required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--base-port", type=int, default=50000)
    a = ap.parse_args()
    seen = {}

    if not resolve_engine(a.server):
        fail("the engine's address never resolved")
    h = HalfOpener(a.iface, a.src, a.server, a.port)
    ports = [a.base_port + i for i in range(a.pinners)]
    iss = {p: 7000 * (i + 1) for i, p in enumerate(ports)}
    for p in ports:
        h._send(p, iss[p], 0, SYN)
    synack = {}
    deadline = time.monotonic() + 10
    while len(synack) < len(ports) and time.monotonic() < deadline:
        for dport, seq in h._synacks(0.05):
            if dport in iss:
                synack.setdefault(dport, seq)
    if len(synack) != len(ports):
        fail(f"{len(synack)} of {len(ports)} SYNs answered")
    # the handshakes completed, then one byte past a hole on each
    for p in ports:
        h._send(p, iss[p] + 1, (synack[p] + 1) & 0xFFFFFFFF, ACK)
    for p in ports:
        h._send(p, iss[p] + 2, (synack[p] + 1) & 0xFFFFFFFF, ACK, payload=b"x")
    # each is answered with a duplicate ACK (RCV.NXT still ISN+1): the byte
    # is queued out of order, its buffer taken
    dup = set()
    deadline = time.monotonic() + 10
    while len(dup) < len(ports) and time.monotonic() < deadline:
        r, _, _ = select.select([h.s], [], [], 0.05)
        if not r:
            continue
        d, _ = h.s.recvfrom(65535)
        q = parse(d)
        if (q is not None and q["dst"] == a.src and q["sport"] == a.port and q["dport"] in iss
                and q["flags"] & ACK and not q["flags"] & (SYN | RST)
                and q["ack"] == (iss[q["dport"]] + 1) & 0xFFFFFFFF):
            dup.add(q["dport"])
    seen["pinned"] = len(dup)
    if len(dup) != len(ports):
        fail(f"{len(dup)} of {len(ports)} out-of-order bytes acknowledged as a hole")

    # a real client, served every round
    served = 0
    for i in range(a.rounds):
        try:
            s = socket.create_connection((a.server, a.port), timeout=5)
            s.sendall(b"hello %d\n" % i)
            want = b"hello %d\n" % i
            got = b""
            while len(got) < len(want):
                d = s.recv(64)
                if not d:
                    break
                got += d
            s.close()
        except (ConnectionRefusedError, ConnectionResetError, socket.timeout) as e:
            fail(f"round {i + 1}: {type(e).__name__}: the out-of-order bytes pinned every buffer")
        if got != want:
            fail(f"round {i + 1}: echo {got!r}")
        served += 1
    seen["served"] = served
    for p in ports:  # leave nothing behind
        h._send(p, iss[p] + 1, 0, RST)
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
