"""Renderers of a ``crawler.report.Report``: JSON, Markdown, HTML and CSV.

JSON is a contract other tools rely on (see ``report_dict``); the others are
for people. Every renderer is deterministic for a given report.
"""

from __future__ import annotations

import csv
import io
import json
import re
from html import escape
from typing import Any

from crawler.items import OUTCOMES
from crawler.report import (
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
               "last_snapshot_id", "wayback")

DOCUMENT_COLUMNS = ("field", "URL", "outcome", "status", "error", "failing for", "archived copy")


# -- JSON ----------------------------------------------------------------------


def report_dict(report: Report) -> dict[str, Any]:
    return {
        "run": report.run,
        "summary": report.summary,
        "urls": [_url_dict(entry) for entry in report.urls],
        "parse_errors": [{"path": p.path, "error": p.error, "line": p.line}
                         for p in report.parse_errors],
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
    }


def render_json(report: Report) -> str:
    return json.dumps(report_dict(report), indent=2, ensure_ascii=False) + "\n"


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


# -- Markdown ------------------------------------------------------------------


def md_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    text = " ".join(text.split())
    # '&' stays as written: URLs in the table must be copyable as they are in the file.
    return text.replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


def md_code(value: Any) -> str:
    text = " ".join(("" if value is None else str(value)).split()).replace("|", "\\|")
    fence = "`"
    while fence in text:
        fence += "`"
    return f"{fence} {text} {fence}" if text.startswith("`") or text.endswith("`") \
        else f"{fence}{text}{fence}"


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
    run = report.run
    lines = [f"# Link health report — run {run['id']}", "", md_cell(run_line(run)), ""]
    if run["status"] != "finished":
        lines += [f"> ⚠️ This run is **{md_cell(run['status'])}**: the results may be "
                  "incomplete." + (f" Error: {md_cell(run['error'])}" if run.get("error") else ""),
                  ""]
    lines += [md_cell(summary_line(report)), ""]
    lines += md_table(("outcome", "URLs"), [(md_cell(o), str(n)) for o, n in report.summary.items()])
    if nothing_to_report(report):
        lines += ["✅ No problems found: every checked URL is ok.", ""]
    for section in (_md_documents, _md_domains, _md_redirects, _md_parse_errors):
        lines += section(report)
    return "\n".join(lines).rstrip("\n") + "\n"


def _md_documents(report: Report) -> list[str]:
    groups = by_document(report)
    if not groups:
        return []
    lines = ["## " + ("Links by document" if report.include_all else "Problems by document"), ""]
    if has_snapshot_rows(groups):
        lines += [snapshot_hint(lambda text: f"`{text}`"), ""]
    for group in groups:
        lines += [f"### {md_code(group.path)}", ""]
        if group.title:
            lines += [md_cell(group.title), ""]
        lines += md_table(
            DOCUMENT_COLUMNS,
            [(md_code(r.field), md_cell(r.entry.url), md_cell(r.entry.outcome),
              status_text(r.entry.status), md_cell(r.entry.error), md_cell(r.entry.failing_for),
              md_archived_copy(r.entry))
             for r in group.rows])
    return lines


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
        [(md_code(u.path), md_code(u.field), md_cell(u.old_url), md_cell(u.new_url))
         for u in updates])


def _md_parse_errors(report: Report) -> list[str]:
    if not report.parse_errors:
        return []
    return ["## Documents that could not be parsed", ""] + md_table(
        ("path", "line", "error"),
        [(md_code(p.path), status_text(p.line), md_cell(p.error)) for p in report.parse_errors])


# -- HTML ----------------------------------------------------------------------

CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#222}
h1{font-size:1.6rem}h2{margin-top:2rem;border-bottom:1px solid #ddd}h3{font-family:monospace}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}
th,td{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top;
overflow-wrap:anywhere}
th{background:#f4f4f4}code{font-size:.9em}.meta{color:#555}
.warn{background:#fff4e0;border-left:4px solid #e59400;padding:.5rem 1rem}
.outcome{font-weight:600}.o-ok{color:#17803d}.o-broken,.o-soft_404{color:#c0262d}
.o-timeout,.o-blocked{color:#b26a00}.o-excluded{color:#666}
""".strip()


def h(value: Any) -> str:
    return escape("" if value is None else str(value))


def link(url: str | None) -> str:
    """A link for http(s) URLs; anything else (``javascript:``...) stays inert text."""
    if not url:
        return ""
    if url.lower().startswith(("http://", "https://")):
        return f'<a href="{h(url)}" rel="noopener noreferrer">{h(url)}</a>'
    return f"<code>{h(url)}</code>"


def html_archived_copy(entry: UrlEntry) -> str:
    parts = []
    snapshot = entry.last_snapshot
    if snapshot:
        details = [snapshot.get("content_type") or "unknown type",
                   human_bytes(snapshot.get("size") or 0)]
        if snapshot.get("truncated"):
            details.append("truncated")
        parts.append(f'<span title="{h(", ".join(details))}">{h(snapshot_text(entry))}</span>')
    url = entry.wayback
    if url and url.lower().startswith(("http://", "https://")):
        parts.append(f'<a href="{h(url)}" rel="noopener noreferrer">{h(wayback_label(entry))}</a>')
    elif url:
        parts.append(f"<code>{h(url)}</code>")
    return " · ".join(parts)


def outcome_html(outcome: str) -> str:
    css = f"o-{outcome}" if outcome in OUTCOMES else "o-other"
    return f'<span class="outcome {css}">{h(outcome)}</span>'


def html_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    head = "".join(f"<th>{h(c)}</th>" for c in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>\n" for row in rows)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody>\n</table>\n"


def render_html(report: Report) -> str:
    run = report.run
    title = f"Link health report — run {run['id']}"
    parts = [f"<h1>{h(title)}</h1>", f'<p class="meta">{h(run_line(run))}</p>']
    if run["status"] != "finished":
        error = f" Error: {h(run['error'])}" if run.get("error") else ""
        parts.append(f'<p class="warn">This run is <strong>{h(run["status"])}</strong>:'
                     f" the results may be incomplete.{error}</p>")
    parts.append(f"<p>{h(summary_line(report))}</p>")
    parts.append(html_table(("outcome", "URLs"),
                            [(outcome_html(o), str(n)) for o, n in report.summary.items()]))
    if nothing_to_report(report):
        parts.append("<p>✅ No problems found: every checked URL is ok.</p>")
    for section in (_html_documents, _html_domains, _html_redirects, _html_parse_errors):
        parts.append(section(report))
    body = "\n".join(p for p in parts if p)
    return ('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{h(title)}</title>\n<style>\n{CSS}\n</style>\n</head>\n"
            f"<body>\n{body}\n</body>\n</html>\n")


def _html_documents(report: Report) -> str:
    groups = by_document(report)
    if not groups:
        return ""
    heading = "Links by document" if report.include_all else "Problems by document"
    parts = [f"<h2>{h(heading)}</h2>"]
    if has_snapshot_rows(groups):
        parts.append(f'<p class="meta">{snapshot_hint(lambda text: f"<code>{h(text)}</code>")}</p>')
    for group in groups:
        parts.append(f"<h3>{h(group.path)}</h3>")
        if group.title:
            parts.append(f'<p class="meta">{h(group.title)}</p>')
        parts.append(html_table(
            DOCUMENT_COLUMNS,
            [(f"<code>{h(r.field)}</code>", link(r.entry.url), outcome_html(r.entry.outcome),
              h(status_text(r.entry.status)), h(r.entry.error),
              f'<span title="{h(r.entry.first_failed_at)}">{h(r.entry.failing_for)}</span>',
              html_archived_copy(r.entry))
             for r in group.rows]))
    return "\n".join(parts)


def _html_domains(report: Report) -> str:
    groups = by_domain(report)
    if not groups:
        return ""
    return "<h2>Problems by domain</h2>\n" + html_table(
        ("domain", "problem URLs", "outcomes"),
        [(h(g.domain), str(len(g.urls)), h(outcomes_text(g.outcomes))) for g in groups])


def _html_redirects(report: Report) -> str:
    updates = redirect_updates(report)
    if not updates:
        return ""
    return "<h2>Permanent redirects to update</h2>\n" + html_table(
        ("document", "field", "old URL", "new URL"),
        [(f"<code>{h(u.path)}</code>", f"<code>{h(u.field)}</code>", link(u.old_url),
          link(u.new_url)) for u in updates])


def _html_parse_errors(report: Report) -> str:
    if not report.parse_errors:
        return ""
    return "<h2>Documents that could not be parsed</h2>\n" + html_table(
        ("path", "line", "error"),
        [(f"<code>{h(p.path)}</code>", h(status_text(p.line)), h(p.error))
         for p in report.parse_errors])


# -- CSV -----------------------------------------------------------------------


def render_csv(report: Report) -> str:
    """One row per (URL, reference); a URL without references gets one row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for entry in report.urls:
        for ref in entry.refs or [None]:
            writer.writerow([
                ref.path if ref else "", ref.field if ref else "", (ref.kind or "") if ref else "",
                entry.url, entry.outcome, status_text(entry.status), entry.final_url or "",
                entry.error or "", entry.checked_at or "", entry.first_failed_at or "",
                entry.consecutive_failures, int(entry.permanent_redirect),
                entry.last_snapshot["id"] if entry.last_snapshot else "", entry.wayback or ""])
    return out.getvalue()


RENDERERS = {"md": render_markdown, "html": render_html, "json": render_json, "csv": render_csv}
