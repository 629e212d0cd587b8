#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Linux TCP clients for cee-engine's echo port, run inside the test namespace.

Guards against (with check_events.py): lost or duplicated close events under
many concurrent closes, wrong close reasons, byte counters that disagree with
what the peer sent and received, half-close handled as a full close, echo
data corrupted, idle connections never reaped.

Opens --count connections with at most --concurrency at a time, each with a
behaviour drawn from --mix:
  fin        send 1..20000 random bytes, read the whole echo, close (FIN)
  rst        send some bytes, read the echo, close with SO_LINGER {1,0} (RST)
  halfclose  send a payload, shutdown(SHUT_WR), read the echo until EOF, close
  idle       send a little, read the echo, wait for the server to close
  reuse      --reuse-rounds rst connections one after the other from the same
             local port (an RST leaves no TIME_WAIT): the same 4-tuple names
             several connections in turn, each must get its own id
then --burst connections, all established at once, each echoing 8 bytes,
and closed (FIN) back to back once all of them are open: a burst of
concurrent closes (check_events.py: burst -> peer_fin, the bytes exact);
and, in a separate process, --hold connections that exchange data every
--hold-interval seconds (so the idle timeout never fires) until the server
resets them (engine shutdown), the --stop file appears or --hold-deadline
passes.

