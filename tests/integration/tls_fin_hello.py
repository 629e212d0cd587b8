#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""A ClientHello sent with the client's FIN, while the engine's handshake
budget is spent (test_tls.sh openssl, an engine with --tls-budget-us 1):
QUEUED connections each send a ClientHello (the engine defers all but one
per poll iteration, and each iteration's staged handshake spends the budget
before the frames are read), then one more sends its ClientHello and its FIN
in one segment (TCP_CORK). The handshake can never complete (no Finished can
follow the FIN): the engine must not run it past the budget. It used to,
at once (a FIN runs staged and new bytes first, for the close's cause):
its answer, the server's first flight, came back before its FIN.

Prints one JSON line; exit 1 when the engine answered the FIN'd hello.
"""

import argparse
import json
import socket
import ssl
import sys


def client_hello():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="server.cee.test")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True, help="IP:PORT of a tls: listener")
    ap.add_argument("--queued", type=int, default=20)
    a = ap.parse_args()
    host, port = a.server.rsplit(":", 1)
    addr = (host, int(port))

    queued = [socket.create_connection(addr, timeout=10) for _ in range(a.queued)]
    fin = socket.create_connection(addr, timeout=10)
    hellos = [client_hello() for _ in range(a.queued + 1)]
    for s, h in zip(queued, hellos):
        s.sendall(h)
    fin.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
    fin.sendall(hellos[-1])
    fin.shutdown(socket.SHUT_WR)  # the FIN rides on the corked segment
    fin.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)
    got = b""
    try:
        while True:
            d = fin.recv(65536)
            if not d:
                break
            got += d
    except ConnectionResetError:
        pass
    fin.close()
    # the queued ones were answered (their server flights), then go
    answered = 0
    for s in queued:
        try:
            answered += len(s.recv(65536)) > 0
        except OSError:
            pass
        s.close()
    print(json.dumps({"fin_hello_answer_bytes": len(got), "queued_answered": answered}))
    if got:
        print(f"tls_fin_hello: FAIL: the engine answered a ClientHello that came with the "
              f"client's FIN over budget ({len(got)} bytes)", file=sys.stderr)
        sys.exit(1)
    if answered == 0:
        print("tls_fin_hello: FAIL: no queued handshake was answered (the check cannot fail)",
              file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
