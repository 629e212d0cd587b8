#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Connection churn for test_nats.sh, run inside the test namespace.

--threads Linux TCP clients open short connections to the engine's echo
listener as fast as they can: connect, send --size bytes, read the echo,
close (FIN); with --server-closes (an echo-close listener) wait for the
engine's FIN after the echo, then close. A connect the engine refuses (RST to the SYN: ECONNREFUSED, or a
reset) is expected while the event sink holds the rings full and is counted,
not fatal; any other failure (timeout, wrong echo, reset of an accepted
connection) is.

Admission stopped, as opposed to a refusal now and then when the engine's
control thread falls behind for a moment: a long run of refusals with no
connection accepted in between (refused_streak now, max_streak per phase).

Phases: the test writes a word into --phase-file (e.g. "up", "down",
"back"); every outcome is counted under the phase it started in, so the log
says what the clients saw while the broker was down and after it came back.

Stops when --count connections were accepted in all (and, with
--until-phase P, at least --min-in-phase of them were accepted in phase P
after the last refusal), or after --seconds (with --count: a failure).
--status FILE is rewritten (atomically) every 100 ms with the running
counts, for the test to poll. --log FILE gets the summary at the end.
Exit 0, or 1 on failures (printed).
"""

import argparse
import errno
import json
import os
import socket
import sys
import threading
import time

REFUSED = (errno.ECONNREFUSED, errno.ECONNRESET)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", required=True, help="IP:PORT of the echo listener")
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--count", type=int, default=0, help="accepted connections to reach")
    p.add_argument("--seconds", type=float, default=0,
                   help="run this long (with --count: the limit for reaching it)")
    p.add_argument("--size", type=int, default=32, help="bytes echoed per connection")
    p.add_argument("--timeout", type=float, default=5)
    p.add_argument("--server-closes", action="store_true",
                   help="the listener closes first (echo-close): read the echo, then its FIN, then close "
                        "(no TIME-WAIT on the client side)")
    p.add_argument("--phase-file", help="a word naming the current phase (read every 20 ms)")
    p.add_argument("--until-phase", help="with --count: also wait for this phase")
    p.add_argument("--min-in-phase", type=int, default=200,
                   help="connections accepted in --until-phase after the last refusal")
    p.add_argument("--refused-pause", type=float, default=0.005,
                   help="pause after a refused connect (pacing, not synchronisation)")
    p.add_argument("--status", help="running counts, JSON, rewritten every 100 ms")
    p.add_argument("--log", required=True)
    return p.parse_args()


class Churn:
    def __init__(self, a):
        host, _, port = a.server.rpartition(":")
        self.server = (host, int(port))
        self.a = a
        self.lock = threading.Lock()
        self.phase = "start"
        self.by_phase = {}  # phase -> {"accepted", "refused", "errors"}
        self.accepted = self.refused = self.errors = 0
        self.after_refusal = 0  # accepted since the last refusal
        self.after_refusal_phase = None
        self.streak = 0  # refused connects since the last accepted one (all threads)
        self.first_refusal_t = self.last_refusal_t = None
        self.error_samples = []
        self.stop = threading.Event()
        self.t0 = time.monotonic()

    def count(self, phase, what, err=None):
        with self.lock:
            ph = self.by_phase.setdefault(phase, {"accepted": 0, "refused": 0, "errors": 0, "max_streak": 0})
            ph[what] += 1
            now = time.monotonic() - self.t0
            if what == "accepted":
                self.accepted += 1
                if self.after_refusal_phase != phase:
                    self.after_refusal_phase = phase
                    self.after_refusal = 0
                self.after_refusal += 1
                self.streak = 0
            elif what == "refused":
                self.refused += 1
                self.streak += 1
                ph["max_streak"] = max(ph["max_streak"], self.streak)
                self.after_refusal = 0
                self.after_refusal_phase = phase
                if self.first_refusal_t is None:
                    self.first_refusal_t = now
                self.last_refusal_t = now
            else:
                self.errors += 1
                if len(self.error_samples) < 20:
                    self.error_samples.append(f"{now:.3f}s {phase}: {err}")

    def done(self):
        a = self.a
        with self.lock:
            if a.count and self.accepted < a.count:
                return False
            if a.until_phase and (self.phase != a.until_phase or self.after_refusal_phase != a.until_phase
                                  or self.after_refusal < a.min_in_phase):
                return False
            return bool(a.count)

    def one(self, payload):
        phase = self.phase
        try:
            s = socket.create_connection(self.server, timeout=self.a.timeout)
        except OSError as e:
            if e.errno in REFUSED:
                self.count(phase, "refused")
                return False
            self.count(phase, "errors", f"connect: {e!r}")
            return True
        try:
            s.sendall(payload)
            got = bytearray()
            while len(got) < len(payload):
                b = s.recv(len(payload) - len(got))
                if not b:
                    break
                got += b
            if bytes(got) == payload and self.a.server_closes:
                rest = s.recv(1)
                if rest:
                    got += rest
            if bytes(got) != payload:
                self.count(phase, "errors", f"echo: {len(got)} bytes back for {len(payload)}")
            else:
                self.count(phase, "accepted")
        except OSError as e:
            # an accepted connection must work whatever the sink does
            self.count(phase, "errors", f"accepted connection: {e!r}")
        finally:
            s.close()
        return True

    def worker(self, i):
        n = 0
        while not self.stop.is_set():
            n += 1
            payload = b"%02d-%010d-" % (i, n)
            payload = (payload * (self.a.size // len(payload) + 1))[:self.a.size]
            if not self.one(payload) and self.a.refused_pause > 0:
                time.sleep(self.a.refused_pause)  # retry pacing, not synchronisation

    def snapshot(self):
        with self.lock:
            return {"t": round(time.monotonic() - self.t0, 3), "phase": self.phase,
                    "accepted": self.accepted, "refused": self.refused, "errors": self.errors,
                    "refused_streak": self.streak,
                    "by_phase": json.loads(json.dumps(self.by_phase)),
                    "accepted_after_last_refusal": self.after_refusal,
                    "after_refusal_phase": self.after_refusal_phase,
                    "first_refusal_s": self.first_refusal_t, "last_refusal_s": self.last_refusal_t}


def write_json(path, obj):
    with open(path + ".tmp", "w") as f:
        json.dump(obj, f)
    os.rename(path + ".tmp", path)


def read_phase(path):
    try:
        with open(path) as f:
            return f.read().strip() or None
    except OSError:
        return None


def main():
    a = parse_args()
    if not a.count and not a.seconds:
        sys.exit("nats_churn: give --count or --seconds")
    c = Churn(a)
    if a.phase_file:
        c.phase = read_phase(a.phase_file) or c.phase
    threads = [threading.Thread(target=c.worker, args=(i,), daemon=True) for i in range(a.threads)]
    for t in threads:
        t.start()
    fails = []
    last_status = 0.0
    while True:
        now = time.monotonic()
        if a.phase_file:
            ph = read_phase(a.phase_file)
            if ph:
                with c.lock:
                    c.phase = ph
        if c.done():
            break
        if a.seconds and now - c.t0 >= a.seconds:
            if a.count:
                fails.append(f"--count {a.count} not reached in {a.seconds} s")
            break
        if a.status and now - last_status >= 0.1:
            write_json(a.status, c.snapshot())
            last_status = now
        time.sleep(0.02)  # polling the phase file and the counts
    c.stop.set()
    for t in threads:
        t.join(a.timeout + 5)
    summary = c.snapshot()
    summary["seconds"] = round(time.monotonic() - c.t0, 3)
    summary["rate_per_s"] = round(summary["accepted"] / max(summary["seconds"], 1e-3))
    summary["error_samples"] = c.error_samples
    if c.errors:
        fails.append(f"{c.errors} connections failed other than by refusal: {c.error_samples[:5]}")
    summary["failures"] = fails
    if a.status:
        write_json(a.status, summary)
    write_json(a.log, {"summary": summary})
    print(f"nats_churn: {summary['accepted']} accepted, {summary['refused']} refused, "
          f"{summary['errors']} errors in {summary['seconds']} s ({summary['rate_per_s']}/s); "
          f"by phase {summary['by_phase']}", flush=True)
    for m in fails:
        print(f"nats_churn: FAIL {m}", flush=True)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
