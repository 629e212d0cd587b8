#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""A consumer of the jsonl:unix+ack: sink, as a control plane would be one.

Listens on --unix PATH (unlinking a stale one) and accepts the engine's
connection. Every line is appended to --out unless its (engine, shard) has
had that sseq already (a line the last reader took but had not
acknowledged, sent again); then --out is flushed, its position recorded in
--state, and the lines of this connection processed so far acknowledged
("ack N\\n", counted from the connection's first line). A line written
twice would be an error of the reader; a line skipped as already written
is one the last reader may not have acknowledged (--stats: "duplicates",
and "unacked_before", how many such lines it had at most). Started again after
a SIGKILL it picks up from --state plus whatever --out holds past it, so it
writes each event once. Writes --ready once listening; appends a JSON line
of counts to --stats at each end of stream.
"""

import argparse
import json
import os
import re
import socket

ENGINE = re.compile(rb'^\{"v":\d+,"engine":"([^"]*)"')
SHARD_SSEQ = re.compile(rb'"shard":(\d+),"sseq":(\d+)')


def key_sseq(line):
    m = SHARD_SSEQ.search(line)
    if m is None:
        raise SystemExit(f"ack_reader: not an event line: {line[:120]!r}")
    e = ENGINE.match(line)
    return (e.group(1) if e else b"", int(m.group(1))), int(m.group(2))


def recover(out_path, state_path):
    """last sseq per key, from the checkpoint and the lines after it; and
    how many of the lines written the last reader may not have acknowledged
    (those of its last checkpoint, and any written after it)"""
    last, offset, unacked = {}, 0, 0
    if os.path.exists(state_path):
        st = json.load(open(state_path))
        offset, unacked = st["offset"], st["pending"]
        for k, v in st["last"].items():
            e, sh = k.rsplit(":", 1)
            last[(e.encode(), int(sh))] = v
    if os.path.exists(out_path):
        with open(out_path, "r+b") as f:
            data = f.read()
            whole = data.rfind(b"\n") + 1  # a line cut by the kill is dropped
            f.truncate(whole)
            for line in data[offset:whole].splitlines():
                k, s = key_sseq(line)
                last[k] = max(last.get(k, 0), s)
                unacked += 1
    return last, unacked


def save(state_path, offset, last, pending):
    """checkpoint: --out's length, the last sseq per key, and how many lines
    of this read are about to be acknowledged"""
    tmp = state_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"offset": offset, "pending": pending,
                   "last": {f"{k[0].decode()}:{k[1]}": v for k, v in last.items()}}, f)
    os.replace(tmp, state_path)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--unix", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--state", required=True)
    p.add_argument("--ready", required=True)
    p.add_argument("--stats", required=True)
    args = p.parse_args()
    last, unacked = recover(args.out, args.state)
    try:
        os.unlink(args.unix)
    except FileNotFoundError:
        pass
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(args.unix)
    ls.listen(4)
    with open(args.ready, "w") as f:
        f.write("ready\n")
    with open(args.out, "ab") as out:
        while True:
            s, _ = ls.accept()
            lines = dups = acked = 0
            rest = b""
            while True:
                b = s.recv(262144)
                if not b:
                    break
                rest += b
                cut = rest.rfind(b"\n") + 1
                if cut == 0:
                    continue
                for line in rest[:cut].splitlines(keepends=True):
                    k, sseq = key_sseq(line)
                    lines += 1
                    if sseq <= last.get(k, 0):
                        dups += 1
                        continue
                    last[k] = sseq
                    out.write(line)
                rest = rest[cut:]
                out.flush()
                save(args.state, out.tell(), last, lines - acked)
                s.sendall(b"ack %d\n" % lines)
                acked = lines
            s.close()
            with open(args.stats, "a") as f:
                f.write(json.dumps({"lines": lines, "duplicates": dups,
                                    "unacked_before": unacked}) + "\n")
            unacked = 0


if __name__ == "__main__":
    main()
