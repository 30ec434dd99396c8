"""A simulated web on loopback: one asyncio process, one port on each of many addresses.

    python -m bench.simweb --hosts 20 --base-port 0 --latency-ms 20 --page-kb 50 --image-kb 100

Host ``i`` is ``http://127.0.0.{i+2}:PORT`` (each address bound explicitly, the same
port on all; ``--base-port 0`` picks a port that is free on every address). A
minimal HTTP/1.1 server with keep-alive answers HEAD and GET on the paths of
``crawler.jobs.synthetic_site``:

    /a/<id>          200 text/html, ``--page-kb`` KB with a <title>
    /i/<id>.jpg      200 image/jpeg, ``--image-kb`` KB
    /gone/<id>[.jpg] 404
    /moved/<id>      301 -> /a/<id>     (/moved/<id>.jpg -> /i/<id>.jpg)
    /slow/<id>[.jpg] 200 like /a/ or /i/, after ``--slow-ms`` more
    /                200 a small home page

Every request waits ``--latency-ms`` first. ``--profile`` makes some hosts misbehave
(``HostBehaviour``: their own latency, hanging, rate limits, lockouts, down). Bodies are deterministic: one filler
per size, built once, and a small per-id part, so different URLs have different
bytes and the same URL always the same bytes. 200s carry a strong ``ETag`` (SHA-1
of the body) and a fixed ``Last-Modified``; ``If-None-Match`` / ``If-Modified-Since``
get 304.

Protocol on stdout/stdin: once listening it prints ``{"ready": true, "port": P, "hosts":
[...]}``. Each stdin line ``stats`` prints the counters as one JSON line, ``reset``
zeroes them (and prints them first). stdin EOF, SIGTERM or SIGINT print the final
counters (requests, bytes_sent, not_modified, max_concurrent_per_host, cpu_seconds...)
and exit. A request counts in the phase (from one ``reset`` to the next) it arrived in,
to its end (``Phase``). ``--max-seconds`` bounds the lifetime. ``SimWeb`` runs it from Python:

    with SimWeb(hosts=3, latency_ms=5) as web:
        web.hosts[0]          # "http://127.0.0.2:PORT"
    web.stats["requests"]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import html
import json
import math
import os
import random
import select
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from datetime import UTC, datetime
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

from crawler.jobs.synthetic_site import host_address

REPO = Path(__file__).resolve().parents[1]
LAST_MODIFIED = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
LAST_MODIFIED_HTTP = formatdate(LAST_MODIFIED.timestamp(), usegmt=True)
IDLE_TIMEOUT = 60.0  # seconds a keep-alive connection may wait for its next request
REASONS = {200: "OK", 301: "Moved Permanently", 304: "Not Modified", 404: "Not Found",
           405: "Method Not Allowed", 400: "Bad Request", 429: "Too Many Requests"}


def hangs_on(path: str, share: float) -> bool:
    """Whether a host that hangs on ``share`` of its paths hangs on this one (a fixed draw
    per path, so whoever knows the path knows the answer)."""
    return int.from_bytes(hashlib.sha1(path.encode()).digest()[:4], "big") < share * 2 ** 32


class HostBehaviour:
    """How one host of the web misbehaves (``--profile``: host index -> these fields).

    * ``latency_ms``: its own latency instead of ``--latency-ms``;
    * ``hang``: every request is read and never answered (until the client gives up);
    * ``hang_share``: the same on that share of its paths (``hangs_on``), the rest answered;
    * ``rate``: [RATE, BURST], a token bucket: a request that finds no token gets 429 with
      ``Retry-After`` = the seconds until the next one, rounded up;
    * ``lockout``: [RATE, SECONDS]: more than RATE requests within a second lock the client
      out for SECONDS: 429 without ``Retry-After`` to everything meanwhile;
    * ``down``: nothing listens on its address (connections are refused).
    """

    def __init__(self, latency: float, spec: dict | None = None):
        spec = spec or {}
        self.latency = spec.get("latency_ms", latency * 1000) / 1000
        self.hang = bool(spec.get("hang"))
        self.hang_share = float(spec.get("hang_share", 0.0))
        self.rate: float
        self.burst: int
        self.lockout_rate: int
        self.lockout_seconds: float
        self.rate, self.burst = spec.get("rate") or (0.0, 0)
        self.lockout_rate, self.lockout_seconds = spec.get("lockout") or (0, 0.0)
        self.down = bool(spec.get("down"))
        self.trace = bool(spec.get("trace"))  # record each arrival and its status
        self.restart()

    def restart(self) -> None:
        """A full bucket and no lockout (at the start, and at each ``reset``)."""
        self.tokens, self.tokens_at = float(self.burst), time.monotonic()
        self.recent: deque[float] = deque()
        self.locked_until = 0.0

    def hangs(self, path: str) -> bool:
        return self.hang or (self.hang_share > 0 and hangs_on(path, self.hang_share))

    def refusal(self) -> list[tuple[str, str]] | None:
        """The headers of a 429 for a request arriving now, or None when it may pass."""
        now = time.monotonic()
        if self.rate:
            self.tokens = min(float(self.burst), self.tokens + (now - self.tokens_at) * self.rate)
            self.tokens_at = now
            if self.tokens < 1:
                return [("Retry-After", str(max(1, math.ceil((1 - self.tokens) / self.rate))))]
            self.tokens -= 1
        if self.lockout_rate:
            self.recent.append(now)
            while self.recent and now - self.recent[0] >= 1.0:
                self.recent.popleft()
            if now >= self.locked_until and len(self.recent) > self.lockout_rate:
                self.locked_until = now + self.lockout_seconds
            if now < self.locked_until:
                return []
        return None


class HostRecord:
    """What one host answered in a phase (``by_host`` in the counters)."""

    __slots__ = ("requests", "answered", "refused", "hung", "first_request", "last_answered",
                 "trace")

    def __init__(self, trace: bool = False) -> None:
        self.requests = self.answered = self.refused = self.hung = 0
        self.first_request = self.last_answered = 0.0  # epoch seconds
        self.trace: list[tuple[float, int]] | None = [] if trace else None  # (arrival, status)

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__slots__
                if name != "trace" or self.trace is not None}


class Phase:
    """The counters from one ``reset`` to the next, of the requests that arrived meanwhile.

    A request counts in the phase it arrived in, to its end: one of an earlier phase still
    being served is not one more of the next client's in flight. The web sleeps out a slow
    path even when its client has gone (``bench.web_capacity`` closes its connections when
    its time is up), and such requests once showed ``bench.check_bench`` more of
    linkhealth's requests at once than it had sent (bench/README.md). ``carried_in_flight``
    says how many were still being served when the phase began.
    """

    def __init__(self, carried_in_flight: int = 0) -> None:
        self.requests = self.bytes_sent = self.not_modified = 0
        self.accept_errors = 0  # connections it could not accept (out of file descriptors)
        self.statuses: Counter[int] = Counter()
        self.methods: Counter[str] = Counter()
        self.in_flight: Counter[str] = Counter()  # per host (address), this phase's requests
        self.max_in_flight: Counter[str] = Counter()
        self.by_host: dict[str, HostRecord] = {}
        self.carried_in_flight = carried_in_flight
        self.cpu_base = time.process_time()

    def arrived(self, host: str) -> None:
        self.requests += 1
        self.in_flight[host] += 1
        self.max_in_flight[host] = max(self.max_in_flight[host], self.in_flight[host])


class Bodies:
    """Deterministic page and image bodies: a fixed filler per size plus a per-id part."""

    def __init__(self, page_bytes: int, image_bytes: int):
        rng = random.Random(1)
        vocabulary = ["".join(rng.choice("bcdfghklmnprstvw") + rng.choice("aeiou")
                              for _ in range(rng.randint(1, 4))) for _ in range(800)]
        paragraphs, size = [], 0
        while size < page_bytes:
            text = " ".join(rng.choices(vocabulary, k=rng.randint(40, 120)))
            paragraphs.append(f"<p>{text.capitalize()}.</p>\n")
            size += len(paragraphs[-1])
        self.page_filler = "".join(paragraphs).encode()
        self.page_bytes, self.image_bytes = page_bytes, image_bytes
        self.image_filler = random.Random(2).randbytes(image_bytes)  # incompressible, like JPEG
        self.etags: dict[tuple[str, str], str] = {}

    def page(self, ident: str) -> bytes:
        name = html.escape(ident)
        head = (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
                f"<title>Article {name}</title></head>\n<body><h1>Article {name}</h1>\n"
                f'<p class="id">{hashlib.sha256(ident.encode()).hexdigest()}</p>\n').encode()
        tail = b"</body></html>\n"
        return head + self.page_filler[:max(0, self.page_bytes - len(head) - len(tail))] + tail

    def image(self, ident: str) -> bytes:
        comment = ident.encode()[:1000] + hashlib.sha256(ident.encode()).digest()
        head = (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
                + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment)
        return head + self.image_filler[:max(0, self.image_bytes - len(head) - 2)] + b"\xff\xd9"

    def etag(self, kind: str, ident: str, body: bytes) -> str:
        key = (kind, ident)
        if key not in self.etags:
            if len(self.etags) > 500_000:
                self.etags.clear()
            self.etags[key] = '"' + hashlib.sha1(body).hexdigest() + '"'
        return self.etags[key]


def not_modified(headers: dict[str, str], etag: str) -> bool:
    if "if-none-match" in headers:  # takes precedence over If-Modified-Since (RFC 9110)
        tags = [t.strip().removeprefix("W/") for t in headers["if-none-match"].split(",")]
        return "*" in tags or etag in tags
    if "if-modified-since" in headers:
        try:
            return parsedate_to_datetime(headers["if-modified-since"]) >= LAST_MODIFIED
        except (TypeError, ValueError):
            return False
    return False


class SimWebServer:
    def __init__(self, hosts: int, latency_ms: float, slow_ms: float, page_kb: int, image_kb: int,
                 group: tuple[int, int] = (0, 1), profile: dict[int, dict] | None = None):
        part, parts = group  # this process serves hosts part, part + parts, part + 2 parts...
        indexes = range(part, hosts, parts)
        self.addresses = [host_address(i) for i in indexes]
        self.latency, self.slow = latency_ms / 1000, slow_ms / 1000
        self.behaviour = {host_address(i): HostBehaviour(self.latency, (profile or {}).get(i))
                          for i in indexes}
        self.bodies = Bodies(page_kb * 1024, image_kb * 1024)
        self.port = 0
        self.servers: list[asyncio.Server] = []
        self.open: dict[asyncio.Task, asyncio.StreamWriter] = {}  # connections being served
        self.in_flight = 0  # requests being served, of every phase
        self.phase = Phase()

    def reset(self) -> None:
        """A new phase: zero counters, full token buckets, no lockout."""
        for behaviour in self.behaviour.values():
            behaviour.restart()
        self.phase = Phase(carried_in_flight=self.in_flight)

    def stats(self) -> dict:
        phase = self.phase
        return {"requests": phase.requests, "bytes_sent": phase.bytes_sent,
                "not_modified": phase.not_modified,
                "max_concurrent_per_host": max(phase.max_in_flight.values(), default=0),
                "max_concurrent_by_host": dict(sorted(phase.max_in_flight.items())),
                "carried_in_flight": phase.carried_in_flight,
                "statuses": {str(k): v for k, v in sorted(phase.statuses.items())},
                "methods": dict(phase.methods), "accept_errors": phase.accept_errors,
                "by_host": {host: record.as_dict()
                            for host, record in sorted(phase.by_host.items())},
                "cpu_seconds": round(time.process_time() - phase.cpu_base, 3)}

    async def listen(self, base_port: int, attempts: int = 50) -> None:
        """Bind the same port on every address; with port 0, retry until one is free on all."""
        for _ in range(attempts if base_port == 0 else 1):
            servers: list[asyncio.Server] = []
            try:
                port = base_port
                for address in self.addresses:
                    if self.behaviour[address].down:
                        continue
                    server = await asyncio.start_server(self.connection, address, port, backlog=1024)
                    port = server.sockets[0].getsockname()[1]
                    servers.append(server)
                self.servers, self.port = servers, port
                return
            except OSError:
                for server in servers:
                    server.close()
                if base_port != 0:
                    raise
        raise OSError(f"no port free on all {len(self.addresses)} addresses after {attempts} tries")

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host = writer.get_extra_info("sockname")[0]
        task = asyncio.current_task()
        assert task is not None  # each connection runs in a task of its own
        self.open[task] = writer
        try:
            keep_alive = True
            while keep_alive:  # one request per turn; ends on close, error or idle timeout
                try:
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IDLE_TIMEOUT)
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError,
                        ConnectionError):
                    return
                keep_alive = await self.request(host, head, reader, writer)
        finally:
            self.open.pop(task, None)
            writer.close()

    async def close(self) -> None:
        """Stop listening and end the open connections (their handlers see EOF and return)."""
        for server in self.servers:
            server.close()
        for writer in list(self.open.values()):
            writer.close()
        if self.open:
            await asyncio.wait(list(self.open), timeout=5)

    async def request(self, host: str, head: bytes, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> bool:
        """Answer one request; return whether the connection stays open."""
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split()
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name:
                headers[name.strip().lower()] = value.strip()
        phase = self.phase  # the request counts there to its end, whatever reset comes
        phase.arrived(host)
        self.in_flight += 1
        record = phase.by_host.get(host)
        if record is None:
            record = phase.by_host[host] = HostRecord(self.behaviour[host].trace)
            record.first_request = time.time()
        record.requests += 1
        behaviour = self.behaviour[host]
        try:
            if len(parts) != 3:
                return await self.send(phase, writer, "GET", 400, [], b"bad request\n", False)
            method, target, version = parts
            phase.methods[method] += 1
            connection = headers.get("connection", "").lower()
            keep = "close" not in connection and (version == "HTTP/1.1" or "keep-alive" in connection)
            keep = keep and "content-length" not in headers and "transfer-encoding" not in headers
            path = urlsplit(target).path
            refusal = behaviour.refusal()
            if record.trace is not None:
                record.trace.append((round(time.time(), 3), 429 if refusal is not None else 0))
            if behaviour.latency:
                await asyncio.sleep(behaviour.latency)
            if refusal is not None:
                record.refused += 1
                return await self.answered(record, self.send(phase, writer, method, 429, refusal,
                                                             b"slow down\n", keep))
            if behaviour.hangs(path):
                record.hung += 1
                while await reader.read(65536):  # until the client gives up
                    pass
                return False
            if method not in ("GET", "HEAD"):
                return await self.send(phase, writer, method, 405, [("Allow", "GET, HEAD")], b"",
                                       keep)
            if path.startswith("/slow/"):
                await asyncio.sleep(self.slow)
                path = ("/i/" if path.endswith(".jpg") else "/a/") + path[len("/slow/"):]
            status, extra, body = self.route(path, headers.get("host", f"{host}:{self.port}"))
            if status == 200:
                etag = self.bodies.etag(extra[0][1], path, body)
                extra += [("ETag", etag), ("Last-Modified", LAST_MODIFIED_HTTP)]
                if not_modified(headers, etag):
                    phase.not_modified += 1
                    status, body = 304, b""
                    extra = [header for header in extra if header[0] != "Content-Type"]
            return await self.answered(record, self.send(phase, writer, method, status, extra,
                                                         body, keep))
        except ConnectionError:
            return False
        finally:
            phase.in_flight[host] -= 1
            self.in_flight -= 1

    @staticmethod
    async def answered(record: HostRecord, sending) -> bool:
        keep = await sending
        record.answered += 1
        record.last_answered = time.time()
        return keep

    def route(self, path: str, host_header: str) -> tuple[int, list[tuple[str, str]], bytes]:
        if path.startswith("/a/") and len(path) > 3:
            return 200, [("Content-Type", "text/html; charset=utf-8")], self.bodies.page(path[3:])
        if path.startswith("/i/") and path.endswith(".jpg"):
            return 200, [("Content-Type", "image/jpeg")], self.bodies.image(path[3:-4])
        if path.startswith("/moved/"):
            rest = path[len("/moved/"):]
            new = f"/i/{rest}" if rest.endswith(".jpg") else f"/a/{rest}"
            return 301, [("Location", f"http://{host_header}{new}")], b""
        if path == "/":
            return 200, [("Content-Type", "text/html; charset=utf-8")], self.bodies.page("home")
        return 404, [("Content-Type", "text/html; charset=utf-8")], (
            b"<!doctype html><html><head><title>Not found</title></head>"
            b"<body><h1>Not found</h1></body></html>\n")

    @staticmethod
    async def send(phase: Phase, writer: asyncio.StreamWriter, method: str, status: int,
                   headers: list[tuple[str, str]], body: bytes, keep: bool) -> bool:
        phase.statuses[status] += 1
        lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}",
                 f"Date: {formatdate(usegmt=True)}", "Server: simweb", *(f"{n}: {v}" for n, v in headers)]
        if status != 304:
            lines.append(f"Content-Length: {len(body)}")
        lines.append(f"Connection: {'keep-alive' if keep else 'close'}")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if method != "HEAD" and status != 304:
            data += body
        writer.write(data)
        await writer.drain()
        phase.bytes_sent += len(data)
        return keep


def _emit(payload: dict) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


async def serve(args: argparse.Namespace) -> None:
    part, _, parts = args.group.partition("/")
    profile = {int(k): v for k, v in json.loads(args.profile).items()} if args.profile else None
    server = SimWebServer(args.hosts, args.latency_ms, args.slow_ms, args.page_kb, args.image_kb,
                          (int(part), int(parts)), profile)
    await server.listen(args.base_port)
    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[str | None] = asyncio.Queue()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, commands.put_nowait, None)
    if not args.ignore_stdin:
        def read_stdin() -> None:  # a daemon thread: never keeps the process alive
            for line in sys.stdin:
                loop.call_soon_threadsafe(commands.put_nowait, line.strip())
            loop.call_soon_threadsafe(commands.put_nowait, None)
        threading.Thread(target=read_stdin, daemon=True).start()
    def count_accept_errors(loop: asyncio.AbstractEventLoop, context: dict) -> None:
        # A client without a per-host limit (linkinator) can open more connections than this
        # process has file descriptors: count each refused accept, print the first only.
        if isinstance(context.get("exception"), OSError) and "accept" in context.get("message", ""):
            if not server.phase.accept_errors:
                print(f"simweb: {context['message']}: {context['exception']} (counted as "
                      "accept_errors from now on)", file=sys.stderr, flush=True)
            server.phase.accept_errors += 1
            return
        loop.default_exception_handler(context)

    loop.set_exception_handler(count_accept_errors)
    server.reset()
    _emit({"ready": True, "port": server.port, "pid": os.getpid(),
           "hosts": [f"http://{a}:{server.port}" for a in server.addresses]})
    deadline = loop.time() + args.max_seconds
    while True:
        try:
            command = await asyncio.wait_for(commands.get(), max(0.0, deadline - loop.time()))
        except TimeoutError:
            command = None
        if command is None:
            break
        if command == "stats":
            _emit(server.stats())
        elif command == "reset":
            _emit(server.stats())
            server.reset()
    await server.close()
    _emit({"final": True, **server.stats()})


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="A simulated web on 127.0.0.2 ... 127.0.0.N")
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--base-port", type=int, default=0, help="0: a port free on every address")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--slow-ms", type=float, default=2000.0, help="extra delay of /slow/ paths")
    parser.add_argument("--page-kb", type=int, default=50)
    parser.add_argument("--image-kb", type=int, default=100)
    parser.add_argument("--max-seconds", type=float, default=4 * 3600, help="exit after this long")
    parser.add_argument("--ignore-stdin", action="store_true", help="stdin EOF does not stop it")
    parser.add_argument("--profile", default="",
                        help='JSON: host index -> behaviour (HostBehaviour), e.g. {"3": {"hang": true}}')
    parser.add_argument("--group", default="0/1",
                        help="K/N: serve only hosts K, K+N, K+2N... (one of N processes)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    asyncio.run(serve(parse_args(argv)))


class SimWeb:
    """Run ``python -m bench.simweb`` as subprocesses for the duration of a ``with`` block:
    one, or ``processes`` of them, each serving every Nth host on the same port (so each
    host's counters stay in one process); their counters are added up."""

    def __init__(self, hosts: int = 3, base_port: int = 0, latency_ms: float = 0.0,
                 slow_ms: float = 2000.0, page_kb: int = 50, image_kb: int = 100,
                 python: str = sys.executable, timeout: float = 30.0, processes: int = 1,
                 extra: list[str] | None = None):
        self.command = [python, "-m", "bench.simweb", "--hosts", str(hosts),
                        "--base-port", str(base_port), "--latency-ms", str(latency_ms),
                        "--slow-ms", str(slow_ms), "--page-kb", str(page_kb),
                        "--image-kb", str(image_kb), *(extra or [])]
        self.processes = max(1, min(processes, hosts))
        self.base_port = base_port
        self.timeout = timeout
        self.stats: dict = {}
        self.children: list[subprocess.Popen] = []

    def __enter__(self) -> Self:
        try:
            for _ in range(20):  # the first picks a port; a later one may find it taken
                if self._start():
                    return self
                self._stop()
            raise RuntimeError("simweb: no port free on every address of every process")
        except BaseException:
            self._stop()
            raise

    def _start(self) -> bool:
        port, readies = self.base_port, []
        for part in range(self.processes):
            command = list(self.command)
            command[command.index("--base-port") + 1] = str(port)
            command += ["--group", f"{part}/{self.processes}"]
            child = subprocess.Popen(command, cwd=REPO, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
            self.children.append(child)
            try:
                readies.append(self._read_line(child))
            except RuntimeError:
                if part == 0:
                    raise
                return False
            port = readies[0]["port"]
        self.port, self.pids = port, [ready["pid"] for ready in readies]
        # host i is served by process i % N, as its (i // N)th host
        total = sum(len(ready["hosts"]) for ready in readies)
        self.hosts = [readies[i % self.processes]["hosts"][i // self.processes]
                      for i in range(total)]
        return True

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def _read_line(self, child: subprocess.Popen) -> dict:
        assert child.stdout is not None  # started with stdout=PIPE
        readable, _, _ = select.select([child.stdout], [], [], self.timeout)
        line = child.stdout.readline() if readable else ""
        if not line:
            raise RuntimeError(f"simweb gave no answer within {self.timeout}s "
                               f"(exit status {child.poll()})")
        return json.loads(line)

    def _command(self, command: str) -> dict:
        for child in self.children:
            assert child.stdin is not None  # started with stdin=PIPE
            child.stdin.write(command + "\n")
            child.stdin.flush()
        return merge_stats([self._read_line(child) for child in self.children])

    def snapshot(self) -> dict:
        """The counters so far."""
        return self._command("stats")

    def reset(self) -> dict:
        """The counters so far; then zero them (for per-run figures)."""
        return self._command("reset")

    def url(self, host: int, path: str) -> str:
        return self.hosts[host] + path

    def _stop(self) -> None:
        finals = []
        for child in self.children:
            if child.returncode is not None:
                continue
            assert child.stdin is not None  # started with stdin=PIPE
            try:
                child.stdin.close()  # EOF: print the final counters and exit
                finals.append(self._read_line(child))
            except (OSError, RuntimeError, ValueError):
                child.terminate()
        for child in self.children:
            assert child.stdout is not None  # started with stdout=PIPE
            try:
                child.wait(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(timeout=self.timeout)
            child.stdout.close()
        self.children = []
        if finals:
            self.stats = {k: v for k, v in merge_stats(finals).items() if k != "final"}


def merge_stats(parts: list[dict]) -> dict:
    """The counters of several simweb processes as one web's."""
    if len(parts) == 1:
        return parts[0]
    merged: dict = {}
    for part in parts:
        for key, value in part.items():
            if isinstance(value, dict):
                into = merged.setdefault(key, {})
                for name, n in value.items():
                    if key == "max_concurrent_by_host" or isinstance(n, dict):
                        into[name] = n  # one process serves each host
                    else:
                        into[name] = into.get(name, 0) + n
            elif key == "max_concurrent_per_host":
                merged[key] = max(merged.get(key, 0), value)
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                merged[key] = round(merged.get(key, 0) + value, 3)
            else:
                merged[key] = value
    return merged


if __name__ == "__main__":
    main()
