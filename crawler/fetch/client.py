"""A lean HTTP/1.1 client for the download handler: Scrapy's responses, less work per request.

Scrapy's HTTP/1.1 handler sends each request through Twisted's ``Agent``: an agent, an
endpoint and a TLS policy lookup, a pooled-connection lookup, a request writer, a parser
fed line by line, a response object and a body reader, joined by a dozen Deferreds. A link
checker sends tens of thousands of small requests, and that machinery was the largest
share of a checking crawl's CPU (``bench.check_bench --profile``). Here one protocol
object per connection does the same exchange:

* it connects to an address that the private-address guard has vetted, so the name is not
  looked up a second time (an answer that changed in between cannot lead elsewhere); the
  address it dials is put in ``request.meta["linkhealth_address"]`` (the TLS diagnosis
  connects there too);
* connections are kept alive: at most ``max_idle`` idle ones per host, and at most
  ``max_idle_total`` in all (``idle_bound``: a site linking thousands of hosts once each
  must not run the process out of file descriptors), closed after ``IDLE_TIMEOUT``
  seconds unused, the least recently used first when the total is reached. A request
  that fails on a reused connection before any byte of its answer arrived (the server
  had closed it) is sent once more on a new one;
* the request and the answer are read as ``crawler/fetch/message.py`` says, which follows
  Scrapy's lenient parser, and the request target is written byte-exact; a
  ``Transfer-Encoding`` list frames and decodes the body as ``crawler/fetch/transfer_codings.py``
  says (RFC 9112), where Scrapy's client reads its first line only;
* a ``101 Switching Protocols`` ends the exchange at once, as a failure: nothing here asks
  to switch (no ``Upgrade``), so no HTTP answer follows it. Twisted's parser, and so
  Scrapy's client, skips it as an interim answer and waits for one until the timeout;
* Scrapy's downloader gets the same ``Response`` as from Scrapy's handler: headers
  (``Content-Length`` set from the length the body was framed with), body, flags
  ``partial``, ``dataloss`` and ``download_stopped``, ``ip_address``, ``certificate`` and
  ``protocol``; the same signals are sent (``headers_received``, ``bytes_received``) and
  their handlers may stop the download; ``download_maxsize``, ``download_warnsize``,
  ``download_fail_on_dataloss`` and ``download_timeout`` work the same;
* failures are the same exceptions: ``ResponseNeverReceived`` or ``ResponseFailed``
  wrapping the reason, Twisted's connection errors, ``DownloadTimeoutError``, so retries
  and the classifier see no difference.

Requests through a proxy or from a bound local address are not handled here: the download
handler gives them to Scrapy's client.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import resource
import time
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urldefrag

from scrapy import signals
from scrapy.exceptions import (
    DownloadCancelledError,
    DownloadTimeoutError,
    ResponseDataLossError,
)
from scrapy.http import Headers
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet import ssl
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectError, NotConnectingError
from twisted.internet.interfaces import ITCPTransport
from twisted.internet.protocol import ClientFactory, Protocol, connectionDone
from twisted.internet.task import LoopingCall
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python.failure import Failure
from twisted.web.iweb import UNKNOWN_LENGTH

from crawler.core.compat import (
    ResponseFailed,
    ResponseNeverReceived,
    check_stop_download,
    get_maxsize_msg,
    get_warnsize_msg,
    make_response,
)
from crawler.core.urls import DEFAULT_PORTS
from crawler.fetch import message
from crawler.fetch.transfer_codings import BadCoding, TransferDecoder, transfer_codings

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from twisted.web.iweb import IPolicyForHTTPS

logger = logging.getLogger(__name__)

IDLE_TIMEOUT = 240.0  # seconds an unused connection stays open (Twisted's pool: 240)
SWEEP_EVERY = 30.0
DEFAULT_TIMEOUT = 10.0  # seconds, when a request has no download_timeout (Scrapy's value)
IDLE_PER_REQUEST = 32  # idle connections kept, at most, per request the crawl runs at once
FD_RESERVE = 256  # file descriptors left for all but connections: SQLite, logs, files, DNS
REPLAYABLE = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "DELETE", "PUT"})

# How far an answer has come.
HEAD, BODY_SIZED, BODY_CHUNKED, BODY_TO_CLOSE, FINISHED = range(5)


class LeanHTTPClient:
    def __init__(self, crawler: Crawler, tls_policy: IPolicyForHTTPS, max_idle: int,
                 max_idle_total: int):
        from twisted.internet import reactor

        self.reactor = reactor
        self.crawler = crawler
        self.max_idle = max_idle
        self.max_idle_total = max_idle_total
        self.maxsize = crawler.settings.getint("DOWNLOAD_MAXSIZE")
        self.warnsize = crawler.settings.getint("DOWNLOAD_WARNSIZE")
        self.fail_on_dataloss = crawler.settings.getbool("DOWNLOAD_FAIL_ON_DATALOSS")
        self.tls_options = tls_policy.creatorForNetloc  # made once per host (crawler.fetch.tls)
        self.idle: dict[tuple[str, str, int], list[Connection]] = {}
        self.lru: dict[Connection, None] = {}  # every idle connection, least recently used first
        self.sweeper = LoopingCall(self.close_idle, IDLE_TIMEOUT)
        self.sweeper.clock = reactor

    @classmethod
    def from_crawler(cls, crawler: Crawler, tls_policy: IPolicyForHTTPS) -> LeanHTTPClient:
        settings = crawler.settings
        total = idle_bound(settings.getint("CONCURRENT_REQUESTS"),
                           resource.getrlimit(resource.RLIMIT_NOFILE)[0])
        return cls(crawler, tls_policy, settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN"), total)

    def fetch(self, request: Request, addresses: list[str]) -> Deferred[Response]:
        """The response to ``request``, sent to the first of ``addresses`` that accepts."""
        exchange = Exchange(self, request, addresses)
        exchange.start()
        return exchange.result

    # The pool of idle connections.

    def take(self, key: tuple[str, str, int]) -> Connection | None:
        idle = self.idle.get(key)
        while idle:
            connection = idle.pop()  # the most recently used is the least likely closed
            del self.lru[connection]
            if connection.open:
                return connection
        return None

    def put_back(self, connection: Connection) -> None:
        idle = self.idle.setdefault(connection.key, [])
        if len(idle) >= self.max_idle or not self.max_idle_total:
            connection.close()
            return
        if len(self.lru) >= self.max_idle_total:
            next(iter(self.lru)).close()  # the least recently used makes room
            self.crawler.stats.inc_value("linkhealth/http/idle_evicted")
        connection.idle_since = time.monotonic()
        idle.append(connection)
        self.lru[connection] = None
        if not self.sweeper.running:
            self.sweeper.start(SWEEP_EVERY, now=False)

    def forget(self, connection: Connection) -> None:
        if connection in self.lru:
            del self.lru[connection]
            self.idle[connection.key].remove(connection)

    def close_idle(self, older_than: float = 0.0) -> None:
        limit = time.monotonic() - older_than
        for connection in list(self.lru):
            if connection.idle_since > limit:
                break
            connection.close()
        for key in [key for key, idle in self.idle.items() if not idle]:
            del self.idle[key]

    def close(self) -> None:
        if self.sweeper.running:
            self.sweeper.stop()
        self.close_idle()


class Connection(Protocol):
    """One connection to one host; it carries one exchange at a time."""

    transport: ITCPTransport | None  # TCP, or TLS over it (an ITLSTransport)

    def __init__(self, key: tuple[str, str, int], address: str, client: LeanHTTPClient):
        self.key = key
        self.address = address
        self.client = client
        self.exchange: Exchange | None = None
        self.open = False
        self.idle_since = 0.0
        self.ip = ip_or_none(address)

    def connectionMade(self) -> None:
        self.open = True
        exchange = self.exchange
        if exchange is not None:
            exchange.connected(self)

    def dataReceived(self, data: bytes) -> None:
        if self.exchange is None:  # bytes nobody asked for: the connection can't be trusted
            self.close()
            return
        self.exchange.data_received(data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.open = False
        self.client.forget(self)
        exchange, self.exchange = self.exchange, None
        if exchange is not None:
            exchange.connection_lost(reason)

    def connect_failed(self, reason: Failure) -> None:
        exchange, self.exchange = self.exchange, None
        if exchange is not None:
            exchange.connect_failed(reason)

    def close(self, abort: bool = False) -> None:
        self.open = False
        self.client.forget(self)
        if self.transport is not None:
            if abort:
                self.transport.abortConnection()
            else:
                self.transport.loseConnection()

    def certificate(self) -> ssl.Certificate | None:
        peer_certificate = getattr(self.transport, "getPeerCertificate", None)
        if peer_certificate is None:  # not TLS (Scrapy's handler tells it the same way)
            return None
        return ssl.Certificate(peer_certificate())


class _Dial(ClientFactory):
    noisy = False

    def __init__(self, connection: Connection):
        self.connection = connection

    def buildProtocol(self, addr: Any) -> Connection:
        return self.connection

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        self.connection.connect_failed(reason)


class Exchange:
    """One request and its answer, from the connection to the Response."""

    __slots__ = (
        "addresses", "answered", "body", "buffer", "certificate", "chunks", "client",
        "connection", "connector", "data", "decoder", "dialling", "headers", "hostname",
        "ip_address", "key", "left", "maxsize", "phase", "port", "reached_warnsize",
        "received", "replayed", "request", "result", "reusable", "reused", "scanned",
        "started", "status", "status_end", "timeout", "timer", "tls", "url", "version",
        "warnsize",
    )

    def __init__(self, client: LeanHTTPClient, request: Request, addresses: list[str]):
        self.client = client
        self.request = request
        self.addresses = addresses
        self.url = urldefrag(request.url)[0] if "#" in request.url else request.url
        scheme, _, target = message.split_url(request.url)
        parsed = urlparse_cached(request)
        hostname = parsed.hostname or ""
        self.port = parsed.port or DEFAULT_PORTS.get(scheme, 80)
        self.tls = scheme == "https"
        self.hostname = hostname
        self.key = (scheme, hostname, self.port)
        self.data = message.request_bytes(
            request, target, message.host_header(scheme, hostname, self.port))
        self.timeout = request.meta.get("download_timeout") or DEFAULT_TIMEOUT
        self.result: Deferred[Response] = Deferred(self._cancelled)
        self.connection: Connection | None = None
        self.connector: Any = None
        self.dialling = 0  # which of the addresses
        self.version: tuple[bytes, int, int] = (b"HTTP", 1, 1)
        self.status = 0
        self.headers: Headers | None = None
        self.certificate: ssl.Certificate | None = None
        self.ip_address: Any = None
        self.reused = False
        self.replayed = False
        self.answered = False  # any byte of the answer has come
        self.phase = HEAD
        self.buffer = bytearray()
        self.scanned = 0
        self.status_end = -1
        self.body: list[bytes] = []
        self.received = 0
        self.left = 0
        self.chunks: message.ChunkedBody | None = None
        self.decoder: TransferDecoder | None = None
        self.reusable = False
        self.reached_warnsize = False
        self.maxsize = request.meta.get("download_maxsize", client.maxsize)
        self.warnsize = request.meta.get("download_warnsize", client.warnsize)
        self.started = time.monotonic()
        self.timer = client.reactor.callLater(self.timeout, self._timed_out)

    # Getting a connection.

    def start(self) -> None:
        connection = self.client.take(self.key)
        if connection is None:
            self._dial(0)
        else:
            self.reused = True
            connection.exchange = self
            self.connected(connection)

    def _dial(self, index: int) -> None:
        address = self.addresses[index]
        self.request.meta["linkhealth_address"] = address  # for the TLS diagnosis
        connection = Connection(self.key, address, self.client)
        connection.exchange = self
        self.dialling = index
        factory: Any = _Dial(connection)
        if self.tls:
            options = self.client.tls_options(self.hostname.encode("ascii"), self.port)
            factory = TLSMemoryBIOFactory(options, True, factory)
        self.connector = self.client.reactor.connectTCP(
            address, self.port, factory, timeout=self.timeout + 1)

    def connect_failed(self, reason: Failure) -> None:
        self.connector = None
        if self.result.called:
            return
        if self.dialling + 1 < len(self.addresses) and reason.check(ConnectError):
            self._dial(self.dialling + 1)
            return
        self._fail(reason)

    def connected(self, connection: Connection) -> None:
        self.connector = None
        if self.result.called:  # timed out or cancelled while connecting: keep it for another
            connection.exchange = None
            self.client.put_back(connection)
            return
        self.connection = connection
        assert connection.transport is not None  # connected: Twisted has set it
        connection.transport.write(self.data)

    # Reading the answer.

    def data_received(self, data: bytes) -> None:
        self.answered = True
        try:
            if self.phase == HEAD:
                self._read_head(data)
            else:
                self._read_body(data)
        except Exception:  # noqa: BLE001 (any error reading the answer fails this request only)
            self._give_up(Failure())

    def _read_head(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        while self.phase == HEAD:
            if self.status_end < 0:
                self.status_end = buffer.find(b"\n")
                if self.status_end < 0:
                    message.check_unfinished_head(buffer)
                    return
                self.version, self.status = message.parse_status(
                    bytes(buffer[:self.status_end]).removesuffix(b"\r"))
                self.scanned = self.status_end
            ends = message.head_end(buffer, self.scanned)
            if ends is None:
                message.check_unfinished_head(buffer)
                self.scanned = max(self.status_end, len(buffer) - 2)
                return
            last, body_start = ends
            block = bytes(buffer[self.status_end + 1:last])
            rest = bytes(buffer[body_start:])
            if 100 <= self.status < 200:  # an interim answer (100, 102, 103): the real one follows
                if self.status == message.SWITCHING_PROTOCOLS:
                    raise message.ProtocolSwitched(
                        "server switched protocols (101) without being asked")
                buffer.clear()
                self.status_end = -1
                buffer += rest
                continue
            head_request = self.request.method == "HEAD"
            entity, control = message.parse_headers(block, head_request)
            self._headers_complete(entity, control, head_request, rest)

    def _headers_complete(self, entity: dict[bytes, list[bytes]],
                          control: dict[bytes, list[bytes]], head_request: bool,
                          rest: bytes) -> None:
        request = self.request
        self.buffer = bytearray()
        self.reusable = message.keeps_alive(self.version, control.get(b"connection"))
        length: int | None
        if self.status in message.NO_BODY_STATUSES or head_request:
            length, self.phase = 0, FINISHED
        elif b"transfer-encoding" in control:  # it overrides any Content-Length
            framed, codings = transfer_codings(control[b"transfer-encoding"])
            if codings:
                self.decoder = TransferDecoder(codings)
            if b"content-length" in control:  # both: the connection is not to be trusted
                self.reusable = False
            length = None
            if framed:
                self.phase, self.chunks = BODY_CHUNKED, message.ChunkedBody()
            else:  # chunked is not the final coding: the body ends when the connection does
                self.phase, self.reusable = BODY_TO_CLOSE, False
        else:
            length = message.content_length(control.get(b"content-length", []))
            if length is None:
                self.phase, self.reusable = BODY_TO_CLOSE, False
            elif length == 0:
                self.phase = FINISHED
            else:
                self.phase, self.left = BODY_SIZED, length
        # Scrapy's Headers is a dict of Title-Case names to lists of values: filled directly.
        headers = Headers()
        if length is not None:
            dict.__setitem__(headers, b"Content-Length", [str(length).encode("ascii")])
        dict.update(headers, entity)
        self.headers = headers
        connection = self.connection
        if connection is not None:
            self.ip_address = connection.ip
            if self.tls:
                self.certificate = connection.certificate()
        request.meta["download_latency"] = time.monotonic() - self.started
        stop = check_stop_download(signals.headers_received, self.client.crawler, request,
                                   headers=headers,
                                   body_length=UNKNOWN_LENGTH if length is None else length)
        if stop is not None:
            self._finish(stop_download=stop, close=True)
            return
        if self.phase == FINISHED:
            self._finish(close=bool(rest))
            return
        if length is not None and self._over_maxsize(length, expected=True):
            return
        if length is not None and self.warnsize and length > self.warnsize:
            self.reached_warnsize = True
            logger.warning(get_warnsize_msg(length, self.warnsize, request, expected=True))
        if rest:
            self._read_body(rest)

    def _read_body(self, data: bytes) -> None:
        phase = self.phase
        if phase == BODY_SIZED:
            if len(data) >= self.left:
                data, extra = data[:self.left], data[self.left:]
                self.left = 0
                if extra:
                    self.reusable = False
            else:
                self.left -= len(data)
            if self._deliver(data) and self.left == 0:
                self._finish()
        elif phase == BODY_CHUNKED:
            chunks = self.chunks
            assert chunks is not None  # set with the phase
            deliver = self._deliver if self.decoder is None else self._decode
            for piece in chunks.feed(data):
                if not deliver(piece):
                    return
            if chunks.error is not None:
                self.reusable = False
                self._data_lost(Failure(chunks.error))
                return
            if chunks.done:
                if chunks.rest:
                    self.reusable = False
                self._end_of_body()
        elif phase == BODY_TO_CLOSE:
            if self.decoder is None:
                self._deliver(data)
            else:
                self._decode(data)
        else:  # bytes after a finished answer: nobody asked for them
            self.reusable = False

    def _decode(self, data: bytes) -> bool:
        """Undo the transfer codings of a piece of the body and keep what comes out, a
        piece at a time: a cap that ends the download ends the decoding too."""
        assert self.decoder is not None  # _decode is chosen when there is a decoder
        try:
            for piece in self.decoder.feed(data):
                if not self._deliver(piece):
                    return False
        except BadCoding as exc:
            self.reusable = False
            self._data_lost(Failure(exc))
            return False
        return True

    def _end_of_body(self, flags: list[str] | None = None) -> None:
        """The framing says the body is over: is the transfer coding, too?"""
        if self.decoder is not None and not self.decoder.complete:
            self.reusable = False
            self._data_lost(Failure(BadCoding("the body ends before its transfer coding does")))
            return
        self._finish(flags=flags)

    def _deliver(self, data: bytes) -> bool:
        """Keep a piece of the body; False when the download ended with it."""
        if not data:
            return True
        self.body.append(data)
        self.received += len(data)
        stop = check_stop_download(signals.bytes_received, self.client.crawler, self.request,
                                   data=data)
        if stop is not None:
            self._finish(stop_download=stop, close=True)
            return False
        if self._over_maxsize(self.received, expected=False):
            return False
        if self.warnsize and self.received > self.warnsize and not self.reached_warnsize:
            self.reached_warnsize = True
            logger.warning(get_warnsize_msg(self.received, self.warnsize, self.request,
                                            expected=False))
        return True

    def _over_maxsize(self, size: int, expected: bool) -> bool:
        if not self.maxsize or size <= self.maxsize:
            return False
        text = get_maxsize_msg(size, self.maxsize, self.request, expected=expected)
        logger.warning(text)
        self.body = []
        self._fail(Failure(DownloadCancelledError(text)), abort=True)
        return True

    # Endings.

    def connection_lost(self, reason: Failure) -> None:
        self.connection = None
        if self.result.called:
            return
        if self.phase == BODY_TO_CLOSE:
            self._end_of_body(flags=["partial"])
        elif self.phase in (BODY_SIZED, BODY_CHUNKED):
            self._data_lost(reason)
        elif self.answered:
            self._fail(Failure(ResponseFailed([reason])))
        elif self.reused and not self.replayed and self.request.method in REPLAYABLE:
            self.replayed, self.reused = True, False  # the server had closed it: a new one
            self._dial(0)
        else:
            self._fail(Failure(ResponseNeverReceived([reason])))

    def _data_lost(self, reason: Failure) -> None:
        if not self.request.meta.get("download_fail_on_dataloss", self.client.fail_on_dataloss):
            self._finish(flags=["dataloss"])
            return
        error = ResponseDataLossError()
        error.__cause__ = ResponseFailed([reason])
        self._fail(Failure(error))

    def _finish(self, flags: list[str] | None = None, stop_download: Any = None,
                close: bool = False) -> None:
        body, headers = b"".join(self.body), self.headers
        assert headers is not None  # an answer ends after its head
        self._release(keep=self.reusable and not close)
        protocol, major, minor = self.version
        try:
            response = make_response(
                url=self.url, status=self.status, headers=headers, body=body,
                flags=flags, certificate=self.certificate, ip_address=self.ip_address,
                protocol=f"{protocol.decode('latin-1')}/{major}.{minor}",
                stop_download=stop_download)
        except Exception:  # noqa: BLE001 (StopDownload(fail=True), or a Response that cannot be made)
            self.result.errback(Failure())
            return
        self.result.callback(response)

    def _give_up(self, reason: Failure) -> None:
        """The answer cannot be read: fail the request and drop the connection."""
        if self.result.called:
            return
        self._fail(Failure(ResponseFailed([reason])), abort=True)

    def _fail(self, reason: Failure, abort: bool = False) -> None:
        self._release(abort=abort)
        if not self.result.called:
            self.result.errback(reason)

    def _release(self, keep: bool = False, abort: bool = False) -> None:
        """The exchange is over: no timer; the connection back to the pool (``keep``) or closed.

        What the answer filled is dropped here: the exchange and its Deferred refer to each
        other (the Deferred's canceller), so they wait for the cyclic GC, which runs seldom
        (``crawler/run/gc_tuning.py``); bodies must not wait with them.
        """
        if self.timer.active():
            self.timer.cancel()
        self.phase = FINISHED
        self.body, self.headers, self.buffer, self.chunks = [], None, bytearray(), None
        self.decoder = None
        connection, self.connection = self.connection, None
        if connection is None:
            return
        connection.exchange = None
        if keep:
            self.client.put_back(connection)
        else:
            connection.close(abort=abort)

    def _timed_out(self) -> None:
        self._stop_connecting()
        self._fail(Failure(DownloadTimeoutError(
            f"Getting {self.url} took longer than {self.timeout} seconds.")), abort=True)

    def _cancelled(self, result: Deferred[Response]) -> None:
        self._stop_connecting()
        self._release(abort=True)

    def _stop_connecting(self) -> None:
        connector, self.connector = self.connector, None
        if connector is not None:
            with contextlib.suppress(NotConnectingError):
                connector.stopConnecting()


def idle_bound(concurrency: int, nofile: int) -> int:
    """Idle connections kept in all: ``IDLE_PER_REQUEST`` per request the crawl runs at
    once, within what the file-descriptor limit leaves once every request has its
    connection and ``FD_RESERVE`` is set aside (640 at 1,024 descriptors and 128 requests)."""
    if nofile == resource.RLIM_INFINITY:
        nofile = 1 << 30
    return max(0, min(IDLE_PER_REQUEST * concurrency, nofile - concurrency - FD_RESERVE))


@lru_cache(maxsize=4096)
def ip_or_none(address: str) -> Any:
    try:
        return ipaddress.ip_address(address)
    except ValueError:  # an IPv6 address with a zone
        return None
