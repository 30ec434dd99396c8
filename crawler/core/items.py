"""What the spider yields and the store pipeline records."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

OUTCOMES = (
    "ok",
    "broken",
    "timeout",
    "dns_error",
    "connection_error",
    "tls_error",
    "too_many_redirects",
    "blocked",
    "soft_404",
    "invalid_url",
    "excluded",
    "forbidden_address",
)
def outcome_rank(outcome: str) -> int:
    """Where an outcome comes in every list and report: OUTCOMES' order, unknown ones last."""
    return OUTCOMES.index(outcome) if outcome in OUTCOMES else len(OUTCOMES)


def in_outcome_order(outcomes: Iterable[str]) -> list[str]:
    """The distinct outcomes, in OUTCOMES' order (unknown ones last, by name)."""
    return sorted(set(outcomes), key=lambda outcome: (outcome_rank(outcome), outcome))


FAILING_OUTCOMES = frozenset({
    "broken", "timeout", "dns_error", "connection_error", "tls_error",
    "too_many_redirects", "soft_404", "invalid_url", "forbidden_address",
})
"""Outcomes that count as a failure for ``first_failed_at``/``consecutive_failures``.
``blocked`` and ``excluded`` are neither healthy nor failing: they leave the streak alone."""


@dataclass(slots=True)
class RefItem:
    field: str
    kind: str
    raw: str  # the URL as written in the document (credentials redacted)
    url: str  # deduplication key: the url row it points at
    host: str | None = None
    domain: str | None = None
    request_url: str | None = None  # what is requested (site-relative refs joined to the base)


@dataclass(slots=True)
class DocumentItem:
    path: str
    collection: str | None
    title: str | None
    published: str | None
    error: str | None
    error_line: int | None
    refs: list[RefItem] = field(default_factory=list)
    source_digest: str | None = None  # set when the refs can be taken back unparsed next run
    file_digest: str | None = None  # SHA-256 of the bytes read (what scrapy fix may edit)


@dataclass(slots=True)
class UnchangedDocumentItem:
    """A document whose bytes are the ones recorded in run ``last_run_id``: it and the refs it
    had then are marked seen again (crawler.site.unchanged_documents)."""

    document_id: int
    last_run_id: int
    file_digest: str | None = None  # only when the database has none for it yet


@dataclass(slots=True)
class Hop:
    url: str
    status: int


@dataclass(slots=True)
class Capture:
    """A body fetched for the archive, and what to store about it.

    The spider fills the HTTP part; the pipeline adds the digest and, when the
    bytes are new to the database, the compressed data, then drops ``body``.
    """

    url: str
    final_url: str
    fetched_at: str
    status: int
    protocol: str | None
    headers: list[tuple[str, str]]
    content_type: str | None
    content_encoding: str | None
    body: bytes | None
    truncated: bool = False
    etag: str | None = None
    last_modified: str | None = None
    size: int = 0
    digest: str | None = None
    compressed: bytes | None = None  # None when the blob is already stored


@dataclass(slots=True)
class WaybackItem:
    url: str  # key of the url row
    around: str  # the date the capture should be closest to (YYYY-MM-DD)
    status: str  # found | none | error
    timestamp: str | None = None
    capture_url: str | None = None
    error: str | None = None
    looked_up_at: str | None = None


@dataclass(slots=True)
class HostItem:
    """What one host needed in a run: pacing after rate-limit answers, or being treated as
    unresponsive or refusing. Recorded when the crawl closes, for the hosts that needed any."""

    host: str  # its download slot: the host name (or a named slot such as "wayback")
    rate_limited: int = 0  # rate-limit answers (429, 503) it gave
    slowest_rate: float | None = None  # requests/s it was slowed to at most
    longest_wait: float = 0.0  # seconds of the longest pause it asked for (or we chose)
    state: str | None = None  # "unresponsive: 12 consecutive timeouts", "refusing: ..." or None
    reopened: bool = False  # it answered healthily again after that
    settled: int = 0  # checks settled without a request because of it
    probes: int = 0  # requests sent to it one at a time while it was so


@dataclass(slots=True)
class CheckItem:
    url: str  # key of the url row
    outcome: str
    status: int | None = None
    final_url: str | None = None
    redirects: list[Hop] = field(default_factory=list)
    permanent_redirect: bool = False
    error: str | None = None
    elapsed_ms: int | None = None
    content_type: str | None = None
    content_length: int | None = None
    method: str | None = None
    head_status: int | None = None
    attempts: int = 0
    checked_at: str | None = None
    host_state: str | None = None  # "unresponsive"/"refusing": cut short (attempts 0: not requested)
    not_modified: bool = False  # a 304 answer to our conditional request
    snapshot_id: int | None = None  # the snapshot holding this check's content
    capture: Capture | None = None  # a new snapshot to store with this check
