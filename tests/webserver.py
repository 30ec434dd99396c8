"""A real HTTP(S) server for the end-to-end tests.

Each route imitates one thing a link checker meets in the wild: redirects,
error codes, flaky and rate-limited servers, hangs, resets, bot walls, images,
soft 404s.  Every request is logged with its raw request-target, and the number
of requests in flight is tracked per Host header.

    with Web() as web:
        web.url("/status/404?id=1")
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import gzip
import hashlib
import json
import math
import re
import socket
import socketserver
import ssl
import struct
import threading
import time
import zlib
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import unquote, urlsplit

import trustme

__all__ = ["RequestLog", "Web", "free_port", "make_ca", "server_context", "write_ca_bundle"]

HTML = "text/html; charset=utf-8"
WRITE_CHUNK = 64 * 1024
HANDSHAKE_TIMEOUT = 10.0


# --- certificates and ports -------------------------------------------------


def make_ca() -> trustme.CA:
    return trustme.CA()


def server_context(
    ca: trustme.CA, hostnames=("localhost", "127.0.0.1"), expired: bool = False
) -> ssl.SSLContext:
    """A server-side context whose certificate is issued by `ca` for `hostnames`."""
    validity = {}
    if expired:
        now = datetime.datetime.now(datetime.UTC)
        validity = {"not_before": now - datetime.timedelta(days=30), "not_after": now - datetime.timedelta(days=1)}
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert(*hostnames, **validity).configure_cert(context)
    return context


def write_ca_bundle(ca: trustme.CA, path) -> str:
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on (for "connection refused" URLs)."""
    with socket.socket(_family(host)) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


# --- replies ----------------------------------------------------------------


@dataclass(frozen=True)
class RequestLog:
    method: str
    target: str  # raw request-target, exactly as on the wire
    host: str  # Host header
    headers: dict[str, str]  # lower-cased names
    at: float  # time.monotonic() at arrival


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    ctype: str = HTML
    headers: tuple[tuple[str, str], ...] = ()


def page(title: str, text: str = "", status: int = 200, headers=()) -> Reply:
    html = f"<html><head><title>{title}</title></head><body>{text}</body></html>"
    return Reply(status, html.encode(), headers=tuple(headers))


def redirect(code: int, location: str) -> Reply:
    return page("Moved", f"Moved to {location}", code, [("Location", location)])


def reason(code: int) -> str:
    return BaseHTTPRequestHandler.responses.get(code, ("Unknown",))[0]


def has_body(code: int) -> bool:
    return code >= 200 and code not in (204, 304)


def query(target: str) -> dict[str, str]:
    """Query parameters, percent-decoded once (bytes kept as latin-1 so they go back on the wire unchanged)."""
    pairs = (p.partition("=") for p in target.partition("?")[2].split("&") if p)
    return {unquote(k, encoding="latin-1"): unquote(v, encoding="latin-1") for k, _, v in pairs}


def _png_1x1() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # 1x1, 8-bit RGB
    pixels = zlib.compress(b"\x00\xff\x00\x00")  # filter byte + one red pixel
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


PNG = _png_1x1()
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"


# --- routes: (req, *regex groups) -> Reply, or None when the route answered (or not) itself ---


def home(req):
    return page("Home", "Home page")


def ok(req):
    return page("OK", "OK")


def status(req, code):
    code = int(code)
    return page(f"{code} {reason(code)}", f"Status {code}", code)


def head_status(req, code):
    return Reply(int(code)) if req.command == "HEAD" else page("OK", "GET answered")


def flaky(req, n, code):
    return status(req, code) if req.nth <= int(n) else page("OK", "Recovered")


def flaky_big(req, n, size):
    """The first `n` answers: 503 with a page of `size` bytes; then a small page."""
    if req.nth <= int(n):
        return Reply(503, (b"<html><head><title>Busy</title></head><body>" + b"b" * int(size))[:int(size)])
    return page("OK", "Recovered")


def retry_after(req, variant, seconds):
    if req.nth > 1:
        return page("OK", "Retried")
    return page("Too busy", "Retry later", 503 if variant else 429, [("Retry-After", seconds)])


def limited(req, rate, burst, retry_after):
    """A rate limiter shared by every path under /limited/RATE/BURST/RETRY_AFTER/: a token
    bucket of BURST tokens refilled at RATE a second. A request that finds none gets 429 with
    that Retry-After (0: the seconds until the next token, rounded up)."""
    wait = req.server.take_token(f"{rate}/{burst}", float(rate), int(burst))
    if wait:
        seconds = int(retry_after) or math.ceil(wait)
        return page("Too Many Requests", "Slow down", 429, [("Retry-After", str(seconds))])
    return page("OK", "Allowed")


