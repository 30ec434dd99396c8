"""How many requests a second the simulated web can serve: a minimal client and /proc CPU.

    python -m bench.web_capacity --hosts 300 --latency-ms 20 [--concurrency 128] [--method HEAD]
                                 [--seconds 5] [--processes 1]

A benchmark of link checkers measures the simulated web instead when the web is the slower
of the two. ``measure`` finds out what the web can do: it sends requests from a client that
does next to nothing per request (raw non-blocking sockets, one keep-alive connection per
place of the concurrency, spread round-robin over the hosts, the answer's body counted and
dropped) and counts answers per second. The web's own CPU seconds come from
``/proc/PID/stat`` (utime + stime of each web process), so they are measured from outside,
whatever the web says of itself.

A checker whose requests/second come within 70% of this capacity (``NEAR_CAPACITY``) was
probably held back by the web, not by itself: ``bench.check_bench`` flags such a run.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import heapq
import json
import os
import re
import selectors
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path

NEAR_CAPACITY = 0.7  # of the capacity: a checker this fast may be measuring the web
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)
RECV_BYTES = 256 * 1024


def process_cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of the processes ``pids`` so far (0 for one that is gone)."""
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "(comm)", which may hold spaces
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / CLOCK_TICKS


class CpuMeter:
    """CPU seconds of some processes between ``start()`` and ``stop()``."""

    def __init__(self, pids: list[int]):
        self.pids = pids
        self.base = 0.0

    def start(self) -> None:
        self.base = process_cpu_seconds(self.pids)

    def stop(self) -> float:
        return round(process_cpu_seconds(self.pids) - self.base, 2)


@dataclass
class Capacity:
    method: str
    concurrency: int
    requests: int
    seconds: float
    requests_per_second: float
    web_cpu_seconds: float
    web_cpu_share: float  # web CPU seconds / wall seconds: 1.0 is one core saturated
    errors: int


class _Connection:
    """One keep-alive connection: send a request, read its whole answer, send the next."""

    __slots__ = ("sock", "address", "buffer", "remaining", "head_done")

    def __init__(self, address: tuple[str, int]):
        self.address = address
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            self.sock.connect(address)
        self.buffer = b""
        self.remaining = 0
        self.head_done = False


def allot(concurrency: int, counts: dict, per_host: int) -> list:
    """The host of each connection: as a checker with these limits spreads them, the hosts
    with the most URLs per connection first, at most ``per_host`` each."""
    heap = [(-count, host, 0) for host, count in counts.items()]
    heapq.heapify(heap)
    plan: list = []
    while heap and len(plan) < concurrency:
        _, host, given = heapq.heappop(heap)
        plan.append(host)
        if given + 1 < per_host:
            heapq.heappush(heap, (-counts[host] / (given + 2), host, given + 1))
    return plan


