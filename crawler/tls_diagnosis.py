"""Saying *why* a certificate was refused: expired, self-signed, wrong host name...

OpenSSL's error inside Twisted only says "certificate verify failed". When a
request fails verification, this middleware repeats the handshake once in a
worker thread with Python's ``ssl`` module and the same trust (system store
plus ``LINKHEALTH_CA_BUNDLE``), and stores OpenSSL's verify message in
``request.meta["linkhealth_tls_reason"]`` for the classifier. It never
changes the outcome, and a failed diagnosis only leaves the reason out.
"""

from __future__ import annotations

import socket
import ssl
from typing import TYPE_CHECKING

from scrapy.exceptions import NotConfigured
from scrapy.utils.asyncio import run_in_thread
from scrapy.utils.httpobj import urlparse_cached

from crawler.tls import is_tls_failure

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler

HANDSHAKE_TIMEOUT = 10.0


def verify_message(host: str, port: int, bundle: str | None,
                   timeout: float = HANDSHAKE_TIMEOUT) -> str | None:
    """OpenSSL's reason for refusing host's certificate, or None if it verifies (blocking)."""
    context = ssl.create_default_context()
    if bundle:
        context.load_verify_locations(bundle)
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            with context.wrap_socket(sock, server_hostname=host):
                return None
    except ssl.SSLCertVerificationError as exc:
        return exc.verify_message
    except (OSError, ssl.SSLError) as exc:
        return f"handshake failed: {exc}"


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
        parsed = urlparse_cached(request)
        reason = await run_in_thread(
            verify_message, parsed.hostname or "", parsed.port or 443, self.bundle)
        if reason:
            request.meta["linkhealth_tls_reason"] = reason
