"""The simulated internet's proxy: an asyncio HTTP proxy on loopback that answers everything itself.

* an absolute-form request (``GET http://host/path HTTP/1.1``) is answered by the ``World``;
* ``CONNECT host:443`` is answered ``200 Connection established`` and the proxy then speaks
  TLS itself, with a certificate for that host name issued on the fly by its own CA
  (``HostCertificates``; one per host, cached), and answers the requests inside the tunnel;
* a host that does not resolve or refuses connections gets ``502 Bad Gateway``, to a
  request or to its CONNECT, as a real proxy answers when its DNS lookup or its
  connection failed; a host that hangs gets no answer at all; ``reset`` drops the
  connection.

It never connects anywhere. Connections are kept alive (HTTP/1.1), in the tunnels too.
Every request waits ``latency`` seconds first, and so does every CONNECT (the proxy's
connection to the origin). ``stats()`` counts what was served, with the process's CPU time.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
import time
from collections import Counter
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from urllib.parse import urlsplit

import trustme

from bench.sim_world import World

IDLE_TIMEOUT = 300.0  # seconds a kept-alive connection may wait for its next request
HEAD_LIMIT = 256 * 1024  # request line and headers (URLs reach 32 KiB in linkhealth)
HOST_CONTEXTS = 10_000  # TLS contexts cached (one per host)
REASONS = {200: "OK", 301: "Moved Permanently", 302: "Found", 304: "Not Modified",
           307: "Temporary Redirect", 308: "Permanent Redirect", 400: "Bad Request",
           404: "Not Found", 405: "Method Not Allowed", 410: "Gone", 500: "Internal Server Error",
           501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable"}
GATEWAY_ERRORS = {  # host fate -> the text of a real proxy's 502 page
    "nxdomain": "DNS lookup failed: the name does not resolve",
    "refused": "Connection refused by the origin server",
}


@dataclass
class Request:
    method: str
    target: str
    version: str
    headers: dict[str, str]  # lower-cased names; the last of repeated ones


class HostCertificates:
    """A CA, and a server TLS context for each host name, issued the first time it is asked.

    The CA's certificate and key are kept in ``directory``; a CA found there is used again,
    so a crawl set up by hand (``LINKHEALTH_CA_BUNDLE``) survives a restart of the proxy."""

    def __init__(self, directory: Path):
        directory.mkdir(parents=True, exist_ok=True)
        self.ca_path = directory / "sim-internet-ca.pem"
        key_path = directory / "sim-internet-ca.key"
        if self.ca_path.exists() and key_path.exists():
            self.ca = trustme.CA.from_pem(self.ca_path.read_bytes(), key_path.read_bytes())
        else:
            self.ca = trustme.CA(organization_name="linkhealth sim-internet")
            self.ca.private_key_pem.write_to_path(str(key_path))
            self.ca.cert_pem.write_to_path(str(self.ca_path))
        self.contexts: dict[str, ssl.SSLContext] = {}

    def context(self, host: str) -> ssl.SSLContext:
        context = self.contexts.get(host)
        if context is None:
            if len(self.contexts) >= HOST_CONTEXTS:
                self.contexts.pop(next(iter(self.contexts)))
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ca.issue_cert(host).configure_cert(context)
            self.contexts[host] = context
        return context


class SimProxy:
    def __init__(self, world: World, certificates: HostCertificates, latency_ms: float = 20.0):
        self.world, self.certificates = world, certificates
        self.latency = latency_ms / 1000
        self.server: asyncio.Server | None = None
        self.open: dict[asyncio.Task, asyncio.StreamWriter] = {}
        self.in_flight = 0
        self.reset()

    def reset(self) -> None:
        self.requests = self.connects = self.handshakes = self.handshake_failures = 0
        self.bytes_sent = self.max_in_flight = self.max_connections = 0
        self.statuses: Counter[int] = Counter()
        self.kinds: Counter[str] = Counter()
        self.hosts: Counter[str] = Counter()
        self.cpu_base = time.process_time()

    def stats(self) -> dict:
        return {"requests": self.requests, "connects": self.connects,
                "tls_handshakes": self.handshakes, "tls_handshake_failures": self.handshake_failures,
                "bytes_sent": self.bytes_sent, "max_in_flight": self.max_in_flight,
                "max_connections": self.max_connections, "hosts": len(self.hosts),
                "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
                "kinds": dict(self.kinds.most_common()),
                "cpu_seconds": round(time.process_time() - self.cpu_base, 3)}

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self.server = await asyncio.start_server(self.connection, host, port, backlog=1024,
                                                 limit=HEAD_LIMIT)
        return f"http://{host}:{self.server.sockets[0].getsockname()[1]}"

    async def close(self) -> None:
        """Stop listening and end every open connection (hung ones included)."""
        if self.server is not None:
            self.server.close()
        for writer in list(self.open.values()):
            writer.transport.abort()
        if self.open:
            await asyncio.wait(list(self.open), timeout=5)

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None  # each connection runs in a task of its own
        self.open[task] = writer
        self.max_connections = max(self.max_connections, len(self.open))
        try:
            request = await read_request(reader, timeout=IDLE_TIMEOUT)
            if request is None:
                return
            if request.method == "CONNECT":
                await self.tunnel(request, reader, writer)
            else:
                await self.serve(request, reader, writer, origin=None)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            pass  # the client went away: so does this connection
        finally:
            self.open.pop(task, None)
            writer.close()

    async def tunnel(self, request: Request, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        """``CONNECT host:port``: refuse it as the host's fate says, or speak TLS as that host."""
        self.connects += 1
        host, _, port = request.target.rpartition(":")
        host = host.strip("[]").lower()
        if not host or not port.isdigit():
            await self.send(writer, "CONNECT", 400, [], b"CONNECT host:port\n", keep=False)
            return
        await self.wait_latency()
        if not await self.host_is_up(host, "CONNECT", writer, reader):
            return
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        try:
            await writer.start_tls(self.certificates.context(host), ssl_handshake_timeout=30)
        except (ssl.SSLError, ConnectionError, TimeoutError):
            self.handshake_failures += 1  # the client refused the certificate, or left
            return
        self.handshakes += 1
        origin = f"https://{host}" + ("" if port == "443" else f":{port}")
        tunnelled = await read_request(reader, timeout=IDLE_TIMEOUT)
        if tunnelled is not None:
            await self.serve(tunnelled, reader, writer, origin)

    async def serve(self, request: Request | None, reader: asyncio.StreamReader,
                    writer: asyncio.StreamWriter, origin: str | None) -> None:
        """Answer requests on one connection until it closes: in the tunnel to ``origin``, or
        as a proxy (absolute-form targets) when ``origin`` is None."""
        while request is not None:
            if not await self.answer(request, reader, writer, origin):
                return
            request = await read_request(reader, timeout=IDLE_TIMEOUT)

    async def answer(self, request: Request, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter, origin: str | None) -> bool:
        """Answer one request; return whether the connection stays open."""
        self.requests += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            keep = _keep_alive(request)
            if not await _discard_body(request, reader):
                return await self.send(writer, request.method, 501, [], b"no chunked bodies\n", False)
            url = _absolute(request.target, origin)
            if url is None:
                return await self.send(writer, request.method, 400, [],
                                       b"absolute-form request or CONNECT expected\n", False)
            await self.wait_latency()
            host = urlsplit(url).hostname or ""
            self.hosts[host] += 1
            if origin is None and not await self.host_is_up(host, request.method, writer, reader):
                return False
            if request.method not in ("GET", "HEAD"):
                return await self.send(writer, request.method, 405, [("Allow", "GET, HEAD")], b"", keep)
            answer = self.world.answer(url, request.headers)
            self.kinds[answer.kind] += 1
            if answer.action is not None:
                await self.act(answer.action, reader, writer)
                return False
            return await self.send(writer, request.method, answer.status, answer.headers,
                                   answer.body, keep)
        finally:
            self.in_flight -= 1

    async def host_is_up(self, host: str, method: str, writer: asyncio.StreamWriter,
                         reader: asyncio.StreamReader) -> bool:
        """False, once the host's fate was answered: a 502 page, no answer, or a dropped line.
        A host whose fate is an HTTP status is up: its URLs answer that status."""
        fate = self.world.host_fate(host)
        if fate is None or fate.isdigit():
            return True
        self.kinds[f"dead host: {fate}"] += 1
        if fate in GATEWAY_ERRORS:
            page = (f"<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway"
                    f"</h1><p>{host}: {GATEWAY_ERRORS[fate]}</p></body></html>\n").encode()
            await self.send(writer, method, 502, [("Content-Type", "text/html")], page, False)
        else:
            await self.act(fate, reader, writer)
        return False

    async def act(self, action: str, reader: asyncio.StreamReader,
                  writer: asyncio.StreamWriter) -> None:
        if action == "reset":
            _reset(writer)
            return
        while await reader.read(65536):  # "hang": never answer; wait until the client leaves
            pass

    async def wait_latency(self) -> None:
        if self.latency:
            await asyncio.sleep(self.latency)

    async def send(self, writer: asyncio.StreamWriter, method: str, status: int,
                   headers: list[tuple[str, str]], body: bytes, keep: bool) -> bool:
        self.statuses[status] += 1
        lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}", f"Date: {_date()}",
                 "Server: sim-internet", *(f"{name}: {value}" for name, value in headers)]
        if status != 304:
            lines.append(f"Content-Length: {len(body)}")
        lines.append(f"Connection: {'keep-alive' if keep else 'close'}")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if method != "HEAD" and status != 304:
            data += body
        writer.write(data)
        await writer.drain()
        self.bytes_sent += len(data)
        return keep


