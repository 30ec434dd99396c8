"""The text every report format shares: headlines, one-line summaries of a run and of a
URL's failure, section headings and column names."""

from __future__ import annotations

import re
from typing import Any

from crawler.core.text import human_bytes
from crawler.report.model import DocumentGroup, Report, UrlEntry, redirect_updates

EMOJI = {
    "ok": "✅", "broken": "🚫", "timeout": "⏳", "dns_error": "🌐", "connection_error": "🔌",
    "tls_error": "🔒", "too_many_redirects": "🔁", "blocked": "🛑", "soft_404": "👻",
    "invalid_url": "❓", "excluded": "⏭️", "forbidden_address": "⛔",
}

DOCUMENT_COLUMNS = ("field", "URL", "outcome", "status", "error", "failing for", "archived copy")


COMPARISON_COLUMNS = ("URL", "outcome", "status", "error", "failing for", "referenced in",
                      "archived copy")


HOSTS_HEADING = "Hosts that slowed the crawl"
HOSTS_EXPLAIN = ("Paced after rate-limit answers (429, 503), or treated as unresponsive (only "
                 "timeouts and connection failures) or refusing (only rate-limit answers).")



def summary_line(report: Report, emoji: bool = True) -> str:
    def mark(outcome: str) -> str:
        return f"{EMOJI.get(outcome, '•')} " if emoji else ""

    parts = [f"{'🔍 ' if emoji else ''}{report.checked} URLs"]
    parts += [f"{mark(o)}{n} {o}" for o, n in report.summary.items()]
    redirects = report.run.get("permanent_redirects") or 0
    if redirects:
        plural = "s" if redirects != 1 else ""
        parts.append(f"{'↪️ ' if emoji else ''}{redirects} permanent redirect{plural}")
    return " · ".join(parts)


def run_line(run: dict[str, Any]) -> str:
    parts = [f"started {run['started_at'] or '?'}", f"finished {run['finished_at'] or '—'}",
             f"status {run['status'] or '?'}", f"source {run['source'] or '?'}"]
    if run.get("base_url"):
        parts.append(f"base URL {run['base_url']}")
    if run.get("skipped") is not None:
        parts.append(f"{run['skipped']} skipped (checked ok recently)")
    if run.get("archived_bytes") is not None:
        parts.append(f"{human_bytes(run['archived_bytes'])} archived")
    return " · ".join(parts)


def snapshot_text(entry: UrlEntry) -> str:
    """``snapshot N (YYYY-MM-DD)`` for our own copy of the URL, or ""."""
    snapshot = entry.last_snapshot
    if not snapshot:
        return ""
    day = (snapshot.get("fetched_at") or "")[:10]
    return f"snapshot {snapshot['id']}" + (f" ({day})" if day else "")


def wayback_label(entry: UrlEntry) -> str:
    """``Wayback (YYYY-MM-DD)`` from the 14-digit capture timestamp (``Wayback`` without one)."""
    stamp = entry.wayback_timestamp or ""
    if re.fullmatch(r"\d{8}\d*", stamp):
        return f"Wayback ({stamp[:4]}-{stamp[4:6]}-{stamp[6:8]})"
    return "Wayback"


def snapshot_hint(code: Any) -> str:
    """How to get a snapshot out, with ``code`` marking up commands and options."""
    return (f"📦 {code('scrapy snapshot URL -o FILE')} writes the newest archived copy of URL"
            f" to FILE ({code('--id N')} picks snapshot N, {code('--list')} lists them).")


def has_snapshot_rows(groups: list[DocumentGroup]) -> bool:
    return any(row.entry.last_snapshot for group in groups for row in group.rows)


def outcomes_text(outcomes: dict[str, int]) -> str:
    return ", ".join(f"{o} ×{n}" for o, n in outcomes.items())


def status_text(value: int | None) -> str:
    return "" if value is None else str(value)


def nothing_to_report(report: Report) -> bool:
    return not (report.problems or redirect_updates(report) or report.parse_errors)


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"


