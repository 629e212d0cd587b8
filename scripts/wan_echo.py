#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""The Linux kernel's TCP as an echo server, for scripts/wan.sh.

One thread per connection: recv() up to 64 KiB, sendall() it back; at the
peer's FIN, shutdown(SHUT_WR) and close (as cee's echo service does).
  wan_echo.py --bind 10.88.X.3 --port 7 [--ready FILE] [--tls-cert F --tls-key F]
With --tls-cert, each connection is TLS (Python's ssl over the kernel's
TCP): at the peer's close, it closes.
Runs until SIGTERM/SIGINT; prints one JSON line (connections, bytes, errors)
on stdout at exit.
"""
import argparse
import json
import signal
import socket
import ssl
import sys
import threading

CHUNK = 65536
stats = {"connections": 0, "bytes": 0, "errors": 0}
lock = threading.Lock()


def serve(conn, tls=None):
    n = 0
    try:
        if tls is not None:
            conn = tls.wrap_socket(conn, server_side=True)
        while True:
            data = conn.recv(CHUNK)
            if not data:
                if tls is None:
                    conn.shutdown(socket.SHUT_WR)
                break
            conn.sendall(data)
            n += len(data)
    except OSError:
        with lock:
            stats["errors"] += 1
    finally:
        conn.close()
        with lock:
            stats["bytes"] += n


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bind", required=True)
    ap.add_argument("--port", type=int, default=7)
    ap.add_argument("--ready", help="file created once listening")
    ap.add_argument("--tls-cert", help="TLS: the server's certificate (PEM)")
    ap.add_argument("--tls-key", help="TLS: its key (PEM)")
    ap.add_argument("--cc", help="TCP congestion control of the listening socket, "
                    "inherited by accepted ones (TCP_CONGESTION; default: the kernel's)")
    args = ap.parse_args()

    tls = None
    if args.tls_cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if args.cc:
        ls.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, args.cc.encode())
    stats["cc"] = ls.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, 16).rstrip(b"\0").decode()
    ls.bind((args.bind, args.port))
    ls.listen(128)

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    if args.ready:
        with open(args.ready, "w") as f:
            f.write("ready\n")
    try:
        while True:
            conn, _ = ls.accept()
            with lock:
                stats["connections"] += 1
                stats["conn_cc"] = conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION,
                                                   16).rstrip(b"\0").decode()
            threading.Thread(target=serve, args=(conn, tls), daemon=True).start()
    except KeyboardInterrupt:
        pass
    ls.close()
    with lock:
        print(json.dumps(stats), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
