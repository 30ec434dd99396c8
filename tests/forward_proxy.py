"""A forwarding HTTP proxy on loopback that resolves names the crawler cannot.

    with ForwardProxy({"site.test": "127.0.0.1"}) as proxy:
        os.environ["http_proxy"] = proxy.url

* absolute-form requests (``GET http://site.test:8080/ok HTTP/1.1``) are sent on to the
  address the name maps to, in origin form, one request per connection
  (``Connection: close`` both ways);
* ``CONNECT site.test:8443`` opens a tunnel to that address (for https);
* the proxy connects only to the names in its map, never to an address written in a
  request: anything else gets a 502. Every request it receives is logged
  (``requests``: method and target), so a test can tell what reached it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from urllib.parse import urlsplit

BAD_GATEWAY = b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
HOP_BY_HOP = (b"connection", b"keep-alive", b"proxy-connection", b"proxy-authorization")


class ForwardProxy:
    def __init__(self, names: dict[str, str]):
        self.names = names
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str]] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def __enter__(self) -> ForwardProxy:  # noqa: PYI034
        return self

    def __exit__(self, *exc) -> None:
        self.listener.close()

    def targets(self) -> list[str]:
        with self.lock:
            return [target for _, target in self.requests]

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client:
            head, rest = _read_head(client)
            if head is None:
                return
            line, _, fields = head.partition(b"\r\n")
            method, target, _ = line.decode("latin-1").split(" ", 2)
            with self.lock:
                self.requests.append((method, target))
            if method == "CONNECT":
                host, _, port = target.rpartition(":")
                upstream = self._connect(host, int(port))
                if upstream is None:
                    client.sendall(BAD_GATEWAY)
                    return
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                _splice(client, upstream, rest)
                return
            parts = urlsplit(target)
            upstream = self._connect(parts.hostname or "", parts.port or 80)
            if upstream is None:
                client.sendall(BAD_GATEWAY)
                return
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            kept = [f for f in fields.split(b"\r\n")
                    if f and f.split(b":", 1)[0].strip().lower() not in HOP_BY_HOP]
            request = b"\r\n".join([f"{method} {path} HTTP/1.1".encode("latin-1"), *kept,
                                    b"Connection: close", b"", b""])
            with upstream:
                try:
                    upstream.sendall(request + rest)
                    _relay_answer(upstream, client)
                except OSError:
                    pass  # either side gave up: so does the proxy

    def _connect(self, host: str, port: int) -> socket.socket | None:
        address = self.names.get(host.lower())
        if address is None:
            return None
        try:
            return socket.create_connection((address, port), timeout=10)
        except OSError:
            return None


def _read_head(conn: socket.socket) -> tuple[bytes | None, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        piece = conn.recv(65536)
        if not piece:
            return None, b""
        data += piece
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def _relay_answer(upstream: socket.socket, client: socket.socket) -> None:
    """The answer's head with ``Connection: close``, then its bytes until the server closes."""
    head, rest = _read_head(upstream)
    if head is None:
        client.sendall(BAD_GATEWAY)
        return
    lines = [f for f in head.split(b"\r\n") if f.split(b":", 1)[0].strip().lower() not in HOP_BY_HOP]
    client.sendall(b"\r\n".join([*lines, b"Connection: close", b"", b""]) + rest)
    while piece := upstream.recv(65536):
        client.sendall(piece)


def _splice(client: socket.socket, upstream: socket.socket, first: bytes) -> None:
    """Bytes both ways until either side closes."""
    with upstream:
        if first:
            upstream.sendall(first)
        back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
        back.start()
        _pump(client, upstream)
        back.join()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while piece := source.recv(65536):
            sink.sendall(piece)
    except OSError:
        pass
    for conn in (sink, source):
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_RDWR)
