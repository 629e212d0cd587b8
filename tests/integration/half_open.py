#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Half-open connections against cee-engine, for the control-plane tests
(ctl_churn.py --raw-iface): SYNs from an address in the namespace's subnet
that no host holds, sent and answered through an AF_PACKET socket on the
namespace's veth end. The engine answers with a SYN-ACK to that address,
which the namespace's kernel drops (not its address, no forwarding), so the
connection stays half open for as long as this side wants:
  - two in three are completed after a random hold (the ACK), so that they
    are announced (`open`, `established`) long after their slot was taken,
    possibly while a snapshot walk is under way, then reset (RST at
    RCV.NXT: `closed` peer_rst, `destroyed`) after another random hold;
  - one in three is abandoned: the engine ends it at --handshake-timeout or
    at its stop, with no event (half_open_ended).
A snapshot must list none of them while half open, and a completed one only
if its `open` precedes the cut (docs/control.md).
"""

import random
import select
import socket
import struct
import time

from bad_input import ACK, ETH_P_ALL, ETH_P_IP, RST, SYN, ip_header, parse, tcp_segment


class HalfOpener:
    def __init__(self, iface, src_ip, engine_ip, port, seed=1):
        self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.s.bind((iface, ETH_P_ALL))
        with open(f"/sys/class/net/{iface}/address") as f:
            self.my_mac = bytes.fromhex(f.read().strip().replace(":", ""))
        self.engine_mac = None
        with open("/proc/net/arp") as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if cols[0] == engine_ip and cols[3] != "00:00:00:00:00:00":
                    self.engine_mac = bytes.fromhex(cols[3].replace(":", ""))
        if self.engine_mac is None:
            raise OSError(f"half_open: the engine's MAC ({engine_ip}) is not in the ARP table")
        self.src_ip, self.engine_ip, self.port = src_ip, engine_ip, port
        self.rnd = random.Random(seed)
        self.stats = {"syn": 0, "synack": 0, "completed": 0, "reset": 0, "abandoned": 0,
                      "no_synack": 0}

    def _send(self, sport, seq, ack, flags, payload=b""):
        seg = tcp_segment(self.src_ip, self.engine_ip, sport, self.port, seq, ack, flags,
                          options=b"\x02\x04\x05\xb4" if flags == SYN else b"", payload=payload)
        l3 = ip_header(self.src_ip, self.engine_ip, len(seg)) + seg
        self.s.send(self.engine_mac + self.my_mac + struct.pack("!H", ETH_P_IP) + l3)

    def _synacks(self, timeout):
        """SYN-ACKs to our address: (dport, seq) pairs read within timeout."""
        out = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            r, _, _ = select.select([self.s], [], [], max(0.0, left))
            if not r:
                return out
            data, _ = self.s.recvfrom(65535)
            p = parse(data)
            if (p is not None and p["dst"] == self.src_ip and p["sport"] == self.port
                    and p["flags"] & (SYN | ACK) == SYN | ACK):
                out.append((p["dport"], p["seq"]))
            if left <= 0:
                return out

    def run(self, stop, hold_max=0.3, in_flight=16):
        """Until @stop (a threading.Event) is set."""
        conns = {}  # sport -> [state, our iss, server seq, due time, complete?]
        sport = 20000
        while not stop.is_set():
            now = time.monotonic()
            while len(conns) < in_flight:
                sport = sport + 1 if sport < 60000 else 20001
                iss = self.rnd.getrandbits(32)
                self._send(sport, iss, 0, SYN)
                self.stats["syn"] += 1
                conns[sport] = ["syn", iss, 0, now + 2.0, self.rnd.random() < 2 / 3]
            for dport, seq in self._synacks(0.01):
                c = conns.get(dport)
                if c is not None and c[0] == "syn":
                    self.stats["synack"] += 1
                    c[0], c[2], c[3] = "half", seq, time.monotonic() + self.rnd.random() * hold_max
            now = time.monotonic()
            for p, c in list(conns.items()):
                if c[3] > now:
                    continue
                if c[0] == "syn":  # no SYN-ACK within 2 s
                    self.stats["no_synack"] += 1
                    del conns[p]
                elif c[0] == "half" and c[4]:
                    self._send(p, (c[1] + 1) & 0xFFFFFFFF, (c[2] + 1) & 0xFFFFFFFF, ACK)
                    self.stats["completed"] += 1
                    c[0], c[3] = "est", now + self.rnd.random() * hold_max
                elif c[0] == "half":
                    self.stats["abandoned"] += 1
                    del conns[p]
                else:  # established: RST at RCV.NXT
                    self._send(p, (c[1] + 1) & 0xFFFFFFFF, 0, RST)
                    self.stats["reset"] += 1
                    del conns[p]
        for p, c in conns.items():  # leave none established behind
            if c[0] == "est":
                self._send(p, (c[1] + 1) & 0xFFFFFFFF, 0, RST)
                self.stats["reset"] += 1


def resolve_engine(server, timeout=10.0):
    """Put the engine's MAC into the ARP table (HalfOpener reads it there):
    a datagram to it makes the kernel ask. @return False when it never
    resolved."""
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    deadline = time.monotonic() + timeout
    try:
        while True:
            u.sendto(b"arp", (server, 9))
            with open("/proc/net/arp") as f:
                if any(l.split()[0] == server and l.split()[2] == "0x2"
                       for l in f.readlines()[1:]):
                    return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
    finally:
        u.close()
