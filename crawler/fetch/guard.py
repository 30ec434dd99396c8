"""Private-network guard: never request loopback, private, link-local or reserved addresses.

Every request, including each hop of a redirect chain, has its host resolved
(in a thread, cached for the run) before it is sent. The check runs in the
download handler (``crawler/fetch/handler.py``), inside the per-host
download slot, so requests waiting for a slow DNS answer hold their host's
slots only, never the whole crawl's. If any address it resolves to is not a
public unicast address (``crawler/fetch/addresses.py``), the request is
refused with ``ForbiddenAddress`` (outcome ``forbidden_address``). A name that
does not exist raises ``HostNotFound`` here, which is not retried.

Lookups are cached for the run (a failed, non-NXDOMAIN lookup for
``TEMPORARY_FAILURE_TTL`` seconds) and shared between concurrent requests.

``LINKHEALTH_ALLOW_HOSTS`` exempts host:port pairs (``crawler/fetch/allowed_hosts.py``: an
intranet server you do want checked); a redirect from one of them to any other private
address or port is still refused. ``LINKHEALTH_ALLOW_PRIVATE`` turns the address check
off (the name is still resolved).

The download handler connects to the addresses returned here (``crawler/fetch/client.py``),
so a DNS answer that changes after the check (DNS rebinding) cannot send a request to a
private address. With ``LINKHEALTH_LEAN_CLIENT`` off, Scrapy's client looks the name up
again.

**Through a proxy** (``request.meta["proxy"]``, set by Scrapy's ``HttpProxyMiddleware``
from ``http_proxy``/``https_proxy``/``no_proxy``), names are the proxy's to resolve: where
only the proxy can resolve them, a local lookup would fail every URL. So nothing is
looked up, and only what the URL itself shows is checked: an IP address written as the
host (also in the numeric spellings resolvers accept, such as ``127.1`` or
``2130706433``), and ``localhost`` names (RFC 6761: always loopback). What a name
resolves to on the proxy's side, and whether that answer changes (DNS rebinding), is the
proxy's business.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import time
from typing import TYPE_CHECKING

from scrapy.exceptions import CannotResolveHostError
from scrapy.utils.asyncio import run_in_thread
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.defer import Deferred

from crawler.core.errors import ForbiddenAddress, HostNotFound
from crawler.core.urls import DEFAULT_PORTS
from crawler.fetch.addresses import address_problem
from crawler.fetch.allowed_hosts import AllowedHosts

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler

__all__ = ["AddressGuard", "address_problem", "literal_address", "lookup"]

TEMPORARY_FAILURE_TTL = 30.0  # seconds before a name whose lookup failed (not NXDOMAIN) is asked again
_NOT_FOUND = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}
# A host made of one to four numbers (decimal, octal 0..., hex 0x...) is an IPv4 address to
# inet_aton, and so to the resolvers of most systems and proxies: 127.1, 0x7f.1, 2130706433.
_NUMERIC_HOST = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}\.?")


def literal_address(host: str) -> str | None:
    """The IP address a host is written as, or None for a name."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if _NUMERIC_HOST.fullmatch(host):
        try:
            return socket.inet_ntoa(socket.inet_aton(host.removesuffix(".")))
        except OSError:
            raise HostNotFound(f"DNS lookup failed: invalid host name {host}") from None
    return None


def is_localhost_name(host: str) -> bool:
    """``localhost`` and names under it, which RFC 6761 reserves for loopback."""
    name = host.removesuffix(".")
    return name == "localhost" or name.endswith(".localhost")


