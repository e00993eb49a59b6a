"""Files that are not content: sockets, FIFOs and links to them, inside a
file mount or pointing out of it.  Nothing that is not a regular file or
a directory is ever opened (an open can have side effects: a FIFO's
writer wakes up, a device acts), and each is refused with 403 (404 for a
path leaving the mount) and an info log line."""

import os
import socket
import threading
import time

import pytest


@pytest.fixture(scope="module")
def srv(portico, tmp_path_factory):
    site = portico.site("special")
    site.write("a.txt", "hello\n")
    d = site.docroot
    outside = tmp_path_factory.mktemp("outside")
    os.mkfifo(d / "pipe.txt")
    os.mkfifo(outside / "pipe.txt")
    os.symlink(str(outside / "pipe.txt"), d / "abs-pipe.txt")
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(d / "sock.txt"))
    srv = site.start(vhosts=[site.vhost()])
    srv.fifos = {"/pipe.txt": d / "pipe.txt", "/abs-pipe.txt": outside / "pipe.txt"}
    yield srv
    s.close()


def test_unix_socket_403(srv):
    r = srv.get("/sock.txt")
    assert r.status == 403, r
    assert "/sock.txt: 403 file not readable or not a regular file" in srv.log()


@pytest.mark.parametrize("path,status", [("/pipe.txt", 403), ("/abs-pipe.txt", 404)])
def test_fifo_never_opened(srv, path, status):
    """A writer blocked on the FIFO would wake up if portico opened it for
    reading, even for a moment."""
    fifo = str(srv.fifos[path])
    woke = threading.Event()

    def writer():
        fd = os.open(fifo, os.O_WRONLY)  # blocks until a reader opens it
        woke.set()
        os.close(fd)

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    time.sleep(0.1)
    for _ in range(3):
        assert srv.get(path).status == status
    time.sleep(0.2)
    assert not woke.is_set(), "portico opened %s" % path
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # let the writer go
    t.join(2)
    os.close(fd)
    assert woke.is_set()


def test_regular_files_still_served(srv):
    r = srv.get("/a.txt")
    assert r.status == 200 and r.body == b"hello\n"
