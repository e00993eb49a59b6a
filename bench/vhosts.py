#!/usr/bin/python3
"""Many TLS vhosts: startup time and memory per vhost.

Starts build/portico (PORTICO_BIN) with N TLS vhosts on one port, waits
until it answers a TLS handshake for the last vhost's name, and reports
the time from exec to that moment and VmRSS; then the same with one vhost,
so the per-vhost figure is (RSS(N) - RSS(1)) / (N - 1).  Run twice: all
vhosts on one certificate (they share one TLS context), and each vhost
with its own certificate (a context each).

    bench/vhosts.py [N]      (default 500)
"""
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 500
BIN = os.environ.get("PORTICO_BIN", os.path.join(os.path.dirname(__file__), "..", "build",
                                                  "portico"))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    return 0


def run(n, tmp, certs):
    d = tempfile.mkdtemp(dir=tmp)
    os.mkdir(os.path.join(d, "conf.d"))
    os.mkdir(os.path.join(d, "www"))
    with open(os.path.join(d, "www", "index.html"), "w") as f:
        f.write("hi\n")
    port = free_port()
    with open(os.path.join(d, "conf"), "w") as f:
        json.dump({"global": {"count-threads": 1}}, f)
    vhosts = [{"name": "v%d.example" % i, "port": port, "interface": "127.0.0.1",
               "host-ssl-cert": certs[i % len(certs)][0],
               "host-ssl-key": certs[i % len(certs)][1],
               "mounts": [{"mountpoint": "/", "origin": "file://www"}]} for i in range(n)]
    with open(os.path.join(d, "conf.d", "vhosts"), "w") as f:
        json.dump({"vhosts": vhosts}, f)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    t0 = time.monotonic()
    p = subprocess.Popen([BIN, "-c", d], stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    with ctx.wrap_socket(s, server_hostname="v%d.example" % (n - 1)):
                        break
            except OSError:
                if p.poll() is not None or time.monotonic() - t0 > 60:
                    raise SystemExit("portico did not start with %d vhosts" % n)
                time.sleep(0.01)
        took = time.monotonic() - t0
        time.sleep(0.5)
        return took, rss_kb(p.pid)
    finally:
        p.terminate()
        p.wait()


def make_cert(tmp, i):
    key, crt = os.path.join(tmp, "k%d.pem" % i), os.path.join(tmp, "c%d.pem" % i)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                    "/CN=v%d.example" % i, "-keyout", key, "-out", crt],
                   check=True, capture_output=True)
    return crt, key


def main():
    with tempfile.TemporaryDirectory() as tmp:
        certs = [make_cert(tmp, i) for i in range(N)]
        t1, r1 = run(1, tmp, certs[:1])
        print("1 TLS vhost:   start %.3f s, RSS %d kB" % (t1, r1))
        for label, cs in (("one certificate", certs[:1]), ("a certificate each", certs)):
            tn, rn = run(N, tmp, cs)
            print("%d TLS vhosts, %s: start %.3f s, RSS %d kB, %.1f kB per vhost"
                  % (N, label, tn, rn, (rn - r1) / max(1, N - 1)))


if __name__ == "__main__":
    main()
