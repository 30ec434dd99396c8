"""The JSON report: a contract other tools rely on (see ``report_dict``), written in pieces."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from crawler.core.control_chars import json_safe
from crawler.core.fast_json import dumps_indented, key_text
from crawler.report.model import Report, UrlEntry


def report_dict(report: Report, with_urls: bool = True) -> dict[str, Any]:
    """The JSON report; ``with_urls=False`` leaves ``urls`` empty (``json_chunks`` writes
    them one by one)."""
    return {
        "run": report.run,
        "summary": report.summary,
        "headline": report.headline(),
        "comparison": report.comparison(),
        "urls": [_url_dict(entry) for entry in report.urls] if with_urls else [],
        "parse_errors": [{"path": p.path, "error": p.error, "line": p.line}
                         for p in report.parse_errors],
        "fix": {what: {"references": count.references, "documents": count.documents}
                for what, count in report.fixable.items()},
        "hosts": [{"host": h.host, "rate_limited": h.rate_limited,
                   "slowest_rate": h.slowest_rate, "longest_wait": h.longest_wait,
                   "state": h.state, "reopened": h.reopened, "settled": h.settled,
                   "summary": h.text()} for h in report.hosts],
    }


def _url_dict(entry: UrlEntry) -> dict[str, Any]:
    return {
        "url": entry.url, "outcome": entry.outcome, "status": entry.status,
        "final_url": entry.final_url, "redirects": entry.redirects, "error": entry.error,
        "checked_at": entry.checked_at, "first_failed_at": entry.first_failed_at,
        "consecutive_failures": entry.consecutive_failures,
        "permanent_redirect": entry.permanent_redirect,
        "refs": [{"path": r.path, "field": r.field, "kind": r.kind} for r in entry.refs],
        "last_snapshot": dict(entry.last_snapshot) if entry.last_snapshot else None,
        "wayback": entry.wayback,
        "confirmed": entry.confirmed,
        "failing_streak": entry.failing_streak,
        "change": entry.change,
    }


def render_json(report: Report) -> str:
    return "".join(json_chunks(report))


JSON_CHUNK_URLS = 2_000


def json_chunks(report: Report) -> Iterator[str]:
    """``report_dict(report)`` as ``json.dumps(..., indent=2, ensure_ascii=False)`` writes
    it (by ``crawler.core.fast_json``), in pieces: the URLs ``JSON_CHUNK_URLS`` at a time, each
    made only when written. DEL and C1 characters, which that leaves raw, are escaped
    (``\\u009b``): the same data, harmless on a terminal."""
    return map(json_safe, _json_pieces(report))


def _json_pieces(report: Report) -> Iterator[str]:
    document = report_dict(report, with_urls=False)
    yield "{"
    for number, (key, value) in enumerate(document.items()):
        yield ("\n  " if number == 0 else ",\n  ") + key_text(key)
        if key != "urls" or not report.urls:
            yield dumps_indented(value, indent=2, level=1)
            continue
        for start in range(0, len(report.urls), JSON_CHUNK_URLS):
            batch = report.urls[start:start + JSON_CHUNK_URLS]
            yield ("[\n    " if start == 0 else ",\n    ") + ",\n    ".join(
                dumps_indented(_url_dict(entry), indent=2, level=2) for entry in batch)
        yield "\n  ]"
    yield "\n}\n"
