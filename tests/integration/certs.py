"""A throw-away PKI for the TLS and HTTP/2 tests, and TLS client helpers.

`certs` is a session-scoped fixture (import it into a test module:
`from certs import certs_fixture`): the openssl CLI makes, in a tmp dir,

- a root CA ("portico test root") that signs the server certificates:
  a.test (RSA 2048, SAN a.test, *.a.test), b.test (EC P-256, SAN b.test,
  *.b.test), localhost (EC, SAN localhost, 127.0.0.1), and through an
  intermediate CA chain.test (its cert file holds leaf + intermediate);
- a client CA that signs client.pem, and a rogue CA that signs rogue.pem
  (same subject, wrong issuer);
- broken material for the start-up error tests: garbage.pem, a truncated
  certificate, a key that matches no certificate.

Clients trust only the root (`certs.ca`).  tls_conn() gives a pthttp.Conn
over TLS so the HTTP/1.1 helpers work unchanged.
"""

import socket
import ssl
import subprocess
from pathlib import Path

import pytest

import pthttp

OPENSSL = "openssl"


def _run(args, cwd):
    p = subprocess.run([OPENSSL] + args, cwd=str(cwd), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    if p.returncode != 0:
        raise AssertionError("openssl %s failed:\n%s" % (" ".join(args),
                                                          p.stderr.decode()))
    return p.stdout


def _key(d, name, kind):
    key = d / (name + ".key")
    if kind == "rsa":
        _run(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
              "-out", str(key)], d)
    else:
        _run(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
              "-out", str(key)], d)
    return key


def _ca(d, name, cn, issuer=None):
    """A CA; self-signed unless issuer (name of another CA) is given."""
    key = _key(d, name, "ec")
    pem = d / (name + ".pem")
    ext = d / (name + ".ext")
    ext.write_text("basicConstraints=critical,CA:TRUE\n"
                   "keyUsage=critical,keyCertSign,cRLSign\n"
                   "subjectKeyIdentifier=hash\n"
                   + ("authorityKeyIdentifier=keyid:always\n" if issuer else ""))
    if issuer is None:
        _run(["req", "-x509", "-new", "-key", str(key), "-subj", "/CN=" + cn,
              "-days", "30", "-sha256", "-extensions", "v3_ca_x",
              "-config", str(_req_config(d, ext)), "-out", str(pem)], d)
    else:
        csr = d / (name + ".csr")
        _run(["req", "-new", "-key", str(key), "-subj", "/CN=" + cn,
              "-out", str(csr)], d)
        _sign(d, csr, issuer, ext, pem)
    return pem, key


def _req_config(d, ext):
    cfg = d / (ext.stem + ".cnf")
    cfg.write_text("[req]\ndistinguished_name=dn\n[dn]\n[v3_ca_x]\n"
                   + ext.read_text())
    return cfg


def _sign(d, csr, issuer, ext, out):
    _run(["x509", "-req", "-in", str(csr), "-CA", str(d / (issuer + ".pem")),
          "-CAkey", str(d / (issuer + ".key")), "-CAcreateserial",
          "-days", "30", "-sha256", "-extfile", str(ext), "-out", str(out)], d)


def _leaf(d, name, issuer, kind="ec", sans=(), client=False):
    key = _key(d, name, kind)
    csr = d / (name + ".csr")
    _run(["req", "-new", "-key", str(key), "-subj", "/CN=" + (sans[0].split(":", 1)[1]
                                                               if sans else name),
          "-out", str(csr)], d)
    ext = d / (name + ".ext")
    lines = ["basicConstraints=critical,CA:FALSE",
             "keyUsage=critical,digitalSignature" + ("" if kind == "ec"
                                                     else ",keyEncipherment"),
             "extendedKeyUsage=" + ("clientAuth" if client else "serverAuth"),
             "subjectKeyIdentifier=hash",
             "authorityKeyIdentifier=keyid:always"]
    if sans:
        lines.append("subjectAltName=" + ",".join(sans))
    ext.write_text("\n".join(lines) + "\n")
    pem = d / (name + ".pem")
    _sign(d, csr, issuer, ext, pem)
    return pem, key


