#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""drain against real Linux clients; run inside the test namespace.

Guards against: a drain that drops or disturbs live connections, lets new
ones in, or stops the engine before the last connection is gone (or never).
Opens --count connections, runs `cee-ctl drain`, then checks that every live
connection still echoes, that new connections are refused (RST: the client
gets ECONNREFUSED) and counted (refused_draining), and closes the live ones
one by one (FIN and RST alternately), checking after each but the last that
the engine still answers with the right live count. The shell test then
waits for the engine to exit 0 by itself.
"""

import argparse
import socket
import sys

import ctlit
from ctlit import Failed, check, log


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ctl", required=True)
    p.add_argument("--prefix", required=True)
    p.add_argument("--events", required=True)
    p.add_argument("--server", required=True)
    p.add_argument("--count", type=int, default=10)
    p.add_argument("--refused", type=int, default=5)
    p.add_argument("--shards", type=int, default=1, help="connections until every shard owns some")
    p.add_argument("--count-file", help="write the number of connections opened here")
    a = p.parse_args()
    host, port = a.server.rsplit(":", 1)
    port = int(port)
    ctl = ctlit.Ctl(a.ctl, a.prefix)
    tail = ctlit.EventTail(a.events)
    try:
        live = []
        shards = set()
        # at least --count, and more until every shard owns some (10 could
        # all land on one shard, leaving the cross-shard drain untested)
        while len(live) < a.count or len(shards) < a.shards:
            check(len(live) < 64, f"64 connections and still not on {a.shards} shards")
            s = ctlit.connect(host, port)
            check(ctlit.echo(s), "echo before the drain")
            live.append(s)
            ctlit.wait_until(20, f"{len(live)} open events",
                             lambda: len(tail.find(lambda e: e["type"] == "open")) >= len(live))
            shards = {e["shard"] for e in tail.events if e["type"] == "open"}
        a.count = len(live)
        if a.count_file:
            with open(a.count_file, "w") as f:
                f.write(f"{a.count}\n")
        log(f"{a.count} connections live on shards {sorted(shards)}; drain")
        r = ctl.query("drain")
        check(r["draining"] is True and r["live"] == a.count, f"drain answered {r}")
        # every one established: none has its closed yet (unclosed counts
        # them as the stream does: open without closed)
        check(r.get("unclosed") == a.count, f"drain answered unclosed {r.get('unclosed')}")

        for s in live:
            check(ctlit.echo(s, b"after drain"), "a live connection stopped working after drain")
        for _ in range(a.refused):
            try:
                s = ctlit.connect(host, port)
                s.close()
                raise Failed("a new connection was accepted while draining")
            except ConnectionRefusedError:
                pass
        st = ctl.query("stats")["total"]
        check(st["refused_draining"] == a.refused and st["draining"] == 1,
              f"stats while draining: refused_draining {st['refused_draining']}, draining {st['draining']}")
        check(st["opened"] == a.count, f"opened {st['opened']} while draining")

        for k, s in enumerate(live):
            if k % 2:
                ctlit.close_rst(s)
            else:
                s.shutdown(socket.SHUT_WR)
                check(s.recv(16) == b"", "the engine's FIN")
                s.close()
            if k == len(live) - 1:
                break
            # The engine keeps going while one is left: it answers, with the right count.
            want = a.count - k - 1
            ctlit.wait_until(20, f"live == {want}", lambda w=want: ctl.query("stats")["total"]["live"] == w)
        log("closed them all; the engine should now exit by itself")
    except Failed as e:
        print(f"ctl_drain: FAIL {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
