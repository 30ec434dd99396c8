"""HTTP/1.1 messages for ``crawler/fetch/client.py``: the request's bytes, the answer's head, its body.

Pure functions and one small decoder, no I/O. They follow what Scrapy's HTTP/1.1 handler
accepts (Twisted's client parser, made lenient by Scrapy), so a server answers the same way
whichever client asked:

* the request target is the URL's own text after the host (path, ``;params``, ``?query``),
  never re-encoded: ``//`` and escapes such as ``%2C`` reach the server byte-exact;
* lines of the answer's head may end in ``\\n`` alone; a header line without a colon is
  skipped; a line starting with a space or tab continues the one before;
* the connection-control headers (``Content-Length``, ``Transfer-Encoding``,
  ``Connection``...) decide how the body is framed and are not part of the response's
  headers, except ``Content-Length`` in the answer to a HEAD;
* several ``Content-Length`` values must agree;
* ``1xx`` answers are interim (the final one follows), except ``101``: we never send
  ``Upgrade``, so a protocol switch is a failure, not something to wait past.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crawler.core.compat import BadResponseVersion, ParseError
from crawler.core.urls import DEFAULT_PORTS

if TYPE_CHECKING:
    from scrapy import Request

MAX_LINE = 16384  # bytes in one line of the head: Twisted's LineReceiver.MAX_LENGTH
MAX_HEAD = 4 * 1024 * 1024  # bytes in the whole head, whatever its lines
NO_BODY_STATUSES = frozenset({204, 304})
SWITCHING_PROTOCOLS = 101
CONNECTION_CONTROL = frozenset({
    b"content-length", b"connection", b"keep-alive", b"te", b"trailers",
    b"transfer-encoding", b"upgrade", b"proxy-connection",
})
HEX_DIGITS = b"0123456789abcdefABCDEF"


class OversizedHead(Exception):
    """A line of the answer's head, or the head as a whole, is longer than we read."""


class ProtocolSwitched(Exception):
    """A ``101`` answer to a request that asked for no other protocol: nothing HTTP follows."""


class BadChunk(Exception):
    """A chunked body whose framing is not HTTP's (read as data loss, as Twisted does)."""


def split_url(url: str) -> tuple[str, str, str]:
    """``http://u@h:1/a//b;p?q#f`` -> (``http``, ``u@h:1``, ``/a//b;p?q``): the text as written.

    The netloc ends at the first ``/``, ``?`` or ``#`` (as in ``urllib.parse``); an empty
    path becomes ``/``; the fragment is never sent.
    """
    scheme, _, after = url.partition("://")
    end = len(after)
    for mark in "/?#":
        index = after.find(mark, 0, end)
        if index >= 0:
            end = index
    target = after[end:].partition("#")[0]
    if not target.startswith("/"):
        target = "/" + target
    return scheme.lower(), after[:end], target


def host_header(scheme: str, hostname: str, port: int) -> bytes:
    """What ``Host:`` says: the port only when it is not the scheme's default."""
    host = f"[{hostname}]" if ":" in hostname else hostname
    if DEFAULT_PORTS.get(scheme) != port:
        host = f"{host}:{port}"
    return host.encode("ascii")


def request_bytes(request: Request, target: str, host: bytes) -> bytes:
    """The request line, the headers and the body, ready to write."""
    parts = [request.method.encode("ascii"), b" ", target.encode("ascii"), b" HTTP/1.1\r\n"]
    headers = request.headers
    if b"Host" not in headers:
        parts += (b"Host: ", host, b"\r\n")
    for name, values in headers.items():
        for value in values:
            parts += (_no_line_breaks(name), b": ", _no_line_breaks(value), b"\r\n")
    body = request.body
    if body:
        parts += (b"Content-Length: ", str(len(body)).encode("ascii"), b"\r\n\r\n", body)
    else:
        parts.append(b"\r\n")
    return b"".join(parts)


def _no_line_breaks(value: bytes) -> bytes:
    """A header name or value cannot carry a line break (no header injection)."""
    if b"\n" in value or b"\r" in value:
        return value.replace(b"\r\n", b" ").replace(b"\r", b" ").replace(b"\n", b" ")
    return value


def head_end(buffer: bytearray, start: int) -> tuple[int, int] | None:
    """Where the head ends in ``buffer``, looking from ``start`` (a ``\\n`` ending a line):
    (end of the last header line, start of the body), or None if it has not arrived."""
    crlf = buffer.find(b"\n\r\n", start)
    lf = buffer.find(b"\n\n", start)
    if lf >= 0 and (crlf < 0 or lf < crlf):
        return lf, lf + 2
    if crlf >= 0:
        return crlf, crlf + 3
    return None


def check_unfinished_head(buffer: bytearray) -> None:
    """Raise OversizedHead when what has come of the head can no longer be a head we read."""
    if len(buffer) > MAX_HEAD:
        raise OversizedHead(f"the answer's head is longer than {MAX_HEAD} bytes")
    if len(buffer) - buffer.rfind(b"\n") - 1 > MAX_LINE:
        raise OversizedHead(f"a line of the answer's head is longer than {MAX_LINE} bytes")


