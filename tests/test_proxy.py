"""Checking through a proxy, with the private-address guard on (issue 15).

Behind a proxy that alone can resolve names, every URL used to be recorded ``dns_error``:
the guard looked each name up locally before the request went to the proxy. Here a real
forwarding proxy (``tests/forward_proxy.py``) resolves ``site.test`` and ``secure.test``,
which the crawl's own resolver cannot, and the proxy is set the way users set it, with
``http_proxy``/``https_proxy``/``no_proxy`` in the environment.
"""

from __future__ import annotations

from contextlib import ExitStack

import pytest

from crawler.core.urls import normalise
from tests.crawl import crawl, write_site
from tests.forward_proxy import ForwardProxy
from tests.webserver import Web, make_ca, server_context, write_ca_bundle


@pytest.fixture
def proxied(tmp_path, monkeypatch):
    """A site server, a TLS server for secure.test, an internal server nothing may reach,
    and the proxy in the environment; no_proxy names bypass.test."""
    ca = make_ca()
    bundle = write_ca_bundle(ca, tmp_path / "ca.pem")
    with ExitStack() as stack:
        site = stack.enter_context(Web())
        secure = stack.enter_context(Web(tls=server_context(ca, hostnames=("secure.test",))))
        internal = stack.enter_context(Web(host="127.0.0.2"))
        proxy = stack.enter_context(ForwardProxy({"site.test": "127.0.0.1",
                                                  "secure.test": "127.0.0.1"}))
        for name in ("http_proxy", "https_proxy"):
            monkeypatch.setenv(name, proxy.url)
        monkeypatch.setenv("no_proxy", "bypass.test")
        yield site, secure, internal, proxy, bundle


@pytest.mark.e2e
def test_names_only_the_proxy_resolves_are_checked_through_it(proxied, tmp_path):
    site, secure, internal, proxy, bundle = proxied
    inside = internal.port
    urls = {
        f"http://site.test:{site.port}/ok": "ok",
        f"http://site.test:{site.port}/status/404": "broken",
        f"https://secure.test:{secure.port}/ok": "ok",
        f"http://site.test:{site.port}/redirect/301?to=/ok": "ok",
        # what the URL itself shows is still refused, and never reaches the proxy
        f"http://127.0.0.2:{inside}/ok": "forbidden_address",
        f"http://[::1]:{inside}/ok": "forbidden_address",
        f"http://0x7f.2:{inside}/ok": "forbidden_address",
        f"http://localhost:{inside}/ok": "forbidden_address",
        f"https://127.0.0.2:{inside}/ok": "forbidden_address",
        # a redirect to a literal private address is refused before it is sent
        f"http://site.test:{site.port}/redirect/302?to=http://127.0.0.2:{inside}/ok": "forbidden_address",
        f"http://site.test:{site.port}/redirect/302?to=http://a.localhost:{inside}/ok": "forbidden_address",
        # no_proxy: looked up here, where the name does not exist
        f"http://bypass.test:{site.port}/ok": "dns_error",
    }
    written = write_site(tmp_path / "site", {"a.md": {
        "title": "A", "related": [{"webUrl": url} for url in urls]}})
    result = crawl(written, tmp_path / "db.sqlite", settings={
        "LINKHEALTH_ALLOW_PRIVATE": "0", "LINKHEALTH_CA_BUNDLE": bundle, "RETRY_TIMES": "0"})
    assert internal.requests == []
    outcomes = {url: result.check(normalise(url))["outcome"] for url in urls}
    assert outcomes == urls
    assert sorted(proxy.targets()) == sorted([
        f"http://site.test:{site.port}/ok", f"http://site.test:{site.port}/status/404",
        f"secure.test:{secure.port}",
        f"http://site.test:{site.port}/redirect/301?to=/ok", f"http://site.test:{site.port}/ok",
        f"http://site.test:{site.port}/redirect/302?to=http://127.0.0.2:{inside}/ok",
        f"http://site.test:{site.port}/redirect/302?to=http://a.localhost:{inside}/ok",
    ])
    assert {r.host for r in site.requests} == {f"site.test:{site.port}"}
    assert [r.target for r in secure.requests] == ["/ok"]
    refused = result.check(normalise(f"http://127.0.0.2:{inside}/ok"))
    assert refused["error"] == "127.0.0.2 is a loopback address (127.0.0.2)"
    redirected = result.check(normalise(urls_with(urls, "to=http://127.0.0.2")))
    assert [hop["status"] for hop in redirected["redirects"]] == [302]
    assert redirected["error"] == "127.0.0.2 is a loopback address (127.0.0.2)"
    named = result.check(normalise(f"http://localhost:{inside}/ok"))
    assert named["error"] == "localhost is a loopback name (RFC 6761)"


@pytest.mark.e2e
def test_an_exempt_literal_host_port_goes_through_the_proxy(proxied, tmp_path):
    """LINKHEALTH_ALLOW_HOSTS applies through a proxy too: the proxy decides the rest."""
    site, _, internal, proxy, _ = proxied
    allowed = f"http://127.0.0.2:{internal.port}/ok"
    written = write_site(tmp_path / "site", {"a.md": {"title": "A", "webUrl": allowed}})
    result = crawl(written, tmp_path / "db.sqlite", settings={
        "LINKHEALTH_ALLOW_PRIVATE": "0", "RETRY_TIMES": "0",
        "LINKHEALTH_ALLOW_HOSTS": f"127.0.0.2:{internal.port}"})
    assert proxy.targets() == [allowed]
    check = result.check(normalise(allowed))  # this proxy forwards mapped names only
    assert (check["outcome"], check["status"]) == ("broken", 502)
    assert internal.requests == []


def urls_with(urls: dict[str, str], part: str) -> str:
    return next(url for url in urls if part in url)


@pytest.mark.e2e
def test_a_host_the_proxy_cannot_reach_is_settled_as_unresponsive(proxied, tmp_path):
    """The proxy refuses a tunnel to a name it cannot resolve (502): a connection failure of
    that host, so after a few of them its other URLs are settled without a request."""
    *_, proxy, bundle = proxied
    urls = [f"https://gone.test/page/{i}" for i in range(20)]
    site = write_site(tmp_path / "site", {"a.md": {"related": [{"webUrl": u} for u in urls]}})
    result = crawl(site, tmp_path / "db.sqlite", settings={
        "LINKHEALTH_CA_BUNDLE": bundle, "LINKHEALTH_ALLOW_PRIVATE": "0",
        "LINKHEALTH_UNRESPONSIVE_AFTER": "3", "CONCURRENT_REQUESTS_PER_DOMAIN": "2"})
    rows = [result.check(normalise(url)) for url in urls]
    assert {row["outcome"] for row in rows} == {"connection_error"}
    assert len([row for row in rows if row["attempts"] == 0]) >= 10  # not requested
    assert len([t for t in proxy.targets() if "gone.test" in t]) <= 10  # was 60: 20 URLs x 3


def test_tls_settings_are_made_once_per_host():
    """Each is an OpenSSL context loaded with the trust store (about 0.9 MB): Scrapy's
    client asks for one per connection, every CONNECT tunnel through a proxy included."""
    from scrapy import Spider
    from scrapy.utils.test import get_crawler

    from crawler.fetch.tls import VerifyingContextFactory

    factory = VerifyingContextFactory.from_crawler(get_crawler(Spider))
    first = factory.creatorForNetloc(b"example.org", 443)
    assert factory.creatorForNetloc("example.org", 443) is first  # bytes or text, one copy
    assert factory.creatorForNetloc(b"example.net", 443) is not first
