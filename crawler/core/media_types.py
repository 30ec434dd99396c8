"""Content types as Scrapy hands them over: ``text/html; charset=utf-8`` -> ``text/html``."""

from __future__ import annotations


def media_type(content_type: bytes | str | None) -> str:
    """``text/html; charset=utf-8`` -> ``text/html``."""
    if isinstance(content_type, bytes):
        content_type = content_type.decode("latin-1")
    return (content_type or "").split(";", 1)[0].strip().lower()


def matches_types(kind: str, patterns: list[str]) -> bool:
    return any(kind == p or (p.endswith("/*") and kind.startswith(p[:-1])) for p in patterns)