def parse_status(line: bytes) -> tuple[tuple[bytes, int, int], int]:
    """``HTTP/1.1 200 OK`` -> ((b"HTTP", 1, 1), 200); Twisted's ParseError otherwise."""
    parts = line.split(b" ", 2)
    if len(parts) not in (2, 3):
        raise ParseError("wrong number of parts", line)
    try:
        status = int(parts[1])
    except ValueError:
        raise ParseError("non-integer status code", line) from None
    return parse_version(parts[0]), status


def parse_version(text: bytes) -> tuple[bytes, int, int]:
    try:
        protocol, number = text.split(b"/")
        major_text, minor_text = number.split(b".")
        major, minor = int(major_text), int(minor_text)
    except ValueError as exc:
        raise BadResponseVersion(str(exc), text) from None
    if major < 0 or minor < 0:
        raise BadResponseVersion("version may not be negative", text)
    return protocol, major, minor


def parse_headers(block: bytes, head_request: bool) -> tuple[dict[bytes, list[bytes]],
                                                              dict[bytes, list[bytes]]]:
    """Header lines (without the status line) -> the response's headers, in the order they
    came, under Scrapy's ``Title-Case`` names; and the connection-control headers, under
    lower-case names. ``Content-Length`` is the response's in the answer to a HEAD."""
    lines = block.split(b"\n")
    if max(map(len, lines)) > MAX_LINE + 1:
        raise OversizedHead(f"a line of the answer's head is longer than {MAX_LINE} bytes")
    fields: list[bytes] = []
    for line in lines:
        line = line.removesuffix(b"\r")
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += line  # a folded line continues the one before
        elif line:
            fields.append(line)
    entity: dict[bytes, list[bytes]] = {}
    control: dict[bytes, list[bytes]] = {}
    for field in fields:
        name, colon, value = field.partition(b":")
        if not colon:  # a line without a colon is skipped, as browsers and Scrapy do
            continue
        name = name.lower()
        if name in CONNECTION_CONTROL and not (head_request and name == b"content-length"):
            control.setdefault(name, []).append(value.strip())
        else:
            entity.setdefault(name.title(), []).append(value.strip())
    return entity, control


def content_length(values: list[bytes]) -> int | None:
    """The body's length from its ``Content-Length`` values: repeated values must agree."""
    if not values:
        return None
    joined = b",".join(values)
    numbers = {_decimal(v) for v in joined.split(b",")}
    if len(numbers) != 1:
        raise ValueError(f"Invalid response: conflicting Content-Length headers: {joined!r}")
    return numbers.pop()


def _decimal(text: bytes) -> int:
    text = text.strip(b" \t")
    if not text.isdigit():
        raise ValueError(f"non-integer Content-Length: {text!r}")
    return int(text)


def keeps_alive(version: tuple[bytes, int, int], connection: list[bytes] | None) -> bool:
    """An HTTP/1.1 answer without ``Connection: close`` leaves the connection reusable."""
    if version[1] != 1 or version[2] != 1:
        return False
    return not connection or not any(b"close" in value.lower() for value in connection)


class ChunkedBody:
    """Decodes ``Transfer-Encoding: chunked`` as it arrives: ``feed`` returns the chunk data
    read so far; ``done`` once the last chunk and its trailers have come, and ``rest`` holds
    whatever followed them. Framing that is not HTTP's sets ``error`` (a BadChunk) and ends
    the body where it went wrong."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.left = -1  # bytes of the current chunk still to come; -1: a size line is next
        self.done = False
        self.in_trailers = False
        self.rest = b""
        self.error: BadChunk | None = None

    def feed(self, data: bytes) -> list[bytes]:
        buffer = self.buffer
        buffer += data
        out: list[bytes] = []
        position = 0
        while not self.done:
            if self.left > 0:
                piece = bytes(buffer[position:position + self.left])
                if not piece:
                    break
                out.append(piece)
                position += len(piece)
                self.left -= len(piece)
                continue
            newline = buffer.find(b"\n", position)
            if newline < 0:
                if len(buffer) - position > MAX_LINE:
                    self.error = BadChunk(f"a chunk size line is longer than {MAX_LINE} bytes")
                break
            line = bytes(buffer[position:newline]).removesuffix(b"\r")
            position = newline + 1
            try:
                self._line(line)
            except BadChunk as exc:
                self.error = exc
                break
        if self.done or self.error:
            self.rest = bytes(buffer[position:])
            buffer.clear()
        else:
            del buffer[:position]
        return out

    def _line(self, line: bytes) -> None:
        if self.in_trailers:
            self.done = not line
        elif self.left == 0:  # the line break after a chunk's data
            if line:
                raise BadChunk(f"chunk data not followed by a line break: {line[:40]!r}")
            self.left = -1
        else:
            size = line.partition(b";")[0].strip()
            if not size or size.strip(HEX_DIGITS):
                raise BadChunk(f"not a chunk size: {line[:40]!r}")
            self.left = int(size, 16)
            self.in_trailers = self.left == 0
