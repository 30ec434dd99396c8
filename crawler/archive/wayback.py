"""Wayback Machine lookups with the CDX API: the 200 capture closest to a date.

The CDX API (``/cdx/search/cdx``) is asked with ``output=json``,
``filter=statuscode:200``, ``from``/``to`` around the referencing article's
publish date and a ``limit``; the closest capture wins. (The availability API
is rate-limited and misses captures.) Pure functions: the spider makes the
request, the store caches the answer.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from urllib.parse import quote, urlencode

WAYBACK_OUTCOMES = frozenset({"broken", "dns_error", "connection_error", "timeout", "soft_404"})
CDX_LIMIT = 100


def around_date(published: str | None, today: date | None = None) -> str:
    """``YYYY-MM-DD`` of a publish date as written in front matter, else today."""
    if published:
        try:
            return datetime.fromisoformat(published.replace("Z", "+00:00")).date().isoformat()
        except ValueError:
            pass
    return (today or datetime.now(UTC).date()).isoformat()


def cdx_query_url(endpoint: str, url: str, around: str, window_seconds: float) -> str:
    center = date.fromisoformat(around)
    window = timedelta(seconds=window_seconds)
    params = {
        "url": url, "output": "json", "filter": "statuscode:200",
        "from": (center - window).strftime("%Y%m%d"), "to": (center + window).strftime("%Y%m%d"),
        "fl": "timestamp,original,statuscode", "limit": str(CDX_LIMIT),
    }
    return f"{endpoint}?{urlencode(params)}"


def parse_cdx(body: bytes) -> list[tuple[str, str]]:
    """``(timestamp, original)`` of each capture in a JSON CDX answer (header row skipped)."""
    text = body.decode("utf-8").strip()
    if not text:
        return []
    rows = json.loads(text)
    if not isinstance(rows, list) or not rows:
        return []
    header, *captures = rows
    index = {name: i for i, name in enumerate(header)}
    return [(row[index["timestamp"]], row[index["original"]]) for row in captures
            if isinstance(row, list) and len(row) == len(header)]


def closest(captures: list[tuple[str, str]], around: str) -> tuple[str, str] | None:
    center = datetime.fromisoformat(around).replace(tzinfo=UTC)

    def distance(capture: tuple[str, str]) -> float:
        when = datetime.strptime(capture[0][:14].ljust(14, "0"), "%Y%m%d%H%M%S").replace(tzinfo=UTC)
        return abs((when - center).total_seconds())

    valid = [c for c in captures if c[0][:14].isdigit()]
    return min(valid, key=distance) if valid else None


# What a URL may hold as it is: the reserved and unreserved characters, and ``%`` (escapes
# already there stay as they are). Anything else in the CDX answer's ``original`` (a space,
# a quote, a control character, non-ASCII text) is percent-encoded in the capture's URL.
URL_SAFE = "!#$%&'()*+,-./:;=?@[]_~"


def playback_url(prefix: str, timestamp: str, original: str) -> str:
    return f"{prefix}{timestamp}/{quote(original, safe=URL_SAFE)}"
