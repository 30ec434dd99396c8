"""``Transfer-Encoding`` as RFC 9112 section 6 reads it: how the body is framed, what to undo.

Pure functions and decoders, no I/O (``crawler/fetch/client.py`` feeds them):

* every ``Transfer-Encoding`` line of an answer is one part of a single list, in the order
  the codings were applied (``gzip, chunked`` and ``gzip`` then ``chunked`` on two lines
  are the same);
* ``chunked`` frames the body only as the final coding; otherwise the body is read until
  the connection closes. ``chunked`` applied twice is refused;
* the other codings are undone as the body arrives: ``gzip`` (``x-gzip``) and ``deflate``,
  and ``chunked`` where it is not the framing. ``identity`` (no longer registered) means
  nothing. Anything else (``compress``, ``br``...) is refused: we never offered it (no
  ``TE`` header), and cannot read it;
* a decoder gives at most ``PIECE`` bytes per step and only as fast as they are asked for,
  so the caps on a body (``crawler/fetch/body_limit.py``, ``DOWNLOAD_MAXSIZE``) stop a
  transfer-coded gzip bomb as they stop any long body: what is never asked for is never
  inflated;
* data that does not decode ends the body where it went wrong, as a broken ``chunked``
  framing does (``BadCoding``: data loss).

Twisted's parser, and so Scrapy's client, looks at the first ``Transfer-Encoding`` line
alone and knows ``chunked`` only: ``gzip, chunked`` fails, and ``chunked`` then ``gzip``
on two lines is read as chunked, the gzip left undone.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator

from crawler.fetch.message import ChunkedBody

PIECE = 64 * 1024  # the most decoded bytes one step makes: a bomb's cost in memory at once
MAX_CODINGS = 4  # codings beyond the framing; each keeps a decoder's state
DECODABLE = frozenset({b"gzip", b"x-gzip", b"deflate", b"chunked"})


class UnsupportedCoding(Exception):
    """A Transfer-Encoding this client cannot read: the answer is refused."""


class BadCoding(Exception):
    """Transfer-coded data that does not decode (read as data loss)."""


def transfer_codings(values: list[bytes]) -> tuple[bool, list[bytes]]:
    """The ``Transfer-Encoding`` lines -> (``chunked`` frames the body, the codings to undo
    in the order they were applied); UnsupportedCoding for what cannot be read."""
    codings = [item.partition(b";")[0].strip().lower()
               for value in values for item in value.split(b",")]
    codings = [coding for coding in codings if coding and coding != b"identity"]
    if codings.count(b"chunked") > 1:
        raise UnsupportedCoding("Transfer-Encoding applies chunked more than once")
    framed = bool(codings) and codings[-1] == b"chunked"
    inner = codings[:-1] if framed else codings
    for coding in inner:
        if coding not in DECODABLE:
            raise UnsupportedCoding(f"unsupported transfer coding {coding[:40]!r}")
    if len(inner) > MAX_CODINGS:
        raise UnsupportedCoding(f"more than {MAX_CODINGS} transfer codings")
    return framed, inner


class TransferDecoder:
    """Undoes transfer codings (the last applied first) as the body arrives."""

    def __init__(self, codings: list[bytes]):
        self.steps = [_step(coding) for coding in reversed(codings)]

    def feed(self, data: bytes) -> Iterator[bytes]:
        """The decoded pieces of ``data``, made as they are asked for; BadCoding on the way."""
        pieces: Iterable[bytes] = (data,)
        for step in self.steps:
            pieces = _through(step, pieces)
        return iter(pieces)

    @property
    def complete(self) -> bool:
        """Every coding has come to its end (a body cut short has not)."""
        return all(step.done for step in self.steps)


def _through(step: _Inflate | _Dechunk, pieces: Iterable[bytes]) -> Iterator[bytes]:
    for piece in pieces:
        yield from step.feed(piece)


def _step(coding: bytes) -> _Inflate | _Dechunk:
    if coding == b"chunked":
        return _Dechunk()
    if coding == b"deflate":
        return _Inflate(zlib.MAX_WBITS, raw_fallback=True)
    return _Inflate(zlib.MAX_WBITS | 16)


class _Inflate:
    """gzip or deflate, at most PIECE bytes a step; bytes after the stream's end are ignored."""

    def __init__(self, wbits: int, raw_fallback: bool = False):
        self.decompressor = zlib.decompressobj(wbits)
        self.raw_fallback = raw_fallback  # deflate: some servers send it without zlib's header
        self.started = False

    @property
    def done(self) -> bool:
        return self.decompressor.eof

    def feed(self, data: bytes) -> Iterator[bytes]:
        decompressor = self.decompressor
        while data or self.started:
            if decompressor.eof:
                return
            try:
                out = decompressor.decompress(data, PIECE)
            except zlib.error as exc:
                if self.raw_fallback and not self.started:
                    self.raw_fallback, self.decompressor = False, zlib.decompressobj(-zlib.MAX_WBITS)
                    decompressor = self.decompressor
                    continue
                raise BadCoding(f"transfer-coded body does not decode: {exc}") from exc
            self.started = True
            if out:
                yield out
            data = decompressor.unconsumed_tail
            if not data and len(out) < PIECE:
                return  # all of the input is in, and nothing more is pending


class _Dechunk:
    """``chunked`` applied under another coding (so not the framing)."""

    def __init__(self) -> None:
        self.chunks = ChunkedBody()

    @property
    def done(self) -> bool:
        return self.chunks.done

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self.chunks.done:
            return
        yield from self.chunks.feed(data)
        if self.chunks.error is not None:
            raise BadCoding(f"chunked transfer coding: {self.chunks.error}")