def lockout(req, rate, seconds):
    """Locks the client out for `seconds` (429 to everything, no Retry-After) whenever more
    than `rate` requests came in the last second, under /lockout/RATE/SECONDS/."""
    if req.server.locked_out(f"{rate}/{seconds}", int(rate), float(seconds)):
        return page("Too Many Requests", "Locked out", 429)
    return page("OK", "Allowed")


def hang_first(req, count):
    """The first `count` requests to any /hang-first/COUNT/ path hang (until the client gives
    up or the server stops); later ones are answered."""
    if req.server.take_hang(int(count)):
        return hang(req)
    return page("OK", "Answered")


def redirect_to(req, code):
    return redirect(int(code), query(req.target).get("to", "/"))


def chain(req, n):
    code = query(req.target).get("code", "301")
    return redirect(int(code), f"/chain/{int(n) - 1}?code={code}") if int(n) > 0 else page("End of chain")


def loop(req, name):
    return redirect(302, "/loop/b" if name == "a" else "/loop/a")


def to_home(req):
    return redirect(301, "/")


def hang(req):
    req.server.stopping.wait()
    req.close_connection = True


def reset(req):
    req.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    req.connection.close()  # RST once the handler drops its file objects
    req.close_connection = True


def soft404(req):
    return page("Page not found", "<h1>404 - Page Not Found</h1>")


def blocked(req):
    return page("Just a moment...", "Checking your browser", 403, [("cf-mitigated", "challenge")])


def image_png(req):
    return Reply(body=PNG, ctype="image/png")


def image_jpg(req):
    return Reply(body=JPEG, ctype="image/jpeg")


def image_as_html(req):
    return page("Not an image", "This image URL returns a page")


def slow(req, ms):
    req.server.stopping.wait(int(ms) / 1000)
    return page("Slow", f"Waited {ms} ms")


def big(req, kib):
    size = int(kib) * 1024
    filler = b"<html><head><title>Big</title></head><body>" + b"x" * size
    return Reply(body=filler[:size])


def not_http(req):
    req.wfile.write(b"HELLO THIS IS NOT HTTP\r\n\r\n")
    req.close_connection = True


def gzipped(req):
    html = b"<html><head><title>Gzip</title></head><body>Compressed page</body></html>"
    return Reply(body=gzip.compress(html, mtime=0), headers=(("Content-Encoding", "gzip"),))


def not_found(req):
    return page("Not Found", "Nothing here", 404)


# --- routes for the archive tests: content the test controls, validators, hostile bodies ---

LAST_MODIFIED = "Mon, 01 Jan 2024 00:00:00 GMT"


def stored_page(req, name):
    """`web.pages[name]` (default: a page titled name), with ETag/Last-Modified; 304 when unchanged.
    A page set to None is gone (404). A name ending in .png is served as image/png."""
    if name in req.server.pages and req.server.pages[name] is None:
        return not_found(req)
    body = req.server.pages.get(name) or page(name, f"Page {name}").body
    etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
    validators = (("ETag", etag), ("Last-Modified", LAST_MODIFIED))
    if req.headers.get("If-None-Match") == etag:
        return Reply(304, b"", headers=validators)
    cookie = (("Set-Cookie", "session=secret-value; HttpOnly"),) if "cookie" in req.target else ()
    ctype = "image/png" if name.endswith(".png") else HTML
    return Reply(200, body, ctype=ctype, headers=validators + cookie)


def stream(req, mib):
    """A body announced (and sent, until the client gives up) as `mib` MiB."""
    size = int(mib) * 1024 * 1024
    req.send_response(200)
    req.send_header("Content-Type", HTML)
    req.send_header("Content-Length", str(size))
    req.end_headers()
    if req.command != "HEAD":
        _write_until_closed(req, size)


def endless(req):
    """A body with no length that never ends."""
    req.send_response(200)
    req.send_header("Content-Type", HTML)
    req.send_header("Connection", "close")
    req.end_headers()
    req.close_connection = True
    if req.command != "HEAD":
        _write_until_closed(req, None)


def _write_until_closed(req, size):
    chunk, sent = b"<p>" + b"y" * (WRITE_CHUNK - 3), 0
    while (size is None or sent < size) and not req.server.stopping.is_set():
        try:
            req.wfile.write(chunk if size is None else chunk[: size - sent])
        except OSError:
            return
        sent += len(chunk)


def gzip_bomb(req, mib):
    """A small gzip body that decodes to `mib` MiB."""
    return Reply(body=_bomb(int(mib)), headers=(("Content-Encoding", "gzip"),))


