#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Commands by id against real Linux clients; run inside the test namespace.

Guards against identity confusion (fault 1): a peer reconnects from the same
address and port, so the old and the new connection share a 4-tuple; `kill`
with the old (stale) id must answer "no such connection" (exit 1) and change
nothing, `kill` with the new id must close exactly that connection with
reason admin_kill (the client sees the RST). With two shards: `conns`, `conn
ID`, `stats` and the telemetry commands return connections of both shards,
each under its owner, and ids route to the shard encoded in them. Also checks
cee-ctl's usage errors (exit 2).

Writes --result (JSON): the ids it killed and the stale one, for the shell
test to check against the final event stream.
"""

import argparse
import json
import os
import ssl
import subprocess
import sys
import time

import ctlit
from ctlit import Failed, check, log

FIXED_PORT = 45000  # outside the namespace's ephemeral range (20000..44999)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ctl", required=True)
    p.add_argument("--prefix", required=True)
    p.add_argument("--events", required=True)
    p.add_argument("--server", required=True)
    p.add_argument("--peer-ip", required=True)
    p.add_argument("--shards", type=int, default=2)
    p.add_argument("--result", required=True)
    p.add_argument("--tls-port", type=int, default=0, help="a tls:PORT:echo listener")
    p.add_argument("--certs", help="tests/certs (with --tls-port)")
    a = p.parse_args()
    host, port = a.server.rsplit(":", 1)
    port = int(port)
    ctl = ctlit.Ctl(a.ctl, a.prefix)
    tail = ctlit.EventTail(a.events)

    def open_id(s, what):
        ev = tail.wait_event(20, f"open event of {what}",
                             lambda e: e["type"] == "open" and e["remote"] == f"{a.peer_ip}:{ctlit.local_port(s)}"
                             and e["conn"] not in seen)
        seen.add(ev["conn"])
        return ev["conn"]

    seen = set()
    try:
        # 1. Held connections until both shards own some.
        held = {}  # id -> socket
        while len({ctlit.conn_shard(i) for i in held}) < a.shards or len(held) < 8:
            check(len(held) < 64, f"64 connections and still not on {a.shards} shards")
            s = ctlit.connect(host, port)
            check(ctlit.echo(s), "echo on a held connection")
            held[open_id(s, "a held connection")] = s
        log(f"held {len(held)} connections on shards {sorted({ctlit.conn_shard(i) for i in held})}")

        # 2. Queries with two shards: every live connection, under its owner.
        conns = ctl.query("conns")
        listed = {c["id"]: c for c in conns["conns"]}
        check(set(listed) == set(held), f"conns lists {sorted(listed)}, live are {sorted(held)}")
        for i, c in listed.items():
            check(c["shard"] == ctlit.conn_shard(i), f"conn {i} listed under shard {c['shard']}")
            check(c["remote"] == f"{a.peer_ip}:{ctlit.local_port(held[i])}", f"conn {i}: remote {c['remote']}")
            check(c["state"] == "ESTABLISHED" and c["proto"] == "tcp", f"conn {i}: {c}")
        for i, s in held.items():
            one = ctl.query("conn", i)["conn"]
            check(one["id"] == i and one["shard"] == ctlit.conn_shard(i), f"conn {i} answered as {one}")
            check(one["remote"] == f"{a.peer_ip}:{ctlit.local_port(s)}", f"conn {i}: {one}")
        st = ctl.query("stats")
        per = {sh["shard"]: sh["live"] for sh in st["shards"]}
        for sh in range(a.shards):
            want = sum(1 for i in held if ctlit.conn_shard(i) == sh)
            check(per.get(sh) == want, f"stats: shard {sh} live {per.get(sh)}, expected {want}")
        check(st["total"]["live"] == len(held), f"stats total live {st['total']['live']}")
        # the ports' driver counters, as --stats has them (cee-ctl lacked them:
        # frames the driver lost before a shard saw them showed nowhere live)
        ports = st.get("ports") or []
        check(len(ports) == 1 and ports[0].get("ipackets", 0) > 0 and "rx_nombuf" in ports[0],
              f"stats ports {ports}")
        check(st.get("mbufs_free", 0) > 0, f"stats mbufs_free {st.get('mbufs_free')}")
        # Telemetry agrees (DPDK's own client).
        some = sorted(held)[0]
        port0 = ports[0]["port"] if ports else 0
        tel = ctlit.telemetry(a.prefix, ["/cee/stats", "/cee/conns", f"/cee/conn,{some}",
                                         "/cee/conn,00ffffffffffffff", "/cee/snapshot",
                                         f"/ethdev/stats,{port0}", "/mempool/info,cee_mbufs"])
        ts = tel[0]["/cee/stats"]
        # which engine and run answered, as the socket says it (review of the
        # control plane: telemetry's cuts and ids named no run, and an id or
        # sseq taken there before a restart named something else after it)
        for k, name in ((0, "/cee/stats"), (1, "/cee/conns"), (2, "/cee/conn"),
                        (4, "/cee/snapshot")):
            r = tel[k][name]
            check(r.get("engine") == st["engine"] and r.get("run") == st["run"],
                  f"{name}: engine {r.get('engine')} run {r.get('run')}, the socket's "
                  f"{st['engine']} {st['run']}")
        # every shard shown, and it says so (a shard that did not fit was
        # dropped by telemetry without a word)
        check(ts.get("shards") == a.shards and ts.get("shown") == a.shards and
              ts.get("truncated") == 0,
              f"/cee/stats shards {ts.get('shards')} shown {ts.get('shown')} "
              f"truncated {ts.get('truncated')}")
        # the ports' counters and the free mbufs: DPDK's own commands
        # (docs/control.md), agreeing with cee-ctl stats
        te = tel[5]["/ethdev/stats"]
        check(te.get("ipackets", 0) >= ports[0]["ipackets"] if ports else False,
              f"/ethdev/stats,{port0}: {te}")
        tm = tel[6]["/mempool/info"]
        check(tm.get("name") == "cee_mbufs" and tm.get("size", 0) > 0, f"/mempool/info: {tm}")
        check(ts["total"]["live"] == len(held), f"/cee/stats total live {ts['total']['live']}")
        check(all(f"shard_{sh}" in ts for sh in range(a.shards)), f"/cee/stats keys {sorted(ts)}")
        check("mailbox_max_ns" in ts["total"], "/cee/stats lacks mailbox_max_ns")
        check(ts["total"].get("mailbox_full") == 0 and ts["total"].get("mailbox_timeouts") == 0,
              f"/cee/stats mailbox_full {ts['total'].get('mailbox_full')}, "
              f"mailbox_timeouts {ts['total'].get('mailbox_timeouts')}")
        tc = tel[1]["/cee/conns"]
        check(tc["count"] == len(held), f"/cee/conns count {tc['count']}")
        check({k for k in tc if len(k) == 16} == set(held), f"/cee/conns ids {sorted(tc)}")
        for k in held:
            check(tc[k]["shard"] == ctlit.conn_shard(k), f"/cee/conns {k}: shard {tc[k]['shard']}")
        t1 = tel[2]["/cee/conn"]
        check(t1["id"] == some and t1["remote"] == listed[some]["remote"], f"/cee/conn,{some}: {t1}")
        check(tel[3]["/cee/conn"].get("error") == "no such connection", f"/cee/conn stale: {tel[3]}")
        check(set(tel[4]["/cee/snapshot"]["ids"]) == set(held), f"/cee/snapshot ids: {tel[4]}")
        log("conns, conn, stats and telemetry agree across shards")

        # 3. The same source address and port, twice.
        src = (a.peer_ip, FIXED_PORT)
        s_old = ctlit.connect(host, port, src=src)
        check(ctlit.echo(s_old), "echo on the first connection from the fixed port")
        old = open_id(s_old, "the first connection from the fixed port")
        ctlit.close_rst(s_old)  # RST: no TIME_WAIT, the 4-tuple is free at once
        tail.wait_event(20, f"destroyed of {old}", lambda e: e["conn"] == old and e["type"] == "destroyed")
        s_new = ctlit.connect(host, port, src=src)
        check(ctlit.echo(s_new), "echo on the reconnection from the fixed port")
        new = open_id(s_new, "the reconnection from the fixed port")
        check(new != old, "the reconnection got the old id")
        log(f"same 4-tuple {a.peer_ip}:{FIXED_PORT}: old id {old} (destroyed), new id {new}")

        stale_before = ctl.query("stats")["total"]["mailbox_stale_id"]
        events_before = len(tail.find(lambda e: True))
        rc, out, err = ctl.run("kill", old, json_out=False)
        check(rc == 1, f"kill of the stale id: exit {rc} (expected 1); stdout {out!r} stderr {err!r}")
        check("no such connection" in err, f"kill of the stale id: stderr {err!r}")
        rc, out, err = ctl.run("conn", old)
        check(rc == 1 and json.loads(out)["ok"] is False, f"conn of the stale id: exit {rc}, {out!r}")
        # Nothing changed: the new connection still works, no event was pushed.
        check(ctlit.echo(s_new, b"still here"), "the new connection stopped working after kill OLD")
        st = ctl.query("stats")
        check(st["total"]["mailbox_stale_id"] == stale_before + 2,
              f"stale_id {st['total']['mailbox_stale_id']}, expected {stale_before + 2}")
        check(len(tail.find(lambda e: True)) == events_before,
              f"events appeared after kill of a stale id: {tail.events[events_before:]}")
        check(ctl.query("conn", new)["conn"]["state"] == "ESTABLISHED", "new connection not established")

        # 3b. The run guard. Ids start again with each run: an id a control
        # plane kept from before a restart named another run's connection,
        # and its kill reset a stranger. Every reply says which engine and
        # run answered; `kill ID RUN` of another run changes nothing.
        st = ctl.query("stats")
        ev_engine = tail.find(lambda e: e["type"] == "open")[0]["engine"]
        check(st.get("engine") == ev_engine and str(st.get("run", "")).startswith("r"),
              f"stats names engine {st.get('engine')!r} run {st.get('run')!r}; the events {ev_engine!r}")
        for guard in ("r000000000000", "0123456789abcdef"):
            rc, out, err = ctl.run("kill", new, guard, json_out=False)
            check(rc == 1 and "no such connection in this run" in err,
                  f"kill {new} {guard} (another run): exit {rc}, stderr {err!r}")
        check(ctlit.echo(s_new, b"guarded"), "the connection stopped working after a kill of another run")
        check(len(tail.find(lambda e: True)) == events_before,
              f"events after kills of another run: {tail.events[events_before:]}")
        # (a random engine id is this run's too: it guards as the run id does)
        got = ctl.query("conn", new, ev_engine)
        check(got["conn"]["id"] == new and got["run"] == st["run"], f"conn {new} {ev_engine}: {got}")

        # 4. kill NEW (guarded by its run): exactly that connection,
        # admin_kill, the client sees the RST.
        killed = ctl.query("kill", new, st["run"])["killed"]
        check(killed["id"] == new, f"kill answered {killed}")
        ev = tail.wait_event(20, f"closed of {new}", lambda e: e["conn"] == new and e["type"] == "closed")
        check(ev["reason"] == "admin_kill", f"closed reason {ev['reason']}")
        tail.wait_event(20, f"destroyed of {new}", lambda e: e["conn"] == new and e["type"] == "destroyed")
        check(ctlit.sees_reset(s_new), "the client of the killed connection did not see a reset")
        rc, _, err = ctl.run("kill", new, json_out=False)
        check(rc == 1 and "no such connection" in err, f"second kill of {new}: exit {rc} {err!r}")

        # 4b. The byte counts of conn and kill are the service's, as closed
        # says them (plaintext above TLS): they were TCP's (records,
        # handshake included), and a control plane matching the two saw
        # counters disagree.
        killed_ids = [new]
        if a.tls_port:
            ctx = ssl.create_default_context(cafile=os.path.join(a.certs, "ca.pem"))
            t = ssl_wrap = ctx.wrap_socket(ctlit.connect(host, a.tls_port), server_hostname="server.cee.test")
            payload = b"p" * 1000
            ssl_wrap.sendall(payload)
            got = b""
            while len(got) < len(payload):
                chunk = ssl_wrap.recv(4096)
                check(chunk, "the TLS echo ended early")
                got += chunk
            check(got == payload, "the TLS echo changed the bytes")
            # by both ports, and not a connection already matched: Linux may
            # give this connection (to the TLS port) the ephemeral port of a
            # held one (to the echo port), whose open then matched
            tid = tail.wait_event(20, "open of the TLS connection",
                                  lambda e: e["type"] == "open" and e["remote"] == f"{a.peer_ip}:{ctlit.local_port(t)}"
                                  and e["local"].endswith(f":{a.tls_port}") and e["conn"] not in seen)["conn"]
            seen.add(tid)
            c = ctl.query("conn", tid)["conn"]
            check(c["proto"] == "tls" and c["bytes_in"] == 1000 and c["bytes_out"] == 1000,
                  f"conn {tid}: {c} (the plaintext was 1000 bytes each way)")
            k = ctl.query("kill", tid, st["run"])["killed"]
            ev = tail.wait_event(20, f"closed of {tid}", lambda e: e["conn"] == tid and e["type"] == "closed")
            check(k["bytes_in"] == ev["bytes_in"] == 1000 and k["bytes_out"] == ev["bytes_out"] == 1000,
                  f"kill answered bytes {k['bytes_in']}/{k['bytes_out']}, closed says {ev['bytes_in']}/{ev['bytes_out']}")
            killed_ids.append(tid)
            t.close()
            log("TLS: conn, kill and closed agree on the plaintext byte counts")

        # 5. One kill per shard, routed by the id.
        for sh in range(a.shards):
            victim = sorted(i for i in held if ctlit.conn_shard(i) == sh)[0]
            ctl.query("kill", victim)
            ev = tail.wait_event(20, f"closed of {victim}", lambda e, v=victim: e["conn"] == v and e["type"] == "closed")
            check(ev["reason"] == "admin_kill" and ev["shard"] == sh, f"kill {victim}: {ev}")
            check(ctlit.sees_reset(held.pop(victim)), f"client of {victim} saw no reset")
            killed_ids.append(victim)
        others = [e for e in tail.find(lambda e: e["type"] == "closed") if e["conn"] not in killed_ids + [old]]
        check(not others, f"connections closed that nobody killed: {others}")
        for i, s in held.items():
            check(ctlit.echo(s, b"alive"), f"held connection {i} stopped working")
        check(set(c["id"] for c in ctl.query("conns")["conns"]) == set(held), "conns after the kills")

        # 6. Usage errors (exit 2) and an id of no shard (exit 1).
        for args in (["kill"], ["kill", "xyz"], ["conn", "1", "r1", "3"], ["kill", "1", "bad run"],
                     ["frobnicate"], ["kill", "1" * 17], ["stats", "r1"]):
            rc, _, _ = ctl.run(*args, json_out=False)
            check(rc == 2, f"cee-ctl {' '.join(args)}: exit {rc}, expected 2")
        rc, _, err = ctl.run("kill", "7f00000000000001", json_out=False)
        check(rc == 1 and "no such connection" in err, f"kill of an id of no shard: {rc} {err!r}")
        rc, out, _ = ctl.run("stats", json_out=False)
        check(rc == 0 and "mailbox_max_ns" in out, "cee-ctl stats (table)")
        rc, out, _ = ctl.run("conns", json_out=False)
        check(rc == 0 and f"{len(held)} connection(s)" in out, f"cee-ctl conns (table): {out[-200:]}")

        # 7. The socket's watch bound (docs/control.md): at most 24 clients
        # waiting in `watch`; a 25th is refused ("too many watches
        # waiting"), and other requests still find a slot. 25 watches at
        # once: whichever the engine reads last is refused, in any order
        # (a probe sent after 24 raced their registration), and it is the
        # first to end: the others wait for the connection. Then the
        # watched connection ends: every other watch answers.
        watched = sorted(held)[0]
        watchers = [subprocess.Popen([a.ctl, "--file-prefix", a.prefix, "--json", "watch", watched],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                    for _ in range(25)]
        first, deadline = None, time.monotonic() + 30
        while first is None and time.monotonic() < deadline:
            first = next((w for w in watchers if w.poll() is not None), None)
            if first is None:
                time.sleep(0.05)
        check(first is not None, "25 watches: none refused within 30 s")
        out, err = first.communicate()
        check(first.returncode == 1 and "too many watches waiting" in err,
              f"the first watch to end: exit {first.returncode}, stderr {err!r}")
        rc, out, _ = ctl.run("stats", json_out=False)
        check(rc == 0 and "mailbox_max_ns" in out, "cee-ctl stats with 24 watches waiting")
        check(all(w.poll() is None for w in watchers if w is not first),
              "a watch of a live connection ended")
        held.pop(watched).close()
        answers = []
        for w in watchers:
            if w is first:
                continue
            out, err = w.communicate(timeout=20)
            answers.append((w.returncode, out))
        check(len(answers) == 24 and
              all(rc == 0 and '"reason":"peer_fin"' in out.replace(" ", "") for rc, out in answers),
              f"the 24 watches of {watched} when it closed: {answers[:2]}")
        log("watch: 25 at once, one refused (exit 1), stats answered; the 24 others answered peer_fin")

        with open(a.result, "w") as f:
            json.dump({"killed": killed_ids, "stale": old, "held": sorted(held)}, f)
        for s in held.values():
            s.close()
    except Failed as e:
        print(f"ctl_kill: FAIL {e}")
        return 1
    log("ctl_kill: stale id changed nothing; live ids closed exactly their connections")
    return 0


if __name__ == "__main__":
    sys.exit(main())
