#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""A hand-driven TCP peer behind unusual paths, against cee-engine's echo
service, over an AF_PACKET socket on the namespace's veth end.

The peer uses an address of its own (--peer-ip, one the namespace's kernel
does not hold, so the kernel never answers the engine's segments with RST)
and answers the engine's ARP requests for it.

Cases (each a fresh connection from its own port):
  mss1  the SYN announces MSS 1. Guards against a frame storm: every data
        segment the engine sends must carry at most 64 bytes (its floor),
        1000 echoed bytes must come in 16 segments, and all of them back.
  pmtu  a 1280-byte MTU hop: every frame from the engine longer than 1280
        bytes is dropped by the "hop", which answers the first one with ICMP
        fragmentation needed (RFC 1191) quoting it. Guards against a path
        black hole: the transfer must complete, every byte correct, in
        segments of at most 1240 bytes after the ICMP.
Prints one JSON object and exits 1 if a case failed.
"""

import argparse
import json
import os
import random
import select
import socket
import struct
import sys
import time

from bad_input import ACK, ETH_P_ALL, ETH_P_IP, FIN, PACKET_OUTGOING, RST, SYN, csum, ip_header, tcp_segment

ETH_P_ARP = 0x0806


class Peer:
    def __init__(self, args):
        self.a = args
        self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.s.bind((args.iface, ETH_P_ALL))
        with open(f"/sys/class/net/{args.iface}/address") as f:
            self.mac = bytes.fromhex(f.read().strip().replace(":", ""))
        self.engine_mac = None
        self.ip, self.eip = args.peer_ip, args.engine_ip

    def send_l3(self, l3, dst_mac=None):
        self.s.send((dst_mac or self.engine_mac) + self.mac + struct.pack("!H", ETH_P_IP) + l3)

    def arp(self, op, tha, tpa):
        body = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, op, self.mac, socket.inet_aton(self.ip),
                           tha, socket.inet_aton(tpa))
        dst = b"\xff" * 6 if op == 1 else tha
        self.s.send(dst + self.mac + struct.pack("!H", ETH_P_ARP) + body)

    def frames(self, timeout):
        """Frames for us (answering ARP on the way), parsed, until @timeout passes quietly."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            r, _, _ = select.select([self.s], [], [], left)
            if not r:
                return
            data, addr = self.s.recvfrom(65535)
            if addr[2] == PACKET_OUTGOING or len(data) < 14:
                continue
            et = struct.unpack("!H", data[12:14])[0]
            if et == ETH_P_ARP and len(data) >= 42:
                op, sha, spa, tpa = struct.unpack("!H6s4s", data[20:32]) + (data[38:42],)
                if op == 1 and socket.inet_ntoa(tpa) == self.ip:
                    self.engine_mac = self.engine_mac or sha
                    self.arp(2, sha, socket.inet_ntoa(spa))
                elif op == 2 and socket.inet_ntoa(spa) == self.eip:
                    self.engine_mac = sha
                continue
            if et != ETH_P_IP:
                continue
            p = parse(data)
            if p and p["src"] == self.eip and p["dst"] == self.ip:
                yield p

    def resolve(self):
        for _ in range(20):
            self.arp(1, b"\0" * 6, self.eip)
            for _ in self.frames(0.2):
                pass
            if self.engine_mac:
                return
        sys.exit("path_peer: the engine did not answer ARP")

    def seg(self, sport, seq, ack, flags, payload=b"", options=b"", window=65535):
        l4 = tcp_segment(self.ip, self.eip, sport, self.a.port, seq, ack, flags, window=window,
                         options=options, payload=payload)
        self.send_l3(ip_header(self.ip, self.eip, len(l4)) + l4)


def parse(frame):
    ip = frame[14:]
    if len(ip) < 40 or ip[9] != 6:
        return None
    ihl = (ip[0] & 15) * 4
    tl = struct.unpack("!H", ip[2:4])[0]
    tcp = ip[ihl:tl]
    sport, dport, seq, ack, off, flags, win = struct.unpack("!HHIIBBH", tcp[:16])
    doff = (off >> 4) * 4
    opts, mss = tcp[20:doff], None
    i = 0
    while i < len(opts):
        if opts[i] == 0:
            break
        if opts[i] == 1:
            i += 1
            continue
        if i + 1 >= len(opts):
            break
        if opts[i] == 2 and opts[i + 1] == 4:
            mss = struct.unpack("!H", opts[i + 2:i + 4])[0]
        i += max(2, opts[i + 1])
    return {"src": socket.inet_ntoa(ip[12:16]), "dst": socket.inet_ntoa(ip[16:20]), "sport": sport,
            "dport": dport, "seq": seq, "ack": ack, "flags": flags, "win": win, "mss": mss,
            "payload": bytes(tcp[doff:]), "ip_len": tl, "raw_l3": bytes(ip[:tl])}


def transfer(peer, sport, mss, data, hop_mtu=None, timeout=20.0):
    """Open, send @data, read the echo back (ACKing as it comes), close.
    @hop_mtu: frames from the engine longer than it are dropped and the first
    is answered with ICMP fragmentation needed. @return a result dict."""
    res = {"sport": sport, "sent": len(data), "ok": False, "errors": [], "data_segs": 0,
           "max_payload": 0, "max_payload_after_icmp": 0, "icmp_sent": 0, "dropped_by_hop": 0}
    iss = random.getrandbits(32)
    peer.seg(sport, iss, 0, SYN, options=struct.pack("!BBH", 2, 4, mss))
    synack = None
    for p in peer.frames(3.0):
        if p["sport"] == peer.a.port and p["dport"] == sport and p["flags"] & SYN:
            synack = p
            break
    if synack is None:
        res["errors"].append("no SYN-ACK")
        return res
    res["engine_mss"] = synack["mss"]
    rcv = (synack["seq"] + 1) & 0xFFFFFFFF
    snd = (iss + 1) & 0xFFFFFFFF
    peer.seg(sport, snd, rcv, ACK)
    # our data, in segments of at most 1000 bytes, all at once (the engine's window is larger)
    for off in range(0, len(data), 1000):
        peer.seg(sport, snd + off, rcv, ACK, payload=data[off:off + 1000])
    snd = (snd + len(data)) & 0xFFFFFFFF
    got = bytearray()
    base = rcv
    deadline = time.monotonic() + timeout
    fin_sent = False
    while time.monotonic() < deadline:
        progressed = False
        for p in peer.frames(0.3):
            if p["sport"] != peer.a.port or p["dport"] != sport:
                continue
            if p["flags"] & RST:
                res["errors"].append("RST from the engine")
                return res
            n = len(p["payload"])
            if hop_mtu and p["ip_len"] > hop_mtu:
                res["dropped_by_hop"] += 1
                if res["icmp_sent"] == 0:  # the hop reports the first one
                    icmp = struct.pack("!BBHHH", 3, 4, 0, 0, hop_mtu) + p["raw_l3"][:28]
                    icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
                    hop = peer.a.hop_ip
                    peer.send_l3(ip_header(hop, peer.eip, len(icmp), proto=1) + icmp)
                    res["icmp_sent"] += 1
                continue
            if n:
                res["data_segs"] += 1
                res["max_payload"] = max(res["max_payload"], n)
                if res["icmp_sent"]:
                    res["max_payload_after_icmp"] = max(res["max_payload_after_icmp"], n)
                off = (p["seq"] - base) & 0xFFFFFFFF
                if off <= len(got) < off + n:  # in order (or overlapping what we have)
                    got += p["payload"][len(got) - off:]
                    progressed = True
            if p["flags"] & FIN and len(got) == len(data):
                rcv = (base + len(got) + 1) & 0xFFFFFFFF
                peer.seg(sport, snd + (1 if fin_sent else 0), rcv, ACK)
                res["ok"] = bytes(got) == data
                if not res["ok"]:
                    res["errors"].append("echoed bytes differ")
                res["echoed"] = len(got)
                return res
        rcv = (base + len(got)) & 0xFFFFFFFF
        if progressed or True:
            peer.seg(sport, snd + (1 if fin_sent else 0), rcv, ACK)  # cumulative ACK
        if len(got) == len(data) and not fin_sent:
            peer.seg(sport, snd, rcv, FIN | ACK)
            fin_sent = True
    res["echoed"] = len(got)
    res["errors"].append(f"timed out with {len(got)} of {len(data)} bytes echoed")
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iface", required=True)
    ap.add_argument("--peer-ip", required=True, help="an address of the subnet no host holds")
    ap.add_argument("--hop-ip", required=True, help="the source of the ICMP message (a router)")
    ap.add_argument("--engine-ip", required=True)
    ap.add_argument("--port", type=int, default=7)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    random.seed(7)
    peer = Peer(args)
    peer.resolve()
    out = {}
    r = transfer(peer, 51001, 1, os.urandom(1000))
    if r["ok"] and r["max_payload"] > 64:
        r["errors"].append(f"a data segment of {r['max_payload']} bytes for a peer MSS of 1 (floor 64)")
    if r["ok"] and r["data_segs"] > 16 + 4:
        r["errors"].append(f"{r['data_segs']} data segments for 1000 bytes at MSS 64 (16 + retransmits)")
    out["mss1"] = r
    r = transfer(peer, 51002, 1460, os.urandom(20000), hop_mtu=1280)
    if r["ok"] and r["icmp_sent"] == 0:
        r["errors"].append("no frame was larger than the hop's MTU: the case tested nothing")
    if r["ok"] and r["max_payload_after_icmp"] > 1240:
        r["errors"].append(f"segments of {r['max_payload_after_icmp']} bytes after the ICMP (MTU 1280)")
    out["pmtu"] = r
    for k in out:
        out[k]["pass"] = out[k]["ok"] and not out[k]["errors"]
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    for k, v in out.items():
        print(f"path_peer: {k}: {'PASS' if v['pass'] else 'FAIL'} "
              f"{ {x: v[x] for x in ('data_segs', 'max_payload', 'max_payload_after_icmp', 'icmp_sent', 'dropped_by_hop', 'echoed') if x in v} } {v['errors']}")
    return 0 if all(v["pass"] for v in out.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
