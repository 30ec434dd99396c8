"""What crosses Redis in a distributed run: requests and results as signed data, never pickles.

Whoever can write to the Redis can put anything in it, so nothing read from it is
unpickled, imported or called by name. Each entry is a *frame*:

    b"LH1" + HMAC-SHA256(secret, kind NUL context NUL body) + body

* ``kind`` is ``request``, ``result`` or ``stats``; ``context`` binds the frame to where it
  belongs: the run's namespace and the host (a request), or the URL key (a result). A frame
  copied to another run, host or URL does not verify.
* A request's body is JSON: URL, method, the headers linkhealth sets (``REQUEST_HEADERS``),
  the meta keys it needs (``REQUEST_META``) and the spider's callback and errback by name,
  from a fixed set.
* A result's body is zstd(4-byte length of the JSON, the JSON of the ``CheckItem`` with its
  ``Capture``, the capture's body bytes): the body travels compressed, as it did.

The secret (``LINKHEALTH_REDIS_SECRET``) is held by the run's processes only: without it a
client of the same Redis cannot forge a check result or make a worker fetch a URL. A frame
that does not verify, or whose data does not fit the schema (types, lengths, known fields
only), raises ``WireError``; the caller counts it, logs one line and skips it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import zstandard

from crawler.core.items import OUTCOMES, Capture, CheckItem, Hop

MAGIC = b"LH1"
TAG_BYTES = 32
MIN_SECRET_CHARS = 16
SECRET_HELP = ("set LINKHEALTH_REDIS_SECRET in the environment of the coordinator and of every "
               f"worker (the same value, at least {MIN_SECRET_CHARS} characters, e.g. "
               "`openssl rand -hex 32`): what crosses Redis is signed with it")

# What a request crossing Redis may carry: the fields the links spider sets, nothing else.
REQUEST_METHODS = frozenset({"GET", "HEAD"})
REQUEST_HEADERS = frozenset({"authorization", "if-none-match", "if-modified-since"})
REQUEST_META = frozenset({"linkhealth_key", "linkhealth_url", "linkhealth_validated"})
CALLBACKS = frozenset({"parse"})
ERRBACKS = frozenset({"failed"})

# Bounds of what is accepted (generous: a frame is only parsed once its signature verified).
MAX_TEXT = 1 << 20  # a URL, an error, a header value
MAX_HEADERS = 1_000
MAX_HOPS = 1_000
MAX_REQUEST = 8 << 20
JSON_SLACK = 64 << 20  # a result's JSON (headers, redirect chain) beside its body


class WireError(ValueError):
    """An entry read from Redis that is not a valid, signed linkhealth frame."""


def run_secret(value: str | None) -> bytes:
    """The HMAC key from ``LINKHEALTH_REDIS_SECRET``; a ``WireError`` says what to set."""
    if not value or len(value) < MIN_SECRET_CHARS:
        raise WireError(("LINKHEALTH_REDIS_SECRET is too short: " if value else "") + SECRET_HELP)
    return value.encode("utf-8", "surrogateescape")


@dataclass(frozen=True)
class RequestData:
    """A link check request, as the worker rebuilds it (``crawler.distributed.worker``)."""

    url: str
    method: str
    headers: list[tuple[str, str]]
    meta: dict[str, Any]
    callback: str
    errback: str


class Wire:
    """Frames of one run's namespace ``ns``, signed with the run's secret."""

    def __init__(self, secret: bytes, ns: str, body_limit: int):
        self._mac = hmac.new(secret, digestmod=hashlib.sha256)
        self.ns = ns.encode("utf-8", "surrogateescape")
        self.result_limit = max(0, body_limit) + JSON_SLACK
        self._compressor = zstandard.ZstdCompressor(level=3)
        self._decompressor = zstandard.ZstdDecompressor()

    # -- frames --------------------------------------------------------------------

    def _tag(self, kind: bytes, context: str, body: bytes) -> bytes:
        mac = self._mac.copy()
        mac.update(b"%s\0%s\0%s\0" % (kind, self.ns, context.encode("utf-8", "surrogateescape")))
        mac.update(body)
        return mac.digest()

    def _frame(self, kind: bytes, context: str, body: bytes) -> bytes:
        return b"".join((MAGIC, self._tag(kind, context, body), body))

    def _open(self, kind: bytes, context: str, frame: Any, limit: int) -> bytes:
        if not isinstance(frame, bytes) or not frame.startswith(MAGIC):
            raise WireError("not a linkhealth frame (a pickle or other foreign data)")
        if len(frame) > limit:
            raise WireError(f"{len(frame)} bytes, more than the {limit} allowed")
        start = len(MAGIC) + TAG_BYTES
        body = frame[start:]
        if not hmac.compare_digest(frame[len(MAGIC):start], self._tag(kind, context, body)):
            raise WireError("bad signature (not from this run's processes, or altered)")
        return body

    # -- requests (coordinator -> worker) ----------------------------------------------

    def dump_request(self, request: Any, host: str) -> bytes:
        """A link check ``scrapy.Request`` as a frame bound to ``host``'s queue."""
        # Only the allowed meta keys travel; the rest is Scrapy's bookkeeping of this process
        # (``is_start_request``), which the worker's own Scrapy keeps anew.
        meta = {k: v for k, v in request.meta.items() if k in REQUEST_META}
        if request.body or request.cb_kwargs:
            raise WireError("a request with a body or cb_kwargs cannot cross Redis")
        headers = [[name.decode("latin-1"), value.decode("latin-1")]
                   for name, values in request.headers.items() for value in values]
        data = {"url": request.url, "method": request.method, "headers": headers, "meta": meta,
                "callback": _name(request.callback), "errback": _name(request.errback)}
        _request_data(data, host)  # what the worker would refuse is refused here
        return self._frame(b"request", host, _json(data))

    def load_request(self, frame: Any, host: str) -> RequestData:
        body = self._open(b"request", host, frame, MAX_REQUEST)
        return _request_data(_loads(body), host)

    # -- results (worker -> coordinator) ----------------------------------------------

    def dump_result(self, item: CheckItem) -> bytes:
        capture = item.capture
        body = capture.body if capture is not None and capture.body is not None else b""
        data = _json(_check_dict(item))
        packed = self._compressor.compress(b"".join((len(data).to_bytes(4, "big"), data, body)))
        return self._frame(b"result", item.url, packed)

    def load_result(self, frame: Any, key: str) -> CheckItem:
        packed = self._open(b"result", key, frame, self.result_limit)
        size = zstandard.frame_content_size(packed) if len(packed) >= 4 else -1
        if not 4 <= size <= self.result_limit:
            raise WireError("compressed data of unknown or excessive size")
        try:
            raw = self._decompressor.decompress(packed)
        except zstandard.ZstdError as exc:
            raise WireError(f"corrupt compressed data ({exc})") from None
        length = int.from_bytes(raw[:4], "big")
        if length > len(raw) - 4:
            raise WireError("truncated result")
        item = _check_item(_loads(raw[4:4 + length]), raw[4 + length:])
        if item.url != key:
            raise WireError(f"a result for {item.url!r} filed under another URL")
        return item

    # -- the coordinator's counters (for `scrapy ingest`) -------------------------------

    def dump_stats(self, values: dict[str, int]) -> bytes:
        return self._frame(b"stats", "", _json(values))

    def load_stats(self, frame: Any, names: tuple[str, ...]) -> dict[str, int]:
        data = _loads(self._open(b"stats", "", frame, MAX_REQUEST))
        _only(data, set(names), "counters")
        return {name: _int(data, name, 0, 1 << 62) or 0 for name in names}


