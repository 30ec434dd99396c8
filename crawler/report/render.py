"""Renderers of a ``crawler.report.model.Report``: JSON, Markdown and CSV here, HTML in
``crawler.report.html`` (which shares the text helpers below).

JSON is a contract other tools rely on (see ``report_dict``); the others are
for people. Every renderer is deterministic for a given report.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections.abc import Callable, Iterator
from typing import Any

from crawler.core.control_chars import CONTROLS, REPLACEMENT, json_safe, printable
from crawler.core.fast_json import dumps_indented, key_text
from crawler.report.model import (
    DocumentGroup,
    Report,
    UrlEntry,
    by_document,
    by_domain,
    redirect_updates,
)

EMOJI = {
    "ok": "✅", "broken": "🚫", "timeout": "⏳", "dns_error": "🌐", "connection_error": "🔌",
    "tls_error": "🔒", "too_many_redirects": "🔁", "blocked": "🛑", "soft_404": "👻",
    "invalid_url": "❓", "excluded": "⏭️", "forbidden_address": "⛔",
}

CSV_COLUMNS = ("path", "field", "kind", "url", "outcome", "status", "final_url", "error",
               "checked_at", "first_failed_at", "consecutive_failures", "permanent_redirect",
               "last_snapshot_id", "wayback", "failing_streak", "confirmed", "change")

DOCUMENT_COLUMNS = ("field", "URL", "outcome", "status", "error", "failing for", "archived copy")


# -- JSON ----------------------------------------------------------------------


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


# -- shared text -----------------------------------------------------------------


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


def human_bytes(count: int) -> str:
    if count < 1024:
        return f"{count} byte{'s' if count != 1 else ''}"
    value = float(count)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024 or unit == "GiB":
            break
    return f"{value:.1f} {unit}"


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


def runs_text(count: int) -> str:
    return f"{count} run{'s' if count != 1 else ''}"


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


# -- Markdown ------------------------------------------------------------------


# Markdown punctuation that could start a link, an image, emphasis, code, strikethrough,
# math (GitHub) or end a table cell; '_' only where it is not inside a word (a_b is safe).
_MD_SPECIAL = re.compile(r"[\\`*\[\]|~$]|(?<![^\W_])_|_(?![^\W_])")
# What would make a paragraph a heading or a list (a document's title stands alone).
_MD_BLOCK_START = re.compile(r"^(?:([#+=-])|(\d+)([.)]))")
_AUTOLINK_STOP = re.compile(r"[\s<>]")


def _md_text(value: Any) -> str:
    """One line: whitespace runs (newlines too) collapsed, control characters replaced."""
    return printable(" ".join(("" if value is None else str(value)).split()))


def md_cell(value: Any) -> str:
    """Text from the site or the web as inert Markdown: links, images, HTML and emphasis in it
    show as the characters they are. '&' stays: an entity only ever makes text."""
    text = _MD_SPECIAL.sub(r"\\\g<0>", _md_text(value))
    text = text.replace("<", "&lt;").replace(">", "&gt;")
    return _MD_BLOCK_START.sub(_escape_block_start, text, count=1)


def _escape_block_start(match: re.Match) -> str:
    marker, number, delimiter = match.groups()
    return f"\\{marker}" if marker else f"{number}\\{delimiter}"


def md_code(value: Any, in_table: bool = True) -> str:
    """A code span (nothing in it is Markdown); its fence is longer than any run of
    backticks inside. In a table cell '|' is escaped, which GFM undoes."""
    text = _md_text(value)
    if in_table:
        text = text.replace("|", "\\|")
    fence = "`"
    while fence in text:
        fence += "`"
    return f"{fence} {text} {fence}" if text.startswith("`") or text.endswith("`") \
        else f"{fence}{text}{fence}"


def md_url(url: str | None) -> str:
    """An http(s) URL as an autolink, ``<URL>``: clickable, and nothing inside it is Markdown.
    Anything else (``javascript:``, a URL with spaces) is text (``md_cell``). For table cells."""
    if not url:
        return ""
    if url[:8].lower().startswith(("http://", "https://")) and url.isprintable() \
            and not _AUTOLINK_STOP.search(url):
        return "<" + url.replace("|", "\\|") + ">"
    return md_cell(url)


def md_link(text: str, url: str | None) -> str:
    """A Markdown link for http(s) URLs (characters that would end it percent-encoded);
    anything else stays plain text."""
    if not url:
        return ""
    if not url.lower().startswith(("http://", "https://")):
        return md_cell(url)
    target = "".join(c if c.isprintable() and c not in ' ()<>|\\[]`"' else
                     "".join(f"%{b:02X}" for b in c.encode("utf-8")) for c in url)
    return f"[{md_cell(text)}]({target})"


def md_archived_copy(entry: UrlEntry) -> str:
    parts = [md_cell(snapshot_text(entry)), md_link(wayback_label(entry), entry.wayback)]
    return " · ".join(p for p in parts if p)


def md_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines + [""]


def render_markdown(report: Report) -> str:
    return "".join(markdown_chunks(report))


MD_CHUNK_LINES = 20_000


def markdown_chunks(report: Report) -> Iterator[str]:
    """The Markdown report in pieces of about ``MD_CHUNK_LINES`` lines, so that a report of
    every URL (``--all``) is written as it is made instead of held whole."""
    run = report.run
    lines = [f"# Link health report — run {run['id']}", "", md_cell(run_line(run)), ""]
    if run["status"] != "finished":
        lines += [f"> ⚠️ This run is **{md_cell(run['status'])}**: the results may be "
                  "incomplete." + (f" Error: {md_cell(run['error'])}" if run.get("error") else ""),
                  ""]
    lines += [f"**{md_cell(headline_line(report))}**", "", md_cell(confirmation_rule(report)), ""]
    lines += [md_cell(summary_line(report)), ""]
    lines += md_table(("outcome", "URLs"), [(md_cell(o), str(n)) for o, n in report.summary.items()])
    if nothing_to_report(report):
        lines += ["✅ No problems found: every checked URL is ok.", ""]
    blocks = itertools.chain(
        [_md_comparison(report) + _md_fixed(report)],
        _md_document_blocks(report),
        [_md_domains(report) + _md_redirects(report) + _md_parse_errors(report)
         + _md_hosts(report)])
    for block in blocks:
        lines.extend(block)
        if len(lines) >= MD_CHUNK_LINES:
            # Lines up to the last non-blank one go out: the text ends with exactly one
            # newline, so trailing blank lines are only known at the end.
            keep = len(lines) - 1
            while keep > 0 and not lines[keep].rstrip("\n"):
                keep -= 1
            if keep > 0:
                yield "\n".join(lines[:keep]) + "\n"
                del lines[:keep]
    while lines and not lines[-1].rstrip("\n"):
        lines.pop()
    if lines:
        lines[-1] = lines[-1].rstrip("\n")
        yield "\n".join(lines) + "\n"
    else:
        yield "\n"


def _md_refs(entry: UrlEntry) -> str:
    refs, more = referenced_in(entry)
    text = ", ".join(f"{md_code(path)} ({md_code(field)})" for path, field in refs)
    return text + (f" and {more} more" if more else "")


COMPARISON_COLUMNS = ("URL", "outcome", "status", "error", "failing for", "referenced in",
                      "archived copy")


def _md_comparison(report: Report) -> list[str]:
    lines: list[str] = []
    for heading, attribute, explain in COMPARISON_SECTIONS:
        entries = getattr(report, attribute)
        if not entries:
            continue
        lines += [f"## {heading}", "", md_cell(explain(report)), ""]
        lines += md_table(COMPARISON_COLUMNS, [
            (md_url(e.url), md_cell(e.outcome), status_text(e.status), md_cell(e.error),
             md_cell(failing_text(e)), _md_refs(e), md_archived_copy(e)) for e in entries])
    return lines


def _md_fixed(report: Report) -> list[str]:
    if not report.fixed:
        return []
    return ["## Fixed", "", "Failing in the previous check, ok now.", ""] + md_table(
        ("URL", "was", "status", "referenced in"),
        [(md_url(e.url), md_cell(fixed_text(e)), status_text(e.status), _md_refs(e))
         for e in report.fixed])


def _md_document_blocks(report: Report) -> Iterator[list[str]]:
    """The "by document" section: lines per document."""
    groups = by_document(report)
    if not groups:
        return
    lines = ["## " + ("Links by document" if report.include_all else "Problems by document"), ""]
    if has_snapshot_rows(groups):
        lines += [snapshot_hint(lambda text: f"`{text}`"), ""]
    yield lines
    # A URL has the same cells in every document that references it (three times on
    # average with --all): each URL's cells and each field's are written once.
    url_cells: dict[int, str] = {}
    field_cells: dict[str, str] = {}
    for group in groups:
        lines = [f"### {md_code(group.path, in_table=False)}", ""]
        if group.title:
            lines += [md_cell(group.title), ""]
        rows = []
        for row in group.rows:
            entry = row.entry
            cells = url_cells.get(id(entry))
            if cells is None:
                cells = url_cells[id(entry)] = " | ".join((
                    md_url(entry.url), md_cell(entry.outcome), status_text(entry.status),
                    md_cell(entry.error), md_cell(failing_text(entry)), md_archived_copy(entry)))
            field = field_cells.get(row.field)
            if field is None:
                field = field_cells[row.field] = md_code(row.field)
            rows.append((field, cells))
        yield lines + md_table(DOCUMENT_COLUMNS, rows)


def _md_domains(report: Report) -> list[str]:
    groups = by_domain(report)
    if not groups:
        return []
    return ["## Problems by domain", ""] + md_table(
        ("domain", "problem URLs", "outcomes"),
        [(md_cell(g.domain), str(len(g.urls)), md_cell(outcomes_text(g.outcomes)))
         for g in groups])


def _md_redirects(report: Report) -> list[str]:
    updates = redirect_updates(report)
    if not updates:
        return []
    return ["## Permanent redirects to update", ""] + md_table(
        ("document", "field", "old URL", "new URL"),
        [(md_code(u.path), md_code(u.field), md_url(u.old_url), md_url(u.new_url))
         for u in updates])


def _md_parse_errors(report: Report) -> list[str]:
    if not report.parse_errors:
        return []
    return ["## Documents that could not be parsed", ""] + md_table(
        ("path", "line", "error"),
        [(md_code(p.path), status_text(p.line), md_cell(p.error)) for p in report.parse_errors])


HOSTS_HEADING = "Hosts that slowed the crawl"
HOSTS_EXPLAIN = ("Paced after rate-limit answers (429, 503), or treated as unresponsive (only "
                 "timeouts and connection failures) or refusing (only rate-limit answers).")


def _md_hosts(report: Report) -> list[str]:
    if not report.hosts:
        return []
    return [f"## {HOSTS_HEADING}", "", HOSTS_EXPLAIN, ""] + md_table(
        ("host", "what it needed"), [(md_code(h.host), md_cell(h.text())) for h in report.hosts])


# -- CSV -----------------------------------------------------------------------


def render_csv(report: Report) -> str:
    return "".join(csv_chunks(report))


CSV_CHUNK_ROWS = 10_000


CSV_FORMULA_START = "=+-@\t\r"


def csv_text(value: str | None) -> str:
    """A text cell that no spreadsheet runs: one starting like a formula gets a leading
    single quote (OWASP's advice; every cell is quoted), control characters are replaced.
    Written out: called for every text cell of a report of every URL."""
    if not value:
        return ""
    if value[0] in CSV_FORMULA_START:
        value = "'" + value
    return value if value.isprintable() else CONTROLS.sub(REPLACEMENT, value)


def csv_chunks(report: Report) -> Iterator[str]:
    """One row per (URL, reference); a URL without references gets one row. In pieces of
    ``CSV_CHUNK_ROWS`` rows. Text from the site or the web goes through ``csv_text``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(CSV_COLUMNS)
    rows = 0
    for entry in report.urls:
        url_cells = [csv_text(entry.url), csv_text(entry.outcome), status_text(entry.status),
                     csv_text(entry.final_url), csv_text(entry.error), csv_text(entry.checked_at),
                     csv_text(entry.first_failed_at), entry.consecutive_failures,
                     int(entry.permanent_redirect),
                     entry.last_snapshot["id"] if entry.last_snapshot else "",
                     csv_text(entry.wayback), entry.failing_streak, int(entry.confirmed),
                     csv_text(entry.change)]
        for ref in entry.refs or [None]:
            writer.writerow([csv_text(ref.path), csv_text(ref.field), csv_text(ref.kind),
                             *url_cells] if ref else ["", "", "", *url_cells])
            rows += 1
            if rows % CSV_CHUNK_ROWS == 0:
                yield out.getvalue()
                out.seek(0)
                out.truncate()
    yield out.getvalue()


def render_html(report: Report) -> str:
    """The self-contained HTML page (``crawler.report.html``, which imports this module)."""
    return "".join(html_chunks(report))


def html_chunks(report: Report) -> Iterator[str]:
    from crawler.report.html import html_chunks as chunks

    return chunks(report)


CHUNK_RENDERERS: dict[str, Callable[[Report], Iterator[str]]] = {
    "md": markdown_chunks, "html": html_chunks, "json": json_chunks, "csv": csv_chunks}
"""Each format as pieces of text to write in turn: a report of every URL (``--all``) is
hundreds of MB, which need not be held whole."""

RENDERERS = {"md": render_markdown, "html": render_html, "json": render_json, "csv": render_csv}
