"""The live status page (callback://server-status) in headless Chromium,
driven over the DevTools protocol: the page renders, its numbers move
while a load runs, it dims and says so when portico stops, and it comes
back by itself when portico does.  The two screenshots are kept in
build/test-artefacts/ (PORTICO_ARTEFACTS)."""

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import websockets

from ptserver import REPO
from pthttp import Conn

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(not CHROMIUM, reason="chromium is not installed")


def artefacts():
    d = Path(os.environ.get("PORTICO_ARTEFACTS") or REPO / "build" / "test-artefacts")
    d.mkdir(parents=True, exist_ok=True)
    return d


class Browser:
    """Headless Chromium and one page, over the DevTools protocol."""

    def __init__(self, tmp):
        self.proc = None
        try:
            self._start(tmp)
        except BaseException:
            self._kill()
            raise

    def _kill(self):
        if self.proc:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()

    def _start(self, tmp):
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
             "--disable-dev-shm-usage", "--disable-background-networking",
             "--disable-extensions", "--no-first-run", "--remote-debugging-port=0",
             "--user-data-dir=%s" % tmp, "--window-size=1200,900", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            start_new_session=True)  # its helpers go with it (killpg)
        port = None
        deadline = time.monotonic() + 30
        while port is None and time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            m = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
            if m:
                port = int(m.group(1))
        assert port, "chromium did not start"
        threading.Thread(target=self.proc.stderr.read, daemon=True).start()
        pages = json.load(urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port))
        self.ws_url = [p for p in pages if p["type"] == "page"][0]["webSocketDebuggerUrl"]
        self.loop = asyncio.new_event_loop()

        async def connect():
            return await websockets.connect(self.ws_url, max_size=None)
        self.ws = self.loop.run_until_complete(connect())
        self.n = 0

    def call(self, method, **params):
        async def go():
            self.n += 1
            await self.ws.send(json.dumps({"id": self.n, "method": method, "params": params}))
            while True:
                msg = json.loads(await self.ws.recv())
                if msg.get("id") == self.n:
                    assert "error" not in msg, msg
                    return msg["result"]
        return self.loop.run_until_complete(asyncio.wait_for(go(), 30))

    def js(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        return r["result"].get("value")

    def wait_for(self, expr, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            v = self.js(expr)
            if v:
                return v
            time.sleep(0.1)
        return self.js(expr)

    def screenshot(self, path):
        import base64
        data = self.call("Page.captureScreenshot", format="png")["data"]
        Path(path).write_bytes(base64.b64decode(data))

    def close(self):
        try:
            self.loop.run_until_complete(self.ws.close())
        finally:
            self._kill()


@pytest.fixture
def browser(tmp_path):
    b = Browser(tmp_path / "profile")
    yield b
    b.close()


def load(port, stop):
    while not stop.is_set():
        try:
            with Conn(port) as c:
                for _ in range(20):
                    c.request("GET", "/index.html")
                    c.read_response()
        except OSError:
            pass


def test_status_page_lives_and_dims(portico, browser):
    site = portico.site()
    site.write("index.html", "<p>hi</p>\n")
    mounts = [site.mount("/"),
              {"mountpoint": "/status", "origin": "callback://server-status",
               "pmo": {"dir": str(REPO / "www" / "status")}}]
    protos = [{"lws-server-status": {"status": "ok", "update-ms": "250"}}]
    srv = site.start(vhosts=[site.vhost(mounts=mounts, **{"ws-protocols": protos})],
                     global_={"count-threads": 2})
    # "/status" without the slash redirects, so the page's relative links work.
    r = srv.get("/status")
    assert r.status == 301 and r.header("Location") == "/status/"

    browser.call("Page.enable")
    browser.call("Page.navigate", url=srv.url("/status/"))
    assert browser.wait_for("document.getElementById('state').textContent === 'live'")
    assert browser.wait_for("document.getElementById('version').textContent.length > 0")
    first = int(browser.js("last ? last.requests : -1"))
    assert first >= 0

    stop = threading.Event()
    threads = [threading.Thread(target=load, args=(srv.port, stop)) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        # The numbers move: requests grow and the rate shows while the load runs.
        moved = browser.wait_for(
            "last && last.requests > %d + 200 && "
            "parseFloat(document.getElementById('rps').textContent) > 0" % first, timeout=15)
        assert moved
        rows = browser.js("[...document.querySelectorAll('#series tbody tr')]"
                          ".map(r => r.children[1].textContent)")
        assert "/" in rows
        time.sleep(1)
        browser.screenshot(artefacts() / "status-live.png")
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not browser.js("document.body.classList.contains('offline')")

    srv.stop()
    assert browser.wait_for("document.body.classList.contains('offline')")
    assert "lost" in browser.js("document.getElementById('state').textContent")
    opacity = browser.js("getComputedStyle(document.querySelector('main')).opacity")
    assert float(opacity) < 1
    browser.screenshot(artefacts() / "status-offline.png")
    assert (artefacts() / "status-offline.png").stat().st_size > 1000

    # portico comes back on the same port: the page reconnects by itself.
    site.start(write=False)
    assert browser.wait_for("document.getElementById('state').textContent === 'live' && "
                            "!document.body.classList.contains('offline')", timeout=15)


def test_status_files_and_refusals(portico):
    site = portico.site()
    mounts = [{"mountpoint": "/s", "origin": "callback://server-status",
               "pmo": {"dir": str(REPO / "www" / "status")}}]
    srv = site.start(vhosts=[site.vhost(mounts=mounts)])
    r = srv.get("/s/status.js")
    assert r.status == 200 and r.header("Content-Type").startswith("text/javascript")
    assert srv.get("/s/status.css").header("Content-Type").startswith("text/css")
    for bad in ["/s/../conf", "/s/.hidden", "/s/a/b", "/s/missing.js"]:
        assert srv.get(bad).status in (400, 404), bad
    with Conn(srv.port) as c:
        c.request("POST", "/s/", body="x")
        assert c.read_response().status == 405
