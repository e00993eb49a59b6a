"""Seed inputs for the parser fuzz targets (the zip seeds come from
make_corpus.py): well-formed and nearly well-formed inputs like the unit
tests', one directory per target under the directory given."""

import os
import struct
import sys


def cond(value, mtime=1700000000, nsec=1, size=5, ino=7, flags=0, crc=0):
    """fuzz_cond: a file's identity (33 bytes), then a field value; "E"
    in value stands for the ETag of that identity."""
    ns = (mtime * 1000000000 + nsec) % (1 << 64)
    if flags & 1:
        tag = "z%x-%x-%x" % (ino, crc, size)
    else:
        tag = "%x-%x-%x" % (ns, size, ino)
    if flags & 2:
        tag += "-gz"
    head = struct.pack("<QQQQB", mtime + (1 << 33), nsec | crc << 32, size, ino, flags)
    return head + value.replace(b"E", b'"' + tag.encode() + b'"')


def cgi(out, steps=b""):
    """fuzz_cgi_output: how many step bytes, the steps, the output."""
    return bytes([len(steps)]) + steps + out


# fuzz_config: conf, then conf.d files, cut at NUL; @D is the directory.
MINIMAL_VHOST = (b'{"vhosts": [{"name": "localhost", "port": 7681, "mounts": '
                 b'[{"mountpoint": "/", "origin": ">https://example.com/"}]}]}\n')