When every pooled connection has finished and every hold connection is
established it writes --ready (JSON: how many pooled connections were
accepted, so the test can wait for that many `closed` events). At the end it
writes --log: {"meta": {...}, "conns": [record, ...]}, one record per
connection: id, behaviour, lport, sent, recv, echo_ok, outcome, error,
t_connect (CLOCK_MONOTONIC s), idle_wait (s, idle only: from the send to
the server's close).
"""

import argparse
import concurrent.futures
import errno
import json
import multiprocessing
import os
import random
import socket
import struct
import sys
import time

BEHAVIOURS = ("fin", "rst", "halfclose", "idle", "reuse")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", required=True, help="IP:PORT of the echo listener")
    p.add_argument("--count", type=int, default=1200)
    p.add_argument("--hold", type=int, default=20)
    p.add_argument("--burst", type=int, default=0, help="connections closed at once after the pool")
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--mix", default="fin=40,rst=20,halfclose=25,idle=10,reuse=5")
    p.add_argument("--reuse-rounds", type=int, default=3)
    p.add_argument("--max-payload", type=int, default=20000)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--timeout", type=float, default=10.0, help="per socket operation")
    p.add_argument("--idle-wait", type=float, default=20.0, help="longest wait for the server to close an idle connection")
    p.add_argument("--hold-interval", type=float, default=0.3)
    p.add_argument("--hold-deadline", type=float, default=300.0)
    p.add_argument("--log", required=True)
    p.add_argument("--ready")
    p.add_argument("--stop")
    return p.parse_args()


def recv_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(min(65536, n - len(buf)))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def recv_to_eof(s):
    buf = bytearray()
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return bytes(buf)
        buf += chunk


def connect(server, timeout, rec, lport=None):
    rec["t_connect"] = time.monotonic()
    try:
        if lport is None:
            s = socket.create_connection(server, timeout=timeout)
        else:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.settimeout(timeout)
            try:
                s.bind(("", lport))
                s.connect(server)
            except OSError:
                s.close()
                raise
    except OSError as e:
        rec["outcome"] = "refused" if e.errno == errno.ECONNREFUSED else "connect_failed"
        rec["error"] = repr(e)
        return None
    rec["lport"] = s.getsockname()[1]
    rec["accepted"] = True
    return s


def burst(args, server, first_id):
    """--burst connections open at once (non-blocking connects), each
    echoing 8-byte messages, then all closed back to back: the engine sees
    that many FINs in a few milliseconds. While some still connect (a SYN
    retransmitted after a loss takes a second or more), those connected send
    another message every half second, so that none sits idle into the
    engine's idle timeout. @return (their records, how many were connected
    and echoed when the closes began)."""
    import resource
    import selectors
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.burst + args.concurrency + 256
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    recs, socks, echo = [], {}, {}  # echo: i -> [bytes sent, bytes received]
    sel = selectors.DefaultSelector()

    def fail(i, outcome, error):
        recs[i]["outcome"], recs[i]["error"] = outcome, error
        if i in socks:
            sel.unregister(socks[i])
            socks.pop(i).close()

    def send_msg(i):
        msg = struct.pack("!II", recs[i]["id"], echo[i][0] // 8)
        try:
            socks[i].send(msg)  # 8 bytes, the last ones echoed: room for them
        except OSError as e:
            fail(i, "error", repr(e))
            return
        echo[i][0] += len(msg)
        recs[i]["sent"] = echo[i][0]

    for i in range(args.burst):
        recs.append({"id": first_id + i, "behaviour": "burst", "lport": None, "sent": 0, "recv": 0,
                     "echo_ok": None, "outcome": None, "error": None, "accepted": False,
                     "t_connect": time.monotonic()})
        s = socket.socket()
        s.setblocking(False)
        rc = s.connect_ex(server)
        if rc not in (0, errno.EINPROGRESS):
            recs[i]["outcome"], recs[i]["error"] = "connect_failed", os.strerror(rc)
            s.close()
            continue
        socks[i] = s
        sel.register(s, selectors.EVENT_WRITE, i)

    def settled():  # every connection connected (or failed) and its echo back
        return all(i in echo and echo[i][0] == echo[i][1] for i in socks)

    deadline = time.monotonic() + 3 * args.timeout
    next_keep = time.monotonic() + 0.5
    while not settled() and time.monotonic() < deadline:
        for key, ev in sel.select(0.1):
            i, s = key.data, key.fileobj
            if i not in socks:
                continue
            if i not in echo:  # connecting
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    fail(i, "connect_failed", os.strerror(err))
                    continue
                recs[i]["accepted"] = True
                recs[i]["lport"] = s.getsockname()[1]
                sel.modify(s, selectors.EVENT_READ, i)
                echo[i] = [0, 0]
                send_msg(i)
                continue
            try:
                d = s.recv(4096)
            except OSError as e:
                fail(i, "error", repr(e))
                continue
            if not d:
                fail(i, "server_fin", None)
                continue
            echo[i][1] += len(d)
            recs[i]["recv"] = echo[i][1]
        if time.monotonic() >= next_keep:  # (pacing, not synchronisation)
            next_keep = time.monotonic() + 0.5
            for i in [i for i in socks if i in echo and echo[i][0] == echo[i][1]]:
                send_msg(i)
    sel.close()
    # every connection open at once, now closed back to back
    open_at_close = sum(1 for i in socks if i in echo and echo[i][0] == echo[i][1])
    for i, s in socks.items():
        rec = recs[i]
        if i not in echo:
            rec["outcome"] = "connect_timeout"
        else:
            rec["echo_ok"] = echo[i][0] == echo[i][1]
            rec["outcome"] = "ok" if rec["echo_ok"] else "short_echo"
        s.close()
    print(f"peer: burst: {open_at_close} of {args.burst} connections open and echoed at once, "
          f"closed back to back", flush=True)
    return recs, open_at_close


def run_job(args, server, job):
    """@return the records of one job (several for reuse)."""
    idx, behaviour, size = job
    if behaviour != "reuse":
        return [run_one(args, server, idx, behaviour, size)]
    recs = [run_one(args, server, idx, "reuse", size)]
    for r in range(1, args.reuse_rounds):
        if not recs[-1]["accepted"]:
            break
        # another size each round, so confusing two rounds shows in the bytes
        size = random.Random(args.seed_base + idx * 10 + r).randint(1, 2000)
        recs.append(run_one(args, server, idx + r / 10, "reuse", size, lport=recs[0]["lport"]))
    return recs


def run_one(args, server, idx, behaviour, size, lport=None):
    rng = random.Random(args.seed_base + int(idx * 10))
    payload = rng.randbytes(size)
    rec = {"id": idx, "behaviour": behaviour, "lport": None, "sent": 0, "recv": 0,
           "echo_ok": None, "outcome": None, "error": None, "accepted": False}
    s = connect(server, args.timeout, rec, lport)
    if s is None:
        return rec
    try:
        # idle: the wait runs from here, before the send; the engine's idle
        # clock starts later (its echo), so idle_wait never reads short. From
        # after the echo's recv, a client scheduled late read under 0.8 x it
        t_out = time.monotonic()
        s.sendall(payload)
        rec["sent"] = len(payload)
        if behaviour == "halfclose":
            s.shutdown(socket.SHUT_WR)
            echo = recv_to_eof(s)
        else:
            echo = recv_exact(s, len(payload))
        rec["recv"] = len(echo)
        rec["echo_ok"] = echo == payload
        if behaviour in ("fin", "halfclose"):
            s.close()
            rec["outcome"] = "ok" if rec["echo_ok"] else "short_echo"
        elif behaviour in ("rst", "reuse"):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
            rec["outcome"] = "ok" if rec["echo_ok"] else "short_echo"
        else:  # idle: send nothing more, wait for the server to close
            s.settimeout(args.idle_wait)
            try:
                extra = s.recv(65536)
                rec["outcome"] = "server_fin" if not extra else "unexpected_data"
                rec["recv"] += len(extra)
            except socket.timeout:
                rec["outcome"] = "no_server_close"
            except ConnectionResetError:
                rec["outcome"] = "server_rst"
            rec["idle_wait"] = time.monotonic() - t_out
            s.close()
    except OSError as e:
        rec["outcome"] = "error"
        rec["error"] = repr(e)
        s.close()
    return rec


def hold_main(args, server, established, result_path):
    """Hold connections: established, pinging, until reset or told to stop."""
    recs, socks = [], {}
    for i in range(args.hold):
        rec = {"id": args.count + i, "behaviour": "hold", "lport": None, "sent": 0, "recv": 0,
               "echo_ok": True, "outcome": None, "error": None, "accepted": False}
        recs.append(rec)
        s = connect(server, args.timeout, rec)
        if s is not None:
            socks[i] = s
    established.set()
    deadline = time.monotonic() + args.hold_deadline
    parent = os.getppid()
    seq = 0
    while socks:
        if os.getppid() != parent:  # the main process was killed
            break
        if args.stop and os.path.exists(args.stop):
            for i in socks:
                recs[i]["outcome"] = "stopped"
            break
        if time.monotonic() > deadline:
            for i in socks:
                recs[i]["outcome"] = "deadline"
            break
        for i in list(socks):
            s, rec = socks[i], recs[i]
            seq += 1
            ping = struct.pack("!II", rec["id"], seq)
            try:
                rec["sent"] += len(ping)  # counted before: the engine may get it
                s.sendall(ping)
                echo = recv_exact(s, len(ping))
                rec["recv"] += len(echo)
                if echo != ping:
                    rec["echo_ok"] = False
                if len(echo) < len(ping):
                    # A FIN where the shutdown's RST was expected: say what the
                    # socket knew, for the failure message (seen once, rare).
                    rec["outcome"] = "eof"
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    rec["error"] = (f"EOF after {len(echo)} of {len(ping)} echo bytes, "
                                    f"SO_ERROR {err}, t={time.monotonic():.3f}")
            except (ConnectionResetError, BrokenPipeError):
                rec["outcome"] = "reset"
            except OSError as e:
                rec["outcome"] = "error"
                rec["error"] = repr(e)
            if rec["outcome"] is not None:
                s.close()
                del socks[i]
        # pacing between ping rounds, not synchronisation
        time.sleep(args.hold_interval)
    for s in socks.values():
        s.close()
    with open(result_path, "w") as f:
        json.dump(recs, f)


def main():
    args = parse_args()
    host, _, port = args.server.rpartition(":")
    server = (host, int(port))
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "little")
    args.seed_base = seed * 1000003
    rng = random.Random(seed)
    weights = {}
    for part in args.mix.split(","):
        name, _, w = part.partition("=")
        if name not in BEHAVIOURS:
            sys.exit(f"peer: unknown behaviour {name!r}")
        weights[name] = float(w)
    names = list(weights)
    jobs = []
    for i in range(args.count):
        b = rng.choices(names, [weights[n] for n in names])[0]
        size = rng.randint(1, 100) if b == "idle" else rng.randint(1, args.max_payload)
        if b in ("rst", "reuse"):
            size = rng.randint(1, 2000)
        jobs.append((i, b, size))

    hold_path = args.log + ".hold"
    established = multiprocessing.Event()
    holder = None
    if args.hold:
        holder = multiprocessing.Process(target=hold_main, args=(args, server, established, hold_path))
        holder.start()
        if not established.wait(60):
            sys.exit("peer: hold connections not established within 60 s")

    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        recs = [r for rs in pool.map(lambda j: run_job(args, server, j), jobs) for r in rs]
    burst_open = 0
    if args.burst:
        brecs, burst_open = burst(args, server, args.count + args.hold)
        recs += brecs
    elapsed = time.monotonic() - t0
    accepted = sum(1 for r in recs if r["accepted"])
    completed = sum(1 for r in recs if r["outcome"] in ("ok", "server_fin", "server_rst"))
    meta = {"server": args.server, "seed": seed, "count": len(recs), "hold": args.hold,
            "burst": args.burst, "burst_open": burst_open,
            "concurrency": args.concurrency, "accepted": accepted, "completed": completed,
            "elapsed_s": elapsed, "conns_per_s": completed / elapsed if elapsed > 0 else 0.0}
    print(f"peer: {completed}/{len(recs)} connections completed in {elapsed:.2f} s "
          f"({meta['conns_per_s']:.0f} conn/s, concurrency {args.concurrency}, seed {seed})", flush=True)
    if args.ready:
        tmp = args.ready + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"accepted": accepted, "completed": completed}, f)
        os.rename(tmp, args.ready)

    hold_recs = []
    if holder is not None:
        holder.join()
        try:
            with open(hold_path) as f:
                hold_recs = json.load(f)
            os.unlink(hold_path)
        except OSError as e:
            print(f"peer: hold results missing: {e}", file=sys.stderr)
    out = {"meta": meta, "conns": recs + hold_recs}
    tmp = args.log + ".tmp"
    with open(tmp, "w") as f:
        json.dump(out, f)
    os.rename(tmp, args.log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