def _reset(writer: asyncio.StreamWriter) -> None:
    """Drop the connection with a TCP reset (SO_LINGER 0), as a crashed server's kernel does."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def read_request(reader: asyncio.StreamReader, timeout: float) -> Request | None:
    """The next request's head, or None at the end of the connection (or a bad head)."""
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError,
            ConnectionError, ssl.SSLError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        return None
    headers = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    return Request(parts[0].upper(), parts[1], parts[2], headers)


def _absolute(target: str, origin: str | None) -> str | None:
    """The URL asked for: absolute-form as is; origin-form only inside a tunnel."""
    if target.startswith(("http://", "https://")):
        return target
    if origin is not None and target.startswith("/"):
        return origin + target
    return None


def _keep_alive(request: Request) -> bool:
    tokens = request.headers.get("connection", "") + "," + request.headers.get("proxy-connection", "")
    tokens = tokens.lower()
    if "close" in tokens:
        return False
    return request.version == "HTTP/1.1" or "keep-alive" in tokens


async def _discard_body(request: Request, reader: asyncio.StreamReader) -> bool:
    """Read a request body with a Content-Length away; False for a chunked one."""
    if "transfer-encoding" in request.headers:
        return False
    length = request.headers.get("content-length", "0")
    if length.isdigit() and int(length):
        await reader.readexactly(int(length))
    return True


_DATE: list = [0, ""]


def _date() -> str:
    """The Date header, formatted once a second."""
    now = int(time.time())
    if _DATE[0] != now:
        _DATE[:] = [now, formatdate(now, usegmt=True)]
    return _DATE[1]