def lookup(host: str, port: int) -> list[str]:
    """Every address a name resolves to (blocking; run in a thread)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        if exc.errno in _NOT_FOUND:
            raise HostNotFound(f"DNS lookup failed: no such host {host}") from exc
        raise CannotResolveHostError(f"DNS lookup failed for {host}: {exc.strerror}") from exc
    except UnicodeError as exc:
        raise HostNotFound(f"DNS lookup failed: invalid host name {host}") from exc
    addresses = {info[4][0] for info in infos}
    # (a Python built without IPv6 gives an IPv6 address as an (int, bytes) pair: unusable)
    return sorted((a for a in addresses if isinstance(a, str)), key=lambda a: (":" in a, a))


class AddressGuard:
    def __init__(self, allow_private: bool, allowed: AllowedHosts | None = None,
                 retry_lookup_after: float = TEMPORARY_FAILURE_TTL):
        self.allow_private = allow_private
        self.allowed = allowed or AllowedHosts([])
        self.retry_lookup_after = retry_lookup_after
        self._resolved: dict[str, tuple[float, list[str] | Exception]] = {}
        # host -> addresses, for hosts found fine for good on every port
        self._vetted: dict[str, list[str]] = {}
        self._pending: dict[str, list[Deferred]] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> AddressGuard:
        settings = crawler.settings
        return cls(settings.getbool("LINKHEALTH_ALLOW_PRIVATE"),
                   AllowedHosts(settings.getlist("LINKHEALTH_ALLOW_HOSTS")))

    async def check(self, request: Request) -> list[str]:
        """The addresses the request may connect to (IPv4 first; none through a proxy);
        or raise ForbiddenAddress, HostNotFound or CannotResolveHostError."""
        parsed = urlparse_cached(request)
        scheme = parsed.scheme
        if scheme not in ("http", "https"):
            raise ForbiddenAddress(f"refusing to fetch a {scheme}: URL")
        host = parsed.hostname or ""
        if request.meta.get("proxy"):
            self._check_proxied(scheme, host, parsed.port or DEFAULT_PORTS[scheme])
            return []
        vetted = self._vetted.get(host)
        if vetted is not None:
            return vetted
        port = parsed.port or DEFAULT_PORTS[scheme]
        addresses = await self._addresses(host, port)
        if self.allow_private:
            return self._keep(host, addresses)
        problems = [(address, problem) for address in addresses
                    if (problem := address_problem(address))]
        if not problems:
            return self._keep(host, addresses)
        if self.allowed.exempts(scheme, host, port):
            return addresses  # not kept: the exemption is for this port only
        address, problem = problems[0]
        written = literal_address(host) is not None
        raise ForbiddenAddress(_forbidden(host, address, problem, written)
                               + self.allowed.hint(host, port))

    def _check_proxied(self, scheme: str, host: str, port: int) -> None:
        """What the URL itself shows: through a proxy, names are the proxy's to resolve."""
        if self.allow_private or self.allowed.exempts(scheme, host, port):
            return
        address = literal_address(host)
        if address is not None:
            problem = address_problem(address)
            if problem:
                raise ForbiddenAddress(_forbidden(host, address, problem, True)
                                       + self.allowed.hint(host, port))
        elif is_localhost_name(host):
            raise ForbiddenAddress(f"{host} is a loopback name (RFC 6761)"
                                   + self.allowed.hint(host, port))

    def _keep(self, host: str, addresses: list[str]) -> list[str]:
        """Remember a verdict that cannot change in this run (a successful lookup is kept)."""
        entry = self._resolved.get(host)
        if entry is None or entry[0] == float("inf"):
            self._vetted[host] = addresses
        return addresses

    async def _addresses(self, host: str, port: int) -> list[str]:
        address = literal_address(host)
        if address is not None:
            return [address]
        result = self._cached(host)
        if result is None:
            result = await self._lookup_once(host, port)
        if isinstance(result, Exception):
            raise type(result)(str(result))
        return result

    def _cached(self, host: str) -> list[str] | Exception | None:
        entry = self._resolved.get(host)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    async def _lookup_once(self, host: str, port: int) -> list[str] | Exception:
        """One lookup per host at a time: concurrent requests for a host share it,
        so a name whose DNS answers slowly occupies one worker thread, not all of them."""
        waiters = self._pending.get(host)
        if waiters is not None:
            waiter: Deferred = Deferred()
            waiters.append(waiter)
            return await maybe_deferred_to_future(waiter)
        self._pending[host] = []
        result: list[str] | Exception
        try:
            result = await run_in_thread(lookup, host, port)
        except CannotResolveHostError as exc:
            result = exc
        ttl = self.retry_lookup_after if type(result) is CannotResolveHostError else float("inf")
        self._resolved[host] = (time.monotonic() + ttl, result)
        for waiter in self._pending.pop(host):
            waiter.callback(result)
        return result


def _forbidden(host: str, address: str, problem: str, written: bool) -> str:
    """The error of a refused request; ``written``: the URL names the address itself."""
    article = "an" if problem[0] in "aeiouAEIOU" else "a"
    verb = "is" if written else "resolves to"
    return f"{host} {verb} {article} {problem} address ({address})"
