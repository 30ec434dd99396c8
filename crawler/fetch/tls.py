"""TLS certificate verification for link checks.

A link checker must tell a broken certificate from a healthy site, so
certificates are verified by default against the system trust store, plus
the CA certificates in ``LINKHEALTH_CA_BUNDLE`` (tests serve valid TLS with a
CA made by trustme). ``LINKHEALTH_VERIFY_TLS = False`` falls back to Scrapy's
own non-verifying context factory.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from OpenSSL import SSL
from twisted.internet.ssl import optionsForClientTLS
from twisted.web.iweb import IPolicyForHTTPS
from zope.interface import implementer

from crawler.core.compat import IOpenSSLTrustRoot, ScrapyTLSPolicy

if TYPE_CHECKING:
    from scrapy.crawler import Crawler


@implementer(IOpenSSLTrustRoot)
class SystemTrustPlusBundle:
    """The platform's default CA paths, plus an optional PEM bundle."""

    def __init__(self, bundle: str | None):
        self.bundle = bundle

    def _addCACertsToContext(self, context: SSL.Context) -> None:
        context.set_default_verify_paths()
        if self.bundle:
            context.load_verify_locations(self.bundle)


TLS_OPTIONS_CACHED = 512  # hosts whose TLS settings (an OpenSSL context each) are kept


@implementer(IPolicyForHTTPS)
class VerifyingContextFactory:
    """Verifying TLS settings per host, made once per host: each is an OpenSSL context
    loaded with the whole system trust store, about 0.9 MB and 4 ms of CPU. Scrapy's client
    asks for one per connection (every CONNECT tunnel through a proxy), which took a crawl
    of 3,300 URLs behind a proxy from 95 MB to 410 MB of memory."""

    def __init__(self, trust_root: SystemTrustPlusBundle | None, insecure: Any):
        self.trust_root = trust_root
        self.insecure = insecure
        self._options = lru_cache(maxsize=TLS_OPTIONS_CACHED)(self._options_for)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> VerifyingContextFactory:
        settings = crawler.settings
        insecure = ScrapyTLSPolicy.from_crawler(crawler)
        if not settings.getbool("LINKHEALTH_VERIFY_TLS"):
            return cls(None, insecure)
        bundle = settings.get("LINKHEALTH_CA_BUNDLE") or None
        if bundle:
            SSL.Context(SSL.TLS_CLIENT_METHOD).load_verify_locations(bundle)  # fail early
        return cls(SystemTrustPlusBundle(bundle), insecure)

    def creatorForNetloc(self, hostname: bytes | str, port: int) -> Any:
        """(Scrapy's tunnel passes the host name as text, its agent and our client as bytes.)"""
        if isinstance(hostname, bytes):
            hostname = hostname.decode("ascii")
        return self._options(hostname, port)

    def _options_for(self, hostname: str, port: int) -> Any:
        if self.trust_root is None:
            return self.insecure.creatorForNetloc(hostname.encode("ascii"), port)
        return optionsForClientTLS(hostname, trustRoot=self.trust_root)