class Certs:
    """Paths (str) of the generated material; see the module docstring."""

    def __init__(self, d):
        d = Path(d)
        self.dir = d
        self.ca, _ = _ca(d, "root", "portico test root")
        self.a_cert, self.a_key = _leaf(d, "a", "root", "rsa",
                                        ["DNS:a.test", "DNS:*.a.test"])
        self.b_cert, self.b_key = _leaf(d, "b", "root", "ec",
                                        ["DNS:b.test", "DNS:*.b.test"])
        self.local_cert, self.local_key = _leaf(d, "localhost", "root", "ec",
                                                ["DNS:localhost", "IP:127.0.0.1"])
        _ca(d, "inter", "portico test intermediate", issuer="root")
        leaf, self.chain_key = _leaf(d, "chainleaf", "inter", "ec",
                                     ["DNS:chain.test"])
        self.chain_cert = d / "chain-full.pem"
        self.chain_cert.write_bytes(leaf.read_bytes() + (d / "inter.pem").read_bytes())
        self.chain_leaf_only = leaf
        self.client_ca, _ = _ca(d, "clientca", "portico client CA")
        self.client_cert, self.client_key = _leaf(d, "client", "clientca", "ec",
                                                  client=True)
        _ca(d, "rogueca", "portico client CA")   # same name, other key
        self.rogue_cert, self.rogue_key = _leaf(d, "rogue", "rogueca", "ec",
                                                client=True)
        self.garbage = d / "garbage.pem"
        self.garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all!\n"
                                "-----END CERTIFICATE-----\n")
        self.truncated = d / "truncated.pem"
        self.truncated.write_bytes(self.a_cert.read_bytes()[:300])
        self.stray_key = _key(d, "stray", "ec")
        for k, v in list(vars(self).items()):
            if isinstance(v, Path):
                setattr(self, k, str(v))

    def pem_der(self, path):
        """DER bytes of the first certificate in a PEM file."""
        text = Path(path).read_text()
        start = text.index("-----BEGIN CERTIFICATE-----")
        end = text.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")
        return ssl.PEM_cert_to_DER_cert(text[start:end] + "\n")


@pytest.fixture(scope="session", name="certs")
def certs_fixture(tmp_path_factory):
    return Certs(tmp_path_factory.mktemp("pki"))


def tls_vhost(site, name, cert, key, port, **kw):
    """A vhost dict for Site.start with TLS material."""
    kw.setdefault("host-ssl-cert", str(cert))
    kw.setdefault("host-ssl-key", str(key))
    return site.vhost(name=name, port=port, **kw)


# -- clients -------------------------------------------------------------------

def client_context(certs, alpn=None, verify=True, min_version=None,
                   max_version=None, cert=None, key=None, ciphers=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if verify:
        ctx.load_verify_locations(certs.ca)
        ctx.check_hostname = False      # callers check the certificate served
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    if min_version:
        ctx.minimum_version = min_version
    if max_version:
        ctx.maximum_version = max_version
    if ciphers:
        ctx.set_ciphers(ciphers)
    if cert:
        ctx.load_cert_chain(cert, key)
    # A server that closes without close_notify is reported as EOF.
    ctx.options |= getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
    return ctx


def tls_socket(port, ctx, sni=None, timeout=5.0, session=None, rcvbuf=None):
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        # before connect(), so the TCP window is bounded from the start
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    raw.settimeout(timeout)
    try:
        raw.connect(("127.0.0.1", port))
    except BaseException:
        raw.close()
        raise
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        return ctx.wrap_socket(raw, server_hostname=sni, session=session)
    except BaseException:
        raw.close()
        raise


class TLSConn(pthttp.Conn):
    """pthttp.Conn over an already connected TLS socket."""

    def __init__(self, sock):       # noqa: no super().__init__: we bring a socket
        self.port = sock.getpeername()[1]
        self.sock = sock
        self.buf = b""
        self.eof = False

    def _fill(self, deadline=None):
        try:
            return super()._fill(deadline)
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
            self.eof = True
            return False

    @property
    def alpn(self):
        return self.sock.selected_alpn_protocol()

    def peer_der(self):
        return self.sock.getpeercert(binary_form=True)


def tls_conn(port, certs, sni=None, alpn=None, ctx=None, session=None,
             timeout=5.0, rcvbuf=None, **kw):
    """A TLSConn; ctx (from client_context) must be the one a resumed
    session came from, else one is made from the keyword arguments."""
    if ctx is None:
        ctx = client_context(certs, alpn=alpn, **kw)
    return TLSConn(tls_socket(port, ctx, sni=sni, timeout=timeout, session=session,
                              rcvbuf=rcvbuf))


def cert_names(der):
    """(CN, [SAN DNS names]) of a DER certificate, via the openssl CLI."""
    p = subprocess.run([OPENSSL, "x509", "-inform", "DER", "-noout", "-subject",
                        "-ext", "subjectAltName"], input=der,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
    text = p.stdout.decode()
    cn = None
    for part in text.splitlines()[0].split(","):
        part = part.strip()
        if part.startswith("subject="):
            part = part[len("subject="):].strip()
        if part.replace(" ", "").startswith("CN="):
            cn = part.split("=", 1)[1].strip()
    sans = [s.strip()[4:] for s in text.replace("\n", ",").split(",")
            if s.strip().startswith("DNS:")]
    return cn, sans
