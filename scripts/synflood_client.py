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
CLOCK_MONOTONIC.

A client succeeds when it connected and read its message back unaltered
within --timeout seconds of its connect() (covering the kernel's SYN
retransmissions at 1, 3 and 7 s). Prints one JSON object (and writes it to
--out): per client its local port, connect latency, echo time and error;
succeeded/failed counts; connect latency p50/p90/p99/max over the clients
that connected. Exit 0 when the run was carried out (whatever the clients'
fate: the caller judges), 2 on a usage error.
"""
import argparse
import errno
import json
import os
import selectors
import socket
import sys
import time


class Client:
    __slots__ = ("idx", "sock", "port", "t_start", "t_conn", "t_echo", "msg", "got", "sent",
                 "error", "state")

    def __init__(self, idx, message_len):
        self.idx = idx
        head = b"cee-synflood client %d " % idx
        self.msg = (head + b"x" * max(0, message_len - len(head)))[:max(message_len, 1)]
        self.sock = None
        self.port = None
        self.t_start = None
        self.t_conn = None
        self.t_echo = None
        self.got = bytearray()
        self.sent = 0
        self.error = None
        self.state = "wait"  # wait, connecting, echo, done


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
        "wall_s": time.monotonic() - t0,
        "errors": sorted({c.error for c in clients if c.error}),
        "per_client": [{
            "i": c.idx, "port": c.port,
            "connect_ms": (c.t_conn - c.t_start) * 1e3 if c.t_conn is not None else None,
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