@functools.cache
def _bomb(mib: int) -> bytes:
    compressor = zlib.compressobj(1, zlib.DEFLATED, 31)
    parts = [compressor.compress(b"<html><head><title>Bomb</title></head><body>")]
    zeros = b"\0" * (1024 * 1024)
    parts += [compressor.compress(zeros) for _ in range(mib)]
    parts.append(compressor.flush())
    return b"".join(parts)


def header_flood(req, count):
    """A 200 with thousands of headers."""
    return page("Flood", headers=[(f"X-Flood-{i}", "v" * 20) for i in range(int(count))])


def long_header(req, kib):
    """A 200 with one header line of `kib` KiB."""
    return page("Long header", headers=[("X-Long", "v" * (int(kib) * 1024))])


def length_lie(req, kind):
    """Content-Length shorter or longer than the body actually sent."""
    body = b"<html><head><title>Lie</title></head><body>" + b"z" * 1000 + b"</body></html>"
    declared = 100 if kind == "short" else 10 * len(body)
    req.send_response(200)
    req.send_header("Content-Type", HTML)
    req.send_header("Content-Length", str(declared))
    req.send_header("Connection", "close")
    req.end_headers()
    req.close_connection = True
    if req.command != "HEAD":
        req.wfile.write(body)


def trickle(req):
    """Headers at once, then one byte every 200 ms, for as long as the client listens."""
    req.send_response(200)
    req.send_header("Content-Type", HTML)
    req.send_header("Content-Length", str(10**9))
    req.end_headers()
    req.close_connection = True
    while req.command != "HEAD" and not req.server.stopping.wait(0.2):
        try:
            req.wfile.write(b"t")
            req.wfile.flush()
        except OSError:
            return


def gate(req, name):
    """Answers only once the test opens the gate (`web.open_gate(name)`), or the server stops."""
    event = req.server.gate(name)
    while not event.wait(0.05) and not req.server.stopping.is_set():
        pass
    return page(f"Gate {name}", "Opened")


def cdx(req):
    """A stand-in for the Wayback Machine CDX API: `web.cdx` says how to answer."""
    mode = req.server.cdx.get("mode", "captures")
    if mode == "429":
        return Reply(429, b"slow down", ctype="text/plain", headers=(("Retry-After", "0"),))
    if mode == "500":
        return Reply(500, b"broken", ctype="text/plain")
    rows = [["timestamp", "original", "statuscode"]]
    rows += [[ts, query(req.target).get("url", ""), "200"] for ts in req.server.cdx.get("timestamps", [])]
    return Reply(200, json.dumps(rows if len(rows) > 1 else []).encode(), ctype="application/json")


ROUTES = [
    (re.compile(pattern), route)
    for pattern, route in [
        (r"/", home),
        (r"/ok(?:/.*)?", ok),
        (r"/status/([1-9]\d\d)", status),
        (r"/head/([1-9]\d\d)", head_status),
        (r"/flaky/(\d+)/([1-9]\d\d)", flaky),
        (r"/flaky-big/(\d+)/(\d+)", flaky_big),
        (r"/limited/(\d+)/(\d+)/(\d+)(?:/.*)?", limited),
        (r"/lockout/(\d+)/(\d+)(?:/.*)?", lockout),
        (r"/hang-first/(\d+)(?:/.*)?", hang_first),
        (r"/retry-after(-503)?/(\d+)", retry_after),
        (r"/redirect/([1-9]\d\d)", redirect_to),
        (r"/chain/(\d+)", chain),
        (r"/loop/(a|b)", loop),
        (r"/to-home", to_home),
        (r"/hang", hang),
        (r"/reset", reset),
        (r"/soft404", soft404),
        (r"/blocked", blocked),
        (r"/image\.png", image_png),
        (r"/image\.jpg", image_jpg),
        (r"/image-as-html\.jpg", image_as_html),
        (r"/slow/(\d+)", slow),
        (r"/big/(\d+)", big),
        (r"/not-http", not_http),
        (r"/gzip", gzipped),
        (r"/page/([\w.-]+)", stored_page),
        (r"/stream/(\d+)", stream),
        (r"/endless", endless),
        (r"/gzip-bomb/(\d+)", gzip_bomb),
        (r"/cdx/search/cdx", cdx),
        (r"/headers/(\d+)", header_flood),
        (r"/long-header/(\d+)", long_header),
        (r"/length-lie/(short|long)", length_lie),
        (r"/trickle", trickle),
        (r"/gate/([\w-]+)", gate),
    ]
]


