#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""TLS certificate renewal without a restart (test_tls.sh openssl, reload
phase): cee-engine serves --tls-cert/--tls-key from files in the work
directory, which this script replaces and then signals (SIGHUP).

Guards against (long-uptime review): certificates read once at start, so
that renewing one (90-day ACME certificates) took a restart, which ends
every live SIP connection; a reload that drops or disturbs live
connections; a bad file that takes the running certificate down.

Steps, synchronised on what clients see and on the engine's counters
(cee-ctl stats), never on sleeps:
  1. connection A: handshake, the server certificate is server.pem's; A
     echoes and stays open;
  2. server-rsa.pem/key are put in place (rename), SIGHUP: new
     connections get server-rsa.pem's certificate (polled, 10 s at most);
     A still echoes (it keeps the certificate it began with);
     (with --rotate-events, the event file is renamed away before that
     SIGHUP: the engine goes on in a new one);
  3. garbage is put in place of the certificate, `cee-ctl reload`: the engine
     counts a reload failure (tls.reload_failures, polled), and new
     connections still get server-rsa.pem's certificate.
"""

import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time

from ctlit import echo


def fingerprint_of_file(pem):
    der = ssl.PEM_cert_to_DER_cert(open(pem).read())
    return hashlib.sha256(der).hexdigest()


def connect(addr, ca):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = False
    raw = socket.create_connection(addr, timeout=5)
    s = ctx.wrap_socket(raw, server_hostname="server.cee.test")
    return s, hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()


def put(src, dst):
    tmp = dst + ".new"
    shutil.copyfile(src, tmp)
    os.rename(tmp, dst)


def ctl_tls(ctl, prefix):
    out = subprocess.run([ctl, "--file-prefix", prefix, "--json", "stats"], check=True,
                         capture_output=True, text=True, timeout=10).stdout
    t = json.loads(out)["total"]  # (flat names: tls_reloads)
    return {"reloads": t["tls_reloads"], "reload_failures": t["tls_reload_failures"]}


def wait_for(what, fn, secs=10):
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    raise SystemExit(f"tls_reload: FAIL: {what} within {secs} s")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--server", required=True)
    p.add_argument("--certs", required=True)
    p.add_argument("--cert", required=True, help="the file --tls-cert names")
    p.add_argument("--key", required=True, help="the file --tls-key names")
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--ctl", required=True)
    p.add_argument("--prefix", required=True)
    p.add_argument("--rotate-events", help="the engine's jsonl file: renamed to PATH.1 before the first SIGHUP")
    a = p.parse_args()
    ip, port = a.server.rsplit(":", 1)
    addr = (ip, int(port))
    ca = os.path.join(a.certs, "ca.pem")
    fp_ecdsa = fingerprint_of_file(os.path.join(a.certs, "server.pem"))
    fp_rsa = fingerprint_of_file(os.path.join(a.certs, "server-rsa.pem"))

    held, fp = connect(addr, ca)
    assert fp == fp_ecdsa, "the first certificate is not server.pem's"
    assert echo(held, b"before"), "A does not echo"

    put(os.path.join(a.certs, "server-rsa.key"), a.key)
    put(os.path.join(a.certs, "server-rsa.pem"), a.cert)
    if a.rotate_events:  # log rotation too: the same SIGHUP
        os.rename(a.rotate_events, a.rotate_events + ".1")
    os.kill(a.pid, signal.SIGHUP)

    def new_cert():
        s, f = connect(addr, ca)
        ok = echo(s, b"new")
        s.close()
        return f == fp_rsa and ok
    wait_for("a new connection with server-rsa.pem's certificate", new_cert)
    assert echo(held, b"after the reload"), "A, begun before the reload, no longer echoes"
    st = ctl_tls(a.ctl, a.prefix)
    assert st["reloads"] == 1 and st["reload_failures"] == 0, st

    with open(a.cert + ".new", "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    os.rename(a.cert + ".new", a.cert)
    # this time through the control socket (a control plane that cannot
    # signal the engine): the same work as SIGHUP
    out = subprocess.run([a.ctl, "--file-prefix", a.prefix, "--json", "reload"], check=True,
                         capture_output=True, text=True, timeout=10).stdout
    assert json.loads(out).get("ok") is True, out
    wait_for("tls.reload_failures 1", lambda: ctl_tls(a.ctl, a.prefix)["reload_failures"] == 1)
    s, f = connect(addr, ca)
    assert f == fp_rsa and echo(s, b"still"), "a bad file took the running certificate down"
    s.close()
    assert echo(held, b"end"), "A no longer echoes"
    held.close()
    print("tls_reload: ECDSA certificate, then RSA after SIGHUP (A kept echoing); "
          "a bad file refused, the RSA one stays", flush=True)


if __name__ == "__main__":
    main()
