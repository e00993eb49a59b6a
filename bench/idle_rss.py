#!/usr/bin/python3
"""Idle keep-alive memory: the RSS a server spends per open connection.

Sums VmRSS over the given server processes (and their descendants), opens N
keep-alive connections that each complete one GET, waits, sums again, and
prints the difference per connection.  The connections stay open while
measuring, then are closed.

    idle_rss.py --port 8080 --path /1k.txt --pid 1234 [-n 5000] [--settle 1]

Prints one line:  conns=N ok=N rss_before_kb=A rss_after_kb=B per_conn_bytes=X
Exit status 1 if fewer than N connections completed their GET with 200.
"""

import argparse
import asyncio
import os
import resource
import sys
import time


def descendants(pids):
    """pids plus all their descendants, from /proc/*/stat."""
    parent = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                s = f.read()
        except OSError:
            continue
        # The command name may contain spaces: split after the last ')'.
        fields = s[s.rindex(")") + 2:].split()
        parent[int(d)] = int(fields[1])
    out = set(pids)
    grew = True
    while grew:
        grew = False
        for pid, ppid in parent.items():
            if ppid in out and pid not in out:
                out.add(pid)
                grew = True
    return sorted(out)


def rss_kb(pids):
    total = 0
    for pid in descendants(pids):
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


async def one(host, port, path, sem, keep):
    async with sem:
        try:
            r, w = await asyncio.wait_for(asyncio.open_connection(host, port), 30)
            w.write(("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path, host)).encode())
            await w.drain()
            head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 30)
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length":
                    length = int(v.strip())
            await asyncio.wait_for(r.readexactly(length), 30)
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError,
                asyncio.LimitOverrunError, ValueError, IndexError) as e:
            print("idle_rss: connection failed: %r" % e, file=sys.stderr)
            return False
        keep.append(w)
        return status == 200


async def run(args):
    sem = asyncio.Semaphore(args.parallel)
    keep = []
    results = await asyncio.gather(*(one(args.host, args.port, args.path, sem, keep)
                                     for _ in range(args.n)))
    ok = sum(results)
    await asyncio.sleep(args.settle)
    after = rss_kb(args.pid)
    for w in keep:
        w.close()
    return ok, after


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", default="/")
    ap.add_argument("--pid", type=int, action="append", required=True,
                    help="server process (descendants are included); repeatable")
    ap.add_argument("-n", type=int, default=5000)
    ap.add_argument("--parallel", type=int, default=200,
                    help="connections being opened at once")
    ap.add_argument("--settle", type=float, default=1.0)
    args = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.n + 100
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))

    before = rss_kb(args.pid)
    t0 = time.monotonic()
    ok, after = asyncio.run(run(args))
    per = (after - before) * 1024.0 / max(args.n, 1)
    print("conns=%d ok=%d rss_before_kb=%d rss_after_kb=%d per_conn_bytes=%.0f "
          "open_secs=%.1f" % (args.n, ok, before, after, per,
                              time.monotonic() - t0 - args.settle))
    return 0 if ok == args.n else 1


if __name__ == "__main__":
    sys.exit(main())
