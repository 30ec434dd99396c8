"""The lean client's idle connections are bounded in total, not only per host (issue 15).

A site that links thousands of hosts once each left one kept-alive connection per host
open for 240 s: the crawl ran out of file descriptors, and the URLs after that were
recorded ``connection_error``. Here a raw-socket server answers on many ports of 127.0.0.1
(each port is a host to the client's pool) and, as real servers do, keeps every connection
open; the crawl runs with a low ``RLIMIT_NOFILE``.
"""

from __future__ import annotations

import re
import resource
import selectors
import socket
import threading

import pytest

from crawler.core.urls import normalise
from tests.crawl import crawl, write_site

pytestmark = pytest.mark.e2e

BODY = b"<title>a host</title>"
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY)


class ManyHosts:
    """``count`` listening ports on 127.0.0.1, one selector thread answering every request
    with ANSWER and keeping the connection open until the client closes it."""

    def __init__(self, count: int):
        self.selector = selectors.DefaultSelector()
        self.answered = 0
        self.ports = []
        for _ in range(count):
            listener = socket.create_server(("127.0.0.1", 0))
            listener.setblocking(False)
            self.selector.register(listener, selectors.EVENT_READ, "listener")
            self.ports.append(listener.getsockname()[1])
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping:
            for key, _ in self.selector.select(timeout=0.1):
                if key.data == "listener":
                    self._accept(key.fileobj)
                else:
                    self._read(key.fileobj, key.data)

    def _accept(self, listener: socket.socket) -> None:
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            return
        conn.setblocking(False)
        self.selector.register(conn, selectors.EVENT_READ, bytearray())

    def _read(self, conn: socket.socket, pending: bytearray) -> None:
        try:
            data = conn.recv(65536)
        except OSError:
            data = b""
        if not data:
            self.selector.unregister(conn)
            conn.close()
            return
        pending += data
        while b"\r\n\r\n" in pending:
            end = pending.index(b"\r\n\r\n") + 4
            method = bytes(pending[:end]).split(b" ", 1)[0]
            del pending[:end]
            conn.sendall(ANSWER if method != b"HEAD" else ANSWER[:ANSWER.index(b"\r\n\r\n") + 4])
            self.answered += 1  # read once the thread has stopped

    def close(self) -> None:
        self.stopping = True
        self.thread.join()
        for key in list(self.selector.get_map().values()):
            key.fileobj.close()
        self.selector.close()


def nofile(limit: int) -> list[str]:
    return ["prlimit", f"--nofile={limit}:{limit}", "--"]


def test_a_site_linking_many_hosts_does_not_run_out_of_file_descriptors(tmp_path):
    hosts = 600
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4 * hosts:  # this process holds a listener and a connection per host
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    server = ManyHosts(hosts)
    try:
        urls = [f"http://127.0.0.1:{port}/page" for port in server.ports]
        site = write_site(tmp_path / "site", {f"_posts/2024-01-01-{i}.md": {
            "title": str(i), "webUrl": url} for i, url in enumerate(urls)})
        result = crawl(site, tmp_path / "db.sqlite", prefix=nofile(400), settings={
            "CONCURRENT_REQUESTS": "32", "RETRY_TIMES": "0"})
        outcomes = {url: result.check(normalise(url))["outcome"] for url in urls}
    finally:
        server.close()
    failed = {url: outcome for url, outcome in outcomes.items() if outcome != "ok"}
    assert failed == {}, f"{len(failed)} of {hosts}: {list(failed.items())[:3]}"
    assert server.answered == hosts
    # idle connections were closed, least recently used first, to keep the total down
    evicted = re.search(r"'linkhealth/http/idle_evicted': (\d+)", result.log)
    assert evicted and int(evicted.group(1)) >= hosts - 400
