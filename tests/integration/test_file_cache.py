"""Each worker keeps files it served open for a second (fops/fcache.c),
and closes them when idle too.
What a user must never see: stale bytes after an in-place change, a wrong
Content-Length, or an old file more than a second after it was replaced."""

import os
import time

import pytest


@pytest.fixture(scope="module")
def srv(portico):
    site = portico.site()
    site.write("inplace.txt", b"version one\n")
    site.write("renamed.txt", b"old file\n")
    site.write("grow.txt", b"short\n")
    return site.start()  # one worker: every request meets the same cache


def test_in_place_change_is_seen_at_once(srv):
    p = srv.site.docroot / "inplace.txt"
    first = srv.get("/inplace.txt")
    assert first.body == b"version one\n"
    with open(p, "r+b") as f:            # same inode, same size, new bytes
        f.write(b"version two\n")
    os.utime(p, (time.time() + 5, time.time() + 5))
    second = srv.get("/inplace.txt")
    assert second.body == b"version two\n"
    assert second.header("ETag") != first.header("ETag")


def test_growth_in_place_keeps_length_and_bytes_consistent(srv):
    p = srv.site.docroot / "grow.txt"
    assert srv.get("/grow.txt").body == b"short\n"
    with open(p, "ab") as f:
        f.write(b"and longer now\n")
    r = srv.get("/grow.txt")
    assert r.body == b"short\nand longer now\n"
    assert int(r.header("Content-Length")) == len(r.body)


def test_replacement_by_rename_is_seen_within_a_second(srv):
    d = srv.site.docroot
    assert srv.get("/renamed.txt").body == b"old file\n"
    (d / "renamed.tmp").write_bytes(b"new file!\n")
    os.rename(d / "renamed.tmp", d / "renamed.txt")
    time.sleep(1.1)
    r = srv.get("/renamed.txt")
    assert r.body == b"new file!\n"
    assert int(r.header("Content-Length")) == len(b"new file!\n")


def test_deleted_file_is_gone_within_a_second(srv):
    d = srv.site.docroot
    (d / "gone.txt").write_bytes(b"here\n")
    assert srv.get("/gone.txt").status == 200
    os.unlink(d / "gone.txt")
    time.sleep(1.1)
    assert srv.get("/gone.txt").status == 404


def test_idle_worker_closes_deleted_files(srv):
    """With no further request, a deleted file's descriptor (and so its
    disk space) is let go within about two seconds."""
    d = srv.site.docroot
    (d / "idle.txt").write_bytes(b"x" * 10000)
    assert srv.get("/idle.txt").status == 200
    os.unlink(d / "idle.txt")

    def held():
        out = []
        for fd in os.listdir("/proc/%d/fd" % srv.pid):
            try:
                if os.readlink("/proc/%d/fd/%s" % (srv.pid, fd)).endswith("idle.txt (deleted)"):
                    out.append(fd)
            except OSError:
                pass
        return out

    assert held(), "the file was not cached (the test proves nothing)"
    deadline = time.monotonic() + 3.5
    while held() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not held(), "a deleted file is still held open by an idle worker"
