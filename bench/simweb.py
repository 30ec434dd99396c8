"""A simulated web on loopback: one asyncio process, one port on each of many addresses.

    python -m bench.simweb --hosts 20 --base-port 0 --latency-ms 20 --page-kb 50 --image-kb 100

Host ``i`` is ``http://127.0.0.{i+2}:PORT`` (each address bound explicitly, the same
port on all; ``--base-port 0`` picks a port that is free on every address). A
minimal HTTP/1.1 server with keep-alive answers HEAD and GET on the paths of
``bench.synthetic_site``:

    /a/<id>          200 text/html, ``--page-kb`` KB with a <title>
    /i/<id>.jpg      200 image/jpeg, ``--image-kb`` KB
    /gone/<id>[.jpg] 404
    /moved/<id>      301 -> /a/<id>     (/moved/<id>.jpg -> /i/<id>.jpg)
    /slow/<id>[.jpg] 200 like /a/ or /i/, after ``--slow-ms`` more
    /                200 a small home page

Every request waits ``--latency-ms`` first. Bodies are deterministic: one filler
per size, built once, and a small per-id part, so different URLs have different
bytes and the same URL always the same bytes. 200s carry a strong ``ETag`` (SHA-1
of the body) and a fixed ``Last-Modified``; ``If-None-Match`` / ``If-Modified-Since``
get 304.

Protocol on stdout/stdin: once listening it prints ``{"ready": true, "port": P, "hosts":
[...]}``. Each stdin line ``stats`` prints the counters as one JSON line, ``reset``
zeroes them (and prints them first). stdin EOF, SIGTERM or SIGINT print the final
counters (requests, bytes_sent, not_modified, max_concurrent_per_host, cpu_seconds...)
and exit. ``--max-seconds`` bounds the lifetime. ``SimWeb`` runs it from Python:

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
import os
import random
import select
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from urllib.parse import urlsplit

from bench.synthetic_site import host_address

REPO = Path(__file__).resolve().parents[1]
LAST_MODIFIED = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
LAST_MODIFIED_HTTP = formatdate(LAST_MODIFIED.timestamp(), usegmt=True)
IDLE_TIMEOUT = 60.0  # seconds a keep-alive connection may wait for its next request
REASONS = {200: "OK", 301: "Moved Permanently", 304: "Not Modified", 404: "Not Found",
           405: "Method Not Allowed", 400: "Bad Request"}


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
    def __init__(self, hosts: int, latency_ms: float, slow_ms: float, page_kb: int, image_kb: int):
        self.addresses = [host_address(i) for i in range(hosts)]
        self.latency, self.slow = latency_ms / 1000, slow_ms / 1000
        self.bodies = Bodies(page_kb * 1024, image_kb * 1024)
        self.port = 0
        self.servers: list[asyncio.Server] = []
        self.open: dict[asyncio.Task, asyncio.StreamWriter] = {}  # connections being served
        self.in_flight: Counter[str] = Counter()
        self.reset()

    def reset(self) -> None:
        self.requests = self.bytes_sent = self.not_modified = 0
        self.statuses: Counter[int] = Counter()
        self.methods: Counter[str] = Counter()
        self.max_in_flight: Counter[str] = Counter()
        self.accept_errors = 0  # connections it could not accept (out of file descriptors)
        self.cpu_base = time.process_time()

    def stats(self) -> dict:
        return {"requests": self.requests, "bytes_sent": self.bytes_sent,
                "not_modified": self.not_modified,
                "max_concurrent_per_host": max(self.max_in_flight.values(), default=0),
                "max_concurrent_by_host": dict(sorted(self.max_in_flight.items())),
                "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
                "methods": dict(self.methods), "accept_errors": self.accept_errors,
                "cpu_seconds": round(time.process_time() - self.cpu_base, 3)}

    async def listen(self, base_port: int, attempts: int = 50) -> None:
        """Bind the same port on every address; with port 0, retry until one is free on all."""
        for _ in range(attempts if base_port == 0 else 1):
            servers: list[asyncio.Server] = []
            try:
                port = base_port
                for address in self.addresses:
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
        self.open[asyncio.current_task()] = writer
        try:
            keep_alive = True
            while keep_alive:  # one request per turn; ends on close, error or idle timeout
                try:
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IDLE_TIMEOUT)
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError,
                        ConnectionError):
                    return
                keep_alive = await self.request(host, head, writer)
        finally:
            self.open.pop(asyncio.current_task(), None)
            writer.close()

    async def close(self) -> None:
        """Stop listening and end the open connections (their handlers see EOF and return)."""
        for server in self.servers:
            server.close()
        for writer in list(self.open.values()):
            writer.close()
        if self.open:
            await asyncio.wait(list(self.open), timeout=5)

    async def request(self, host: str, head: bytes, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; return whether the connection stays open."""
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split()
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name:
                headers[name.strip().lower()] = value.strip()
        self.requests += 1
        self.in_flight[host] += 1
        self.max_in_flight[host] = max(self.max_in_flight[host], self.in_flight[host])
        try:
            if len(parts) != 3:
                return await self.send(writer, "GET", 400, [], b"bad request\n", False)
            method, target, version = parts
            self.methods[method] += 1
            connection = headers.get("connection", "").lower()
            keep = "close" not in connection and (version == "HTTP/1.1" or "keep-alive" in connection)
            keep = keep and "content-length" not in headers and "transfer-encoding" not in headers
            if self.latency:
                await asyncio.sleep(self.latency)
            if method not in ("GET", "HEAD"):
                return await self.send(writer, method, 405, [("Allow", "GET, HEAD")], b"", keep)
            path = urlsplit(target).path
            if path.startswith("/slow/"):
                await asyncio.sleep(self.slow)
                path = ("/i/" if path.endswith(".jpg") else "/a/") + path[len("/slow/"):]
            status, extra, body = self.route(path, headers.get("host", f"{host}:{self.port}"))
            if status == 200:
                etag = self.bodies.etag(extra[0][1], path, body)
                extra += [("ETag", etag), ("Last-Modified", LAST_MODIFIED_HTTP)]
                if not_modified(headers, etag):
                    self.not_modified += 1
                    status, body = 304, b""
                    extra = [header for header in extra if header[0] != "Content-Type"]
            return await self.send(writer, method, status, extra, body, keep)
        except ConnectionError:
            return False
        finally:
            self.in_flight[host] -= 1

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

    async def send(self, writer: asyncio.StreamWriter, method: str, status: int,
                   headers: list[tuple[str, str]], body: bytes, keep: bool) -> bool:
        self.statuses[status] += 1
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
        self.bytes_sent += len(data)
        return keep


