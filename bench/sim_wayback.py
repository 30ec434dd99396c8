"""The simulated internet's Wayback Machine: its CDX API and the playback of its captures.

    https://web.archive.org/cdx/search/cdx?url=U&output=json&from=YYYYMMDD&to=YYYYMMDD&limit=N
    https://web.archive.org/web/TIMESTAMP/U

A URL the scenario says was archived has captures from 2012 to 2025, one every 30 to 90
days (drawn from the seed and the URL: the same URL always has the same captures), all of
them 200s. The CDX API answers a query with the captures between ``from`` and ``to``
(timestamps of 4 to 14 digits, inclusive as the real API takes them), ``limit`` applied,
in the fields asked (``fl``; by default urlkey, timestamp, original, mimetype, statuscode,
digest, length), as JSON rows after a header row (``output=json``) or as space-separated
lines. A URL never captured gets ``[]`` (or nothing). The playback of a capture's exact
timestamp is that capture; another timestamp is sent to the closest capture with a 302, as
the real Wayback Machine does.

Pure functions over a URL's key and the query: ``bench.sim_world`` turns them into answers.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

ARCHIVE_HOST = "web.archive.org"
CDX_PATH = "/cdx/search/cdx"
FIRST_CAPTURE = datetime(2012, 1, 1, tzinfo=UTC)
LAST_CAPTURE = datetime(2025, 12, 31, tzinfo=UTC)
DEFAULT_FIELDS = ("urlkey", "timestamp", "original", "mimetype", "statuscode", "digest", "length")
_PLAYBACK = re.compile(r"^/web/(\d{1,14})(?:[a-z]{2}_)?/(.+)$", re.S)


def _draw(seed: int, *parts: str) -> float:
    digest = hashlib.sha256("\0".join((str(seed), "wayback", *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def capture_times(seed: int, key: str) -> list[str]:
    """The 14-digit timestamps of a URL's captures, oldest first."""
    times: list[str] = []
    when, n = FIRST_CAPTURE, 0
    while True:
        when += timedelta(days=30 + 60 * _draw(seed, key, "step", str(n)),
                          seconds=int(86_400 * _draw(seed, key, "second", str(n))))
        if when > LAST_CAPTURE:
            return times
        times.append(when.strftime("%Y%m%d%H%M%S"))
        n += 1


def closest_time(times: list[str], wanted: str) -> str:
    """The capture closest to a (possibly partial) timestamp."""
    target = int(wanted.ljust(14, "0")[:14])
    return min(times, key=lambda stamp: abs(int(stamp) - target))


def cdx_query(url: str) -> dict[str, str] | None:
    """The CDX query's parameters (the last of each), or None when ``url`` is not the CDX API."""
    parts = urlsplit(url)
    if (parts.hostname or "").lower() != ARCHIVE_HOST or parts.path != CDX_PATH:
        return None
    return {name: values[-1] for name, values in parse_qs(parts.query).items()}


def cdx_body(query: dict[str, str], times: list[str], content_type: str) -> bytes:
    """The CDX API's answer to ``query`` for a URL captured at ``times``."""
    low = query.get("from", "").ljust(14, "0")[:14] if query.get("from", "").isdigit() else ""
    high = query.get("to", "").ljust(14, "9")[:14] if query.get("to", "").isdigit() else ""
    chosen = [t for t in times if (not low or t >= low) and (not high or t <= high)]
    limit = query.get("limit", "")
    if limit.lstrip("-").isdigit():
        chosen = chosen[:int(limit)] if int(limit) >= 0 else chosen[int(limit):]
    status = query.get("filter", "")
    if status.startswith("statuscode:") and status.removeprefix("statuscode:") not in ("200", ".*"):
        chosen = []  # every capture here is a 200
    fields = tuple(f for f in query.get("fl", "").split(",") if f) or DEFAULT_FIELDS
    original = query.get("url", "")
    rows = [[_field(name, stamp, original, content_type) for name in fields] for stamp in chosen]
    if query.get("output") == "json":
        return json.dumps([list(fields), *rows] if rows else []).encode() + b"\n"
    return "".join(" ".join(row) + "\n" for row in rows).encode()


def _field(name: str, stamp: str, original: str, content_type: str) -> str:
    digest = hashlib.sha1(f"{original}\0{stamp}".encode()).hexdigest().upper()[:32]
    return {"urlkey": original.lower(), "timestamp": stamp, "original": original,
            "mimetype": content_type.split(";")[0], "statuscode": "200", "digest": digest,
            "length": str(1000 + int(digest[:4], 16))}.get(name, "-")


def playback(url: str) -> tuple[str, str] | None:
    """``(timestamp, original URL)`` of a playback URL, or None when ``url`` is not one."""
    parts = urlsplit(url)
    if (parts.hostname or "").lower() != ARCHIVE_HOST:
        return None
    rest = url.split(ARCHIVE_HOST, 1)[1]
    rest = rest[rest.index("/"):] if "/" in rest else ""
    match = _PLAYBACK.match(rest.split("#", 1)[0])
    return (match.group(1), match.group(2)) if match else None


def playback_url(stamp: str, original: str) -> str:
    return f"https://{ARCHIVE_HOST}/web/{stamp}/{original}"