def path_of(target: str) -> str:
    if target.startswith("/"):
        return target.partition("?")[0]
    return urlsplit(target).path or "/"  # absolute-form target


def dispatch(req) -> Reply | None:
    path = path_of(req.target)
    if path in req.server.moves:  # a move outranks everything, as on a real site
        return redirect(301, req.server.moves[path])
    if req.server.careless:
        return careless(req, path)
    return routed(req, path)


def careless(req, path) -> Reply | None:
    """A server that answers 304 to any conditional request it sees, on every path, whatever
    the validators say; other requests get the route's answer with a Last-Modified."""
    conditional = {"if-none-match", "if-modified-since"} & {name.lower() for name in req.headers}
    if conditional:
        return Reply(304, b"", headers=(("Last-Modified", LAST_MODIFIED),))
    reply = routed(req, path)
    if reply is None or reply.status != 200 or any(
            name.lower() == "last-modified" for name, _ in reply.headers):
        return reply
    return Reply(reply.status, reply.body, reply.ctype,
                 reply.headers + (("Last-Modified", LAST_MODIFIED),))


def routed(req, path) -> Reply | None:
    for pattern, route in ROUTES:
        match = pattern.fullmatch(path)
        if match:
            return route(req, *match.groups())
    return not_found(req)


# --- server -----------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive

    def __getattr__(self, name):
        if name.startswith("do_"):  # any method: GET, HEAD, POST, PURGE, ...
            return self._serve
        raise AttributeError(name)

    def log_message(self, format, *args):
        pass

    def _serve(self):
        self.target = self.requestline.split()[1]  # self.path may be normalised
        self._discard_body()
        host = self.headers.get("Host", "")
        self.nth = self.server.record(self, host)
        with self.server.in_flight(host):
            reply = dispatch(self)
            if reply is not None:
                self._send(reply)
            self.wfile.flush()

    def _discard_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)

    def _send(self, reply: Reply):
        self.send_response(reply.status, reason(reply.status))
        for name, value in reply.headers:
            self.send_header(name, value)
        if has_body(reply.status):
            self.send_header("Content-Type", reply.ctype)
            self.send_header("Content-Length", str(len(reply.body)))
        self.close_connection |= reply.status < 200  # no final response follows
        self.end_headers()
        if self.command != "HEAD" and has_body(reply.status):
            self._write(reply.body)

    def _write(self, body: bytes):
        view = memoryview(body)
        for start in range(0, len(view), WRITE_CHUNK):
            self.wfile.write(view[start : start + WRITE_CHUNK])


