#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""The Linux kernel's TCP as an echo server, for scripts/synflood.sh.

One thread, a selector: accept every connection the kernel completes (a
SYN-queue entry or a SYN cookie), echo what it sends, and at its FIN
shutdown(SHUT_WR) and close (as cee's echo service does).
  synflood_echo.py --bind IP --port 7 [--backlog N] [--ready FILE]
--backlog is listen()'s: the kernel answers with SYN cookies
(net.ipv4.tcp_syncookies=1) once N requests are half open, as cee does at
--syn-backlog (default 1024 for both). Runs until SIGTERM/SIGINT; prints
one JSON line (connections, bytes, errors) on stdout at exit.
"""
import argparse
import json
import selectors
import signal
import socket
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bind", required=True)
    ap.add_argument("--port", type=int, default=7)
    ap.add_argument("--backlog", type=int, default=1024)
    ap.add_argument("--ready", help="file created once listening")
    args = ap.parse_args()

    stats = {"connections": 0, "bytes": 0, "errors": 0, "backlog": args.backlog}
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((args.bind, args.port))
    ls.listen(args.backlog)
    ls.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(ls, selectors.EVENT_READ, None)

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.ready:
        with open(args.ready, "w") as f:
            f.write("ready\n")

    def drop(c):
        sel.unregister(c)
        c.close()

    try:
        while True:
            for key, _ in sel.select():
                if key.data is None:
                    while True:
                        try:
                            c, _ = ls.accept()
                        except (BlockingIOError, InterruptedError):
                            break
                        except OSError:
                            stats["errors"] += 1
                            break
                        c.setblocking(False)
                        stats["connections"] += 1
                        sel.register(c, selectors.EVENT_READ, "conn")
                    continue
                c = key.fileobj
                try:
                    data = c.recv(65536)
                    if not data:
                        c.shutdown(socket.SHUT_WR)
                        drop(c)
                        continue
                    c.sendall(data)  # short messages: the send buffer takes them
                    stats["bytes"] += len(data)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    stats["errors"] += 1
                    drop(c)
    except KeyboardInterrupt:
        pass
    ls.close()
    print(json.dumps(stats), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
