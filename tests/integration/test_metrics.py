"""The metrics plugin: callback://metrics in the Prometheus text format,
read with python3-prometheus-client's parser and checked against the
requests this test made, over two workers (the counters are per worker
and summed on read)."""

import subprocess

import pytest
from prometheus_client.parser import text_string_to_metric_families

from certs import certs_fixture, tls_vhost  # noqa: F401 (fixture)
from pthttp import Conn


@pytest.fixture(scope="module")
def srv(portico, certs):
    site = portico.site()
    site.write("index.html", "x" * 1000)
    site.write("small.txt", "y" * 10)
    mounts = [site.mount("/"), site.mount("/docs"),
              {"mountpoint": "/metrics", "origin": "callback://metrics"}]
    other = site.new_port()
    tls_port = site.new_port()
    vhosts = [site.vhost(mounts=mounts),
              site.vhost(name="b.test", port=other,
                         mounts=[site.mount("/"),
                                 {"mountpoint": "/m", "origin": "callback://metrics"}]),
              tls_vhost(site, "localhost", certs.local_cert, certs.local_key, tls_port,
                        mounts=[site.mount("/")])]
    s = site.start(vhosts=vhosts, global_={"count-threads": 2})
    s.other, s.tls_port, s.ca = other, tls_port, certs.ca
    return s


def scrape(srv, port=None, path="/metrics"):
    with Conn(port or srv.port) as c:
        c.request("GET", path)
        r = c.read_response()
    assert r.status == 200, r
    assert r.header("Content-Type").startswith("text/plain; version=0.0.4")
    return {f.name: f for f in text_string_to_metric_families(r.text)}, r.text


def sample(families, name, metric=None, **labels):
    fam = families[name]
    total = 0
    found = False
    for s in fam.samples:
        if metric and s.name != metric:
            continue
        if all(s.labels.get(k) == v for k, v in labels.items()):
            total += s.value
            found = True
    return total if found else None


def test_request_counts_by_vhost_mount_and_code(srv):
    before, _ = scrape(srv)
    b200 = sample(before, "portico_requests", "portico_requests_total",
                  vhost="localhost", mount="/docs", code="200") or 0
    b404 = sample(before, "portico_requests", "portico_requests_total",
                  vhost="localhost", mount="/docs", code="404") or 0
    # Fresh connections, so both workers take some.
    for _ in range(17):
        assert srv.get("/docs/index.html").status == 200
    for _ in range(5):
        assert srv.get("/docs/missing").status == 404
    after, text = scrape(srv)
    assert sample(after, "portico_requests", "portico_requests_total", vhost="localhost",
                  mount="/docs", code="200") == b200 + 17
    assert sample(after, "portico_requests", "portico_requests_total", vhost="localhost",
                  mount="/docs", code="404") == b404 + 5
    # The scrape itself counts in the next one.
    again, _ = scrape(srv)
    assert sample(again, "portico_requests", "portico_requests_total", vhost="localhost",
                  mount="/metrics", code="200") >= 2


def test_duration_histogram(srv):
    for _ in range(10):
        srv.get("/index.html")
    fams, _ = scrape(srv)
    fam = fams["portico_request_duration_seconds"]
    assert fam.type == "histogram"
    buckets = [(s.labels["le"], s.value) for s in fam.samples
               if s.name.endswith("_bucket") and s.labels["mount"] == "/"
               and s.labels["vhost"] == "localhost"]
    values = [v for _, v in buckets]
    assert values == sorted(values)  # cumulative
    assert buckets[-1][0] == "+Inf"
    count = sample(fams, "portico_request_duration_seconds",
                   "portico_request_duration_seconds_count", vhost="localhost", mount="/")
    assert count == buckets[-1][1] >= 10
    total = sample(fams, "portico_request_duration_seconds",
                   "portico_request_duration_seconds_sum", vhost="localhost", mount="/")
    assert 0 < total < count  # every one well under a second


def test_response_bytes_by_vhost(srv):
    before, _ = scrape(srv, port=srv.other, path="/m")
    b = sample(before, "portico_response_bytes", vhost="b.test") or 0
    for _ in range(3):
        with Conn(srv.other) as c:
            c.request("GET", "/index.html", headers={"Host": "b.test"})
            assert c.read_response().status == 200
    after, _ = scrape(srv, port=srv.other, path="/m")
    got = sample(after, "portico_response_bytes", vhost="b.test")
    # 3000 bytes of files plus the first scrape's body.
    assert got - b >= 3000


