#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Python ssl clients for cee-engine's tls: echo listener, run inside the
test namespace (test_tls.sh mix). Checked by tls_check.py.

Guards against (with tls_check.py): TLS connections whose end (close_notify,
FIN without close_notify, RST, idle timeout, handshake failure, handshake
timeout) loses its closed event or gets the wrong reason, alert or
truncation flag; plaintext echo corrupted or counted wrong; handshake
failures that leave the TCP connection open; connections that are not all
live at once.

Held kinds: connect (at most --connect-concurrency handshakes at a time),
TLS handshake (TLS 1.2 and 1.3 alternately, SNI server.cee.test, some offer
ALPN "sip"), echo 1..4000 random bytes, then ping every --ping-interval
seconds (so the idle timeout cannot fire) until every held client is at that
point; then all end at once, each as its kind says:
  notify   close_notify (SSL unwrap: the engine's close_notify must come back), then FIN
  fin      FIN without close_notify (shutdown(SHUT_WR) of the socket under
           the SSL object), then read what the engine sends until it closes
  rst      SO_LINGER {1, 0} and close: RST
  idle     silent until the engine closes it (idle timeout); every other one
           then sends one more record (after the engine's close_notify the
           peer may still send): the engine drops it, the close goes on
  mtls     (engine with --tls-ca) client.pem as client certificate, ends as notify
Failing kinds, started at once beside the held ones' handshakes:
  tls10    TLS 1.0 only (OpenSSL at @SECLEVEL=0): the engine must refuse it with an alert
  http     an HTTP request instead of a ClientHello (raw socket)
  badhello a handshake record whose ClientHello body is garbage (raw socket)
  stall    the first half of a real ClientHello, then silence (handshake timeout)
  badca    verifies the server against other-ca.pem: rejects it with an alert
  nocert   (engine with --tls-ca) no client certificate
  badcert  (engine with --tls-ca) other-client.pem, from an unrelated CA

Each failing client reads what the engine sends until it closes the TCP
connection and records the alert it saw (from OpenSSL's error, or parsed off
the wire for raw-socket kinds) and how the stream ended.

Writes --log: {"meta": {...}, "conns": [record, ...]}; a record holds id, kind,
tls_max ("1.0"/"1.2"/"1.3"/null), lport, t_connect (CLOCK_MONOTONIC s),
connected, version, cipher, alpn_offered, alpn, sent, recv (plaintext bytes),
echo_ok, ready (reached the barrier), end (close_notify, eof, rst, timeout,
error), alert_seen (number the client received), wait_s (idle: from the
last echo's send to the engine's close; stall: from the half ClientHello
sent to the engine's close), ok (the client saw what its kind
expects) and error.
"""

import argparse
import json
import os
import random
import socket
import ssl
import struct
import sys
import threading
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tls_common import alert_of_ssl_error, wire_alerts  # noqa: E402

HELD = ("notify", "fin", "rst", "idle", "mtls")
FAILING = ("tls10", "http", "badhello", "stall", "badca", "nocert", "badcert")
SNI = "server.cee.test"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", required=True, help="IP:PORT of the tls: echo listener")
    p.add_argument("--certs", required=True, help="tests/certs")
    p.add_argument("--mix", required=True, help="kind=count,... (kinds above)")
    p.add_argument("--idle-timeout", type=float, required=True, help="the engine's, seconds")
    p.add_argument("--handshake-timeout", type=float, required=True, help="the engine's, seconds")
    p.add_argument("--ping-interval", type=float, default=1.0)
    p.add_argument("--connect-concurrency", type=int, default=48)
    p.add_argument("--establish-deadline", type=float, default=120.0)
    p.add_argument("--timeout", type=float, default=20.0, help="per socket operation")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--log", required=True)
    return p.parse_args()


class Barrier:
    """Held clients check in once established (or failed); the main thread
    releases them all together when every one has checked in."""

    def __init__(self, n):
        self.n = n
        self.arrived = 0
        self.established = 0
        self.cond = threading.Condition()
        self.release = threading.Event()

    def arrive(self, established):
        with self.cond:
            self.arrived += 1
            self.established += 1 if established else 0
            self.cond.notify_all()

    def wait_all(self, deadline):
        with self.cond:
            return self.cond.wait_for(lambda: self.arrived >= self.n, timeout=deadline)


class Client:
    def __init__(self, args, idx, kind, tls_max, alpn, payload_len, barrier, sem):
        self.args, self.barrier, self.sem = args, barrier, sem
        host, _, port = args.server.rpartition(":")
        self.server = (host, int(port))
        self.rng = random.Random(args.seed_base + idx)
        self.payload_len = payload_len
        self.rec = {"id": idx, "kind": kind, "tls_max": tls_max, "lport": None, "t_connect": None,
                    "connected": False, "version": None, "cipher": None, "alpn_offered": alpn,
                    "alpn": None, "sent": 0, "recv": 0, "echo_ok": None, "ready": False,
                    "end": None, "alert_seen": None, "wait_s": None, "ok": False, "error": None}

    # ---- helpers ----

    def context(self, cafile="ca.pem", cert=None):
        c = self.args.certs
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        # Python sets OP_IGNORE_UNEXPECTED_EOF by default: a FIN without
        # close_notify would then read like close_notify. Cleared, it raises
        # SSLEOFError, so the test can tell the two apart.
        ctx.options &= ~ssl.OP_IGNORE_UNEXPECTED_EOF
        ctx.load_verify_locations(os.path.join(c, cafile))
        ctx.check_hostname = True
        ctx.verify_mode = ssl.CERT_REQUIRED
        if cert:
            ctx.load_cert_chain(os.path.join(c, cert + ".pem"), os.path.join(c, cert + ".key"))
        v = self.rec["tls_max"]
        if v == "1.0":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                ctx.minimum_version = ssl.TLSVersion.TLSv1
                ctx.maximum_version = ssl.TLSVersion.TLSv1
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        elif v == "1.2":
            ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        elif v == "1.3":
            ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_3
        if self.rec["alpn_offered"]:
            ctx.set_alpn_protocols([self.rec["alpn_offered"]])
        return ctx

    def connect(self):
        self.rec["t_connect"] = time.monotonic()
        s = socket.create_connection(self.server, timeout=self.args.timeout)
        self.rec["lport"] = s.getsockname()[1]
        self.rec["connected"] = True
        return s

    def wrap(self, ctx, raw):
        # suppress_ragged_eofs=False: a FIN without close_notify raises
        # SSLEOFError instead of looking like close_notify (b'').
        # The handshake runs explicitly, so that a failed one leaves the
        # socket open for reading how the engine ends the TCP connection.
        s = ctx.wrap_socket(raw, server_hostname=SNI, suppress_ragged_eofs=False,
                            do_handshake_on_connect=False)
        s.do_handshake()
        return s

    def recv_exact(self, s, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = s.recv(min(65536, n - len(buf)))
            if not chunk:
                break
            buf += chunk
        return bytes(buf)

    def echo(self, s, data):
        self.rec["sent"] += len(data)  # counted first: the engine may take it even if we fail
        # the idle clock's start: the engine's starts later (at its echo of
        # this), so wait_s never reads short; taken after our recv, a
        # thread scheduled late made it read under 0.8 x the timeout
        self.t_last_out = time.monotonic()
        s.sendall(data)
        back = self.recv_exact(s, len(data))
        self.rec["recv"] += len(back)
        if back != data:
            self.rec["echo_ok"] = False
            raise RuntimeError(f"echo: sent {len(data)} bytes, got {len(back)} (or different)")
        if self.rec["echo_ok"] is None:
            self.rec["echo_ok"] = True

    def read_end(self, s, timeout):
        """Read until the engine ends the stream. @return how: close_notify
        (SSL socket, clean), eof (FIN), rst, timeout, or alert:N (recorded)."""
        s.settimeout(timeout)
        try:
            while True:
                data = s.recv(65536)
                if not data:
                    return "close_notify" if isinstance(s, ssl.SSLSocket) else "eof"
                self.rec["unexpected_data"] = self.rec.get("unexpected_data", 0) + len(data)
        except ssl.SSLEOFError:
            return "eof"
        except ssl.SSLError as e:
            if getattr(e, "reason", None) == "UNEXPECTED_EOF_WHILE_READING":
                return "eof"  # a FIN without close_notify
            return self.ssl_failure(e)
        except socket.timeout:
            return "timeout"
        except ConnectionResetError:
            return "rst"

    def raw_end(self, s, timeout):
        """The TCP end after an SSL failure, reading under the SSL object."""
        s.settimeout(timeout)
        try:
            while True:
                if not socket.socket.recv(s, 65536):
                    return "eof"
        except socket.timeout:
            return "timeout"
        except ConnectionResetError:
            return "rst"
        except OSError as e:
            return f"error:{e.errno}"

    def ssl_failure(self, e):
        a = alert_of_ssl_error(e)
        if a is not None:
            self.rec["alert_seen"] = a
        self.rec["error"] = f"{type(e).__name__}: {e.reason or e}"
        return "alert" if a is not None else "ssl_error"

    # ---- kinds ----

    def run(self):
        kind = self.rec["kind"]
        try:
            getattr(self, "run_" + (kind if kind in FAILING else "held"))()
        except Exception as e:  # noqa: BLE001 -- recorded for the checker
            self.rec["ok"] = False
            self.rec["error"] = (self.rec["error"] or "") + f" {type(e).__name__}: {e}"
        finally:
            if kind in HELD and not self.rec["ready"]:
                self.barrier.arrive(False)

    def run_held(self):
        kind = self.rec["kind"]
        with self.sem:
            raw = self.connect()
            s = self.wrap(self.context(cert="client" if kind == "mtls" else None), raw)
            self.rec["version"] = {"TLSv1.2": "1.2", "TLSv1.3": "1.3"}.get(s.version(), s.version())
            self.rec["cipher"] = s.cipher()[0]
            self.rec["alpn"] = s.selected_alpn_protocol()
            self.echo(s, self.rng.randbytes(self.payload_len))
        self.rec["ready"] = True
        self.barrier.arrive(True)
        n = 0
        while not self.barrier.release.wait(self.args.ping_interval):
            n += 1
            self.echo(s, struct.pack("!IIQ", self.rec["id"], n, 0x70696e67))
        if kind in ("notify", "mtls"):
            s.settimeout(self.args.timeout)
            raw = s.unwrap()  # sends close_notify, returns once the engine's has come back
            self.rec["end"] = "close_notify"
            raw.close()
            self.rec["ok"] = True
        elif kind == "fin":
            socket.socket.shutdown(s, socket.SHUT_WR)
            self.rec["end"] = self.read_end(s, self.args.timeout)
            s.close()
            # RFC 8446 6.1: the engine closes its side with close_notify
            # even after the peer's truncation
            self.rec["ok"] = self.rec["end"] == "close_notify"
        elif kind == "rst":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
            self.rec["end"] = "rst_sent"
            self.rec["ok"] = True
        elif kind == "idle":
            self.rec["end"] = self.read_end(s, self.args.idle_timeout + 15)
            self.rec["wait_s"] = time.monotonic() - self.t_last_out  # since our last send (echo())
            if self.rec["end"] == "close_notify" and self.rec["id"] % 2 == 0:
                # (the engine's echo of it counted a send failure and reset
                # the connection: tls_check.py wants layer_send_fail 0; it
                # is taken in, the engine awaiting our close_notify, and
                # goes nowhere: no reset, tcp.abort_on_data 0)
                try:
                    s.sendall(b"late")
                    self.rec["late_sent"] = 4
                except (ssl.SSLError, OSError) as e:
                    self.rec["late_error"] = f"{type(e).__name__}: {e}"
            elif self.rec["end"] == "close_notify":
                # the others answer the engine's close_notify with theirs
                # (RFC 8446 6.1), after its FIN: read, not reset
                # (tls_check.py wants tcp.abort_on_data 0)
                try:
                    s.unwrap()
                    self.rec["notify_sent"] = True
                except (ssl.SSLError, OSError) as e:
                    self.rec["late_error"] = f"{type(e).__name__}: {e}"
            s.close()
            # the engine's idle close says close_notify before its FIN (a
            # bare FIN would be a truncation, RFC 8446 6.1)
            self.rec["ok"] = self.rec["end"] == "close_notify"

    def run_handshake_failure(self, ctx):
        """A handshake the engine or we must refuse; record the alert and the end."""
        raw = self.connect()
        s = ctx.wrap_socket(raw, server_hostname=SNI, suppress_ragged_eofs=False,
                            do_handshake_on_connect=False)
        try:
            s.do_handshake()
            self.rec["version"] = {"TLSv1.2": "1.2", "TLSv1.3": "1.3"}.get(s.version(), s.version())
            # TLS 1.3: the client's side of the handshake is done before the
            # server has checked our certificate; its verdict comes on a read.
            self.rec["app_data_offered"] = 4  # the engine must pass none of it up (bytes_in 0)
            try:
                s.sendall(b"ping")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the engine closed first: what it sent is read below
            self.rec["end"] = self.read_end(s, self.args.timeout)
            if self.rec["end"] in ("alert", "ssl_error"):
                self.rec["end"] = self.raw_end(s, self.args.timeout)
        except ssl.SSLCertVerificationError as e:
            self.rec["error"] = f"we rejected the server: {e.verify_message} ({e.verify_code})"
            self.rec["verify_code"] = e.verify_code
            self.rec["end"] = "we_aborted"
        except ssl.SSLError as e:
            self.ssl_failure(e)
            self.rec["end"] = self.raw_end(s, self.args.timeout)
        finally:
            s.close()

    def run_tls10(self):
        self.run_handshake_failure(self.context())
        self.rec["ok"] = self.rec["alert_seen"] is not None and self.rec["end"] in ("eof", "rst")

    def run_nocert(self):
        self.run_tls_refused(None)

    def run_badcert(self):
        self.run_tls_refused("other-client")

    def run_tls_refused(self, cert):
        self.run_handshake_failure(self.context(cert=cert))
        self.rec["ok"] = self.rec["alert_seen"] is not None and self.rec["end"] in ("eof", "rst")

    def run_badca(self):
        self.run_handshake_failure(self.context(cafile="other-ca.pem"))
        self.rec["ok"] = self.rec["end"] == "we_aborted" and self.rec.get("verify_code") == 20

    def raw_attempt(self, data, timeout):
        """Send @p data on a plain TCP connection, read until the engine closes.
        @return seconds from the send to the end."""
        s = self.connect()
        try:
            s.sendall(data)
            t0 = time.monotonic()
            s.settimeout(timeout)
            got = bytearray()
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        self.rec["end"] = "eof"
                        break
                    got += chunk
            except socket.timeout:
                self.rec["end"] = "timeout"
            except ConnectionResetError:
                self.rec["end"] = "rst"
            wait = time.monotonic() - t0
            alerts = wire_alerts(bytes(got))
            self.rec["wire_bytes"] = len(got)
            self.rec["wire_alerts"] = alerts
            if alerts:
                self.rec["alert_seen"] = alerts[-1][1]
            return wait
        finally:
            s.close()

    def run_http(self):
        self.raw_attempt(b"GET / HTTP/1.1\r\nHost: server.cee.test\r\n\r\n", self.args.timeout)
        self.rec["ok"] = self.rec["end"] in ("eof", "rst")

    def run_badhello(self):
        body = bytes([1, 0, 0, 44]) + self.rng.randbytes(44)  # ClientHello, 44 bytes of noise
        self.raw_attempt(bytes([22, 3, 1, 0, len(body)]) + body, self.args.timeout)
        self.rec["ok"] = self.rec["end"] in ("eof", "rst")

    def run_stall(self):
        ctx = self.context()
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = ctx.wrap_bio(incoming, outgoing, server_hostname=SNI)
        try:
            obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        hello = outgoing.read()
        self.rec["wait_s"] = self.raw_attempt(hello[:len(hello) // 2], self.args.handshake_timeout + 15)
        self.rec["ok"] = self.rec["end"] in ("eof", "rst")


def main():
    args = parse_args()
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "little")
    args.seed_base = seed * 1000003
    rng = random.Random(seed)
    threading.stack_size(512 * 1024)

    specs = []
    for part in args.mix.split(","):
        kind, _, n = part.partition("=")
        if kind not in HELD + FAILING:
            sys.exit(f"tls_mix: unknown kind {kind!r}")
        for i in range(int(n)):
            if kind == "tls10":
                tls_max = "1.0"
            elif kind in ("http", "badhello"):
                tls_max = None
            else:
                tls_max = "1.3" if i % 2 else "1.2"
            alpn = "sip" if kind in HELD and i % 4 == 0 else None
            specs.append((kind, tls_max, alpn))
    rng.shuffle(specs)
    held = sum(1 for k, _, _ in specs if k in HELD)
    barrier = Barrier(held)
    sem = threading.BoundedSemaphore(args.connect_concurrency)
    clients = [Client(args, i, k, v, a, rng.randint(1, 4000), barrier, sem)
               for i, (k, v, a) in enumerate(specs)]
    threads = [threading.Thread(target=c.run, daemon=True) for c in clients]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    if not barrier.wait_all(args.establish_deadline):
        print(f"tls_mix: only {barrier.arrived} of {held} held clients checked in within "
              f"{args.establish_deadline:g} s", file=sys.stderr)
    t_est = time.monotonic() - t0
    concurrent = barrier.established
    print(f"tls_mix: {concurrent} of {held} held TLS connections established and echoing at once "
          f"after {t_est:.2f} s; releasing them", flush=True)
    barrier.release.set()
    for t in threads:
        t.join(args.idle_timeout + args.timeout * 3)
    hung = sum(1 for t in threads if t.is_alive())
    elapsed = time.monotonic() - t0
    recs = [c.rec for c in clients]
    meta = {"server": args.server, "seed": seed, "count": len(recs), "held": held,
            "concurrent_established": concurrent, "establish_s": t_est, "elapsed_s": elapsed,
            "hung_threads": hung, "idle_timeout": args.idle_timeout,
            "handshake_timeout": args.handshake_timeout}
    tmp = args.log + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"meta": meta, "conns": recs}, f)
    os.rename(tmp, args.log)
    bad = [r for r in recs if not r["ok"]]
    print(f"tls_mix: {len(recs) - len(bad)}/{len(recs)} clients saw what their kind expects "
          f"in {elapsed:.2f} s (seed {seed}); {hung} threads still running", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
