#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Clients for test_backpressure.sh, run inside the test namespace.

Guards against (with the test): events dropped when the consumer stalls,
admission that does not stop (connections accepted without reserved event
room), established connections that stop working while admission is
stopped, and admission that never resumes after the consumer catches up.

Steps:
 1. open --long connections and check they echo;
 2. SIGSTOP the event reader (--reader-pid; the namespace shares the PID
    namespace with the test);
 3. churn short connections (connect, echo, FIN) until --refusals connects
    were refused (ECONNREFUSED: the engine answered the SYN with RST), or
    --churn-max attempts / --churn-seconds pass;
 4. check the long connections still echo;
 5. SIGCONT the reader; retry until a connection is accepted again, then
    --after more connections must all be accepted;
 6. check and close the long connections.
Writes --log: {"summary": {...}, "conns": [records as peer.py writes them]}.
"""

import argparse
import errno
import json
import os
import signal
import socket
import sys
import time


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", required=True)
    p.add_argument("--reader-pid", type=int, required=True)
    p.add_argument("--long", type=int, default=5)
    p.add_argument("--refusals", type=int, default=20)
    p.add_argument("--churn-max", type=int, default=5000)
    p.add_argument("--churn-seconds", type=float, default=120)
    p.add_argument("--after", type=int, default=50)
    p.add_argument("--resume-seconds", type=float, default=30)
    p.add_argument("--timeout", type=float, default=5)
    p.add_argument("--log", required=True)
    p.add_argument("--no-resume", action="store_true",
                   help="leave the reader stopped after the stalled churn (a stalled reader at "
                        "SIGTERM): close the long connections and exit")
    p.add_argument("--other-sink", help="a healthy sink's file: it must be ahead of --reader-out "
                                        "while the reader is stopped (the other sinks keep flowing)")
    p.add_argument("--reader-out", help="the stopped reader's output file")
    return p.parse_args()


def count_lines(path):
    with open(path, "rb") as f:
        return f.read().count(b"\n")


class Client:
    def __init__(self, args):
        host, _, port = args.server.rpartition(":")
        self.server = (host, int(port))
        self.args = args
        self.recs = []

    def connect(self, behaviour, phase):
        rec = {"id": len(self.recs), "behaviour": behaviour, "phase": phase, "lport": None,
               "sent": 0, "recv": 0, "echo_ok": None, "outcome": None, "error": None,
               "accepted": False, "t_connect": time.monotonic()}
        self.recs.append(rec)
        try:
            s = socket.create_connection(self.server, timeout=self.args.timeout)
        except OSError as e:
            rec["outcome"] = "refused" if e.errno == errno.ECONNREFUSED else "connect_failed"
            rec["error"] = repr(e)
            return None, rec
        rec["accepted"] = True
        rec["lport"] = s.getsockname()[1]
        return s, rec

    @staticmethod
    def echo(s, rec, data):
        try:
            s.sendall(data)
            rec["sent"] += len(data)
            got = bytearray()
            while len(got) < len(data):
                chunk = s.recv(len(data) - len(got))
                if not chunk:
                    break
                got += chunk
            rec["recv"] += len(got)
            ok = bytes(got) == data
        except OSError as e:
            rec["error"] = repr(e)
            ok = False
        rec["echo_ok"] = ok if rec["echo_ok"] is None else (rec["echo_ok"] and ok)
        return ok

    def short(self, phase):
        """One short connection: @return True when accepted."""
        s, rec = self.connect("fin", phase)
        if s is None:
            return False
        ok = self.echo(s, rec, os.urandom(64))
        s.close()
        rec["outcome"] = "ok" if ok else "echo_failed"
        return True


def main():
    args = parse_args()
    c = Client(args)
    fails = []
    summary = {}

    longs = []
    for _ in range(args.long):
        s, rec = c.connect("long", "before")
        if s is None:
            sys.exit(f"bp_client: long connection refused before the stall: {rec['error']}")
        if not c.echo(s, rec, os.urandom(100)):
            sys.exit("bp_client: long connection does not echo before the stall")
        longs.append((s, rec))

    os.kill(args.reader_pid, signal.SIGSTOP)
    try:
        return stalled(args, c, longs, fails, summary)
    finally:
        if not args.no_resume:
            os.kill(args.reader_pid, signal.SIGCONT)


def stalled(args, c, longs, fails, summary):
    t0 = time.monotonic()
    refused = accepted = attempts = 0
    while refused < args.refusals and attempts < args.churn_max and time.monotonic() - t0 < args.churn_seconds:
        attempts += 1
        if c.short("stalled"):
            accepted += 1
        else:
            refused += 1
            if c.recs[-1]["outcome"] != "refused":
                fails.append(f"stalled connect failed without RST: {c.recs[-1]['error']}")
                break
    summary.update(stalled_attempts=attempts, stalled_accepted=accepted, stalled_refused=refused,
                   stalled_seconds=time.monotonic() - t0)
    print(f"bp_client: reader stopped: {accepted} accepted, then refusals; {refused} refused "
          f"in {attempts} attempts ({summary['stalled_seconds']:.1f} s)", flush=True)
    if refused < args.refusals:
        fails.append(f"only {refused} refusals in {attempts} connects with the event reader stopped")

    for i, (s, rec) in enumerate(longs):
        if not c.echo(s, rec, os.urandom(100)):
            fails.append(f"long connection {i} (lport {rec['lport']}) does not echo while admission is stopped")

    if args.other_sink and args.reader_out:
        other, stalled_lines = count_lines(args.other_sink), count_lines(args.reader_out)
        summary.update(other_sink_lines=other, reader_lines=stalled_lines)
        print(f"bp_client: with the reader stopped: {stalled_lines} lines read by it, "
              f"{other} in the other sink", flush=True)
        if other <= stalled_lines:
            fails.append(f"the other sink ({other} lines) is not ahead of the stopped reader "
                         f"({stalled_lines}): it was held up")

    if args.no_resume:
        for s, rec in longs:
            s.close()
            rec["outcome"] = "ok" if rec["echo_ok"] else "echo_failed"
        return finish(args, c, fails, summary)

    os.kill(args.reader_pid, signal.SIGCONT)
    t1 = time.monotonic()
    resumed = False
    while time.monotonic() - t1 < args.resume_seconds:
        if c.short("resuming"):
            resumed = True
            break
        if c.recs[-1]["outcome"] != "refused":
            fails.append(f"connect failed without RST while resuming: {c.recs[-1]['error']}")
            break
        time.sleep(0.02)  # retry pacing, not synchronisation
    summary["resume_seconds"] = time.monotonic() - t1
    if not resumed:
        fails.append(f"admission did not resume within {args.resume_seconds} s of the reader resuming")
    else:
        after_refused = sum(0 if c.short("after") else 1 for _ in range(args.after))
        summary["after_refused"] = after_refused
        if after_refused:
            fails.append(f"{after_refused} of {args.after} connections refused after admission resumed")

    for i, (s, rec) in enumerate(longs):
        if not c.echo(s, rec, os.urandom(100)):
            fails.append(f"long connection {i} (lport {rec['lport']}) does not echo after the stall")
        s.close()
        rec["outcome"] = "ok" if rec["echo_ok"] else "echo_failed"

    return finish(args, c, fails, summary)


def finish(args, c, fails, summary):
    for rec in c.recs:
        if rec["accepted"] and rec["outcome"] != "ok":
            fails.append(f"{rec['behaviour']} conn lport {rec['lport']} ({rec['phase']}): {rec['outcome']} {rec['error']}")
    summary.update(accepted=sum(r["accepted"] for r in c.recs),
                   refused=sum(r["outcome"] == "refused" for r in c.recs), failures=fails)
    with open(args.log + ".tmp", "w") as f:
        json.dump({"summary": summary, "conns": c.recs}, f)
    os.rename(args.log + ".tmp", args.log)
    print(f"bp_client: {summary['accepted']} accepted, {summary['refused']} refused in all", flush=True)
    for m in fails:
        print(f"bp_client: FAIL {m}", flush=True)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
