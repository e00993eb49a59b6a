"""Fixtures for the portico integration tests.

`portico` is a module-scoped factory: a test module builds a Site (temp dir
with conf, conf.d/ and docroot, free loopback ports), writes files into the
docroot and calls site.start(vhosts=[...]) from its own module-scoped
fixture.  At the end of the module every server still running gets SIGTERM
and must exit 0 without sanitizer reports (see ptserver.Server.check_exit).

Environment: PORTICO_BIN (default build/portico), PORTICO_SANITIZE=1 when
the binary is built with ASan/UBSan (sanitizer reports are checked always;
the variable only documents the build).
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import ptserver  # noqa: E402


@pytest.fixture(scope="module")
def portico(tmp_path_factory, request):
    factory = ptserver.Factory(tmp_path_factory, request.module.__name__)
    yield factory
    factory.finish()


@pytest.fixture(scope="session")
def portico_bin():
    return ptserver.portico_bin()


# Backends for the proxy tests, one set per test module: HTTP/1.1
# (backend.py) and HTTP/2 (h2backend.py), each recording what it received.

def _serve(backend_class):
    b = backend_class()
    yield b
    b.close()


@pytest.fixture(scope="module")
def bk():
    import backend
    yield from _serve(backend.Backend)


@pytest.fixture(scope="module")
def bk2():
    import backend
    yield from _serve(backend.Backend)


@pytest.fixture(scope="module")
def hb():
    import h2backend
    yield from _serve(h2backend.H2Backend)


@pytest.fixture(scope="module")
def hb2():
    import h2backend
    yield from _serve(h2backend.H2Backend)
