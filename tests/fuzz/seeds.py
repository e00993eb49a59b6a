"""Seed inputs for the parser fuzz targets (the zip seeds come from
make_corpus.py): well-formed and nearly well-formed inputs like the unit
tests', one directory per target under the directory given."""

import os
import struct
import sys

SEEDS = {
    "h1": [
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n0\r\nX-Sum: 1\r\n\r\n",
        b"GET http://a.example:8080/p?q#f HTTP/1.1\r\nHost: a.example:8080\r\n"
        b"Connection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n",
        b"PUT /x HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nabcde",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n",
        b"CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"OPTIONS * HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc",
    ],
    "urlpath": [
        b"a/b/../c", b"%2e%2e/x", b"a//b/./c/", b"%C3%A9t%C3%A9", b"a%2fb", b"..", b"a/%00",
        b"x/y/../../../z",
    ],
    "range": [
        struct.pack("<Q", 1000) + b"bytes=0-99,200-,-50",
        struct.pack("<Q", 10) + b"bytes=5-2",
        struct.pack("<Q", 1 << 40) + b"bytes=0-0,2-2,4-4,6-6,8-8",
        struct.pack("<Q", 0) + b"bytes=-0",
    ],
    "proxyproto": [
        b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n",
        b"PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n",
        b"PROXY UNKNOWN\r\n",
        b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c\xcb\x00\x71\x09\x0a\x00\x00\x01\x1f\x90\x01\xbb",
        b"203.0.113.9, 10.0.0.2",
        b"[2001:db8::5]:443, 10.1.2.3:80",
    ],
}


def main(out):
    for name, seeds in SEEDS.items():
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        for i, s in enumerate(seeds):
            with open(os.path.join(d, "seed%d" % i), "wb") as f:
                f.write(s)


if __name__ == "__main__":
    main(sys.argv[1])
