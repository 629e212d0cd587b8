#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""TLS 1.3 records a real client's library will not send, forged under its
own traffic keys (read from the ssl module's key log), against a tls: echo
listener (test_tls.sh openssl):

  warning_alert  after the handshake, an alert at warning level
                 (handshake_failure, 40), then application data. RFC 8446 6:
                 in TLS 1.3 every alert but close_notify and user_canceled
                 is an error whatever its level. Guards against (session 20
                 review): wolfSSL read past it, the connection went on and
                 the data after it was echoed; the engine now ends it
                 (closed: tls_alert, alert 40, alert_by peer; the shell
                 checks the event).
  warning_close  the same alert, then a close_notify, in one segment:
                 wolfSSL reads both in one call, and its alert history
                 keeps only the last. Guards against (session 32): the
                 connection was reported as ended by the peer's
                 close_notify (closed: tls_close_notify), the error alert
                 lost; it must say tls_alert, alert 40, alert_by peer.

Prints one JSON line per case: its local port, whether the data after the
alert came back (decrypted under the server's keys), and whether the
connection ended. Exit 1 when the data came back or a connection lived on.
"""

import argparse
import hashlib
import hmac
import json
import os
import select
import socket
import ssl
import struct
import sys
import tempfile
import time

from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

SUITES = {  # name: (hash, key length, AEAD)
    "TLS_AES_128_GCM_SHA256": (hashlib.sha256, 16, AESGCM),
    "TLS_AES_256_GCM_SHA384": (hashlib.sha384, 32, AESGCM),
    "TLS_CHACHA20_POLY1305_SHA256": (hashlib.sha256, 32, ChaCha20Poly1305),
}


def hkdf_expand_label(h, secret, label, length):
    """RFC 8446 7.1, with an empty context."""
    full = b"tls13 " + label
    info = struct.pack(">HB", length, len(full)) + full + b"\0"
    out, t, i = b"", b"", 1
    while len(out) < length:
        t = hmac.new(secret, t + info + bytes([i]), h).digest()
        out += t
        i += 1
    return out[:length]


class Keys:
    """One direction's record protection (RFC 8446 5.2, 5.3)."""

    def __init__(self, suite, secret):
        h, klen, aead = SUITES[suite]
        self.aead = aead(hkdf_expand_label(h, secret, b"key", klen))
        self.iv = hkdf_expand_label(h, secret, b"iv", 12)
        self.seq = 0

    def nonce(self):
        n = bytes(a ^ b for a, b in zip(self.iv, self.seq.to_bytes(12, "big")))
        self.seq += 1
        return n

    def seal(self, ctype, payload):
        inner = payload + bytes([ctype])
        hdr = struct.pack(">BHH", 23, 0x0303, len(inner) + 16)
        return hdr + self.aead.encrypt(self.nonce(), inner, hdr)

    def open(self, rec):
        pt = self.aead.decrypt(self.nonce(), rec[5:], rec[:5]).rstrip(b"\0")
        return pt[-1], pt[:-1]


def handshake(addr, keylog):
    """A TLS 1.3 handshake through the ssl module over a plain socket (it is
    done when the client's Finished is out: nothing of the server's after
    it was read). @return (socket, client keys, server keys, ssl object, suite)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    ctx.keylog_filename = keylog
    s = socket.create_connection(addr, timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="server.cee.test")
    while True:
        try:
            obj.do_handshake()
            done = True
        except ssl.SSLWantReadError:
            done = False
        d = out.read()
        if d:
            s.sendall(d)
        if done:
            break
        d = s.recv(65536)
        if not d:
            raise RuntimeError("the server closed during the handshake")
        inc.write(d)
    secrets = {}
    for line in open(keylog):
        p = line.split()
        if len(p) == 3:
            secrets[p[0]] = bytes.fromhex(p[2])
    suite = obj.cipher()[0]
    return (s, Keys(suite, secrets["CLIENT_TRAFFIC_SECRET_0"]),
            Keys(suite, secrets["SERVER_TRAFFIC_SECRET_0"]), obj, suite)


def server_records(s, rx, wait):
    """The server's records for @p wait seconds: [(type, payload)], ended."""
    buf, got, ended = b"", [], False
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        r, _, _ = select.select([s], [], [], max(0.0, deadline - time.monotonic()))
        if not r:
            break
        try:
            d = s.recv(65536)
        except ConnectionResetError:
            ended = True
            break
        if not d:
            ended = True
            break
        buf += d
    while len(buf) >= 5:
        n = struct.unpack(">H", buf[3:5])[0]
        if len(buf) < 5 + n:
            break
        rec, buf = buf[:5 + n], buf[5 + n:]
        got.append(rx.open(rec))
    return got, ended


def warning_alert(a, addr, keylog, case):
    s, tx, rx, obj, suite = handshake(addr, keylog)
    lport = s.getsockname()[1]
    # the server's NewSessionTicket(s), if any, come first: read them
    pre, _ = server_records(s, rx, 0.3)
    alert = tx.seal(21, b"\x01\x28")  # warning, handshake_failure
    if case == "warning_alert":
        s.sendall(alert)
        s.sendall(tx.seal(23, b"after-warning-alert"))
    else:  # one segment (TCP_NODELAY, one send): read in one call
        s.sendall(alert + tx.seal(21, b"\x01\x00"))  # close_notify
    got, ended = server_records(s, rx, 3.0)
    echoed = any(t == 23 and b"after-warning-alert" in p for t, p in got)
    s.close()
    return {"case": case, "lport": lport, "suite": suite,
            "before": [t for t, _ in pre], "after": [t for t, _ in got],
            "echoed": echoed, "ended": ended}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True, help="IP:PORT of a tls: echo listener")
    a = ap.parse_args()
    host, port = a.server.rsplit(":", 1)
    addr = (host, int(port))
    bad = False
    for case in ("warning_alert", "warning_close"):
        with tempfile.TemporaryDirectory() as d:
            r = warning_alert(a, addr, os.path.join(d, "keylog"), case)
        print(json.dumps(r))
        if r["echoed"] or not r["ended"]:
            print(f"tls_forged: FAIL: {case}: the connection went on after a warning-level "
                  f"error alert (data echoed: {r['echoed']}, ended: {r['ended']})",
                  file=sys.stderr)
            bad = True
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
