#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""A TLS handshake the engine's idle timeout ends (test_tls.sh openssl, an
engine with --handshake-timeout 0 --idle-timeout 1): a TLS 1.2 session is
resumed, and the client holds its Finished (the handshake's last message,
after the server's) until the engine's FIN has come, then sends it (TCP
still takes bytes after our FIN) and closes. (A full handshake, or TLS 1.3,
ends on the server's write, which fails after our FIN.)

Guards against (session 18): the engine completed that handshake after its
own FIN: tls_up came after it had closed the connection. The caller checks
the event stream: the held connection (its port in --out) has no tls_up
and closed with idle_timeout.

Prints one JSON line; exit 1 when the engine's FIN never came (or came
before its flight).
"""

import argparse
import json
import socket
import ssl
import sys
import time


def handshake(s, obj, out, inc):
    """Run the client's side until it is done; what it writes last (its
    Finished) stays in @p out."""
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    s.sendall(out.read())
    while True:
        d = s.recv(65536)
        if not d:
            return False
        inc.write(d)
        try:
            obj.do_handshake()
            return True
        except ssl.SSLWantReadError:
            s.sendall(out.read())  # a flight of its own (a full handshake)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True, help="IP:PORT")
    ap.add_argument("--wait", type=float, default=10.0, help="seconds for the engine's FIN")
    ap.add_argument("--out", required=True, help="JSON result (the held connection's port)")
    a = ap.parse_args()
    host, port = a.server.rsplit(":", 1)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2

    def fail(why):
        print(json.dumps({"ok": False, "why": why}))
        return 1

    # a full handshake first, for a session to resume
    s = socket.create_connection((host, int(port)), timeout=a.wait)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="server.cee.test")
    if not handshake(s, obj, out, inc):
        return fail("FIN during the first handshake")
    s.sendall(out.read())
    session = obj.session
    s.close()
    # resumed (TLS 1.2): the server's Finished comes first, the client's
    # last; nothing the server writes follows it
    s = socket.create_connection((host, int(port)), timeout=a.wait)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="server.cee.test", session=session)
    if not handshake(s, obj, out, inc):
        return fail("FIN before the server's flight")
    if not obj.session_reused:
        return fail("the session was not resumed: the case is not exercised")
    finished = out.read()  # the client's ChangeCipherSpec and Finished, held
    t0 = time.monotonic()
    try:
        while s.recv(65536):
            pass
    except socket.timeout:
        return fail(f"no FIN from the engine in {a.wait} s")
    fin_after = time.monotonic() - t0
    port = s.getsockname()[1]
    s.sendall(finished)  # after the engine's FIN
    # data after the engine's close resets the connection (RFC 1122
    # 4.2.2.13, tcp.abort_on_data): the RST may have come already
    reset = False
    try:
        s.shutdown(socket.SHUT_WR)
    except OSError:
        reset = True
    r = {"ok": True, "port": port, "fin_after_s": round(fin_after, 3),
         "finished_bytes": len(finished), "reset": reset}
    s.close()
    with open(a.out, "w") as f:
        json.dump(r, f)
    print(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
