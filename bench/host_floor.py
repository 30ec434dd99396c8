"""The floor: the least time any checker must spend on a simulated web at a per-host limit.

A checker that holds a per-host limit cannot finish before its slowest host does, however
fast it is itself. Per host, from the paths of its URLs (``crawler.jobs.synthetic_site``) and how
the host behaves (``bench.simweb.HostBehaviour``):

* its queue: each URL's requests (two for a ``/moved/`` one: the redirect and its target)
  times the host's latency, plus ``--slow-ms`` for a ``/slow/`` one, shared by ``per_host``
  requests at once; never less than its longest single URL;
* a rate-limited host (token bucket): its requests beyond the burst at its rate;
* a host that locks clients out above a rate: all its requests at that rate;
* a host that hangs: one wave of timeouts with retries (``timeout x attempts``); where only
  some paths hang, each of those costs that in one of the host's ``per_host`` places;
* a host that is down: nothing (a refused connection is immediate).

The floor of the web is its slowest host's. A benchmark whose checkers end near the floor
measures the web's layout, not the checkers.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from bench.simweb import hangs_on


@dataclass
class HostFloor:
    host: str
    urls: int
    requests: int
    seconds: float
    why: str  # "queue", "rate", "lockout", "hang", "down"


def requests_of(path: str) -> int:
    return 2 if path.startswith("/moved/") else 1


def moved_to(path: str) -> str:
    """Where a ``/moved/`` path redirects (bench.simweb); any other path is its own end."""
    if not path.startswith("/moved/"):
        return path
    rest = path[len("/moved/"):]
    return f"/i/{rest}" if rest.endswith(".jpg") else f"/a/{rest}"


def host_floor(host: str, paths: list[str], per_host: int, latency: float, slow: float,
               spec: dict | None = None, timeout: float = 30.0, attempts: int = 3) -> HostFloor:
    """The least time ``host`` takes (seconds), and what sets it."""
    spec = spec or {}
    latency = spec.get("latency_ms", latency * 1000) / 1000
    wave = timeout * attempts
    requests = sum(requests_of(p) for p in paths)
    if spec.get("down"):
        return HostFloor(host, len(paths), requests, 0.0, "down")
    if spec.get("hang"):
        return HostFloor(host, len(paths), requests, wave, "hang")
    work, longest = 0.0, 0.0
    for path in paths:
        if spec.get("hang_share") and any(hangs_on(p, spec["hang_share"])
                                           for p in (path, moved_to(path))):
            cost = wave
        else:
            cost = requests_of(path) * latency + (slow if path.startswith("/slow/") else 0.0)
        work += cost
        longest = max(longest, cost)
    seconds, why = max(work / per_host, longest), "queue"
    if spec.get("rate"):
        rate, burst = spec["rate"]
        if (requests - burst) / rate > seconds:
            seconds, why = (requests - burst) / rate, "rate"
    if spec.get("lockout"):
        rate, _ = spec["lockout"]
        if requests / rate > seconds:
            seconds, why = requests / rate, "lockout"
    return HostFloor(host, len(paths), requests, round(seconds, 2), why)


def web_floor(urls: list[str], per_host: int, latency: float, slow: float,
              specs: dict[str, dict] | None = None, timeout: float = 30.0,
              attempts: int = 3) -> list[HostFloor]:
    """Every host's floor, slowest first; ``specs``: host (ADDRESS:PORT) -> behaviour."""
    paths: dict[str, list[str]] = defaultdict(list)
    for url in urls:
        authority, _, path = url.split("://", 1)[1].partition("/")
        paths[authority].append("/" + path)
    floors = [host_floor(host, host_paths, per_host, latency, slow, (specs or {}).get(host),
                         timeout, attempts) for host, host_paths in paths.items()]
    return sorted(floors, key=lambda f: -f.seconds)