CONFIGS = [
    b'# global settings\n{\n  "global": {\n    "uid": "48",   # apache\n    "gid": 49,\n'
    b'    "count-threads": "2",\n    "server-string": "my#server",\n    "init-ssl": "yes",\n'
    b'    "timeout-secs": 7,\n    "reject-service-keywords": [{"scumbot": "404 Not Found"}],\n'
    b'    "max-header-size": "32768",\n    "rlimit-nofile": 4096\n  }\n}\n\0'
    b'{\n\t"vhosts": [ {\n\t\t"name": "localhost",  # comment with "quotes"\n'
    b'\t\t"port": "7681",\n\t\t"access-log": "@D/access.log",\n'
    b'\t\t"headers": [{"x-frame-options": "DENY"}, {"x-a": 1}],\n'
    b'\t\t"error-document-404": "/404.html",\n\t\t"host-ssl-ca": "/etc/c.pem",\n'
    b'\t\t"ssl-option-set": "0x10",\n\t\t"sts": "on",\n\t\t"allow-non-tls": 1,\n'
    b'\t\t"mounts": [{\n\t\t\t"mountpoint": "/",\n\t\t\t"origin": "file://@D/www",\n'
    b'\t\t\t"cache-max-age": "60",\n\t\t\t"cache-reuse": "1",\n'
    b'\t\t\t"extra-mimetypes": {".zip": "application/zip"}\n\t\t}, {\n'
    b'\t\t\t"mountpoint": "/docs//",\n\t\t\t"origin": ">https://example.com/docs",\n'
    b'\t\t\t"exact-match": "yes"\n\t\t}]\n\t} ]\n}\n\0# {"vhosts": []}\n\n',
    b'{"global": {}}\n\0{"vhosts": [\n {"name": "a", "port": "80", "keepalive_timeout": "9",'
    b' "mounts": [{"mountpoint": "/x/", "origin": "file://@D/www", "cache-reuse": true,'
    b' "cache-revalidate": "off", "cache-intermediaries": 0, "cache-no": "TRUE",'
    b' "allow-dotfiles": "1", "default": "home.htm", "headers": {"x-m": "m"}},'
    b' {"mountpoint": "/r", "origin": ">http://e/", "append-path": "No"},'
    b' {"mountpoint": "/c", "origin": "cgi://@D/prog", "cgi-timeout": "30",'
    b' "cgi-env": [{"A": "1"}, {"B": 2}]},'
    b' {"mountpoint": "/cb", "origin": "callback://x", "pmo": [{"p": "v"}]}]},\n'
    b' {"name": "b", "port": 81, "keepalive-timeout": 10, "redirect-http": "true",'
    b' "client-cert-required": 2}\n]}\n',
    b'{"global": {"plugin-dir": ["@D", "@D/none"], "ws-pingpong-secs": 5,\n'
    b' "reject-service-keywords": [{"~*^curl/": "403"}, {"bot": "404 Not Found"}]}}\n\0'
    b'{"vhosts": [{"name": "a", "port": 80,\n "ws-protocols": [{"mirror": {"status": "ok",'
    b' "default": "1", "max-message": "1000"}, "lws-nope": {}}],\n'
    b' "mounts": [{"mountpoint": "~^/u/([0-9]+)/(.*)$", "origin": ">https://e/$1/$2"},\n'
    b'  {"mountpoint": "~*\\\\.PNG$", "origin": "file://@D/www"},\n'
    b'  {"mountpoint": "~(unclosed", "origin": "file://@D/www"},\n'
    b'  {"mountpoint": "/m", "origin": "callback://metrics", "pmo": {"a": "b"}},\n'
    b'  {"mountpoint": "/w", "origin": "callback://lws-mirror-protocol/"}]}]}\n',
    b'{"global": {"ws-pingpong-secs": 1}}\n\0{"vhosts": [{"name": "a", "port": 80,\n'
    b' "ws-protocols": [{"dumb-increment": {"default": "1"}}],\n'
    b' "mounts": [{"mountpoint": "~^/u/([0-9]+)$", "origin": "file://@D/www/$1"},\n'
    b'  {"mountpoint": "/", "origin": "file://@D/www"}]}]}\n',
    b'{"global": {}}\n\0{"vhosts": [\n  {"name": "x" "port": 80}\n]}\n',
    b'{"global": {"uid": 1,\n "uid": 2}}\n\0' + MINIMAL_VHOST,
    b'{}\n\0{"vhosts": [\n  {"name": "a",\n   "mounts": [ {"origin": "file:///tmp"} ]}\n]}\n',
    b'{"global": {\n  "count-threads": 0,\n  "max-header-size": "big",\n'
    b'  "init-ssl": "maybe",\n  "server-string": {}\n}}\n\0'
    b'{"vhosts": [{"name": "a",\n  "port": "abc"}, {"name": "b", "port": 70000,\n'
    b'  "mounts": {}, "headers": [{"bad name": "x"}],\n'
    b'  "error-document-302": "/x", "error-document-500": "x"}]}\n',
    b'{}\n\0{"vhosts": [{"name": "a", "port": 80, "mounts": [\n'
    b'  {"mountpoint": "/", "origin": "ftp://x"},\n'
    b'  {"mountpoint": "x", "origin": "file:///tmp"}\n]}]}\n',
    b'{}\n\0{"vhosts": [{"name": "a", "port": 80, "mounts": [\n'
    b'  {"mountpoint": "/", "origin": "file://@D/www", "cgi-timeout": 5},\n'
    b'  {"mountpoint": "/r", "origin": ">https://x/", "default": "a", "no-such-key": 1}\n]}]}\n',
    b'{}\n\0{"vhosts": [{"name": "a", "port": 80, "mounts": [\n'
    b'  {"mountpoint": "/", "origin": "file://@D/nonexistent"},\n'
    b'  {"mountpoint": "/z", "origin": "file://@D/site.zip"}\n]}]}\n',
    b'{}\n\0{"vhosts": [{"name": "a.com", "port": 80}]}\n\0'
    b'{"vhosts": [{"name": "a.com", "port": 81},\n             {"name": "A.com", "port": 80}]}\n',
    b'{"global": {}}\n',
    MINIMAL_VHOST,
    MINIMAL_VHOST + b'\0{"vhosts": [{"name": "b", "port": 80,\n'
    b'  "access-log": "/nonexistent/dir/log"}]}\n',
    b'{"global": {"ws-pingpong-secs": 200, "frob": 1},\n "extra": 1}\n\0'
    b'{"vhosts": [{"name": "a", "port": 80,\n  "ws-protocols": [{"x": {}}], "colour": "red",\n'
    b'  "mounts": [{"mountpoint": "/", "origin": ">http://x/", "interpret": {}, "zap": 1}]}],\n'
    b' "global": {}}\n',
    b'{}\n\0{"vhosts": [{"name": "a", "port": 80}, {"name": "b", "port": 80},'
    b' {"name": "a", "port": 81}]}\n\0{"vhosts": [{"name": "c", "port": 80,'
    b' "interface": "127.0.0.1"}, {"name": "d", "port": 80}]}\n',
    b'{"global": {"ip-allow": "10.0.0.0/8, ::1", "ip-deny": ["192.0.2.0/24"],'
    b' "trusted-proxies": ["2001:db8::/32"], "pid-file": "run/p.pid", "log-level": "info",'
    b' "error-log": "@D/error.log", "plugin-dir": "plugins"}}\n\0'
    b'{"vhosts": [{"name": "fz", "port": 8080, "ip-limit-rate": 5, "ip-limit-burst": 10,'
    b' "access-log": "logs.txt", "proxy-protocol": "on", "mounts": [\n'
    b' {"mountpoint": "/f", "origin": ["fz://a", "fz://b"], "basic-auth": "@D/users",'
    b' "fz-str": "s", "fz-path": "rel/p", "fz-int": "-5", "fz-long": 7, "fz-flags": "0xff",'
    b' "fz-bool": "yes", "fz-intbool": "off", "fz-kv": [{"k": "v"}],'
    b' "fz-headers": {"X-A": "b"}, "fz-mimes": {".md": "text/markdown", "*": "x/y"},'
    b' "fz-cidrs": "10.1.2.3/8, ::ffff:1.2.3.4/24, 2001:db8::1"},\n'
    b' {"mountpoint": "/g", "origin": "fz://c", "fz-fail": 0, "fz-int": 1000}]}]}\n',
    b'{}\n\0{"vhosts": [{"name": "fz", "port": 8443, "host-ssl-cert": "c.pem",'
    b' "host-ssl-key": "k.pem", "mounts": [\n'
    b' {"mountpoint": "/g", "origin": "fz://c", "fz-fail": 1, "fz-int": 1001}]}]}\n',
    b'{"global": {}}\n\0{"vhosts": [{"name": "fz", "port": 1, "mounts": [\n'
    b' {"mountpoint": "/", "origin": ["fz://a", ">http://b", 3], "fz-cidrs": ["1.2.3.4/33"]},'
    b' {"mountpoint": "/h", "origin": [], "fz-headers": {"x": "a\\r\\nb"}},'
    b' {"mountpoint": "/\\u00e9", "origin": "fz://\\ud83d\\ude00", "fz-kv": 1}]}]}\n',
]

