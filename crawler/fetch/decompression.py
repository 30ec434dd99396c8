"""Content-Encoding (gzip, deflate, br, zstd) decoded with a cap, so a compression bomb
costs at most the cap in memory.

Replaces Scrapy's ``HttpCompressionMiddleware``, which gives up on a body
whose decoded size passes ``DOWNLOAD_MAXSIZE`` and loses the response. Here
the decoded body is cut at the request's body cap (see ``crawler/fetch/body_limit.py``)
and flagged ``linkhealth_truncated``; the link is still judged by its status.
The original coding is kept in ``request.meta["linkhealth_content_encoding"]``.
A body that does not decode is left as received (``linkhealth_decode_error``).
"""

from __future__ import annotations

import io
import zlib
from typing import TYPE_CHECKING

import brotli
import zstandard

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response

ACCEPT_ENCODING = b"gzip, deflate, br, zstd"


class DecodeError(Exception):
    pass


def decode(body: bytes, coding: str, cap: int) -> tuple[bytes, bool]:
    """Decode one content coding, producing at most ``cap`` bytes; (data, truncated)."""
    try:
        if coding in ("gzip", "x-gzip"):
            data = _zlib(body, zlib.MAX_WBITS | 16, cap)
        elif coding == "deflate":
            try:
                data = _zlib(body, zlib.MAX_WBITS, cap)
            except zlib.error:
                data = _zlib(body, -zlib.MAX_WBITS, cap)  # raw deflate, as some servers send
        elif coding == "br":
            data = brotli.Decompressor().process(body, output_buffer_limit=cap + 1)
        elif coding == "zstd":
            with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(body)) as reader:
                data = reader.read(cap + 1)
        elif coding == "identity":
            data = body
        else:
            raise DecodeError(f"unsupported Content-Encoding {coding!r}")
    except (zlib.error, brotli.error, zstandard.ZstdError) as exc:
        raise DecodeError(f"{coding} body does not decode: {exc}") from exc
    return data[:cap], len(data) > cap


def _zlib(body: bytes, wbits: int, cap: int) -> bytes:
    return zlib.decompressobj(wbits).decompress(body, cap + 1)


class DecompressionMiddleware:
    def __init__(self, default_cap: int):
        self.default_cap = default_cap

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> DecompressionMiddleware:
        return cls(crawler.settings.getint("LINKHEALTH_BODY_PEEK_BYTES"))

    def process_request(self, request: Request) -> None:
        request.headers.setdefault(b"Accept-Encoding", ACCEPT_ENCODING)

    def process_response(self, request: Request, response: Response) -> Response:
        header = response.headers.get(b"Content-Encoding")
        if not header or request.method == "HEAD" or not response.body:
            return response
        codings = [c.strip().lower() for c in header.decode("latin-1").split(",") if c.strip()]
        cap = request.meta.get("linkhealth_body_cap", self.default_cap)
        body, truncated = response.body, False
        try:
            for coding in reversed(codings):
                body, cut = decode(body, coding, cap)
                truncated = truncated or cut
        except DecodeError as exc:
            request.meta["linkhealth_decode_error"] = str(exc)
            return response
        request.meta["linkhealth_content_encoding"] = ", ".join(codings)
        if truncated:
            request.meta["linkhealth_truncated"] = True
        headers = response.headers.copy()
        del headers[b"Content-Encoding"]
        return response.replace(body=body, headers=headers)
