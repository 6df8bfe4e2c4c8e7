"""rtproto.transport through an HTTP CONNECT proxy, with real parts only.

The proxy is a small real one written here with asyncio on 127.0.0.1: it
records the CONNECT line and headers it got, then answers (200 and pipes bytes
both ways to 127.0.0.1 at the requested port, or a refusal). The server is a
real websockets server on 127.0.0.1 port 0; ``wss://`` and ``https://``
proxies use a test CA made with ``cryptography``, trusted through
``SSL_CERT_FILE``. Every test clears the environment's ``*_proxy`` variables
first and is bounded by ``asyncio.timeout``.

Host names: a proxy from the environment is never used for loopback hosts, so
those tests connect to ``realtime.test`` (a reserved name that never resolves):
the proxy, not the client, turns it into 127.0.0.1, which also shows the
client left the name to the proxy.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import ipaddress
import logging
import os
import socket
import ssl
import traceback
from http import HTTPStatus

import pytest
from websockets.asyncio.server import serve

from rtproto import __version__
from rtproto._wsio import _tls_context
from rtproto.errors import AuthenticationError, TransportError
from rtproto.transport import Connection, connect

LIMIT = 5  # seconds; every test finishes far below this
USER = "proxy-user-7f3"
PASSWORD = "proxy-pass-SECRET-9c1"
BASIC = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
SECRETS = (USER, PASSWORD, BASIC)


# -- the parts -------------------------------------------------------------------


class ConnectProxy:
    """A real HTTP CONNECT proxy on 127.0.0.1 (TLS when given a context).

    ``requests`` holds ``(request_line, headers)`` for every connection. With
    ``refuse=STATUS`` it answers that status and closes; with ``silent=True``
    it never answers; otherwise it answers 200 and pipes bytes both ways to
    ``127.0.0.1:<the CONNECT port>``, whatever the host name.
    """

    def __init__(self, *, refuse: int | None = None, silent: bool = False):
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.refuse = refuse
        self.silent = silent
        self.port = 0
        self._tasks: set[asyncio.Task] = set()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def serve_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._tasks.add(task)
        upstream = None
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            line, *fields = head.decode("latin-1").split("\r\n")[:-2]
            self.requests.append((line, dict(field.split(": ", 1) for field in fields)))
            if self.silent:
                await reader.read()  # until the client gives up
                return
            if self.refuse is not None:
                phrase = HTTPStatus(self.refuse).phrase
                writer.write(
                    f"HTTP/1.1 {self.refuse} {phrase}\r\n"
                    'Proxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n'.encode()
                )
                await writer.drain()
                return
            port = int(line.split(" ")[1].rpartition(":")[2])
            upstream_reader, upstream = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await asyncio.gather(pipe(reader, upstream), pipe(upstream_reader, writer))
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            if upstream is not None:
                upstream.close()
            self._tasks.discard(task)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until EOF, then pass the EOF on (half-close; a TLS stream cannot, so it closes)."""
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
        else:
            writer.close()
    except OSError:
        writer.close()


@contextlib.asynccontextmanager
async def running_proxy(*, tls: ssl.SSLContext | None = None, **options):
    proxy = ConnectProxy(**options)
    server = await asyncio.start_server(proxy.serve_client, "127.0.0.1", 0, ssl=tls)
    proxy.port = server.sockets[0].getsockname()[1]
    try:
        yield proxy
    finally:
        server.close()
        await proxy.stop()
        await server.wait_closed()


@contextlib.asynccontextmanager
async def echo_server(*, tls: ssl.SSLContext | None = None):
    """A websockets server on 127.0.0.1:0 that echoes every frame; yields its port."""

    async def echo(ws):
        async for message in ws:
            await ws.send(message)

    async with serve(echo, "127.0.0.1", 0, ssl=tls) as server:
        yield server.sockets[0].getsockname()[1]


