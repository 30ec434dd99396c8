"""Every hostile server behaviour at once: one site, one crawl, the expected outcomes.

Shared by tests/test_hostile.py (asserts each outcome) and bench/hostile_rss.py
(prints the crawl's peak RSS through all of them together).
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

from tests.webserver import Web, _bomb, make_ca, server_context, write_ca_bundle

# path on the plain server -> expected outcome
PLAIN = {
    "/stream/3072": "ok",             # a 3 GiB body (cut at the archive cap)
    "/endless": "ok",                 # no length, never ends
    "/gzip-bomb/1024": "ok",          # 4.5 MB of gzip that decodes to 1 GiB
    "/trickle": "timeout",            # one byte every 200 ms
    "/length-lie/short": "ok",        # Content-Length shorter than the body
    "/length-lie/long": "ok",         # Content-Length longer than the body
    "/headers/5000": "ok",            # thousands of headers
    "/long-header/1024": "connection_error",  # a 1 MiB header line
    "/redirect/302?to=file:///etc/passwd": "forbidden_address",
    "/redirect/302?to=ftp://files.example.org/x": "forbidden_address",
    "/redirect/302?to=data:text/html,hi": "forbidden_address",
    "/redirect/302?to=http://169.254.169.254/latest/meta-data/": "forbidden_address",
    "/redirect/302?to=http://10.0.0.1/admin": "forbidden_address",
    "/not-http": "connection_error",  # a 200 that is not HTTP at all
    "/hang": "timeout",               # accepts, never answers
}
TLS = {"untrusted": "tls_error", "wrong_host": "tls_error", "expired": "tls_error"}


def start_servers(stack: ExitStack, tmp: Path) -> tuple[Web, dict[str, Web], str]:
    """The plain server on 127.0.0.1 and three broken-TLS servers; returns the CA bundle too."""
    _bomb(1024)  # built before the crawl starts
    ca = make_ca()
    bundle = write_ca_bundle(ca, tmp / "ca.pem")
    plain = stack.enter_context(Web())
    tls = {
        "untrusted": stack.enter_context(
            Web(host="127.0.0.3", tls=server_context(make_ca(), hostnames=("127.0.0.3",)))),
        "wrong_host": stack.enter_context(
            Web(host="127.0.0.4", tls=server_context(ca, hostnames=("localhost",)))),
        "expired": stack.enter_context(
            Web(host="127.0.0.5", tls=server_context(ca, hostnames=("127.0.0.5",), expired=True))),
    }
    return plain, tls, bundle


def urls(plain: Web, tls: dict[str, Web]) -> dict[str, str]:
    """URL -> expected outcome; also a redirect to another loopback address not allowed."""
    expected = {plain.url(path): outcome for path, outcome in PLAIN.items()}
    expected[plain.url(f"/redirect/302?to=http://127.0.0.2:{plain.port}/ok")] = "forbidden_address"
    expected.update({web.url("/ok"): TLS[name] for name, web in tls.items()})
    return expected


def settings(plain: Web, tls: dict[str, Web], bundle: str) -> dict[str, str]:
    """The guard stays on: only the test servers themselves are allowed."""
    allowed = ",".join(f"{web.host}:{web.port}" for web in (plain, *tls.values()))
    return {"LINKHEALTH_ALLOW_PRIVATE": "0", "LINKHEALTH_ALLOW_HOSTS": allowed,
            "LINKHEALTH_CA_BUNDLE": bundle}


def site_documents(expected: dict[str, str]) -> dict[str, dict]:
    return {"_news/2024-05-01-hostile.md": {
        "title": "Hostile", "related": [{"webUrl": url} for url in expected]}}
