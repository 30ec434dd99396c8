"""Small pieces of text every output shares: a size in bytes, an exception on one line."""

from __future__ import annotations

UNITS = ("KiB", "MiB", "GiB")


def human_bytes(count: int) -> str:
    """``0 bytes``, ``1 byte``, ``1.5 KiB``, ``3072.0 GiB`` (binary units, GiB at most)."""
    if count < 1024:
        return f"{count} byte{'s' if count != 1 else ''}"
    value = float(count)
    for unit in UNITS:
        value /= 1024
        if value < 1024 or unit == UNITS[-1]:
            break
    return f"{value:.1f} {unit}"


def one_line(value: object, limit: int | None = None) -> str:
    """``str(value)`` with every run of whitespace (line breaks included) as one space, cut to
    ``limit`` characters when given."""
    text = " ".join(str(value).split())
    return text if limit is None else text[:limit]
