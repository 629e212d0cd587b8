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
"""

import argparse
import errno
import json
import socket
import struct
import sys
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--server", required=True, help="HOST:PORT")
    ap.add_argument("--bind", required=True, help="the client's address")
    ap.add_argument("--sport", type=int, default=41007)
    ap.add_argument("--rounds", type=int, default=20)
    a = ap.parse_args()
    host, port = a.server.rsplit(":", 1)
    out = {"rounds": a.rounds, "ok": 0, "errors": [], "syn_retries": 0}
    for i in range(a.rounds):
        msg = f"round {i}".encode()
        for attempt in range(50):
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
                if e.errno in (errno.EADDRINUSE, errno.EADDRNOTAVAIL) and attempt < 49:
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
    print(json.dumps(out))
    return 0 if out["ok"] == a.rounds else 1


if __name__ == "__main__":
    sys.exit(main())
