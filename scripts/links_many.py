#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Helpers of scripts/links_many.sh: many links to one server, the server
restarted, the reconnect curve.

  links_many.py serve --listen IP:PORT --ready FILE [--count FILE]
      asyncio server (inside the namespace): accepts every connection, echoes
      what it gets, holds it until the peer closes. Writes FILE (its pid)
      once listening, and the number of connections it holds to --count.
      Runs until killed.
  links_many.py wait --events FILE --links N --ups K --deadline S [--what TEXT]
      tails the engine's JSON Lines events until at least K link_up events
      are out and every one of the N links is up (its last link event is a
      link_up). Exit 0, or 1 at the deadline (with how far it got).
  links_many.py report --events FILE --links N [--bucket-ms 100] [--json OUT]
      the figures: the first bring-up (first open to the N-th link_up), and
      after the restart (t0 = the first link_down that is not a shutdown):
      link_up per bucket (the reconnect-rate curve), first and last link_up,
      attempts (opens) and failed attempts by reason, attempts per link.
      Exit 1 when a link did not drop exactly once and come back exactly once.
"""

import argparse
import asyncio
import json
import os
import resource
import sys
import time


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 1 << 20
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


def serve(a):
    n = raise_nofile()
    host, _, port = a.listen.rpartition(":")

    live = [0]

    async def conn(reader, writer):
        live[0] += 1
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            live[0] -= 1
            writer.close()

    async def report_count():
        last = None
        while True:
            if live[0] != last:
                last = live[0]
                with open(a.count + ".tmp", "w") as f:
                    f.write(f"{last}\n")
                os.rename(a.count + ".tmp", a.count)
            await asyncio.sleep(0.1)

    async def main():
        srv = await asyncio.start_server(conn, host, int(port), backlog=65535, reuse_address=True)
        with open(a.ready + ".tmp", "w") as f:
            f.write(f"{os.getpid()}\n")
        os.rename(a.ready + ".tmp", a.ready)
        print(f"links_many: server {a.listen} listening (pid {os.getpid()}, {n} files)", flush=True)
        if a.count:
            asyncio.get_running_loop().create_task(report_count())
        async with srv:
            await srv.serve_forever()

    asyncio.run(main())


class Tail:
    """Incremental reader of a JSON Lines file that is still growing."""

    def __init__(self, path):
        self.path, self.off, self.partial = path, 0, b""

    def read(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.off)
                data = f.read()
        except FileNotFoundError:
            return []
        self.off += len(data)
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        return [json.loads(x) for x in lines if x.strip()]


def wait(a):
    tail = Tail(a.events)
    state = {}
    ups = 0
    deadline = time.monotonic() + a.deadline
    t0 = time.monotonic()
    while True:
        for e in tail.read():
            if e["type"] == "link_up":
                ups += 1
                state[e["link"]] = True
            elif e["type"] == "link_down":
                state[e["link"]] = False
        n_up = sum(1 for v in state.values() if v)
        if ups >= a.ups and n_up == a.links:
            print(f"links_many: {a.what}: all {a.links} links up ({ups} link_up so far) "
                  f"after {time.monotonic() - t0:.2f} s", flush=True)
            return 0
        if time.monotonic() >= deadline:
            print(f"links_many: {a.what}: after {a.deadline:g} s only {n_up} of {a.links} links up "
                  f"({ups} link_up so far, {a.ups} wanted)", flush=True)
            return 1
        time.sleep(0.05)


def pct(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


def report(a):
    evs = Tail(a.events).read()
    conns = {}
    for e in evs:
        conns.setdefault(e["conn"], {})[e["type"]] = e
    opens = sorted((c["open"] for c in conns.values() if "open" in c and "link" in c["open"]),
                   key=lambda e: e["ts_ns"])
    ups = sorted((e for e in evs if e["type"] == "link_up"), key=lambda e: e["ts_ns"])
    downs = sorted((e for e in evs if e["type"] == "link_down" and e.get("reason") != "shutdown"),
                   key=lambda e: e["ts_ns"])
    out = {"links": a.links, "bad": []}
    bad = out["bad"]
    if not opens or len(ups) < a.links:
        bad.append(f"only {len(ups)} link_up for {a.links} links")
        print(json.dumps(out))
        return 1
    # first bring-up
    t_start = opens[0]["ts_ns"]
    first_ups = ups[:a.links]
    ini_opens = [o for o in opens if o["ts_ns"] <= first_ups[-1]["ts_ns"]]
    out["initial"] = {"all_up_ms": round((first_ups[-1]["ts_ns"] - t_start) / 1e6, 1),
                      "attempts": len(ini_opens),
                      "failed": sum(1 for o in ini_opens if "link_up" not in conns[o["conn"]])}
    # the restart
    if not downs:
        bad.append("no link_down: the server restart dropped nothing")
        print(json.dumps(out))
        return 1
    t0 = downs[0]["ts_ns"]
    r_ups = [u for u in ups if u["ts_ns"] >= t0]
    r_opens = [o for o in opens if o["ts_ns"] >= t0]
    per_link_down, per_link_up, per_link_att, last = {}, {}, {}, {}
    for d in downs:
        per_link_down[d["link"]] = per_link_down.get(d["link"], 0) + 1
    for u in r_ups:
        per_link_up[u["link"]] = per_link_up.get(u["link"], 0) + 1
    for o in r_opens:
        per_link_att[o["link"]] = per_link_att.get(o["link"], 0) + 1
    for e in sorted((e for e in evs if e["type"] in ("link_up", "link_down") and e.get("reason") != "shutdown"),
                    key=lambda e: e["ts_ns"]):
        last[e["link"]] = e
    # A link whose first retry came while the dying server's listener still
    # took connections comes up and drops again (reset with the listener):
    # a bounce. Each link must drop at least once and end up.
    not_back = [n for n, e in last.items() if e["type"] != "link_up"]
    if len(per_link_down) != a.links or len(last) != a.links or not_back:
        bad.append(f"{len(per_link_down)} of {a.links} links dropped; not up at the end: {sorted(not_back)[:10]}")
    bounced = sum(1 for n in per_link_down if per_link_down[n] > 1)
    half_open = sum(1 for d in downs if d["reason"] in ("keepalive_timeout", "retransmit_timeout"))
    failed = {}
    for o in r_opens:
        c = conns[o["conn"]]
        if "link_up" not in c and "closed" in c:
            r = c["closed"]["reason"]
            failed[r] = failed.get(r, 0) + 1
    bucket = a.bucket_ms * 1e6
    curve = {}
    for u in r_ups:
        b = int((u["ts_ns"] - t0) // bucket)
        curve[b] = curve.get(b, 0) + 1
    att = list(per_link_att.values())
    nams = [d["next_attempt_ms"] for d in downs if isinstance(d.get("next_attempt_ms"), int)]
    out["restart"] = {
        "drops": len(downs),
        "drops_spread_ms": round((downs[-1]["ts_ns"] - t0) / 1e6, 1),
        "first_up_ms": round((r_ups[0]["ts_ns"] - t0) / 1e6, 1) if r_ups else None,
        "all_back_ms": round((max(e["ts_ns"] for e in last.values()) - t0) / 1e6, 1) if last else None,
        "back": sum(1 for e in last.values() if e["type"] == "link_up"),
        "bounced": bounced,
        "half_open_found": half_open,
        "attempts": len(r_opens),
        "failed_attempts": failed,
        "attempts_per_link": {"min": min(att) if att else 0, "median": pct(att, 50),
                              "p99": pct(att, 99), "max": max(att) if att else 0},
        "next_attempt_ms": {"min": min(nams, default=None), "mean": round(sum(nams) / len(nams), 1) if nams else None,
                            "max": max(nams, default=None)},
        "bucket_ms": a.bucket_ms,
        "curve": [[b * a.bucket_ms, curve.get(b, 0)] for b in range(0, max(curve, default=-1) + 1)],
    }
    r = out["restart"]
    print(f"links_many: {a.links} links; first bring-up: all up {out['initial']['all_up_ms']} ms after the "
          f"first open, {out['initial']['attempts']} attempts ({out['initial']['failed']} failed)")
    print(f"links_many: restart: {r['drops']} link_down within {r['drops_spread_ms']} ms (t0 = the first); "
          f"first link_up at +{r['first_up_ms']} ms, all {r['back']} back at +{r['all_back_ms']} ms"
          f"{f' ({bounced} bounced: up while the dying server still accepted, then dropped again' if bounced else ''}"
          f"{f', {half_open} of them half-open until keepalive or retransmission gave up' if half_open else ''}"
          f"{')' if bounced else ''}; "
          f"{r['attempts']} attempts, failed {r['failed_attempts']}; attempts per link "
          f"min/median/p99/max {r['attempts_per_link']['min']}/{r['attempts_per_link']['median']}/"
          f"{r['attempts_per_link']['p99']}/{r['attempts_per_link']['max']}; link_down next_attempt_ms "
          f"min/mean/max {r['next_attempt_ms']['min']}/{r['next_attempt_ms']['mean']}/{r['next_attempt_ms']['max']}")
    top = max((n for _, n in r["curve"]), default=1)
    print(f"links_many: link_up per {a.bucket_ms} ms after t0:")
    for start, n in r["curve"]:
        print(f"  +{start:6d} ms {n:6d} {'#' * max(1 if n else 0, round(40 * n / top))}")
    for b in bad:
        print(f"links_many: FAIL {b}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
    return 1 if bad else 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--listen", required=True)
    s.add_argument("--ready", required=True)
    s.add_argument("--count", help="file: the connections it holds now (every 100 ms when it changed)")
    w = sub.add_parser("wait")
    w.add_argument("--events", required=True)
    w.add_argument("--links", type=int, required=True)
    w.add_argument("--ups", type=int, required=True)
    w.add_argument("--deadline", type=float, default=120)
    w.add_argument("--what", default="links")
    r = sub.add_parser("report")
    r.add_argument("--events", required=True)
    r.add_argument("--links", type=int, required=True)
    r.add_argument("--bucket-ms", type=int, default=100)
    r.add_argument("--json")
    a = p.parse_args()
    if a.cmd == "serve":
        return serve(a)
    if a.cmd == "wait":
        return wait(a)
    return report(a)


if __name__ == "__main__":
    sys.exit(main())
