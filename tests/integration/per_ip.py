#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""--max-conns-per-ip (and, with --rate, --syn-rate-per-ip: rate_phase())
against SYNs spoofed with a real client's address
(test_per_ip.sh; run inside the client's namespace, whose kernel drops what
comes to the spoofed ports: nft, as a NAT drops unsolicited SYN-ACKs).

  1. SPOOF SYNs from the client's own address (ports 50000..), sent and
     read through an AF_PACKET socket, never completed: the engine answers
     each (a half-open slot while the source's unproven connections leave
     room, a cookie beyond).
  2. The real client connects LIMIT times from ordinary ports and echoes:
     every one must succeed (before: RST, the spoofed half-open slots held
     the source's share until their handshakes timed out).
  3. One more real connection is refused (RST): the limit holds for proven
     connections.
  4. The spoofed handshakes are completed now (their ACKs): the slot ones
     must be refused then (RST, never announced) rather than counted past
     the limit, the cookie ones too.
  5. One real connection closes: a new one gets in (within a deadline; its
     refused tries before the engine frees the count are fine).

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
    print(f"per_ip: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def echo_conn(server, port, timeout=5.0):
    """A connection that echoed one message, or None when refused."""
    s = socket.create_connection((server, port), timeout=timeout)
    s.sendall(b"ping\n")
    got = b""
    while len(got) < 5:
        d = s.recv(64)
        if not d:
            raise OSError("EOF before the echo")
        got += d
    if got != b"ping\n":
        raise OSError(f"echo {got!r}")
    return s


def refused(server, port):
    try:
        s = echo_conn(server, port)
    except ConnectionRefusedError:
        return True
    s.close()
    return False


def rate_phase(a, h):
    """--syn-rate-per-ip RATE (session 18, an attacker's review): 3 x RATE
    SYNs spoofed with the client's own address at once, then the client
    connects: it must be served (before: the spoofed SYNs took its tokens
    and its SYN got an RST; an off-path attacker at RATE + 1 SYNs a second
    locked out any source it chose). Then the client's own connections in
    a burst: the rate still holds for them (some refused)."""
    seen = {}
    ports = [a.spoof_port + i for i in range(3 * a.rate)]
    for i, p in enumerate(ports):
        h._send(p, 7000 * (i + 1), 0, SYN)
    answered = set()
    deadline = time.monotonic() + 5
    while len(answered) < len(ports) and time.monotonic() < deadline:
        r, _, _ = select.select([h.s], [], [], 0.05)
        if not r:
            continue
        q = parse(h.s.recvfrom(65535)[0])
        if q is not None and q["dst"] == a.src and q["sport"] == a.port and q["dport"] in ports:
            answered.add(q["dport"])
    seen["spoofed_answered"] = len(answered)
    # the precondition: the spoofed SYNs reached the engine (each is answered,
    # a cookie or an RST); without it the client's service below proves nothing
    if len(answered) != len(ports):
        fail(f"{len(answered)} of {len(ports)} SYNs spoofed with the client's address answered")
    try:
        echo_conn(a.server, a.port).close()
    except ConnectionRefusedError:
        fail(f"the client refused after {len(ports)} SYNs spoofed with its address "
             f"(--syn-rate-per-ip {a.rate})")
    seen["client_served"] = 1
    conns, refusals = [], 0
    for _ in range(3 * a.rate):
        try:
            conns.append(echo_conn(a.server, a.port))
        except (ConnectionRefusedError, ConnectionResetError):
            # an RST to the SYN, or (a cookie answered the SYN over the
            # rate) to the handshake's ACK
            refusals += 1
    for c in conns:
        c.close()
    seen["burst_served"], seen["burst_refused"] = len(conns), refusals
    if refusals == 0:
        fail(f"{len(conns)} connections at once from one address, none refused: "
             f"--syn-rate-per-ip {a.rate} does not hold")
    print(json.dumps(seen))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--iface", required=True)
    ap.add_argument("--src", required=True, help="the client's own address")
    ap.add_argument("--limit", type=int, required=True)
    ap.add_argument("--spoofed", type=int, default=10)
    ap.add_argument("--spoof-port", type=int, default=50000)
    ap.add_argument("--rate", type=int, default=0,
                    help="the engine's --syn-rate-per-ip: that phase only")
    a = ap.parse_args()
    seen = {}

    if not resolve_engine(a.server):
        fail("the engine's address never resolved")
    h = HalfOpener(a.iface, a.src, a.server, a.port)
    if a.rate:
        rate_phase(a, h)
        return

    # 1. spoofed SYNs, all answered (SYN-ACKs: slots or cookies)
    ports = [a.spoof_port + i for i in range(a.spoofed)]
    iss = {p: 1000 * (i + 1) for i, p in enumerate(ports)}
    for p in ports:
        h._send(p, iss[p], 0, SYN)
    synack, reset = {}, set()
    deadline = time.monotonic() + 5
    while len(synack) + len(reset) < len(ports) and time.monotonic() < deadline:
        r, _, _ = select.select([h.s], [], [], 0.05)
        if not r:
            continue
        d, _ = h.s.recvfrom(65535)
        q = parse(d)
        if q is None or q["dst"] != a.src or q["sport"] != a.port or q["dport"] not in iss:
            continue
        if q["flags"] & (SYN | ACK) == SYN | ACK:
            synack.setdefault(q["dport"], q["seq"])
        elif q["flags"] & RST:
            reset.add(q["dport"])
    seen["spoofed_answered"] = len(synack)
    seen["spoofed_refused"] = len(reset)

    # 2. the real client, LIMIT connections
    conns = []
    for i in range(a.limit):
        try:
            conns.append(echo_conn(a.server, a.port))
        except ConnectionRefusedError:
            fail(f"real connection {i + 1} of {a.limit} refused: the spoofed half-open "
                 "connections locked the client out")
    seen["real_served"] = len(conns)

    # (all answered: the ones past the half-open room with cookies)
    if len(synack) != len(ports):
        fail(f"{len(synack)} of {len(ports)} spoofed SYNs answered, {len(reset)} refused")

    # 3. one more: refused
    if not refused(a.server, a.port):
        fail(f"connection {a.limit + 1} from one address served past --max-conns-per-ip")

    # 4. the spoofed handshakes completed now: each must get an RST. Of the
    # half-open ones (the first LIMIT SYNs got slots; the rest cookies, whose
    # ACK must sit at ISN + 1) every other ACK comes one byte into the
    # window: TCP takes a bare ACK anywhere in it, and a check that wanted
    # it at RCV.NXT exactly was bypassed so
    for i, p in enumerate(ports):
        off = 1 if i < a.limit and i % 2 == 0 else 0
        h._send(p, iss[p] + 1 + off, (synack[p] + 1) & 0xFFFFFFFF, ACK)
    rst = set()
    deadline = time.monotonic() + 5
    while len(rst) < len(ports) and time.monotonic() < deadline:
        r, _, _ = select.select([h.s], [], [], 0.05)
        if not r:
            continue
        d, _ = h.s.recvfrom(65535)
        q = parse(d)
        if (q is not None and q["dst"] == a.src and q["sport"] == a.port and q["dport"] in iss
                and q["flags"] & RST):
            rst.add(q["dport"])
    seen["spoofed_reset"] = len(rst)
    if len(rst) != len(ports):
        fail(f"{len(ports) - len(rst)} spoofed handshakes completed past the limit (no RST): "
             f"ports {sorted(set(ports) - rst)}")

    # 5. one real connection ends: a new one gets in
    conns.pop().close()
    deadline = time.monotonic() + 10
    while True:
        try:
            conns.append(echo_conn(a.server, a.port))
            break
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                fail("no connection served 10 s after one of the client's closed")
            time.sleep(0.05)
    seen["real_served"] += 1
    for s in conns:
        s.close()
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
