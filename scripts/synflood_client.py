#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Legitimate clients for scripts/synflood.sh: connect, echo, close, timed.

  synflood_client.py --server IP:PORT [--clients N] [--spread S]
                     [--timeout S] [--message BYTES] [--out FILE]

N clients start at evenly spaced times over S seconds (client i at
i * S / N), each from its own kernel-chosen port: a non-blocking connect(),
then --message bytes (naming the client) sent and read back whole, then
close() (the client's FIN). One thread and a selector drive them all, so a
client's timestamps do not wait for the others' threads: the connect
latency is the time from just before connect() to the selector reporting
the socket writable (SYN-ACK received, ACK sent), in the client's
CLOCK_MONOTONIC. The handshake time is the same handshake timed by the
client's kernel (its first RTT sample, TCP_INFO tcpi_rtt: SYN sent to
SYN-ACK received, without this process's own wait for a CPU; the whole
connect time when the SYN was retransmitted).

A client succeeds when it connected and read its message back unaltered
within --timeout seconds of its connect() (covering the kernel's SYN
retransmissions at 1, 3 and 7 s). Prints one JSON object (and writes it to
--out): per client its local port, connect latency, handshake time, echo
time and error; succeeded/failed counts; connect latency and handshake time
p50/p90/p99/max over the clients that connected. Exit 0 when the run was carried out (whatever the clients'
fate: the caller judges), 2 on a usage error.
"""
import argparse
import errno
import json
import os
import selectors
import socket
import struct
import sys
import time


class Client:
    __slots__ = ("idx", "sock", "port", "t_start", "t_conn", "hs_ms", "t_echo", "msg", "got", "sent",
                 "error", "state")

    def __init__(self, idx, message_len):
        self.idx = idx
        head = b"cee-synflood client %d " % idx
        self.msg = (head + b"x" * max(0, message_len - len(head)))[:max(message_len, 1)]
        self.sock = None
        self.port = None
        self.t_start = None
        self.t_conn = None
        self.hs_ms = None
        self.t_echo = None
        self.got = bytearray()
        self.sent = 0
        self.error = None
        self.state = "wait"  # wait, connecting, echo, done


TCPI_RTT = 68  # offset of tcpi_rtt (u32, microseconds) in struct tcp_info


def handshake_ms(sock):
    """The handshake as the client's TCP timed it: its first RTT sample,
    taken when the SYN-ACK arrived, from the SYN's transmit time (Linux's
    skb_mstamp, microseconds; tcpi_rtt holds it until data is exchanged).
    So it measures the path and the server, not this process: the
    connect_ms figure also holds how long this Python process waited for
    its CPU after the kernel had completed the handshake (on a CPU shared
    with hping3, a wake-up can wait a scheduler tick, 4 ms). A retransmitted
    SYN gives no such sample (Karn): the caller then counts the whole
    connect time."""
    try:
        ti = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
        rtt_us = struct.unpack_from("I", ti, TCPI_RTT)[0]
    except OSError:
        return None
    return rtt_us / 1e3 if rtt_us else None

def percentile(xs, p):
    """Nearest-rank percentile of a sorted list (None when empty)."""
    if not xs:
        return None
    k = max(0, min(len(xs) - 1, int(-(-p * len(xs) // 100)) - 1))
    return xs[k]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", required=True, help="IP:PORT")
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--spread", type=float, default=4.0, help="seconds over which connects start")
    ap.add_argument("--timeout", type=float, default=12.0, help="per client, from its connect()")
    ap.add_argument("--message", type=int, default=64, help="bytes echoed")
    ap.add_argument("--out")
    args = ap.parse_args()
    host, _, port = args.server.rpartition(":")
    addr = (host, int(port))
    if args.clients < 1:
        ap.error("--clients must be at least 1")

    sel = selectors.DefaultSelector()
    clients = [Client(i, args.message) for i in range(args.clients)]
    t0 = time.monotonic()
    starts = [t0 + i * args.spread / args.clients for i in range(args.clients)]
    nxt = 0  # next client to start
    live = 0

    def finish(c, error=None):
        nonlocal live
        if error is not None and c.error is None:
            c.error = error
        if c.sock is not None:
            try:
                sel.unregister(c.sock)
            except (KeyError, ValueError):
                pass
            c.sock.close()  # after a whole echo: FIN; otherwise whatever the kernel does
            c.sock = None
        c.state = "done"
        live -= 1

    while nxt < len(clients) or live > 0:
        now = time.monotonic()
        while nxt < len(clients) and starts[nxt] <= now:
            c = clients[nxt]
            nxt += 1
            live += 1
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            c.sock = s
            c.t_start = time.monotonic()
            rc = s.connect_ex(addr)
            try:
                c.port = s.getsockname()[1]
            except OSError:
                pass
            if rc not in (0, errno.EINPROGRESS):
                finish(c, "connect: %s" % os.strerror(rc))
                continue
            c.state = "connecting"
            sel.register(s, selectors.EVENT_WRITE, c)
        # wake for the next start, the next deadline, or I/O
        wake = starts[nxt] if nxt < len(clients) else now + 0.25
        events = sel.select(max(0.0, min(wake - time.monotonic(), 0.05)))
        now = time.monotonic()
        for key, mask in events:
            c = key.data
            if c.state == "connecting":
                err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    finish(c, "connect: %s" % os.strerror(err))
                    continue
                c.t_conn = now
                c.hs_ms = handshake_ms(c.sock)
                wall_ms = (now - c.t_start) * 1e3
                if c.hs_ms is None or wall_ms >= 900:  # SYN retransmitted (1 s RTO)
                    c.hs_ms = wall_ms
                c.state = "echo"
                sel.modify(c.sock, selectors.EVENT_READ, c)
                try:
                    c.sent = c.sock.send(c.msg)  # a short message: one segment
                except OSError as e:
                    finish(c, "send: %s" % e)
                    continue
                if c.sent != len(c.msg):
                    finish(c, "short send (%d of %d)" % (c.sent, len(c.msg)))
            elif c.state == "echo":
                try:
                    data = c.sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError as e:
                    finish(c, "recv: %s" % e)
                    continue
                if not data:
                    finish(c, "EOF after %d of %d echoed bytes" % (len(c.got), len(c.msg)))
                    continue
                c.got += data
                if len(c.got) >= len(c.msg):
                    if bytes(c.got) != c.msg:
                        finish(c, "echo differs from what was sent")
                    else:
                        c.t_echo = now
                        finish(c)
        for c in clients[:nxt]:
            if c.state in ("connecting", "echo") and now - c.t_start > args.timeout:
                what = "connect" if c.state == "connecting" else "echo"
                finish(c, "timeout after %.1f s waiting for the %s" % (args.timeout, what))

    ok = [c for c in clients if c.error is None]
    lat = sorted((c.t_conn - c.t_start) * 1e3 for c in clients if c.t_conn is not None)
    hs = sorted(c.hs_ms for c in clients if c.hs_ms is not None)
    res = {
        "server": args.server,
        "clients": len(clients),
        "succeeded": len(ok),
        "failed": len(clients) - len(ok),
        "connected": len(lat),
        "connect_ms": {
            "p50": percentile(lat, 50), "p90": percentile(lat, 90),
            "p99": percentile(lat, 99), "max": lat[-1] if lat else None,
        },
        # the same handshakes timed by the clients' kernel (see handshake_ms)
        "handshake_ms": {
            "n": len(hs), "p50": percentile(hs, 50), "p90": percentile(hs, 90),
            "p99": percentile(hs, 99), "max": hs[-1] if hs else None,
        },
        "wall_s": time.monotonic() - t0,
        "errors": sorted({c.error for c in clients if c.error}),
        "per_client": [{
            "i": c.idx, "port": c.port,
            "connect_ms": (c.t_conn - c.t_start) * 1e3 if c.t_conn is not None else None,
            "handshake_ms": c.hs_ms,
            "echo_ms": (c.t_echo - c.t_conn) * 1e3 if c.t_echo is not None else None,
            "error": c.error,
        } for c in clients],
    }
    try:
        with open("/proc/self/schedstat") as f:  # ns on CPU, ns waiting for one, slices
            res["cpu_wait_ms"] = int(f.read().split()[1]) / 1e6
    except (OSError, ValueError, IndexError):
        res["cpu_wait_ms"] = None
    text = json.dumps(res)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    print(json.dumps({k: v for k, v in res.items() if k != "per_client"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
