"""Saying *why* a certificate was refused: expired, self-signed, wrong host name...

OpenSSL's error inside Twisted only says "certificate verify failed". When a
request fails verification, this middleware repeats the handshake once in a
worker thread with Python's ``ssl`` module and the same trust (system store
plus ``LINKHEALTH_CA_BUNDLE``), and stores OpenSSL's verify message in
``request.meta["linkhealth_tls_reason"]`` for the classifier. It never
changes the outcome, and a failed diagnosis only leaves the reason out.

The handshake goes where the request went, never to a fresh lookup of the name: a name
that rebinds after a certificate failure must not get a connection to an internal address
(issue 16). It connects to ``request.meta["linkhealth_address"]``, the address the
private-address guard vetted (the download handler sets it; the lean client, the one it
dialled), with the host name for SNI and verification; through a proxy
(``meta["proxy"]``), through a ``CONNECT`` tunnel of that proxy. With neither, there is no
diagnosis.
"""

from __future__ import annotations

import socket
import ssl
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from scrapy.exceptions import NotConfigured
from scrapy.utils.asyncio import run_in_thread
from scrapy.utils.httpobj import urlparse_cached

from crawler.core.failures import is_tls_failure

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler

HANDSHAKE_TIMEOUT = 10.0
MAX_PROXY_ANSWER = 16384


class ProxyRefused(OSError):
    """The proxy did not open the tunnel."""


def verify_message(host: str, port: int, bundle: str | None, address: str | None = None,
                   proxy: tuple[str, int, bytes | None] | None = None,
                   timeout: float = HANDSHAKE_TIMEOUT) -> str | None:
    """OpenSSL's reason for refusing host's certificate, or None if it verifies (blocking).

    The handshake goes to ``address``, or through ``proxy`` (host, port, Proxy-Authorization);
    ``host`` is only the name the certificate must be for."""
    context = ssl.create_default_context()
    if bundle:
        context.load_verify_locations(bundle)
    try:
        with (_connect(host, port, address, proxy, timeout) as sock,
              context.wrap_socket(sock, server_hostname=host)):
            return None
    except ssl.SSLCertVerificationError as exc:
        return exc.verify_message
    except ProxyRefused as exc:
        return f"proxy refused the tunnel: {exc}"
    except (OSError, ssl.SSLError) as exc:
        return f"handshake failed: {exc}"


def _connect(host: str, port: int, address: str | None,
             proxy: tuple[str, int, bytes | None] | None, timeout: float) -> socket.socket:
    if proxy is None:
        assert address is not None
        return socket.create_connection((address, port), timeout=timeout)
    proxy_host, proxy_port, authorization = proxy
    sock = socket.create_connection((proxy_host, proxy_port), timeout=timeout)
    try:
        target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        head = f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n".encode("ascii")
        if authorization:
            head += b"Proxy-Authorization: " + authorization + b"\r\n"
        sock.sendall(head + b"\r\n")
        _read_tunnel_answer(sock)
    except BaseException:
        sock.close()
        raise
    return sock


def _read_tunnel_answer(sock: socket.socket) -> None:
    """Up to the end of the proxy's answer head, and not a byte more (TLS follows)."""
    answer = b""
    while not answer.endswith((b"\r\n\r\n", b"\n\n")):
        byte = sock.recv(1)
        if not byte or len(answer) > MAX_PROXY_ANSWER:
            raise ProxyRefused("no answer to CONNECT")
        answer += byte
    status_line = answer.split(b"\n", 1)[0].strip()
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or not parts[1].startswith(b"2"):
        raise ProxyRefused(status_line.decode("latin-1")[:200])


def _proxy_of(request: Request) -> tuple[str, int, bytes | None] | None:
    proxy = request.meta.get("proxy")
    if not proxy:
        return None
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.hostname or "", port, request.headers.get(b"Proxy-Authorization")


class TlsDiagnosisMiddleware:
    def __init__(self, bundle: str | None):
        self.bundle = bundle

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> TlsDiagnosisMiddleware:
        if not crawler.settings.getbool("LINKHEALTH_VERIFY_TLS"):
            raise NotConfigured("certificates are not verified")
        return cls(crawler.settings.get("LINKHEALTH_CA_BUNDLE") or None)

    async def process_exception(self, request: Request, exception: Exception) -> None:
        if not is_tls_failure(exception) or "linkhealth_tls_reason" in request.meta:
            return
        proxy = _proxy_of(request)
        address = request.meta.get("linkhealth_address")
        if proxy is None and not address:
            return  # nothing vetted to connect to: no reason rather than a second lookup
        parsed = urlparse_cached(request)
        reason = await run_in_thread(
            verify_message, parsed.hostname or "", parsed.port or 443, self.bundle,
            address, proxy)
        if reason:
            request.meta["linkhealth_tls_reason"] = reason