async def round_trip(url: str, **options) -> None:
    async with connect(url, open_timeout=LIMIT, **options) as conn:
        await conn.send(b'{"type":"ping.test"}')
        assert await conn.recv() == b'{"type":"ping.test"}'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def all_text(exc: BaseException, caplog) -> str:
    """Everything a user could see: the message, the chained causes, the traceback, the log."""
    return "\n".join(
        [str(exc), *traceback.format_exception(exc)] + [r.getMessage() for r in caplog.records]
    )


@pytest.fixture(autouse=True)
def proxy_env(monkeypatch):
    """No ``*_proxy`` variable from the machine; tests set their own."""
    for name in list(os.environ):
        if name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)
    return monkeypatch


@pytest.fixture
def wire_log(caplog):
    caplog.set_level(logging.DEBUG, logger="rtproto")
    caplog.set_level(logging.DEBUG, logger="websockets")
    return caplog


@pytest.fixture
def tls_server_context(tmp_path, monkeypatch):
    """A server context for 127.0.0.1, localhost and realtime.test, signed by a test CA the client trusts."""
    pytest.importorskip("cryptography")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def certificate(subject, key, issuer, issuer_key, *, ca):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
            )
        )
        if ca:
            builder = builder.add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
        else:
            names = [x509.DNSName("localhost"), x509.DNSName("realtime.test"),
                     x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = certificate("rtproto test CA", ca_key, "rtproto test CA", ca_key, ca=True)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = certificate("localhost", leaf_key, "rtproto test CA", ca_key, ca=False)
    ca_file, cert_file, key_file = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    # The client's context is built once per process from the default CA paths,
    # which SSL_CERT_FILE replaces: rebuild it now, and again after the test.
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    _tls_context.cache_clear()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    yield context
    _tls_context.cache_clear()


# -- through the proxy -----------------------------------------------------------


@pytest.mark.parametrize("form", ["http://{}", "http://{}/", "{}"])
async def test_explicit_proxy_url_tunnels_frames(form):
    async with asyncio.timeout(LIMIT):
        async with echo_server() as port, running_proxy() as proxy:
            await round_trip(f"ws://127.0.0.1:{port}/v1/realtime?model=m", proxy=form.format(proxy.address))
    [(line, headers)] = proxy.requests
    assert line == f"CONNECT 127.0.0.1:{port} HTTP/1.1"
    assert headers["Host"] == f"127.0.0.1:{port}"
    assert headers["User-Agent"] == f"rtproto/{__version__}"
    assert "Proxy-Authorization" not in headers


@pytest.mark.parametrize("proxy_scheme", ["http", "https"])
async def test_wss_starts_tls_over_the_tunnel(proxy_scheme, tls_server_context):
    # https://: TLS to the proxy, and the server's TLS inside it.
    proxy_tls = tls_server_context if proxy_scheme == "https" else None
    async with asyncio.timeout(LIMIT):
        async with echo_server(tls=tls_server_context) as port, running_proxy(tls=proxy_tls) as proxy:
            await round_trip(f"wss://localhost:{port}/v1/realtime", proxy=f"{proxy_scheme}://{proxy.address}")
    [(line, headers)] = proxy.requests
    assert line == f"CONNECT localhost:{port} HTTP/1.1"


async def test_https_proxy_with_an_untrusted_certificate_names_the_proxy(tls_server_context, proxy_env):
    proxy_env.delenv("SSL_CERT_FILE")
    _tls_context.cache_clear()  # the system's CAs only: the test CA is unknown
    async with asyncio.timeout(LIMIT):
        async with running_proxy(tls=tls_server_context) as proxy:
            with pytest.raises(TransportError) as caught:
                await Connection.connect("wss://realtime.test/v1/realtime", proxy=f"https://{proxy.address}")
    assert str(caught.value).startswith(f"could not connect to the proxy {proxy.address}: ")
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy"])
async def test_proxy_from_the_environment(variable, proxy_env):
    async with asyncio.timeout(LIMIT):
        async with echo_server() as port, running_proxy() as proxy:
            proxy_env.setenv(variable, f"http://{proxy.address}")
            await round_trip(f"ws://realtime.test:{port}/v1/realtime")  # proxy=True is the default
    [(line, _)] = proxy.requests
    assert line == f"CONNECT realtime.test:{port} HTTP/1.1"


async def test_wss_takes_https_proxy_from_the_environment(proxy_env, tls_server_context):
    # As websockets reads it: HTTPS_PROXY serves wss://; HTTP_PROXY does not.
    async with asyncio.timeout(LIMIT):
        async with echo_server(tls=tls_server_context) as port, running_proxy() as proxy:
            proxy_env.setenv("HTTPS_PROXY", f"http://{proxy.address}")
            proxy_env.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")
            await round_trip(f"wss://realtime.test:{port}/v1/realtime", proxy=True)
    [(line, _)] = proxy.requests
    assert line == f"CONNECT realtime.test:{port} HTTP/1.1"


# -- not through the proxy -------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_loopback_hosts_never_take_the_environments_proxy(host, proxy_env):
    # A developer's HTTP_PROXY must not break local servers (the test suite's among them).
    async with asyncio.timeout(LIMIT):
        async with echo_server() as port, running_proxy(refuse=502) as proxy:
            proxy_env.setenv("HTTP_PROXY", f"http://{proxy.address}")
            await round_trip(f"ws://{host}:{port}/v1/realtime")
    assert proxy.requests == []


async def test_no_proxy_bypasses_the_proxy(proxy_env):
    async with asyncio.timeout(LIMIT):
        async with running_proxy() as proxy:
            proxy_env.setenv("HTTP_PROXY", f"http://{proxy.address}")
            proxy_env.setenv("NO_PROXY", "example.com,realtime.test")
            with pytest.raises(TransportError) as caught:  # direct: realtime.test does not resolve
                await Connection.connect("ws://realtime.test:9/v1/realtime", open_timeout=2)
    assert proxy.requests == []
    assert str(caught.value).startswith("could not connect to ws://realtime.test:9/v1/realtime: ")
    assert "proxy" not in str(caught.value)


async def test_proxy_none_ignores_the_environment(proxy_env):
    async with asyncio.timeout(LIMIT):
        async with running_proxy() as proxy:
            proxy_env.setenv("HTTP_PROXY", f"http://{proxy.address}")
            proxy_env.setenv("http_proxy", f"http://{proxy.address}")
            with pytest.raises(TransportError) as caught:
                await Connection.connect("ws://realtime.test:9/v1/realtime", open_timeout=2, proxy=None)
    assert proxy.requests == []
    assert "proxy" not in str(caught.value)


# -- refusals and failures -------------------------------------------------------


@pytest.mark.parametrize("status", [407, 403, 502])
async def test_refusal_names_proxy_and_status_never_the_credentials(status, wire_log):
    async with asyncio.timeout(LIMIT):
        async with running_proxy(refuse=status) as proxy:
            with pytest.raises(TransportError) as caught:
                await Connection.connect(
                    "wss://api.example.test/v1/realtime?model=m&api-key=k",
                    proxy=f"http://{USER}:{PASSWORD}@{proxy.address}",
                )
    [(line, headers)] = proxy.requests
    assert line == "CONNECT api.example.test:443 HTTP/1.1"
    assert headers["Proxy-Authorization"] == f"Basic {BASIC}"
    assert type(caught.value) is TransportError  # not AuthenticationError: the API key was not rejected
    assert not isinstance(caught.value, AuthenticationError)
    message = str(caught.value)
    assert message.startswith(
        f"the proxy {proxy.address} refused the tunnel to wss://api.example.test/v1/realtime?model=m: "
        f"HTTP {status} {HTTPStatus(status).phrase}"
    )
    assert ("check the proxy's user name and password" in message) == (status == 407)
    seen = all_text(caught.value, wire_log)
    assert not any(secret in seen for secret in SECRETS)


async def test_unreachable_proxy_names_it_without_the_credentials(wire_log):
    port = free_port()
    async with asyncio.timeout(LIMIT):
        with pytest.raises(TransportError) as caught:
            await Connection.connect(
                "wss://api.example.test/v1/realtime", proxy=f"http://{USER}:{PASSWORD}@127.0.0.1:{port}"
            )
    assert str(caught.value) == f"could not connect to the proxy 127.0.0.1:{port}: connection refused"
    seen = all_text(caught.value, wire_log)
    assert not any(secret in seen for secret in SECRETS)


async def test_silent_proxy_times_out_naming_the_proxy():
    async with asyncio.timeout(LIMIT):
        async with running_proxy(silent=True) as proxy:
            with pytest.raises(TransportError) as caught:
                await Connection.connect("wss://api.example.test/v1/realtime", proxy=proxy.address, open_timeout=0.3)
    assert str(caught.value) == (
        f"could not connect to wss://api.example.test/v1/realtime through the proxy {proxy.address}: timed out"
    )
    assert len(proxy.requests) == 1


async def test_proxy_that_is_not_http_is_reported():
    async def garbage(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        await writer.drain()
        writer.close()

    async with asyncio.timeout(LIMIT):
        server = await asyncio.start_server(garbage, "127.0.0.1", 0)
        async with server:
            address = f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
            with pytest.raises(TransportError, match=f"^the proxy {address} did not answer CONNECT with valid HTTP$"):
                await Connection.connect("wss://api.example.test/v1/realtime", proxy=f"http://{address}")


# -- proxies rtproto cannot use --------------------------------------------------


@pytest.mark.parametrize("scheme", ["socks5", "socks5h", "socks4"])
async def test_socks_proxy_is_refused_clearly(scheme, wire_log):
    async with asyncio.timeout(LIMIT):
        with pytest.raises(TransportError) as caught:
            await Connection.connect(
                "wss://api.example.test/v1/realtime", proxy=f"{scheme}://{USER}:{PASSWORD}@127.0.0.1:1080"
            )
    assert str(caught.value) == (
        f"cannot use the proxy {scheme}://127.0.0.1:1080: the proxy is a SOCKS proxy, which rtproto does "
        "not support; use an http:// proxy, or proxy=None"
    )
    assert not any(secret in all_text(caught.value, wire_log) for secret in SECRETS)


async def test_socks_proxy_from_the_environment_names_the_fixes(proxy_env):
    proxy_env.setenv("wss_proxy", "socks5h://127.0.0.1:1080")
    async with asyncio.timeout(LIMIT):
        with pytest.raises(TransportError) as caught:
            await Connection.connect("wss://api.example.test/v1/realtime")
    assert "the environment's proxy is a SOCKS proxy" in str(caught.value)
    assert "an http:// proxy, the host in NO_PROXY, or proxy=None" in str(caught.value)


@pytest.mark.parametrize(
    ("proxy", "shown", "reason"),
    [
        (f"ftp://{USER}:{PASSWORD}@127.0.0.1:21", "ftp://127.0.0.1:21", "scheme ftp isn't supported"),
        (f"http://{USER}:{PASSWORD}@127.0.0.1:port", "http://127.0.0.1:port", "the host or port is not valid"),
        (f"http://{USER}:{PASSWORD}@127.0.0.1:99999", "http://127.0.0.1:99999", "the host or port is not valid"),
        (f"http://{USER}:{PASSWORD}@127.0.0.1:8080/path", "http://127.0.0.1:8080", "path is meaningless"),
        (f"http://{USER}@127.0.0.1:8080", "http://127.0.0.1:8080", "username provided without password"),
    ],
)
async def test_malformed_proxy_url_is_shown_without_credentials(proxy, shown, reason, wire_log):
    async with asyncio.timeout(LIMIT):
        with pytest.raises(TransportError) as caught:
            await Connection.connect("wss://api.example.test/v1/realtime", proxy=proxy)
    assert str(caught.value) == f"cannot use the proxy {shown}: {reason}"
    assert not any(secret in all_text(caught.value, wire_log) for secret in SECRETS)
