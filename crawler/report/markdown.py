"""The Markdown report, for people (and GitHub's job summaries): untrusted text stays text."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator
from typing import Any

from crawler.core.control_chars import printable
from crawler.report.model import (
    Report,
    UrlEntry,
    by_document,
    by_domain,
    redirect_updates,
)
from crawler.report.text import (
    COMPARISON_COLUMNS,
    COMPARISON_SECTIONS,
    DOCUMENT_COLUMNS,
    HOSTS_EXPLAIN,
    HOSTS_HEADING,
    confirmation_rule,
    failing_text,
    fix_hint,
    fixed_text,
    has_snapshot_rows,
    headline_line,
    nothing_to_report,
    outcomes_text,
    referenced_in,
    run_line,
    snapshot_hint,
    snapshot_text,
    status_text,
    summary_line,
    wayback_label,
)

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


def md_table(header: tuple[str, ...], rows: Iterable[tuple[str, ...]]) -> list[str]:
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
    if hint := fix_hint(report):
        lines += [hint, ""]
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


def _md_hosts(report: Report) -> list[str]:
    if not report.hosts:
        return []
    return [f"## {HOSTS_HEADING}", "", HOSTS_EXPLAIN, ""] + md_table(
        ("host", "what it needed"), [(md_code(h.host), md_cell(h.text())) for h in report.hosts])
