"""A response as an archive capture: what the spider hands the pipeline to store."""

from __future__ import annotations

from typing import TYPE_CHECKING

from crawler.core.clock import utc_now
from crawler.core.items import Capture
from crawler.core.media_types import matches_types, media_type
from crawler.core.urls import redact
from crawler.store.snapshots import storable_headers

if TYPE_CHECKING:
    from scrapy.http import Response


def is_archivable(response: Response, types: list[str]) -> bool:
    """A 2xx body of an archived content type that was read (not refused as too big)."""
    request = response.request  # Optional in Scrapy's types; the engine sets it on every answer
    assert request is not None
    meta = request.meta
    return (200 <= response.status < 300 and request.method == "GET"
            and not meta.get("linkhealth_too_big")
            and matches_types(media_type(response.headers.get(b"Content-Type")), types))


def capture_from_response(response: Response, cap: int) -> Capture:
    request = response.request
    assert request is not None
    meta = request.meta
    truncated = bool(meta.get("linkhealth_truncated")) or "dataloss" in response.flags
    return Capture(
        url=redact(meta.get("linkhealth_url", request.url)),
        final_url=redact(response.url),
        fetched_at=utc_now(),
        status=response.status,
        protocol=response.protocol or "HTTP/1.1",
        headers=storable_headers(_header_pairs(response)),
        content_type=_text(response.headers.get(b"Content-Type")),
        content_encoding=meta.get("linkhealth_content_encoding"),
        body=response.body[:cap],
        truncated=truncated or len(response.body) > cap,
        etag=_text(response.headers.get(b"ETag")),
        last_modified=_text(response.headers.get(b"Last-Modified")),
    )


def _header_pairs(response: Response) -> list[tuple[str, str]]:
    return [(name.decode("latin-1"), value.decode("latin-1"))
            for name, values in response.headers.items() for value in values]


def _text(value: bytes | None) -> str | None:
    return value.decode("latin-1") if value else None