def _kill(conn: socket.socket):
    with contextlib.suppress(OSError):  # the plain socket method: wakes a blocked reader, also under TLS
        socket.socket.shutdown(conn, socket.SHUT_RDWR)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = True  # server_close() joins handlers; stop() unblocks them first

    def __init__(self, host: str, tls: ssl.SSLContext | None):
        self.address_family = _family(host)
        self.tls = tls
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)  # notified on every request
        self.log: list[RequestLog] = []
        self.counts: Counter[str] = Counter()
        self.current: Counter[str | None] = Counter()
        self.peak: Counter[str | None] = Counter()
        self.conns: set[socket.socket] = set()
        self.pages: dict[str, bytes] = {}  # /page/<name> bodies, set by tests
        self.cdx: dict = {}  # how /cdx/search/cdx answers: {"mode": ..., "timestamps": [...]}
        self.gates: dict[str, threading.Event] = {}
        self.moves: dict[str, str] = {}  # path -> where it moved (301), set by tests
        self.careless = False  # 304 to any conditional request (set by tests)
        self.buckets: dict[str, tuple[float, float]] = {}  # /limited: name -> (tokens, at)
        self.lockouts: dict[str, tuple[list[float], float]] = {}  # /lockout: (recent, until)
        self.hung = 0  # /hang-first requests so far
        super().__init__((host, 0), _Handler)

    def take_token(self, name: str, rate: float, burst: int) -> float:
        """0 when a token of bucket `name` was taken, else the seconds until one is due."""
        with self.lock:
            now = time.monotonic()
            tokens, at = self.buckets.get(name, (float(burst), now))
            tokens = min(float(burst), tokens + (now - at) * rate)
            if tokens >= 1:
                self.buckets[name] = (tokens - 1, now)
                return 0.0
            self.buckets[name] = (tokens, now)
            return (1 - tokens) / rate

    def locked_out(self, name: str, rate: int, seconds: float) -> bool:
        """Count a request against lockout `name`; True while the client is locked out."""
        with self.lock:
            now = time.monotonic()
            recent, until = self.lockouts.get(name, ([], 0.0))
            recent = [t for t in recent if now - t < 1.0] + [now]
            if now >= until and len(recent) > rate:
                until = now + seconds
            self.lockouts[name] = (recent, until)
            return now < until

    def take_hang(self, count: int) -> bool:
        with self.lock:
            self.hung += 1
            return self.hung <= count

    def gate(self, name: str) -> threading.Event:
        with self.lock:
            return self.gates.setdefault(name, threading.Event())

    def server_bind(self):  # skip HTTPServer's reverse DNS lookup
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def finish_request(self, sock, client_address):
        """Runs in the connection's own thread, so a slow TLS handshake blocks nobody."""
        conn = self._adopt(None, sock)
        try:
            if self.tls:
                conn = self._adopt(sock, self._handshake(sock))
            self.RequestHandlerClass(conn, client_address, self)
        except OSError:
            pass  # failed handshake or vanished client: only this connection is lost
        finally:
            self._adopt(conn, None)
            self.shutdown_request(conn)

    def _handshake(self, sock) -> ssl.SSLSocket:
        sock.settimeout(HANDSHAKE_TIMEOUT)
        conn = self.tls.wrap_socket(sock, server_side=True)
        conn.settimeout(None)
        return conn

    def _adopt(self, old, new):
        with self.lock:
            self.conns.discard(old)
            if new is not None:
                self.conns.add(new)
                if self.stopping.is_set():
                    _kill(new)
        return new

    def record(self, req, host: str) -> int:
        """Log a request; return how many requests this exact target has had, this one included."""
        headers = {name.lower(): value for name, value in req.headers.items()}
        entry = RequestLog(req.command, req.target, host, headers, time.monotonic())
        with self.lock:
            self.log.append(entry)
            self.counts[entry.target] += 1
            self.arrived.notify_all()
            return self.counts[entry.target]

    @contextmanager
    def in_flight(self, host: str):
        self._bump(host, +1)
        try:
            yield
        finally:
            self._bump(host, -1)

    def _bump(self, host: str, delta: int):
        with self.lock:
            for key in (host, None):  # None: all hosts together
                self.current[key] += delta
                self.peak[key] = max(self.peak[key], self.current[key])

    def close(self):
        with self.lock:
            self.stopping.set()  # releases /hang and /slow
            for conn in self.conns:
                _kill(conn)  # releases handlers waiting on idle keep-alive connections
        self.shutdown()
        self.server_close()


class Web:
    """The test server, started on a free port by the constructor; stopped by stop() or on leaving `with`."""

    def __init__(self, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None):
        self.host = host
        self.scheme = "https" if tls else "http"
        self._server = _Server(host, tls)
        self.port = self._server.server_address[1]
        self._stop_lock = threading.Lock()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"web:{self.port}", daemon=True
        )
        self._thread.start()

    @property
    def base(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def url(self, target: str = "/") -> str:
        return self.base + target

    @property
    def requests(self) -> list[RequestLog]:
        with self._server.lock:
            return list(self._server.log)

    @property
    def pages(self) -> dict[str, bytes]:
        """Bodies served at /page/<name> (with ETag; 304 to a matching If-None-Match)."""
        return self._server.pages

    @property
    def moves(self) -> dict[str, str]:
        """Paths that answer 301 to a new location (path -> Location), before any route."""
        return self._server.moves

    def answer_any_conditional_with_304(self, on: bool = True) -> None:
        """Answer every If-None-Match / If-Modified-Since with 304, on every path, whatever
        the validators (as some servers and CDNs do); give 200 answers a Last-Modified."""
        self._server.careless = on

    @property
    def cdx(self) -> dict:
        """How the fake CDX API answers: mode "captures" (default), "429" or "500"; "timestamps"."""
        return self._server.cdx

    def open_gate(self, name: str) -> None:
        """Let the requests waiting at /gate/<name> (and later ones) be answered."""
        self._server.gate(name).set()

    def wait_for_requests(self, count: int, timeout: float = 60) -> bool:
        """Block until the server has seen `count` requests in all (an event, not a sleep)."""
        with self._server.arrived:
            return self._server.arrived.wait_for(lambda: len(self._server.log) >= count, timeout)

    def hits(self, target: str) -> int:
        with self._server.lock:
            return self._server.counts[target]

    def max_concurrent(self, host_header: str | None = None) -> int:
        with self._server.lock:
            return self._server.peak[host_header]

    def stop(self):
        with self._stop_lock:
            if not self._server.stopping.is_set():
                self._server.close()
                self._thread.join()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info):
        self.stop()
