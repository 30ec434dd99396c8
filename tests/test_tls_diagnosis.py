"""The TLS diagnosis connects where the request went, never to a new lookup (issue 16).

The attack: a name first resolves to the attacker's server, whose certificate fails; the
crawl then repeats the handshake to learn why. If that second handshake looks the name up
again, the attacker has meanwhile pointed it at an internal address, and the crawler opens
a TCP connection there. Here the name is resolved by the system's own resolver from a hosts
file that only the crawl sees (a private mount namespace, ``unshare``); the server with the
refused certificate rewrites that file, to the internal address, as soon as it is
connected to: a real rebinding, between the crawl's lookup and its diagnosis.
"""

from __future__ import annotations

import socket
import ssl
import threading
from contextlib import ExitStack
from pathlib import Path

import pytest

from crawler.core.urls import normalise
from tests.crawl import crawl, write_site
from tests.forward_proxy import ForwardProxy
from tests.webserver import Web, make_ca, server_context

pytestmark = pytest.mark.e2e

NAME = "rebind.test"


class Listener:
    """Accepts connections on one address and counts them; ``on_accept`` runs first;
    ``tls``: then a handshake with this server context."""

    def __init__(self, sock: socket.socket, tls: ssl.SSLContext | None = None, on_accept=None):
        self.sock, self.tls, self.on_accept = sock, tls, on_accept
        self.lock = threading.Lock()
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            if self.on_accept:
                self.on_accept()
            threading.Thread(target=self._handshake, args=(conn,), daemon=True).start()

    def _handshake(self, conn: socket.socket) -> None:
        with conn:
            if self.tls is not None:
                try:
                    conn.settimeout(10)
                    self.tls.wrap_socket(conn, server_side=True).close()
                except OSError:
                    pass  # the client refused the certificate

    def count(self) -> int:
        with self.lock:
            return self.connections

    def close(self) -> None:
        self.sock.close()


def same_port_pair() -> tuple[socket.socket, socket.socket]:
    """Listening sockets on 127.0.0.1:P and 127.0.0.2:P, one free port P."""
    for _ in range(50):
        first = socket.create_server(("127.0.0.1", 0))
        try:
            return first, socket.create_server(("127.0.0.2", first.getsockname()[1]))
        except OSError:
            first.close()
    raise RuntimeError("no port free on both 127.0.0.1 and 127.0.0.2")


def private_hosts_file(hosts: Path) -> list[str]:
    """Runs the crawl with ``hosts`` as its /etc/hosts, seen by no other process."""
    return ["unshare", "--mount", "--map-root-user", "sh", "-c",
            'mount --bind "$0" /etc/hosts && exec "$@"', str(hosts)]


@pytest.mark.parametrize("lean", ["1", "0"], ids=["lean-client", "scrapy-client"])
def test_a_name_that_rebinds_after_a_certificate_failure_gets_no_second_connection(tmp_path, lean):
    hosts = tmp_path / "hosts"
    hosts.write_text(f"127.0.0.1 {NAME}\n")

    def rebind() -> None:  # in place: the bind mount shows this very file
        hosts.write_text(f"127.0.0.2 {NAME}\n")

    untrusted = server_context(make_ca(), hostnames=(NAME,))  # a CA the crawl does not know
    with ExitStack() as stack:
        outside, inside = same_port_pair()
        attacker = Listener(outside, tls=untrusted, on_accept=rebind)
        internal = Listener(inside)
        stack.callback(attacker.close)
        stack.callback(internal.close)
        url = f"https://{NAME}:{outside.getsockname()[1]}/"
        site = write_site(tmp_path / "site", {"a.md": {"title": "A", "webUrl": url}})
        result = crawl(site, tmp_path / "db.sqlite", prefix=private_hosts_file(hosts), settings={
            "LINKHEALTH_ALLOW_PRIVATE": "0", "LINKHEALTH_LEAN_CLIENT": lean,
            "LINKHEALTH_ALLOW_HOSTS": f"{NAME}:{outside.getsockname()[1]}"})
        assert hosts.read_text() == f"127.0.0.2 {NAME}\n"  # the name did rebind
        assert internal.count() == 0
        assert attacker.count() == 2  # the request, then the diagnosis
    check = result.check(normalise(url))
    assert check["outcome"] == "tls_error"
    assert check["error"] == "TLS: unable to get local issuer certificate"


def test_the_diagnosis_goes_through_the_proxy(tmp_path, monkeypatch):
    """Through a proxy the name may not resolve here at all: the diagnosis asks the proxy
    for a tunnel, as the request did."""
    with Web(tls=server_context(make_ca(), hostnames=("secure.test",))) as secure, \
            ForwardProxy({"secure.test": "127.0.0.1"}) as proxy:
        monkeypatch.setenv("https_proxy", proxy.url)
        url = f"https://secure.test:{secure.port}/ok"
        site = write_site(tmp_path / "site", {"a.md": {"title": "A", "webUrl": url}})
        result = crawl(site, tmp_path / "db.sqlite", settings={"LINKHEALTH_ALLOW_PRIVATE": "0"})
        assert proxy.targets() == [f"secure.test:{secure.port}"] * 2
    check = result.check(normalise(url))
    assert (check["outcome"], check["error"]) == (
        "tls_error", "TLS: unable to get local issuer certificate")
