#!/usr/bin/python3
"""Writes the seed corpus for tests/fuzz/fuzz_zip.c into DIR: small real
archives from Python's zipfile and, when installed, Debian's zip(1)
(stored, deflated, directories, comments, data descriptors, extra fields,
an empty archive)."""

import io
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile


def pyzip(path, members, comment=b""):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data, method in members:
            info = zipfile.ZipInfo(name, date_time=(2021, 3, 4, 5, 6, 8))
            info.compress_type = method
            z.writestr(info, data)
        z.comment = comment
    with open(path, "wb") as f:
        f.write(buf.getvalue())


def main(out):
    out = os.path.abspath(out)
    os.makedirs(out, exist_ok=True)
    S, D = zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED
    text = b"".join(b"line %d of some text\n" % i for i in range(60))
    pyzip(os.path.join(out, "py-stored.zip"), [("a.txt", b"hello", S)])
    pyzip(os.path.join(out, "py-deflated.zip"), [("a.txt", text, D)])
    pyzip(os.path.join(out, "py-mixed.zip"),
          [("index.html", b"<h1>x</h1>", D), ("img/", b"", S),
           ("img/p.png", b"\x89PNG\r\n\x1a\n", S), ("js/a/b/c.js", text[:300], D),
           ("empty", b"", D)], comment=b"a comment")
    pyzip(os.path.join(out, "py-empty.zip"), [])
    pyzip(os.path.join(out, "py-many.zip"),
          [("d%d/f%d" % (i % 3, i), b"%d" % i, S if i % 2 else D) for i in range(40)])

    if shutil.which("zip"):
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "src")
            os.makedirs(os.path.join(src, "sub", "deep"))
            with open(os.path.join(src, "a.txt"), "wb") as f:
                f.write(text)
            with open(os.path.join(src, "sub", "deep", "x.html"), "wb") as f:
                f.write(b"<p>x</p>")
            runs = [("zip-r.zip", ["-r"]), ("zip-D.zip", ["-r", "-D"]),
                    ("zip-0.zip", ["-r", "-0"]), ("zip-X.zip", ["-r", "-X", "-9"])]
            for name, flags in runs:
                if os.path.exists(os.path.join(out, name)):
                    os.remove(os.path.join(out, name))   # zip would update it
                subprocess.run(["zip", "-q"] + flags + [os.path.join(out, name), "."],
                               cwd=src, check=True)
            # From a pipe: sizes follow the data (data descriptor).
            with open(os.path.join(out, "zip-stream.zip"), "wb") as f:
                subprocess.run(["zip", "-q", "-", "-"], input=text, stdout=f, check=True)


if __name__ == "__main__":
    main(sys.argv[1])
