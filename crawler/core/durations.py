"""Durations in settings and options: ``90s``, ``45m``, ``12h``, ``7d``, ``2w`` or plain seconds."""

from __future__ import annotations

import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.I)


def parse_duration(value: str | float | int) -> float:
    """Seconds; raises ValueError with the accepted forms on anything else."""
    if isinstance(value, int | float):
        return float(value)
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"not a duration: {value!r} (use e.g. 90s, 45m, 12h, 7d, 2w or seconds)")
    number, unit = match.groups()
    return float(number) * _UNITS[(unit or "s").lower()]