def measure(targets: list[tuple[str, int, str]], concurrency: int, seconds: float,
            method: str = "HEAD", pids: list[int] | None = None, per_host: int = 16,
            max_requests: int = 1_000_000) -> Capacity:
    """Requests answered per second with ``concurrency`` connections (at most ``per_host``
    to one host) kept busy for about ``seconds``; ``targets`` are (address, port, path),
    each host's taken in turn."""
    selector = selectors.DefaultSelector()
    meter = CpuMeter(pids or [])
    paths: dict[tuple[str, int], list[str]] = {}
    for address, port, path in targets:
        paths.setdefault((address, port), []).append(path)
    hosts = allot(concurrency, {h: len(p) for h, p in paths.items()}, per_host)
    concurrency = len(hosts)
    cursor = dict.fromkeys(paths, 0)
    requests = errors = opened = 0
    buffer = bytearray(RECV_BYTES)

    def send(conn: _Connection) -> None:
        host = conn.address
        todo = paths[host]
        path = todo[cursor[host] % len(todo)]
        cursor[host] += 1
        conn.head_done, conn.buffer = False, b""
        conn.sock.send(f"{method} {path} HTTP/1.1\r\nHost: {host[0]}:{host[1]}\r\n"
                       "User-Agent: web-capacity\r\n\r\n".encode())

    def open_one(index: int) -> None:
        conn = _Connection(hosts[index % concurrency])
        selector.register(conn.sock, selectors.EVENT_WRITE, conn)

    def replace(conn: _Connection) -> None:
        """A connection that failed or that the web closed: counted, and a new one opened."""
        nonlocal errors, opened
        errors += 1
        selector.unregister(conn.sock)
        conn.sock.close()
        open_one(opened)
        opened += 1

    meter.start()
    start = time.monotonic()
    deadline = start + seconds
    for index in range(concurrency):
        open_one(index)
    opened = concurrency
    while requests < max_requests:
        now = time.monotonic()
        if now >= deadline:
            break
        for key, mask in selector.select(timeout=max(0.0, deadline - now)):
            conn: _Connection = key.data
            if mask & selectors.EVENT_WRITE:  # connected (or failed to)
                if conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    replace(conn)
                    continue
                selector.modify(conn.sock, selectors.EVENT_READ, conn)
                send(conn)
                continue
            try:
                n = conn.sock.recv_into(buffer)
            except OSError as error:
                n = 0 if error.errno != errno.EAGAIN else -1
            if n < 0:
                continue
            if n == 0:  # closed by the web: reconnect
                replace(conn)
                continue
            if conn.head_done:
                conn.remaining -= n
            else:
                conn.buffer += bytes(buffer[:n])
                end = conn.buffer.find(b"\r\n\r\n")
                if end < 0:
                    continue
                conn.head_done = True
                length = CONTENT_LENGTH.search(conn.buffer, 0, end + 2)
                body = int(length.group(1)) if length and method != "HEAD" else 0
                if conn.buffer.startswith(b"HTTP/1.1 304"):
                    body = 0
                conn.remaining = body - (len(conn.buffer) - end - 4)
            if conn.remaining <= 0:
                requests += 1
                send(conn)
    wall = time.monotonic() - start
    cpu = meter.stop()
    for key in list(selector.get_map().values()):
        key.fileobj.close()  # type: ignore[union-attr]  # the selector holds sockets
    selector.close()
    return Capacity(method, concurrency, requests, round(wall, 2),
                    round(requests / max(wall, 1e-9), 1), cpu, round(cpu / max(wall, 1e-9), 2),
                    errors)


URL_IN_SITE = re.compile(r'"(http://127\.[0-9.]+:\d+/[^"]*)"')


def site_urls(site: Path) -> list[str]:
    """The unique http://127.x URLs a synthetic site references, in the order first seen."""
    seen: dict[str, None] = {}
    for path in sorted(site.rglob("*.md")):
        for url in URL_IN_SITE.findall(path.read_text(encoding="utf-8")):
            seen.setdefault(url, None)
    return list(seen)


def targets_of(urls: list[str]) -> list[tuple[str, int, str]]:
    """(address, port, path) of each http://ADDRESS:PORT/PATH URL."""
    out = []
    for url in urls:
        rest = url.split("://", 1)[1]
        authority, _, path = rest.partition("/")
        address, _, port = authority.rpartition(":")
        out.append((address, int(port), "/" + path))
    return out


def main(argv: list[str] | None = None) -> None:
    import tempfile

    from bench.check_bench import WideSimWeb, make_site

    parser = argparse.ArgumentParser(description="The simulated web's capacity")
    parser.add_argument("--urls", type=int, default=20_000)
    parser.add_argument("--hosts", type=int, default=300)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--page-kb", type=int, default=50)
    parser.add_argument("--image-kb", type=int, default=100)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--concurrency", default="128", help="comma-separated")
    parser.add_argument("--method", default="HEAD,GET", help="comma-separated")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--per-host", type=int, default=16)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as work, WideSimWeb(
            hosts=args.hosts, latency_ms=args.latency_ms, page_kb=args.page_kb,
            image_kb=args.image_kb, processes=args.processes, timeout=60.0) as web:
        make_site(Path(work) / "site", args.urls, web.hosts, 0)
        targets = targets_of(site_urls(Path(work) / "site"))
        for method in args.method.split(","):
            for concurrency in args.concurrency.split(","):
                result = measure(targets, int(concurrency), args.seconds, method, web.pids,
                                 per_host=args.per_host)
                print(json.dumps(asdict(result)), flush=True)


if __name__ == "__main__":
    main()