def runs_text(count: int) -> str:
    return plural(count, "run")


def failing_text(entry: UrlEntry) -> str:
    """How long a URL has been failing: ``3 days · 2 runs``, ``first failure · not yet
    confirmed``; for a fixed URL what it recovered from; "" otherwise."""
    if entry.change == "fixed":
        return f"fixed (was {fixed_text(entry)})"
    if not entry.failing:
        return entry.failing_for
    parts = [entry.failing_for]
    if entry.failing_streak > 1:
        parts.append(runs_text(entry.failing_streak))
    if not entry.confirmed:
        parts.append("not yet confirmed")
    return " · ".join(p for p in parts if p)


def fixed_text(entry: UrlEntry) -> str:
    """``broken in 2 runs``: what a fixed URL recovered from."""
    was = entry.previous_outcome or "failing"
    return f"{was} in {runs_text(entry.previous_streak)}" if entry.previous_streak else was


def confirmation_rule(report: Report) -> str:
    n = report.broken_after
    return ("A link counts as broken as soon as it fails." if n == 1 else
            f"A link counts as broken once it has failed in {n} consecutive runs.")


def since_text(report: Report) -> str:
    previous = report.previous_run
    if previous is None:
        return "first run: nothing to compare with"
    day = (previous.get("started_at") or "")[:10]
    return f"since run {previous['id']}" + (f" ({day})" if day else "")


def headline_line(report: Report, emoji: bool = True) -> str:
    """``🚨 2 broken · 🆕 1 newly broken · ⏳ 2 failing, not yet confirmed · ✅ 1 fixed``."""
    def mark(symbol: str) -> str:
        return f"{symbol} " if emoji else ""

    head = report.headline()
    parts = [f"{mark('🚨')}{head['broken_confirmed']} broken",
             f"{mark('🆕')}{head['newly_broken']} newly broken",
             f"{mark('🔁')}{head['still_broken']} still broken",
             f"{mark('⏳')}{head['failing_unconfirmed']} failing, not yet confirmed",
             f"{mark('✅')}{head['fixed']} fixed"]
    return " · ".join(parts) + f" — {since_text(report)}"


def referenced_in(entry: UrlEntry, limit: int = 3) -> tuple[list[tuple[str, str]], int]:
    """(path, field) of the first ``limit`` references, and how many more there are."""
    return ([(ref.path, ref.field) for ref in entry.refs[:limit]],
            max(0, len(entry.refs) - limit))


COMPARISON_SECTIONS = (
    ("Newly broken", "newly_broken",
     lambda r: f"Failing in {r.broken_after} consecutive runs: counted as broken from this run."),
    ("Still broken", "still_broken", lambda r: "Counted as broken before this run, failing again."),
    ("Failing, not yet confirmed", "unconfirmed",
     lambda r: (f"Failed in fewer than {r.broken_after} consecutive runs: not counted as broken"
                " yet, in case the site was only down for a while.")),
)
"""The failing URLs of a report, partitioned by the confirmation rule: heading, the
``Report`` property listing them, and a sentence saying what they are."""


def fix_hint(report: Report, code: Any = lambda text: f"`{text}`") -> str:
    """What ``scrapy fix`` would change, in one paragraph ("" when nothing), with ``code``
    marking up commands and options."""
    moved, dead = report.fixable.get("moved"), report.fixable.get("dead")
    parts = []
    if moved and moved.references:
        parts.append(f"{code('scrapy fix -o fix.patch')} writes a patch that rewrites "
                     f"{plural(moved.references, 'reference')} in {plural(moved.documents, 'document')} "
                     f"to where their links moved (permanent redirects in "
                     f"{report.broken_after} runs in a row)")
    if dead and dead.references:
        parts.append(f"with {code('--dead auto')} it also replaces "
                     f"{plural(dead.references, 'reference')} to confirmed dead links (a Wayback "
                     f"capture, a local copy of an image, an AMP field removed)")
    if not parts:
        return ""
    return "; ".join(parts) + f". Review it, then {code('git apply fix.patch')} in the site."

