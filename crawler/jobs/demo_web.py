"""The demo's stand-in for the web: a few loopback hosts answering the paths of a synthetic
site (``crawler.jobs.synthetic_site``), for the duration of a ``with`` block.

    /a/<id>            200 text/html, with a <title>
    /i/<id>.jpg        200 image/jpeg
    /gone/<id>[.jpg]   404
    /moved/<id>[.jpg]  301 -> /a/<id> (/i/<id>.jpg)
    /                  200 a home page

Host ``i`` is ``http://127.0.0.{i+2}:PORT``, one port on every address, as ``bench.simweb``
serves them; where only 127.0.0.1 answers (macOS), ``http://127.0.0.1:PORT_i``. 200s carry
a strong ``ETag`` and a fixed ``Last-Modified``, and ``If-None-Match`` gets a 304, so the
demo's second crawl shows conditional requests. Threads of this process serve it: the demo
is small, and the benchmarks' simulated web (``bench/simweb.py``) is not installed.
"""

from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

from crawler.jobs.synthetic_site import host_address

LAST_MODIFIED = "Mon, 04 Jan 2021 06:00:00 GMT"


def page(ident: str) -> bytes:
    return (f"<!doctype html><html><head><title>Article {ident}</title></head><body>"
            f"<h1>Article {ident}</h1><p>{'Text of the article. ' * 40}</p></body></html>\n"
            ).encode()


def image(ident: str) -> bytes:
    return b"\xff\xd8\xff\xe0" + hashlib.sha256(ident.encode()).digest() * 32 + b"\xff\xd9"


def answer(path: str) -> tuple[int, bytes, str, list[tuple[str, str]]]:
    """Status, body, media type and extra headers for a path of the synthetic site."""
    if path.startswith("/a/") and len(path) > 3:
        return 200, page(path[3:]), "text/html; charset=utf-8", []
    if path.startswith("/i/") and path.endswith(".jpg"):
        return 200, image(path[3:-4]), "image/jpeg", []
    if path.startswith("/moved/"):
        rest = path[len("/moved/"):]
        return 301, b"", "text/html", [("Location", f"/i/{rest}" if rest.endswith(".jpg")
                                                    else f"/a/{rest}")]
    if path == "/":
        return 200, page("home"), "text/html; charset=utf-8", []
    return 404, b"<!doctype html><title>Not found</title>\n", "text/html", []


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real web server

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        status, body, media_type, headers = answer(self.path.split("?", 1)[0])
        if status == 200:
            etag = '"' + hashlib.sha1(body).hexdigest() + '"'
            headers = [*headers, ("ETag", etag), ("Last-Modified", LAST_MODIFIED)]
            if etag in self.headers.get("If-None-Match", ""):
                status, body = 304, b""
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if status != 304:
            self.send_header("Content-Type", media_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class DemoWeb:
    """``hosts`` loopback web servers; ``self.hosts`` are their base URLs."""

    def __init__(self, hosts: int) -> None:
        self.servers = self._bind(hosts)
        self.hosts = [f"http://{s.server_address[0]!s}:{s.server_port}" for s in self.servers]
        self.threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.1},
                                         name=f"demo-web-{i}", daemon=True)
                        for i, s in enumerate(self.servers)]

    @staticmethod
    def _bind(count: int) -> list[_Server]:
        servers: list[_Server] = []
        try:
            first = _Server((host_address(0), 0), _Handler)
            servers.append(first)
            port = first.server_address[1]
            servers += [_Server((host_address(i), port), _Handler) for i in range(1, count)]
            return servers
        except OSError:  # 127.0.0.2 does not answer here, or the port is taken on another one
            for server in servers:
                server.server_close()
        return [_Server(("127.0.0.1", 0), _Handler) for _ in range(count)]

    def __enter__(self) -> Self:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()