def test_connections_gauge(srv):
    held = [Conn(srv.port) for _ in range(5)]
    try:
        for c in held:
            c.request("GET", "/small.txt")
            c.read_response()
        fams, _ = scrape(srv)
        assert sample(fams, "portico_connections", protocol="http/1.1") >= 6
    finally:
        for c in held:
            c.close()
    # And they go away.
    import time
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        fams, _ = scrape(srv)
        if sample(fams, "portico_connections", protocol="http/1.1") <= 1:
            break
        time.sleep(0.05)
    assert sample(fams, "portico_connections", protocol="http/1.1") <= 1


def test_h2_connections_and_tls_handshakes(srv):
    fams, _ = scrape(srv)
    hs = sample(fams, "portico_tls_handshakes") or 0
    p = subprocess.run(["curl", "-s", "--http2", "--cacert", str(srv.ca), "-o", "/dev/null",
                        "-w", "%{http_version}",
                        "https://localhost:%d/index.html" % srv.tls_port,
                        "--resolve", "localhost:%d:127.0.0.1" % srv.tls_port],
                       capture_output=True, text=True, timeout=20)
    assert p.stdout == "2"
    fams, _ = scrape(srv)
    assert sample(fams, "portico_tls_handshakes") == hs + 1


def test_build_info_and_types(srv):
    fams, text = scrape(srv)
    info = fams["portico_build_info"]
    assert info.samples[0].labels["version"] and info.samples[0].value == 1
    assert fams["portico_requests"].type == "counter"
    assert fams["portico_connections"].type == "gauge"
    assert "# TYPE portico_requests_total counter" in text


def test_label_values_are_escaped(portico):
    site = portico.site()
    site.write("index.html", "i")
    name = 'we"ird\\name'
    mounts = [site.mount("/"), {"mountpoint": "/metrics", "origin": "callback://metrics"}]
    srv = site.start(vhosts=[site.vhost(name=name, mounts=mounts)])
    srv.get("/")
    fams, _ = scrape(srv)
    assert sample(fams, "portico_requests", "portico_requests_total", vhost=name, mount="/",
                  code="200") == 1


def test_post_is_refused(srv):
    with Conn(srv.port) as c:
        c.request("POST", "/metrics", body="x")
        r = c.read_response()
    assert r.status == 405 and r.header("Allow") == "GET, HEAD"


def test_counters_survive_a_reload(portico):
    import signal
    site = portico.site()
    site.write("index.html", "i")
    mounts = [site.mount("/"), {"mountpoint": "/metrics", "origin": "callback://metrics"}]
    srv = site.start(vhosts=[site.vhost(mounts=mounts)])
    for _ in range(4):
        srv.get("/")
    off = srv.log_size()
    srv.send_signal(signal.SIGHUP)
    assert "reload 1: done" in srv.wait_log(off, r"reload 1: done", timeout=10)
    fams, _ = scrape(srv)
    assert sample(fams, "portico_requests", "portico_requests_total", vhost="localhost",
                  mount="/", code="200") == 4


def test_upstream_gauges_and_request_bytes(portico, bk):
    import threading
    import time
    site = portico.site()
    mounts = [{"mountpoint": "/app", "origin": "http://%s/app" % bk.host, "proxy-max-conns": 2},
              {"mountpoint": "/metrics", "origin": "callback://metrics"}]
    srv = site.start(vhosts=[site.vhost(mounts=mounts)])
    for _ in range(3):
        with Conn(srv.port) as c:
            c.request("POST", "/app/echo", body=b"z" * 1000)
            assert c.read_response().body == b"z" * 1000
    fams, _ = scrape(srv)
    assert sample(fams, "portico_request_bytes", vhost="localhost") == 3000
    assert sample(fams, "portico_upstream_connections", upstream=bk.host, state="idle") >= 1
    assert sample(fams, "portico_upstream_connections", upstream=bk.host, state="busy") == 0
    # While held: busy connections, and the third request queued (max-conns 2).
    done = []
    threads = [threading.Thread(target=lambda: done.append(srv.get("/app/hold?t=1.5").status))
               for _ in range(3)]
    for t in threads:
        t.start()
    busy = queued = 0
    deadline = time.monotonic() + 1.2
    while time.monotonic() < deadline and not (busy == 2 and queued == 1):
        fams, _ = scrape(srv)
        busy = sample(fams, "portico_upstream_connections", upstream=bk.host, state="busy")
        queued = sample(fams, "portico_upstream_queued", upstream=bk.host)
        time.sleep(0.05)
    for t in threads:
        t.join()
    assert (busy, queued) == (2, 1)
    assert done == [200, 200, 200]
    fams, _ = scrape(srv)
    assert sample(fams, "portico_upstream_queued", upstream=bk.host) == 0
