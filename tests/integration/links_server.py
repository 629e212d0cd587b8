#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""The server end of cee-engine's persistent outbound links (--connect), run
inside the test namespace (test_links.sh). Checked by links_check.py.

Guards against (with links_check.py): a link that does not come back after
its connection ends, whichever way it ends; a drop that is not reported (no
link_down) or reported under the wrong reason; identity confusion between a
link's old connection (still in TIME-WAIT, its `destroyed` not yet out) and
its new one; a link that does not verify the server's certificate; `cee-ctl
links` showing a stale connection id or state; `cee-ctl watch` missing the
closed of the connection it watches, or accepting a stale id.

Plan: rounds. In each round every link of --links has one connection: the
server accepts it (TLS: a handshake with tests/certs/server.pem, TLS 1.3 and
1.2 alternately, the SNI the engine sent recorded), learns which link and
connection id it is from the engine's `open` event (by the engine's source
port), sends a line and checks the echo. When every link is connected and
echoing (until then each pings every --ping-interval s, so the engine's idle
timeout cannot fire early), the round's ending is applied to all of them:

  notify       close_notify and FIN at once (TLS)        -> tls_close_notify
  notify_hold  close_notify only; the engine answers with its close_notify
               and FINs first, the server FINs after it (TLS; engine in
               TIME-WAIT)                                 -> tls_close_notify
  fin          FIN (TLS: without close_notify), then read until the engine
               closes                                     -> peer_fin (TLS: tls_truncated)
  rst          SO_LINGER {1, 0} and close                 -> peer_rst
  idle         silent (the kernel still ACKs): the engine's --link-idle-timeout
               closes first (TLS: close_notify, then FIN; engine in
               TIME-WAIT)                                 -> idle_timeout
  restart      the server process exits (its kernel FINs every connection);
               the supervisor waits for each link's link_down and one refused
               attempt per link, then starts a new server process on the same
               port                                       -> peer_fin (TLS: tls_truncated)
  blackhole    `ip route add blackhole ENGINE/32` in the namespace (the
               server's delayed ACK of the last echo flushed first, so the
               engine has nothing in flight): the server's kernel answers
               nothing, keepalive probes included; when the engine has closed
               every connection (keepalive or retransmission timeout) the
               server drops its sockets (RST, not sent) and the route goes
                                                          -> keepalive_timeout / retransmit_timeout

A round is one kind for all links, or KIND/KIND/... (link i gets the
(i mod n)-th). restart and blackhole are always whole rounds. After the
last round every link connects once more and is held (pinging) until the
engine stops: its connection is then closed with reason shutdown.

--ctl-rounds R,...: in those rounds (and the final one), with every link up,
`cee-ctl links` must list every link `up` with the id of its current
connection and attempts/ups/downs/last_reason equal to the event stream's
(attempts: its open events; refused, the tries refused locally with no
event, 0 here: before, attempts counted those too),
and telemetry /cee/links must name the same ids; `cee-ctl watch ID` is
started on the last link's connection before the round's ending, must print
that connection's closed (reason, bytes) and exit 0; once its `destroyed`
is out, `cee-ctl watch ID` must answer "no such connection" (exit 1). In the
first restart gap `cee-ctl links` must show no link `up`.
--badcert (TLS): in the first restart gap, before the real server comes
back, a server presenting tests/certs/other-client.pem (another CA) accepts
the engine's attempts: each must fail (tls_alert by the engine, no tls_up,
no link_up) until every link has failed once on it.

Synchronisation: the engine's events (ctlit.EventTail on --events), never a
sleep standing in for an event; after starting `cee-ctl watch`, the shard's
watch counter says it has registered.

Writes --log (JSON Lines, appended by the supervisor and each server
process): meta, listening, conn (one per connection: link, round, id,
port, kind, sent/recv plaintext bytes, end seen, engine close_notify seen,
TLS version and SNI, idle wait), restart, gap, badcert, blackhole, ctl_links,
watch, watch_stale, done, fail.

Usage: links_server.py run --proto tcp|tls --listen IP:PORT --engine-ip IP
  --links NAME,... --plan KIND,... --events FILE --log FILE [--certs DIR]
  [--sni NAME] [--idle-timeout S] [--ctl PATH --prefix P --ctl-rounds R,...]
  [--shards N] [--badcert]
"""

import argparse
import ctypes
import json
import os
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ctlit  # noqa: E402
from ctlit import Failed, check, log  # noqa: E402

TLS_ONLY = {"notify", "notify_hold"}
GLOBAL = {"restart", "blackhole"}
KINDS = {"notify", "notify_hold", "fin", "rst", "idle", "restart", "blackhole"}
RESTART_EXIT = 3


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("role", choices=("run", "serve"))
    p.add_argument("--proto", choices=("tcp", "tls"), required=True)
    p.add_argument("--listen", required=True, help="IP:PORT to listen on (the links' remote)")
    p.add_argument("--engine-ip", required=True)
    p.add_argument("--links", required=True, help="link names, in --connect order")
    p.add_argument("--plan", required=True, help="round kinds, comma separated")
    p.add_argument("--events", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--certs", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "certs"))
    p.add_argument("--sni", default="server.cee.test", help="the SNI the engine must send")
    p.add_argument("--idle-timeout", type=float, default=2.0, help="the engine's --link-idle-timeout")
    p.add_argument("--ping-interval", type=float, default=0.8)
    p.add_argument("--time-wait", type=float, default=2.0, help="the engine's, seconds")
    p.add_argument("--ctl")
    p.add_argument("--prefix")
    p.add_argument("--ctl-rounds", default="")
    p.add_argument("--shards", type=int, default=1)
    p.add_argument("--unresolved", default="",
                   help="a link (after --links) whose next hop never answers ARP: cee-ctl links "
                        "must show it waiting for it")
    p.add_argument("--badcert", action="store_true")
    p.add_argument("--deadline", type=float, default=20.0, help="seconds for each awaited event")
    p.add_argument("--start-round", type=int, default=0, help="(serve) first round of this process")
    a = p.parse_args(argv)
    a.link_names = a.links.split(",")
    a.rounds = []
    for part in a.plan.split(","):
        kinds = part.split("/")
        for k in kinds:
            if k not in KINDS:
                p.error(f"unknown kind {k!r}")
            if k in TLS_ONLY and a.proto != "tls":
                p.error(f"{k} needs --proto tls")
            if k in GLOBAL and len(kinds) > 1:
                p.error(f"{k} is a whole round")
        a.rounds.append(kinds)
    a.ctl_round_set = {int(x) for x in a.ctl_rounds.split(",") if x}
    host, _, port = a.listen.rpartition(":")
    a.host, a.port = host, int(port)
    return a


def kind_of(a, r, link_index):
    if r >= len(a.rounds):
        return "hold"
    ks = a.rounds[r]
    return ks[link_index % len(ks)]


class Log:
    """JSON Lines, appended (O_APPEND) by several processes in turn."""

    def __init__(self, path):
        self.f = open(path, "a", buffering=1, encoding="utf-8")
        self.lock = threading.Lock()

    def write(self, rec):
        with self.lock:
            self.f.write(json.dumps(rec, sort_keys=True) + "\n")
            self.f.flush()


def read_log(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


class Tail:
    """ctlit.EventTail shared by threads (it checks sseq continuity too)."""

    def __init__(self, path):
        self.t = ctlit.EventTail(path)
        self.lock = threading.Lock()

    def find(self, pred):
        with self.lock:
            return self.t.find(pred)

    def reached(self, cuts):
        with self.lock:
            return self.t.reached(cuts)

    def wait(self, secs, what, pred):
        """@return the events matching @p pred, once there are some."""
        return ctlit.wait_until(secs, what, lambda: self.find(pred))

    def wait_fn(self, secs, what, fn):
        """@return fn()'s value once it is true."""
        return ctlit.wait_until(secs, what, fn)

    def of(self, conn, typ):
        return self.find(lambda e: e["conn"] == conn and e["type"] == typ)

    def link_events(self, name, typ):
        return self.find(lambda e: e["type"] == typ and e.get("link") == name)


def rst_close(s):
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    s.close()


def tls_contexts(certs, cert="server"):
    """Server contexts: [TLS up to 1.3, TLS 1.2 only]."""
    ctxs = []
    for top in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(certs, cert + ".pem"), os.path.join(certs, cert + ".key"))
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.maximum_version = top
        # a FIN without close_notify must read as SSLEOFError, not as close_notify
        ctx.options &= ~getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
        ctxs.append(ctx)
    return ctxs


class Stream:
    """One accepted connection: plain TCP, or TLS over MemoryBIOs so that the
    server decides byte by byte what goes out (close_notify with or without a
    FIN) and sees what the engine sends (its close_notify, its FIN)."""

    def __init__(self, sock, ctx=None, sni_box=None):
        self.sock = sock
        self.tls = ctx is not None
        self.eof = False
        self.close_notify_seen = False  # the engine's close_notify
        self.shutdown_sent = False
        self.unexpected = 0
        self.tls_error = None
        if self.tls:
            self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
            self.obj = ctx.wrap_bio(self.inc, self.out, server_side=True)
            self.sni_box = sni_box

    def _flush(self):
        d = self.out.read()
        if d:
            self.sock.sendall(d)

    def _fill(self):
        d = self.sock.recv(65536)
        if d:
            self.inc.write(d)
        else:
            self.eof = True
            self.inc.write_eof()

    def handshake(self):
        if not self.tls:
            return
        while True:
            try:
                self.obj.do_handshake()
                self._flush()
                return
            except ssl.SSLWantReadError:
                self._flush()
                if self.eof:
                    raise ConnectionError("EOF during the TLS handshake")
                self._fill()

    def version(self):
        return {"TLSv1.2": "1.2", "TLSv1.3": "1.3"}.get(self.obj.version()) if self.tls else None

    def send(self, data):
        if self.tls:
            self.obj.write(data)
            self._flush()
        else:
            self.sock.sendall(data)

    def recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            if not self.tls:
                d = self.sock.recv(n - len(buf))
                if not d:
                    raise ConnectionError(f"EOF after {len(buf)} of {n} bytes")
                buf += d
                continue
            try:
                buf += self.obj.read(n - len(buf))
            except ssl.SSLWantReadError:
                if self.eof:
                    raise ConnectionError(f"EOF after {len(buf)} of {n} bytes")
                self._fill()
        return bytes(buf)

    def send_close_notify(self):
        self.shutdown_sent = True
        try:
            self.obj.unwrap()
            self.close_notify_seen = True
        except ssl.SSLWantReadError:
            pass
        self._flush()

    def _drain_tls(self):
        while not self.close_notify_seen and self.tls_error is None:
            try:
                if self.shutdown_sent:
                    self.obj.unwrap()
                    self.close_notify_seen = True
                else:
                    d = self.obj.read(65536)
                    if not d:  # SSL_ERROR_ZERO_RETURN: the peer's close_notify
                        self.close_notify_seen = True
                        return
                    self.unexpected += len(d)
            except ssl.SSLWantReadError:
                return
            except ssl.SSLZeroReturnError:
                self.close_notify_seen = True
            except ssl.SSLError as e:  # EOF without close_notify, an alert: TLS is over
                self.tls_error = str(e.reason or e)
                return

    def read_end(self, timeout):
        """Read until the engine's FIN. @return eof, rst or timeout."""
        deadline = time.monotonic() + timeout
        while True:
            if self.tls:
                self._drain_tls()
            if self.eof:
                return "eof"
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout"
            self.sock.settimeout(left)
            try:
                d = self.sock.recv(65536)
            except socket.timeout:
                return "timeout"
            except ConnectionResetError:
                return "rst"
            if not d:
                self.eof = True
                if self.tls:
                    self.inc.write_eof()
            elif self.tls and not self.close_notify_seen and self.tls_error is None:
                self.inc.write(d)
            else:
                self.unexpected += len(d)


class Conn(threading.Thread):
    """One link connection: identify, echo, ping until the round goes, end."""

    def __init__(self, srv, sock, addr, serial):
        super().__init__(daemon=True)
        self.srv, self.sock, self.addr, self.serial = srv, sock, addr, serial
        self.ready = threading.Event()
        self.go = threading.Event()
        self.done = threading.Event()
        self.id = None
        self.link = None
        self.round = None
        self.kind = None
        self.t_last = None
        self.rec = {"type": "conn", "port": addr[1], "serial": serial, "sent": 0, "recv": 0,
                    "end": None, "pid": os.getpid()}

    def echo(self, data):
        self.rec["sent"] += len(data)
        # taken before the send: the engine's idle clock starts later (its
        # echo of this); taken after recv_exact, a thread scheduled late
        # made wait_s read short of the idle timeout
        self.t_last = time.monotonic()
        self.stream.send(data)
        back = self.stream.recv_exact(len(data))
        self.rec["recv"] += len(back)
        check(back == data, f"{self.link} round {self.round}: echo differs ({back[:40]!r} for {data[:40]!r})")

    def run(self):
        srv, a = self.srv, self.srv.a
        try:
            self.sock.settimeout(a.deadline)
            ctx = None
            if a.proto == "tls":
                ctx = srv.ctxs[self.serial % 2]
            self.stream = Stream(self.sock, ctx)
            self.stream.handshake()
            if a.proto == "tls":
                self.rec["version"] = self.stream.version()
                self.rec["sni"] = srv.sni_of(self.stream.obj)
            want = f"{a.engine_ip}:{self.addr[1]}"
            # the latest open from that port not yet closed (an earlier
            # attempt may have used the same source port)
            ev = srv.tail.wait_fn(a.deadline, f"the open event of the connection from {want}",
                               lambda: [e for e in srv.tail.find(
                                   lambda e: e["type"] == "open" and e["local"] == want
                                   and e["conn"] not in srv.claimed)
                                   if not srv.tail.of(e["conn"], "closed")])[-1]
            self.id = ev["conn"]
            self.rec["id"] = self.id
            check(ev.get("dir") == "out", f"conn {self.id} from {want}: open without dir out: {ev}")
            check(ev.get("link") in a.link_names, f"conn {self.id} from {want}: open names link {ev.get('link')!r}")
            check(ev["remote"] == a.listen, f"conn {self.id}: remote {ev['remote']}, expected {a.listen}")
            self.link = ev["link"]
            srv.register(self)
            self.rec.update(link=self.link, round=self.round, kind=self.kind)
            if a.proto == "tls":
                check(self.rec["sni"] == a.sni, f"{self.link} {self.id}: SNI {self.rec['sni']!r}, expected {a.sni!r}")
            line = f"cee-link {self.link} round {self.round} conn {self.id} ".encode()
            self.echo(line + b"x" * ((self.serial * 37) % 200) + b"\n")
            self.ready.set()
            srv.kick()
            n = 0
            while not self.go.wait(a.ping_interval):
                n += 1
                self.echo(f"ping {n}\n".encode())
            self.end()
        except Exception as e:  # noqa: BLE001 -- any failure fails the run
            if srv.holding and self.kind == "hold":
                self.rec["end"] = f"after_done: {type(e).__name__}"
            else:
                srv.fail(f"conn {self.id or self.addr} ({self.link} round {self.round} {self.kind}): "
                         f"{type(e).__name__}: {e}")
        finally:
            self.done.set()
            srv.kick()

    def end(self):
        k, st, a = self.kind, self.stream, self.srv.a
        if k == "notify":
            st.send_close_notify()
            self.sock.shutdown(socket.SHUT_WR)
            self.rec["end"] = st.read_end(a.deadline)
            self.sock.close()
        elif k == "notify_hold":
            st.send_close_notify()
            self.rec["end"] = st.read_end(a.deadline)
            self.sock.close()
        elif k == "fin":
            self.sock.shutdown(socket.SHUT_WR)
            self.rec["end"] = st.read_end(a.deadline)
            self.sock.close()
        elif k == "rst":
            rst_close(self.sock)
            self.rec["end"] = "rst_sent"
        elif k == "idle":
            self.rec["end"] = st.read_end(a.idle_timeout + a.deadline)
            self.rec["wait_s"] = round(time.monotonic() - self.t_last, 4)
            self.sock.close()
        elif k in GLOBAL:
            # The main thread does it (exit, or the route). Our ACK of the
            # last echo may still be delayed: out with it now, so that the
            # engine has nothing in flight (a silent peer, not a lost ACK).
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            return
        if a.proto == "tls":
            self.rec["engine_close_notify"] = st.close_notify_seen
            if st.tls_error:
                self.rec["tls_error"] = st.tls_error
        if st.unexpected:
            self.rec["unexpected_bytes"] = st.unexpected


class Server:
    """One server process: accepts, identifies and drives rounds from --start-round."""

    def __init__(self, a):
        self.a = a
        self.log = Log(a.log)
        self.tail = Tail(a.events)
        self.cond = threading.Condition()
        self.claimed = set()
        self.by_link = {n: {} for n in a.link_names}  # name -> {round: Conn}
        self.next_round = {n: a.start_round for n in a.link_names}
        self.failed = False
        self.holding = False
        self.serial = 0
        self.snis = {}
        if a.proto == "tls":
            self.ctxs = tls_contexts(a.certs)
            for c in self.ctxs:
                c.sni_callback = self._sni
        self.ctl = ctlit.Ctl(a.ctl, a.prefix) if a.ctl else None

    def _sni(self, obj, name, ctx):
        with self.cond:
            self.snis[id(obj)] = name

    def sni_of(self, obj):
        with self.cond:
            return self.snis.pop(id(obj), None)

    def kick(self):
        with self.cond:
            self.cond.notify_all()

    def fail(self, msg):
        log(f"links_server: FAIL {msg}")
        self.log.write({"type": "fail", "msg": msg, "pid": os.getpid()})
        with self.cond:
            self.failed = True
            self.cond.notify_all()

    def soft(self, fn, *args):
        """Run a control-plane check: a mismatch is logged as a failure, the
        rounds go on (the links' own checks still have something to say)."""
        try:
            return fn(*args)
        except (Failed, OSError, ValueError, subprocess.SubprocessError) as e:
            log(f"links_server: FAIL {e}")
            self.log.write({"type": "fail", "msg": str(e), "pid": os.getpid()})
            return None

    def register(self, c):
        with self.cond:
            check(c.id not in self.claimed, f"conn {c.id} accepted twice")
            self.claimed.add(c.id)
            r = self.next_round[c.link]
            self.next_round[c.link] = r + 1
            check(r <= len(self.a.rounds), f"{c.link}: a connection ({c.id}) after the final round")
            c.round, c.kind = r, kind_of(self.a, r, self.a.link_names.index(c.link))
            self.by_link[c.link][r] = c

    def accept_loop(self, ls):
        while True:
            try:
                s, addr = ls.accept()
            except OSError:
                return
            self.serial += 1
            Conn(self, s, addr, self.serial).start()

    def wait_for(self, secs, what, pred):
        deadline = time.monotonic() + secs
        with self.cond:
            while True:
                if self.failed:
                    raise Failed(f"(a connection failed while waiting for {what})")
                v = pred()
                if v:
                    return v
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Failed(f"timed out after {secs:g}s waiting for {what}")
                self.cond.wait(min(left, 0.2))

    def round_conns(self, r):
        return {n: self.by_link[n].get(r) for n in self.a.link_names}

    def all_ready(self, r):
        cs = self.round_conns(r)
        return cs if all(c is not None and c.ready.is_set() for c in cs.values()) else None

    # ---- control plane checks ----

    def check_links(self, cs, phase):
        """cee-ctl links (and telemetry /cee/links) against the event stream, all links up."""
        a = self.a
        for n, c in cs.items():
            self.tail.wait(a.deadline, f"link_up of {c.id}", lambda e, i=c.id: e["conn"] == i and e["type"] == "link_up")
        reply = self.ctl.query("links")
        check(reply.get("ok") is True and reply.get("v") == 1, f"cee-ctl links ({phase}): {reply}")
        entries = {e.get("name"): e for e in reply.get("links", [])}
        # Fault: the reply said nothing of which events it reflects (no
        # sseq): a control plane merging it with the stream could not tell
        # whether a link_down it read next came before or after the listing.
        # Each shard's cut: its counts are exactly its link events up to it.
        cuts = {c.get("shard"): c.get("sseq") for c in reply.get("cuts", [])}
        check(sorted(cuts) == list(range(a.shards)) and all(isinstance(v, int) for v in cuts.values()),
              f"cee-ctl links ({phase}): cuts {reply.get('cuts')!r}, expected one sseq per shard")
        self.tail.wait_fn(a.deadline, f"the stream up to the cuts {cuts}",
                          lambda: self.tail.reached(cuts) or None)
        names = a.link_names + ([a.unresolved] if a.unresolved else [])
        check(set(entries) == set(names), f"cee-ctl links ({phase}) names {sorted(entries)}, expected {names}")
        if a.unresolved:
            # Fault: a link whose next hop does not answer ARP showed
            # "backoff" with next_attempt_ms 0 for ever, as if an attempt
            # were due now and never made: the wait was invisible. And
            # (session 26) it waited for ever with no event: now each time
            # the resolver gives up, an attempt closes host_unreachable
            # (its open counts in attempts), and the link waits again.
            e = entries[a.unresolved]
            cut = cuts[len(a.link_names) % a.shards]
            opens = [x for x in self.tail.link_events(a.unresolved, "open") if x["sseq"] <= cut]
            got = {k: e.get(k) for k in ("state", "attempts", "refused", "ups")}
            want = {"state": "backoff", "attempts": len(opens), "refused": 0, "ups": 0}
            check(got == want, f"cee-ctl links ({phase}) {a.unresolved}: {got}, expected {want} (entry {e})")
            # (before the resolver's first failure, about 3 s in: waiting)
            check(e.get("last_reason") == "host_unreachable" if opens else e.get("arp_wait") is True,
                  f"cee-ctl links ({phase}) {a.unresolved}: {len(opens)} attempts, last_reason "
                  f"{e.get('last_reason')!r}, arp_wait {e.get('arp_wait')!r}; expected "
                  "host_unreachable after an attempt, else waiting for ARP")
            nxt = e.get("next_attempt_ms")
            check(not e.get("arp_wait") or (isinstance(nxt, int) and 0 <= nxt <= 10),
                  f"cee-ctl links ({phase}) {a.unresolved}: next_attempt_ms {nxt!r}, expected the next look within 10 ms")
        for i, n in enumerate(a.link_names):
            e, c = entries[n], cs[n]
            cut = cuts[i % a.shards]
            opens = [x for x in self.tail.link_events(n, "open") if x["sseq"] <= cut]
            ups = [x for x in self.tail.link_events(n, "link_up") if x["sseq"] <= cut]
            downs = [x for x in self.tail.link_events(n, "link_down") if x["sseq"] <= cut]
            want = {"state": "up", "conn": c.id, "shard": i % a.shards, "proto": a.proto, "remote": a.listen,
                    "attempts": len(opens), "refused": 0, "ups": len(ups), "downs": len(downs)}
            got = {k: e.get(k) for k in want}
            check(got == want, f"cee-ctl links ({phase}) {n}: {got}, expected {want} (entry {e})")
            check(isinstance(e.get("up_ms"), int) and e["up_ms"] >= 0, f"cee-ctl links {n}: up_ms {e.get('up_ms')!r}")
            check("next_attempt_ms" not in e, f"cee-ctl links {n}: next_attempt_ms while up: {e}")
            if downs:
                check(e.get("last_reason") == downs[-1]["reason"],
                      f"cee-ctl links {n}: last_reason {e.get('last_reason')!r}, last link_down {downs[-1]['reason']}")
        tel = ctlit.telemetry(a.prefix, ["/cee/links"])[0]
        text = json.dumps(tel)
        for c in cs.values():
            check(c.id in text, f"telemetry /cee/links ({phase}) lacks {c.id}: {text[:400]}")
        self.log.write({"type": "ctl_links", "phase": phase, "ids": sorted(c.id for c in cs.values()),
                        "reply": reply})

    def watches(self):
        """The shards' count of watches taken (stats mailbox_watches)."""
        r = subprocess.run([self.a.ctl, "--file-prefix", self.a.prefix, "--json", "stats"],
                           capture_output=True, text=True, timeout=15)
        if r.returncode != 0:
            raise Failed(f"cee-ctl stats: exit {r.returncode}: {r.stderr.strip()}")
        return json.loads(r.stdout)["total"]["mailbox_watches"]

    def start_watch(self, c):
        cmd = [self.a.ctl, "--file-prefix", self.a.prefix, "--json", "watch", c.id]
        before = self.watches()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # The watch has reached the shard when its count moves (a fixed
        # pause could end before it did: a watch that arrives after the
        # close is answered at once, and the monitor firing at the close
        # went untested); meanwhile it must still be waiting.
        deadline = time.monotonic() + 15
        while self.watches() <= before:
            if p.poll() is not None:
                raise Failed(f"cee-ctl watch {c.id} exited before the connection ended: "
                             f"rc {p.returncode}, {p.stdout.read()!r} {p.stderr.read()!r}")
            if time.monotonic() > deadline:
                raise Failed(f"cee-ctl watch {c.id}: no shard took the watch within 15 s")
            time.sleep(0.02)
        if p.poll() is not None:
            raise Failed(f"cee-ctl watch {c.id} exited before the connection ended: "
                         f"rc {p.returncode}, {p.stdout.read()!r} {p.stderr.read()!r}")
        return p

    def finish_watch(self, p, c):
        try:
            out, err = p.communicate(timeout=self.a.deadline)
        except subprocess.TimeoutExpired:
            p.kill()
            raise Failed(f"cee-ctl watch {c.id}: no answer within {self.a.deadline:g}s of the connection's end")
        closed = self.tail.wait(self.a.deadline, f"closed of {c.id}", lambda e: e["conn"] == c.id and e["type"] == "closed")[0]
        self.log.write({"type": "watch", "id": c.id, "link": c.link, "kind": c.kind, "rc": p.returncode,
                        "stdout": out, "stderr": err})
        bad = []
        try:
            reply = json.loads(out)
        except ValueError:
            reply = {}
        got = reply.get("closed") or {}
        want = {"id": c.id, "reason": closed["reason"], "bytes_in": closed["bytes_in"], "bytes_out": closed["bytes_out"]}
        if p.returncode != 0 or reply.get("ok") is not True or reply.get("v") != 1:
            bad.append(f"cee-ctl watch {c.id}: exit {p.returncode}, stdout {out!r} stderr {err!r}")
        elif {k: got.get(k) for k in want} != want:
            bad.append(f"cee-ctl watch {c.id}: {got}, the closed event says {want}")
        # the id is stale once its state is freed
        self.tail.wait(self.a.time_wait + self.a.deadline, f"destroyed of {c.id}",
                       lambda e: e["conn"] == c.id and e["type"] == "destroyed")
        rc, out, err = self.ctl.run("watch", c.id, timeout=self.a.deadline)
        self.log.write({"type": "watch_stale", "id": c.id, "rc": rc, "stdout": out, "stderr": err})
        if rc != 1 or "no such connection" not in out + err:
            bad.append(f"cee-ctl watch {c.id} (stale): exit {rc}, stdout {out!r} stderr {err!r}")
        if bad:
            raise Failed("; ".join(bad))
        log(f"cee-ctl watch {c.id}: closed {got['reason']}; stale: no such connection")

    # ---- the rounds ----

    def run(self):
        a = self.a
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((a.host, a.port))
        ls.listen(256)
        self.log.write({"type": "listening", "pid": os.getpid(), "round": a.start_round})
        threading.Thread(target=self.accept_loop, args=(ls,), daemon=True).start()
        try:
            for r in range(a.start_round, len(a.rounds) + 1):
                cs = self.wait_for(a.deadline + 5, f"round {r}: every link connected and echoing",
                                   lambda r=r: self.all_ready(r))
                final = r == len(a.rounds)
                if self.ctl and (final or r in a.ctl_round_set):
                    self.soft(self.check_links, cs, "final" if final else f"round {r}")
                if final:
                    self.holding = True
                    for c in cs.values():
                        self.log.write(dict(c.rec, end="held"))
                    self.log.write({"type": "done", "round": r, "ids": {n: c.id for n, c in cs.items()}})
                    log(f"links_server: all {len(cs)} link(s) back after {r} rounds; holding")
                    while True:
                        time.sleep(3600)
                watch = None
                if self.ctl and r in a.ctl_round_set:
                    p = self.soft(self.start_watch, cs[a.link_names[-1]])
                    watch = (p, cs[a.link_names[-1]]) if p else None
                kinds = sorted({c.kind for c in cs.values()})
                for c in cs.values():
                    c.go.set()
                self.wait_for(a.idle_timeout + 2 * a.deadline, f"round {r} ({'/'.join(kinds)}) ending",
                              lambda: all(c.done.is_set() for c in cs.values()))
                if kinds == ["blackhole"]:
                    self.blackhole(r, cs)
                for c in cs.values():
                    self.log.write(c.rec)
                if kinds == ["restart"]:
                    self.log.write({"type": "restart", "round": r, "ids": {n: c.id for n, c in cs.items()}})
                    log(f"links_server: round {r}: restart (process {os.getpid()} exits)")
                    sys.stdout.flush()
                    os._exit(RESTART_EXIT)
                if watch:
                    self.soft(self.finish_watch, *watch)
                log(f"links_server: round {r} ({'/'.join(kinds)}) done")
        except Failed as e:
            self.fail(str(e))
        os._exit(1)

    def blackhole(self, r, cs):
        a = self.a
        route = ["ip", "route", "add", "blackhole", f"{a.engine_ip}/32"]
        subprocess.run(route, check=True)
        t0 = time.monotonic()
        try:
            for c in cs.values():
                self.tail.wait(a.deadline, f"closed of {c.id} (blackholed)",
                               lambda e, i=c.id: e["conn"] == i and e["type"] == "closed")
            dt = time.monotonic() - t0
        finally:
            for c in cs.values():
                rst_close(c.sock)  # the RST goes nowhere; the socket is gone
            route[2] = "del"
            subprocess.run(route, check=True)
        for c in cs.values():
            c.rec["end"] = "blackholed"
            c.rec["detect_s"] = round(dt, 3)
        self.log.write({"type": "blackhole", "round": r, "all_closed_s": round(dt, 3)})


# ---- the supervisor: server processes in turn, the restart gaps ----

class Supervisor:
    def __init__(self, a, argv):
        self.a = a
        self.argv = argv
        self.log = Log(a.log)
        self.tail = Tail(a.events)
        self.child = None
        self.restarts = 0
        self.terminating = False
        self.in_wait = False

    def fail(self, msg):
        log(f"links_server: FAIL {msg}")
        self.log.write({"type": "fail", "msg": msg, "pid": os.getpid()})

    def spawn(self, start):
        argv = [a for a in self.argv if a != "run"]
        cmd = [sys.executable, os.path.abspath(__file__), "serve", *argv, "--start-round", str(start)]
        self.child = subprocess.Popen(cmd)
        return self.child

    def on_term(self, signum, frame):
        # (the main thread may be inside the child's wait(): no wait here)
        self.terminating = True
        if self.child:
            try:
                os.kill(self.child.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if not self.in_wait:
            os._exit(self.verdict())

    def verdict(self):
        """Exit status when told to stop: 0 after done and no failure."""
        recs = read_log(self.a.log)
        bad = [r for r in recs if r["type"] == "fail"]
        done = any(r["type"] == "done" for r in recs)
        return 0 if done and not bad else 1

    def run(self):
        a = self.a
        signal.signal(signal.SIGTERM, self.on_term)
        self.log.write({"type": "meta", "proto": a.proto, "listen": a.listen, "links": a.link_names,
                        "unresolved": a.unresolved, "rounds": a.rounds,
                        "idle_timeout": a.idle_timeout, "pid": os.getpid()})
        start = 0
        try:
            while True:
                child = self.spawn(start)
                self.in_wait = True
                rc = child.wait()
                self.in_wait = False
                if self.terminating:
                    return self.verdict()
                if rc != RESTART_EXIT:
                    self.fail(f"server process exited with status {rc}")
                    return 1
                rec = [r for r in read_log(a.log) if r["type"] == "restart"][-1]
                self.gap(rec)
                start = rec["round"] + 1
        except Failed as e:
            self.fail(str(e))
            return 1

    def gap(self, rec):
        """The server is down: every link must report its drop and fail at least
        one attempt (refused) before a server listens again."""
        a = self.a
        t0 = time.monotonic()
        downs = {}
        for n, i in rec["ids"].items():
            downs[n] = self.tail.wait(a.deadline, f"link_down of {i} ({n}) after the server exited",
                                      lambda e, i=i: e["conn"] == i and e["type"] == "link_down")[0]
        refused = {}
        for n, d in downs.items():
            def failed_attempt(n=n, d=d):
                for o in self.tail.find(lambda e: e["type"] == "open" and e.get("link") == n
                                        and e["shard"] == d["shard"] and e["sseq"] > d["sseq"]):
                    types = [e["type"] for e in self.tail.find(lambda e, i=o["conn"]: e["conn"] == i)]
                    if "closed" in types and "link_up" not in types:
                        return o["conn"]
                return None
            refused[n] = self.tail.wait_fn(a.deadline, f"a refused attempt of {n} while no server listens",
                                           failed_attempt)
        gap = {"type": "gap", "round": rec["round"], "refused": refused, "wait_s": round(time.monotonic() - t0, 3)}
        if a.ctl and self.restarts == 0:
            reply = ctlit.Ctl(a.ctl, a.prefix).query("links")
            gap["ctl_links"] = reply
            for e in reply.get("links", []):
                check(e.get("state") in ("connecting", "backoff"),
                      f"cee-ctl links while no server listens: {e.get('name')} state {e.get('state')!r}: {e}")
                n = e.get("name")
                want_downs = len(self.tail.link_events(n, "link_down"))
                check(e.get("downs") == want_downs, f"cee-ctl links in the gap: {n} downs {e.get('downs')}, "
                      f"events say {want_downs}")
                if e.get("state") == "backoff":
                    check(isinstance(e.get("next_attempt_ms"), int), f"cee-ctl links: backoff without next_attempt_ms: {e}")
        self.log.write(gap)
        if a.badcert and self.restarts == 0:
            self.badcert(rec)
        self.restarts += 1

    def badcert(self, rec):
        """A server with a certificate of another CA: the engine must refuse it."""
        a = self.a
        ctx = tls_contexts(a.certs, cert="other-client")[0]
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((a.host, a.port))
        ls.listen(64)
        ls.settimeout(0.1)
        t_from = {n: max(e["sseq"] for e in self.tail.find(lambda e, n=n: e.get("link") == n))
                  for n in a.link_names}
        seen = []

        def refused_all():
            got = {}
            for n in a.link_names:
                for o in self.tail.find(lambda e, n=n: e["type"] == "open" and e.get("link") == n
                                        and e["sseq"] > t_from[n]):
                    cl = self.tail.of(o["conn"], "closed")
                    if cl and cl[0]["reason"] == "tls_alert":
                        got[n] = o["conn"]
                        break
            return got if len(got) == len(a.link_names) else None

        deadline = time.monotonic() + a.deadline
        result = None
        try:
            while result is None:
                check(time.monotonic() < deadline, f"the engine's attempts on a server of another CA: "
                      f"not every link failed with tls_alert within {a.deadline:g}s ({seen})")
                try:
                    s, addr = ls.accept()
                except socket.timeout:
                    result = refused_all()
                    continue
                st = Stream(s, ctx)
                s.settimeout(a.deadline)
                out = {"port": addr[1]}
                try:
                    st.handshake()
                    out["end"] = "handshake_done"
                except ssl.SSLError as e:
                    out["end"] = f"ssl_error: {e.reason}"
                except (ConnectionError, OSError) as e:
                    out["end"] = f"{type(e).__name__}"
                finally:
                    s.close()
                seen.append(out)
                result = refused_all()
        finally:
            ls.close()
        self.log.write({"type": "badcert", "ids": result, "server_saw": seen})
        log(f"links_server: every link refused the server of another CA ({len(seen)} handshake(s))")


def main():
    a = parse_args()
    if a.role == "serve":
        # die with the supervisor, whatever kills it
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:
            return 1
        Server(a).run()
        return 1
    return Supervisor(a, sys.argv[1:]).run()


if __name__ == "__main__":
    sys.exit(main())