def frame(ftype, flags, sid, payload=b""):
    """fuzz_h2: an HTTP/2 frame."""
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload


def hpack(fields):
    """Literal fields without indexing (RFC 7541 6.2.2), no Huffman."""
    def string(v):
        n = len(v)
        if n < 127:
            return bytes([n]) + v
        n -= 127
        out = b"\x7f"
        while n >= 128:
            out += bytes([n % 128 + 128])
            n //= 128
        return out + bytes([n]) + v
    return b"".join(b"\x00" + string(k) + string(v) for k, v in fields)


def req(sid, method, path, extra=(), end=True):
    """A request HEADERS frame (END_HEADERS, END_STREAM when end)."""
    f = [(b":method", method), (b":scheme", b"http"), (b":authority", b"localhost"),
         (b":path", path)] + list(extra)
    return frame(1, 4 | (1 if end else 0), sid, hpack(f))


SETTINGS = frame(4, 0, 0)
H2 = [
    SETTINGS + req(1, b"GET", b"/"),
    SETTINGS + frame(4, 1, 0) + req(1, b"GET", b"/index.html", [(b"accept-encoding", b"gzip")]),
    frame(4, 0, 0, struct.pack(">HI", 4, 16384)) + req(1, b"GET", b"/big.txt") +
    frame(8, 0, 0, struct.pack(">I", 100000)) + frame(8, 0, 1, struct.pack(">I", 50000)),
    SETTINGS + req(1, b"POST", b"/echo", [(b"content-length", b"10")], end=False) +
    frame(0, 0, 1, b"hello") + frame(0, 1, 1, b"world"),
    SETTINGS + req(1, b"GET", b"/nope") + req(3, b"GET", b"/r/x?q=1") + req(5, b"GET", b"/priv/") +
    req(7, b"GET", b"/priv/index.html", [(b"authorization", b"Basic YWxpY2U6c2VjcmV0")]),
    SETTINGS + req(1, b"HEAD", b"/index.html") +
    req(3, b"GET", b"/big.txt", [(b"range", b"bytes=0-9,20-29")]) +
    req(5, b"GET", b"/index.html", [(b"if-none-match", b"*")]) +
    req(7, b"GET", b"/index.html", [(b"if-modified-since", b"Fri, 31 Dec 9999 23:59:59 GMT")]),
    SETTINGS + frame(6, 0, 0, b"12345678") + frame(2, 0, 3, struct.pack(">IB", 0, 15)) +
    req(1, b"GET", b"/big.txt") + frame(3, 0, 1, struct.pack(">I", 8)) +
    frame(7, 0, 0, struct.pack(">II", 1, 0)),
    SETTINGS + frame(1, 1, 1, hpack([(b":method", b"GET"), (b":scheme", b"http")])) +
    frame(9, 0, 1, hpack([(b":authority", b"localhost")])) +
    frame(9, 4, 1, hpack([(b":path", b"/")])),
    SETTINGS + req(1, b"GET", b"/", [(b"X-Upper", b"a")]) + req(3, b"GET", b"/", [(b"connection", b"close")]) +
    frame(1, 5, 5, hpack([(b":method", b"GET"), (b":scheme", b"http")])) +
    req(7, b"POST", b"/echo", [(b"content-length", b"3")], end=False) + frame(0, 1, 7, b"toolong"),
    SETTINGS + frame(1, 4, 1, hpack([(b":method", b"CONNECT"), (b":protocol", b"websocket"),
                                     (b":scheme", b"http"), (b":authority", b"localhost"),
                                     (b":path", b"/echo")])),
    SETTINGS + req(1, b"POST", b"/echo", [(b"te", b"trailers")], end=False) + frame(0, 0, 1, b"abc") +
    frame(1, 5, 1, hpack([(b"x-sum", b"1")])),
    frame(4, 0, 0, struct.pack(">HI", 4, 0)) + req(1, b"GET", b"/big.txt") +
    frame(8, 0, 1, struct.pack(">I", 100)),
    SETTINGS + b"".join(req(i, b"GET", b"/") for i in range(1, 40, 2)) +
    b"".join(frame(3, 0, i, struct.pack(">I", 8)) for i in range(1, 40, 2)),
    SETTINGS + req(1, b"GET", b"/", [(b"x-big", b"v" * 5000)]),
]

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
    "ws": [
        # mode byte (0 head, 1 UTF-8, 2 extension offer, 3 inflate), then the input
        b"\x00\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58",
        b"\x00\x82\xfe\x01\x00abcd", b"\x00\x82\xff\x00\x00\x00\x00\x00\x01\x00\x00abcd",
        b"\x00\x89\xfd" + b"m" * 4, b"\x01\xce\xba\xe1\xbd\xb9\xcf\x83", b"\x01\xed\xa0\x80",
        b"\x01\xf4\x8f\xbf\xbf", b"\x02permessage-deflate; client_max_window_bits",
        b"\x02x, permessage-deflate; server_max_window_bits=\"9\"; server_no_context_takeover",
        b"\x03\xf2\x48\xcd\xc9\xc9\x07\x00", b"\x03\x63\x60\x18\x05\xa3\x60\x14\x0c\x77",
    ],
    "range": [
        struct.pack("<Q", 1000) + b"bytes=0-99,200-,-50",
        struct.pack("<Q", 10) + b"bytes=5-2",
        struct.pack("<Q", 1 << 40) + b"bytes=0-0,2-2,4-4,6-6,8-8",
        struct.pack("<Q", 0) + b"bytes=-0",
    ],
    "cond": [
        cond(b"E"), cond(b"W/E"), cond(b'"x", E'), cond(b'"x" ,\tW/E'), cond(b" E "),
        cond(b", ,E"), cond(b"*"), cond(b" * "), cond(b'*, "x"'), cond(b'"abc-1'),
        cond(b"W/"), cond(b"W/abc"), cond(b"w/E"), cond(b"E", flags=3, crc=0x1234),
        cond(b"E", flags=2), cond(b"", mtime=-1, nsec=999999999),
        cond(b"Sun, 06 Nov 1994 08:49:37 GMT"), cond(b"Sunday, 06-Nov-94 08:49:37 GMT"),
        cond(b"Sun Nov  6 08:49:37 1994"), cond(b"Tue, 14 Nov 2023 22:13:20 GMT"),
        cond(b"Fri, 31 Dec 9999 23:59:59 GMT"), cond(b"Thu, 01 Jan 1970 00:00:00 GMT"),
        cond(b"garbage"),
    ],
    "accept_enc": [
        b"gzip", b"GZIP", b"gzip, deflate, br", b"br;q=1.0, gzip;q=0.8, *;q=0.1", b"x-gzip",
        b"*", b"identity, *;q=0.5", b" gzip ; q=0.001 ", b"gzip;Q=1.000", b"",
        b"deflate, br", b"gzip;q=0", b"gzip; q=0, *", b"*;q=0", b"gzipx", b"gzip;q=2",
        b"gzip;q=0.5x", b"gzip;q=1.5", b"gzip;q=0, gzip;q=0.5", b"gzip;level=1",
        b"br,gzip;q=0.3",
    ],
    "cgi_output": [
        cgi(b"Content-Type: text/plain\r\nX-A: 1\r\n\r\nhello"),
        cgi(b"Content-Type: text/plain\r\nX-A: 1\r\n\r\nhello", b"\x00"),
        cgi(b"Content-Type: a/b\nX-B: two words \n\nbody", b"\x00\x01\x02"),
        cgi(b"Content-Type: a/b\n\r\nbody"), cgi(b"\r\nraw"),
        cgi(b"X-Empty:\r\nX-Tab:\t v\t\r\n\r\n"),
        cgi(b"Status: 404 Not Found\r\n\r\n"), cgi(b"status: 201\n\n"),
        cgi(b"Status: 101 Switching\n\n"), cgi(b"Status: 200\nStatus: 200\n\n"),
        cgi(b"Status: 301\r\nLocation: https://example.com/\r\n"
            b"Content-Type: text/html\r\n\r\n", b"\x03\x00"),
        cgi(b"Location: /a\nLocation: /b\n\n"),
        cgi(b"Content-Length: 0\r\nContent-Length: 0\r\n\r\n"),
        cgi(b"Content-Length: 1234567890123456789\r\n\r\n"),
        cgi(b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"),
        cgi(b"Connection: close\r\nKeep-Alive: 5\r\nDate: x\r\nServer: y\r\n"
            b"Upgrade: h2c\r\nTE: trailers\r\nTrailer: X\r\nProxy-Connection: a\r\n"
            b"X-Kept: 1\r\n\r\n"),
        cgi(b"X-A: 1\r\n folded\r\n\r\n"), cgi(b"X-A: a\x00b\r\n\r\n"),
        cgi(b"X-Big: " + b"a" * 8300, b"\xff\x10"),
        cgi(b"".join(b"X-%d: v\r\n" % i for i in range(65)) + b"\r\n"),
    ],
    "htpasswd": [
        b"# users\nalice:secret\r\n\nbob:pa:ss:word\ncarol:\ndave:last-no-newline",
        b"# nobody\n\n\r\n",
        b"alice:x\nno-colon-here\n:nouser\n",
        b"alice:secret\nbob:pa:ss\ncarol:\n",
        b"",
        b"alice:secret\nalice:secret\nalice:other\nbob\x00x:y\n",
        b"md:$apr1$wp0sUBhw$0xvx8Y3nEoiQRI4wbPHPH0\nsh:{SHA}rWB6YbPgZfuhRoSeTuSDu28RqH8=\n"
        b"un:$1$abc$def\nss:{SSHA}x\npl:plain\n",
        b"bc:$2y$04$Ht.51ddEeuCtr/akoWd52uw29IWyYLPhQ8qP3EsujnUK7DjPJJehq\n"
        b"bad:$2y$04$short\nbad2:$6$salt$x\nbad3:{SHA}abc\n",
    ],
    "config": CONFIGS,
    "h2": H2,
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
