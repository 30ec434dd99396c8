"""A loopback server that answers with exact bytes, and the unusual but real-world answers
the HTTP client tests send with it (tests/test_http_client.py, tests/test_transfer_codings.py).
"""

from __future__ import annotations

import socket
import threading

CRLF = b"\r\n"

# path -> (head, body, connection stays open). The head of a HEAD answer is sent alone.
QUIRKS: dict[str, tuple[bytes, bytes, bool]] = {
    "/chunked": (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n",
                 b"6\r\n<p>hel\r\n7;name=value\r\nlo</p>\n\r\n0\r\nX-Trailer: yes\r\n\r\n", True),
    "/chunked-cut": (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n",
                     b"40\r\n<p>cut short", False),
    "/bad-chunk": (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n",
                   b"zz\r\nhello\r\n0\r\n\r\n", False),
    "/lf-only": (b"HTTP/1.1 200 OK\nContent-Type: text/html\nContent-Length: 11\n\n", b"<p>lf</p>\n\n", True),
    "/folded": ((b"HTTP/1.1 200 OK\r\nX-Folded: first\r\n\tsecond\r\nthis line has no colon\r\n"
                 b"Content-Type: text/html\r\nX-Twice: 1\r\nX-Twice: 2\r\nContent-Length: 2\r\n\r\n"),
                b"ok", True),
    "/interim": ((b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n"
                  b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
                  b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 9\r\n\r\n"),
                 b"<p>ok</p>", True),
    "/http10": (b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n", b"<title>old</title>", False),
    "/no-reason": (b"HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n", b"", True),
    "/close": (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: text/html\r\nContent-Length: 2\r\n\r\n",
               b"ok", False),
    "/two-lengths": (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", b"hello!", False),
    "/same-lengths": (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 2, 2\r\n\r\n",
                      b"ok", True),
    "/te-unknown": (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: br, chunked\r\n\r\n",
                    b"2\r\nok\r\n0\r\n\r\n", False),
    "/te-twice": (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
                  b"2\r\nok\r\n0\r\n\r\n", False),
    "/te-and-length": (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 3\r\n"
                       b"Transfer-Encoding: chunked\r\n\r\n", b"5\r\nhello\r\n0\r\n\r\n", False),
    "/bad-status": (b"HTTP/1.1 two hundred OK\r\nContent-Length: 0\r\n\r\n", b"", False),
    "/bad-version": (b"HTTP/one 200 OK\r\nContent-Length: 0\r\n\r\n", b"", False),
    "/moved": (b"HTTP/1.1 301 Moved Permanently\r\nLocation: /chunked\r\nContent-Length: 0\r\n\r\n", b"", True),
    "/extra-bytes": (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n",
                     b"okAND MORE", True),
    "/head-length": (b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 4\r\n\r\n",
                     b"\x89PNG", True),
}
NOT_FOUND = (b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", b"", True)
# Answers the lean client reads differently from Scrapy's, on purpose (see each test).
EDGES: dict[str, tuple[bytes, bytes, bool]] = {
    "/switch": (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
                b"", True),
}


class RawServer:
    """A loopback server that answers with exact bytes (``answers``: QUIRKS and EDGES by
    default), one thread per connection.

    ``drop_reused``: a request that arrives on a connection which has already served one is
    not answered; the connection is closed instead, as a server does when its keep-alive
    timeout ends just as the client reuses the connection.
    """

    def __init__(self, drop_reused: bool = False,
                 answers: dict[str, tuple[bytes, bytes, bool]] | None = None):
        self.drop_reused = drop_reused
        self.answers = answers if answers is not None else {**QUIRKS, **EDGES}
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.connections = 0
        self.request_lines: list[bytes] = []
        self.dropped = 0
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def url(self, target: str) -> str:
        return f"http://127.0.0.1:{self.port}{target}"

    def close(self) -> None:
        self.listener.close()

    def __enter__(self) -> RawServer:  # noqa: PYI034
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            self._answer(conn)
        except OSError:
            pass  # the client reset the connection (it gave up on the answer)

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            pending, served = b"", 0
            while True:
                while b"\r\n\r\n" not in pending:
                    data = conn.recv(65536)
                    if not data:
                        return
                    pending += data
                head, _, pending = pending.partition(b"\r\n\r\n")
                line = head.split(CRLF, 1)[0]
                with self.lock:
                    self.request_lines.append(line)
                    if self.drop_reused and served:
                        self.dropped += 1
                        return
                method, target = line.split(b" ")[:2]
                path = target.decode().partition("?")[0]
                answer_head, body, stays_open = self.answers.get(path, NOT_FOUND)
                conn.sendall(answer_head if method == b"HEAD" else answer_head + body)
                served += 1
                if not stays_open:
                    return