# -- JSON and its schema -----------------------------------------------------------


def _json(data: Any) -> bytes:
    # ensure_ascii: a lone surrogate (a URL key from a file name) round-trips as \\udcxx.
    return json.dumps(data, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def _loads(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise WireError(f"not JSON ({exc})") from None


def _name(function: Any) -> str | None:
    return getattr(function, "__name__", None) if function is not None else None


def _only(data: Any, fields: set[str], what: str) -> None:
    if not isinstance(data, dict):
        raise WireError(f"{what}: not an object")
    unknown = data.keys() - fields
    if unknown:
        raise WireError(f"{what}: unknown field(s) {sorted(unknown)[:5]}")


def _text(data: dict, name: str, optional: bool = True, limit: int = MAX_TEXT) -> str | None:
    value = data.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise WireError(f"{name}: not a string of at most {limit} characters")
    return value


def _int(data: dict, name: str, low: int, high: int, optional: bool = True) -> int | None:
    value = data.get(name)
    if value is None and optional:
        return None
    if type(value) is not int or not low <= value <= high:
        raise WireError(f"{name}: not an integer from {low} to {high}")
    return value


def _bool(data: dict, name: str) -> bool:
    value = data.get(name, False)
    if type(value) is not bool:
        raise WireError(f"{name}: not true or false")
    return value


def _pairs(value: Any, name: str, limit: int) -> list[tuple[str, str]]:
    if not isinstance(value, list) or len(value) > limit:
        raise WireError(f"{name}: not a list of at most {limit} pairs")
    pairs = []
    for pair in value:
        if (not isinstance(pair, list) or len(pair) != 2
                or not all(isinstance(s, str) and len(s) <= MAX_TEXT for s in pair)):
            raise WireError(f"{name}: not a list of [name, value] strings")
        pairs.append((pair[0], pair[1]))
    return pairs


REQUEST_FIELDS = {"url", "method", "headers", "meta", "callback", "errback"}


def _request_data(data: Any, host: str) -> RequestData:
    _only(data, REQUEST_FIELDS, "request")
    url = _text(data, "url", optional=False)
    assert url is not None
    scheme: str | None
    url_host: str | None
    try:
        parts = urlsplit(url)
        scheme, url_host = parts.scheme, (parts.hostname or "").lower()
    except ValueError:
        scheme = url_host = None
    if scheme not in ("http", "https") or url_host != host:
        raise WireError(f"request URL {url[:200]!r} is not an http(s) URL of host {host[:200]!r}")
    method = data.get("method")
    if method not in REQUEST_METHODS:
        raise WireError(f"method {str(method)[:20]!r} not allowed")
    headers = _pairs(data.get("headers"), "headers", len(REQUEST_HEADERS))
    if any(name.lower() not in REQUEST_HEADERS for name, _ in headers):
        raise WireError("request headers: only " + ", ".join(sorted(REQUEST_HEADERS)))
    meta = data.get("meta")
    _only(meta, set(REQUEST_META), "request meta")
    for name in ("linkhealth_key", "linkhealth_url"):
        _text(meta, name, optional=False)
    # the snapshot whose validators the coordinator sent (crawler.policy.conditional): a 304 points at it
    _int(meta, "linkhealth_validated", 1, BIG)
    if data.get("callback") not in CALLBACKS or data.get("errback") not in ERRBACKS:
        raise WireError("callback/errback not among " + ", ".join(sorted(CALLBACKS | ERRBACKS)))
    return RequestData(url, method, headers, dict(meta), data["callback"], data["errback"])


CHECK_FIELDS = {"url", "outcome", "status", "final_url", "redirects", "permanent_redirect",
                "error", "elapsed_ms", "content_type", "content_length", "method",
                "head_status", "attempts", "checked_at", "not_modified", "snapshot_id", "capture",
                "host_state"}
HOST_STATES = {None, "unresponsive", "refusing"}  # crawler.policy.host_health
CAPTURE_FIELDS = {"url", "final_url", "fetched_at", "status", "protocol", "headers",
                  "content_type", "content_encoding", "truncated", "etag", "last_modified",
                  "body_size"}
STATUS_MAX = 999
BIG = 1 << 62


def _check_dict(item: CheckItem) -> dict[str, Any]:
    capture = item.capture
    return {
        "url": item.url, "outcome": item.outcome, "status": item.status,
        "final_url": item.final_url, "redirects": [[h.url, h.status] for h in item.redirects],
        "permanent_redirect": item.permanent_redirect, "error": item.error,
        "elapsed_ms": item.elapsed_ms, "content_type": item.content_type,
        "content_length": item.content_length, "method": item.method,
        "head_status": item.head_status, "attempts": item.attempts,
        "checked_at": item.checked_at, "not_modified": item.not_modified,
        "snapshot_id": item.snapshot_id,  # a 304: the snapshot the coordinator's request named
        "host_state": item.host_state,
        "capture": None if capture is None else {
            "url": capture.url, "final_url": capture.final_url, "fetched_at": capture.fetched_at,
            "status": capture.status, "protocol": capture.protocol,
            "headers": [list(pair) for pair in capture.headers],
            "content_type": capture.content_type, "content_encoding": capture.content_encoding,
            "truncated": capture.truncated, "etag": capture.etag,
            "last_modified": capture.last_modified,
            "body_size": None if capture.body is None else len(capture.body)},
    }


def _check_item(data: Any, body: bytes) -> CheckItem:
    _only(data, CHECK_FIELDS, "result")
    if data.get("outcome") not in OUTCOMES:
        raise WireError(f"outcome {str(data.get('outcome'))[:40]!r} unknown")
    if data.get("host_state") not in HOST_STATES:
        raise WireError(f"host_state {str(data.get('host_state'))[:40]!r} unknown")
    hops = data.get("redirects", [])
    if not isinstance(hops, list) or len(hops) > MAX_HOPS:
        raise WireError(f"redirects: not a list of at most {MAX_HOPS} hops")
    redirects = []
    for hop in hops:
        if not (isinstance(hop, list) and len(hop) == 2):
            raise WireError("redirects: not [url, status] pairs")
        pair = {"url": hop[0], "status": hop[1]}
        redirects.append(Hop(_text(pair, "url", optional=False),  # type: ignore[arg-type]
                             _int(pair, "status", 0, STATUS_MAX, optional=False)))  # type: ignore[arg-type]
    capture = data.get("capture")
    item = CheckItem(
        url=_text(data, "url", optional=False),  # type: ignore[arg-type]
        outcome=data["outcome"],
        status=_int(data, "status", 0, STATUS_MAX),
        final_url=_text(data, "final_url"),
        redirects=redirects,
        permanent_redirect=_bool(data, "permanent_redirect"),
        error=_text(data, "error"),
        elapsed_ms=_int(data, "elapsed_ms", 0, BIG),
        content_type=_text(data, "content_type"),
        content_length=_int(data, "content_length", 0, BIG),
        method=_text(data, "method", limit=16),
        head_status=_int(data, "head_status", 0, STATUS_MAX),
        attempts=_int(data, "attempts", 0, 1_000_000, optional=False),  # type: ignore[arg-type]
        checked_at=_text(data, "checked_at", limit=64),
        not_modified=_bool(data, "not_modified"),
        snapshot_id=_int(data, "snapshot_id", 1, BIG),
        host_state=data.get("host_state"),
        capture=None if capture is None else _capture(capture, body),
    )
    if capture is None and body:
        raise WireError("body bytes without a capture")
    return item


def _capture(data: Any, body: bytes) -> Capture:
    _only(data, CAPTURE_FIELDS, "capture")
    size = _int(data, "body_size", 0, BIG)
    if (size if size is not None else 0) != len(body):
        raise WireError(f"capture body: {len(body)} bytes where {size} were announced")
    return Capture(
        url=_text(data, "url", optional=False),  # type: ignore[arg-type]
        final_url=_text(data, "final_url", optional=False),  # type: ignore[arg-type]
        fetched_at=_text(data, "fetched_at", optional=False, limit=64),  # type: ignore[arg-type]
        status=_int(data, "status", 0, STATUS_MAX, optional=False),  # type: ignore[arg-type]
        protocol=_text(data, "protocol", limit=32),
        headers=_pairs(data.get("headers", []), "capture headers", MAX_HEADERS),
        content_type=_text(data, "content_type"),
        content_encoding=_text(data, "content_encoding"),
        body=None if size is None else body,
        truncated=_bool(data, "truncated"),
        etag=_text(data, "etag"),
        last_modified=_text(data, "last_modified"),
    )
