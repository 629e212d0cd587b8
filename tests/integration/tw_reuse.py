#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""A Linux client reconnecting from one fixed port to cee-engine's echo-close
service, which closes first and so holds each connection in TIME-WAIT.

Guards against a reconnecting client losing its SYN to the old connection's
TIME-WAIT (a challenge ACK, the client's RST and a SYN retransmission one
second later): with timestamps (RFC 6191) the new SYN carries a newer
TSval and must open the next incarnation at once. Every round must echo its
bytes; the engine's counters (checked by the caller) must show the reuses.
Prints one JSON object; exit 1 when a round failed.

With --iface (the namespace's veth end) the engine's segments are watched
too (an AF_PACKET socket): each new incarnation's ISS must be above the
last one's sequence space (RFC 9293 3.6.1; the engine sets it 65537 past
the old SND.MAX). Guards against a SYN that ended a TIME-WAIT being
answered with a SYN cookie (--syn-cookies always, or a flood): the
cookie's ISS was unrelated to the old connection's, below it half the time.
"""

import argparse
import errno
import json
import socket
import struct
import sys
import threading
import time

ETH_P_IP = 0x0800


class Watch(threading.Thread):
    """The engine's TCP segments to (CLIENT, SPORT): (flags, seq) in order."""

    def __init__(self, iface, server, client, sport):
        super().__init__(daemon=True)
        self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
        self.s.bind((iface, ETH_P_IP))
        self.s.settimeout(0.2)
        host, port = server.rsplit(":", 1)
        self.src, self.sport = socket.inet_aton(host), int(port)
        self.dst, self.dport = socket.inet_aton(client), sport
        self.segs, self.lock, self.stop = [], threading.Lock(), False

    def run(self):
        while not self.stop:
            try:
                f, addr = self.s.recvfrom(65535)
            except socket.timeout:
                continue
            if addr[2] == socket.PACKET_OUTGOING or len(f) < 14 + 20 + 20:
                continue
            ip = f[14:]
            ihl = (ip[0] & 15) * 4
            if ip[9] != 6 or ip[12:16] != self.src or ip[16:20] != self.dst:
                continue
            sp, dp, seq = struct.unpack_from("!HHI", ip, ihl)
            if sp == self.sport and dp == self.dport:
                with self.lock:
                    self.segs.append((ip[ihl + 13], seq))

    def mark(self):
        with self.lock:
            return len(self.segs)

    def since(self, i):
        with self.lock:
            return self.segs[i:]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--server", required=True, help="HOST:PORT")
    ap.add_argument("--bind", required=True, help="the client's address")
    ap.add_argument("--sport", type=int, default=41007)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--iface", help="watch the engine's ISS on this interface")
    a = ap.parse_args()
    host, port = a.server.rsplit(":", 1)
    out = {"rounds": a.rounds, "ok": 0, "errors": [], "syn_retries": 0}
    watch = None
    if a.iface:
        watch = Watch(a.iface, a.server, a.bind, a.sport)
        watch.start()
        out["iss_checked"] = 0
    old_max = None  # the last incarnation's SND.MAX (its FIN + 1)
    for i in range(a.rounds):
        mark = watch.mark() if watch else 0
        msg = f"round {i}".encode()
        # against a deadline, not a count: 50 x 20 ms (about 1 s) of
        # EADDRNOTAVAIL ran out on a loaded machine before our last socket
        # on this tuple had left LAST-ACK
        deadline = time.monotonic() + 10
        while True:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.settimeout(10)
            try:
                s.bind((a.bind, a.sport))
                s.connect((host, int(port)))
                break
            except OSError as e:
                s.close()
                # our own last socket on this tuple may still be in LAST-ACK for an instant
                if e.errno in (errno.EADDRINUSE, errno.EADDRNOTAVAIL) and time.monotonic() < deadline:
                    time.sleep(0.02)
                    continue
                out["errors"].append(f"round {i}: connect: {e!r}")
                s = None
                break
        if s is None:
            continue
        try:
            # tcpi_total_retrans (offset 100 of struct tcp_info): after
            # connect() only the SYN can have been sent again (tcpi_retransmits
            # is reset by the SYN-ACK's ACK of it, so it always read 0)
            info = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
            out["syn_retries"] += struct.unpack_from("I", info, 100)[0]
            s.sendall(msg)
            got = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
            if got != msg:
                out["errors"].append(f"round {i}: echo {got!r}, sent {msg!r}")
            else:
                out["ok"] += 1
        except OSError as e:
            out["errors"].append(f"round {i}: {e!r}")
        finally:
            s.close()
        if watch:
            # the FIN's copy on the capture socket: polled, not slept for
            # (0.05 s was sometimes too short for the capture thread on a
            # loaded machine); our recv saw the FIN, so it is on its way
            deadline = time.monotonic() + 5
            while True:
                segs = watch.since(mark)
                synack = [q for fl, q in segs if fl & 0x12 == 0x12]
                fins = [q for fl, q in segs if fl & 0x01]
                if (synack and fins) or time.monotonic() >= deadline:
                    break
                time.sleep(0.01)
            if not synack or not fins:
                out["errors"].append(f"round {i}: watched no SYN-ACK or FIN: {segs}")
                old_max = None
                continue
            if old_max is not None:
                d = (synack[0] - old_max) & 0xFFFFFFFF
                out["iss_checked"] += 1
                if d == 0 or d >= 1 << 31:
                    out["errors"].append(f"round {i}: ISS {synack[0]} not above the last "
                                         f"incarnation's SND.MAX {old_max}")
            old_max = (fins[-1] + 1) & 0xFFFFFFFF
    if watch:
        watch.stop = True
    print(json.dumps(out))
    return 0 if out["ok"] == a.rounds else 1


if __name__ == "__main__":
    sys.exit(main())