def _emit(payload: dict) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


async def serve(args: argparse.Namespace) -> None:
    server = SimWebServer(args.hosts, args.latency_ms, args.slow_ms, args.page_kb, args.image_kb)
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
            if not server.accept_errors:
                print(f"simweb: {context['message']}: {context['exception']} (counted as "
                      "accept_errors from now on)", file=sys.stderr, flush=True)
            server.accept_errors += 1
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
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    asyncio.run(serve(parse_args(argv)))


class SimWeb:
    """Run ``python -m bench.simweb`` as a subprocess for the duration of a ``with`` block."""

    def __init__(self, hosts: int = 3, base_port: int = 0, latency_ms: float = 0.0,
                 slow_ms: float = 2000.0, page_kb: int = 50, image_kb: int = 100,
                 python: str = sys.executable, timeout: float = 30.0):
        self.command = [python, "-m", "bench.simweb", "--hosts", str(hosts),
                        "--base-port", str(base_port), "--latency-ms", str(latency_ms),
                        "--slow-ms", str(slow_ms), "--page-kb", str(page_kb),
                        "--image-kb", str(image_kb)]
        self.timeout = timeout
        self.stats: dict = {}
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> SimWeb:
        self.process = subprocess.Popen(self.command, cwd=REPO, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        try:
            ready = self._read_line()
        except BaseException:
            self._stop()
            raise
        self.port, self.hosts = ready["port"], ready["hosts"]
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def _read_line(self) -> dict:
        assert self.process and self.process.stdout
        readable, _, _ = select.select([self.process.stdout], [], [], self.timeout)
        line = self.process.stdout.readline() if readable else ""
        if not line:
            raise RuntimeError(f"simweb gave no answer within {self.timeout}s "
                               f"(exit status {self.process.poll()})")
        return json.loads(line)

    def _command(self, command: str) -> dict:
        assert self.process and self.process.stdin
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self._read_line()

    def snapshot(self) -> dict:
        """The counters so far."""
        return self._command("stats")

    def reset(self) -> dict:
        """The counters so far; then zero them (for per-run figures)."""
        return self._command("reset")

    def url(self, host: int, path: str) -> str:
        return self.hosts[host] + path

    def _stop(self) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        try:
            process.stdin.close()  # EOF: print the final counters and exit
            final = self._read_line()
            self.stats = {k: v for k, v in final.items() if k != "final"}
        except (OSError, RuntimeError, ValueError):
            process.terminate()
        try:
            process.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=self.timeout)
        process.stdout.close()


if __name__ == "__main__":
    main()
