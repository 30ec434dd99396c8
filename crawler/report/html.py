"""The HTML report: one self-contained page for the morning read.

What the page looks like is in ``templates/`` (``report.html.j2``, its tables in
``tables.html.j2``, the SVG charts in ``charts.html.j2``) and ``static/`` (``report.css``,
``report.js``); ``crawler.report.templating`` is their Jinja2 environment. This module
gives the templates the rows' data.

Everything is inline: the CSS, the SVG charts (``crawler.report.charts``, no library) and a
small vanilla script. Nothing is fetched from anywhere, and a Content-Security-Policy lets
the page run only its own style and script (by hash), so markup that slipped through
escaping could still not run.

- Figures: confirmed broken, failing but not yet confirmed, newly broken, fixed,
  URLs checked, documents, archived.
- Charts: problems per run over the last runs (stacked by outcome), the worst
  domains of this run.
- Tables: newly broken, still broken, failing but not yet confirmed, fixed;
  problems by document and by domain; permanent redirects; parse errors. The
  script makes the tables sortable (click a header) and the link tables
  filterable (text, outcomes, confirmed only). Without it the filter form stays
  hidden and every row shows: the page is complete without JavaScript.
- Archived copies link to ``snapshots/<id>.<ext>`` next to the page
  (``crawler.report.snapshot_files.export_report_snapshots`` writes them; pages are saved as
  ``.html.txt`` so they show their source and run nothing) and to the Wayback
  Machine.
- Light and dark colour schemes, and a print style.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from markupsafe import Markup

from crawler.core.items import in_outcome_order
from crawler.core.text import human_bytes
from crawler.report.charts import domains_chart, outcomes_chart
from crawler.report.model import (
    Report,
    UrlEntry,
    by_document,
    by_domain,
    has_document_rows,
    redirect_updates,
)
from crawler.report.templating import assets, escaped, template
from crawler.report.text import (
    COMPARISON_SECTIONS,
    confirmation_rule,
    fix_hint,
    has_snapshot_rows,
    headline_line,
    nothing_to_report,
    plural,
    run_line,
    since_text,
    snapshot_hint,
)

DOCUMENTS_PER_CHUNK = 500
"""Documents of the "by document" section per piece of the page."""


def render_html(report: Report) -> str:
    return "".join(html_chunks(report))


def html_chunks(report: Report) -> Iterator[str]:
    """The page in pieces: the "by document" section a few hundred documents at a time."""
    yield from template("report.html.j2").generate(page_data(report))


def page_data(report: Report) -> dict[str, Any]:
    """What ``report.html.j2`` shows, in the page's order."""
    run = report.run
    domains = by_domain(report)
    return {
        "assets": assets(),
        "title": f"Link health report — run {run['id']}",
        "run": run,
        "run_line": run_line(run),
        # no emoji in the page (the figures say it; not every system has an emoji font)
        "headline": headline_line(report, emoji=False),
        "rule": confirmation_rule(report),
        "figures": _figures(report),
        "runs": len(report.history),
        "history_chart": outcomes_chart(report.history, run["id"]),
        "domains_chart": domains_chart(domains),
        "summary": report.summary,
        "nothing_to_report": nothing_to_report(report),
        "fix_hint": _fix_hint(report),
        "toc": _toc(report),
        "filter_outcomes": _filter_outcomes(report),
        "comparison": [(_anchor(heading), heading, explain(report), getattr(report, attribute))
                       for heading, attribute, explain in COMPARISON_SECTIONS
                       if getattr(report, attribute)],
        "fixed": report.fixed,
        "documents": _documents(report),
        "domains": [(group, sum(e.confirmed for e in group.urls)) for group in domains],
        "redirects": redirect_updates(report),
        "parse_errors": report.parse_errors,
        "hosts": report.hosts,
    }


def _figures(report: Report) -> list[dict[str, Any]]:
    head, run = report.headline(), report.run
    failing = [e for e in report.urls if e.failing]
    with_copy = sum(1 for e in failing if e.last_snapshot or e.wayback)
    skipped = f"{run['skipped']} skipped as recently ok" if run.get("skipped") else ""
    parse_errors = len(report.parse_errors)
    archived = []
    if run.get("archived_bytes") is not None:
        archived.append(human_bytes(run["archived_bytes"]))
    if failing:
        archived.append(f"a copy of {with_copy} of {plural(len(failing), 'failing link')}")
    cards = [
        ("fig-bad", head["broken_confirmed"], "broken",
         f"confirmed: failing in {report.broken_after}+ runs in a row"
         if report.broken_after > 1 else "failing"),
        ("fig-warn", head["failing_unconfirmed"], "not yet confirmed",
         f"failing in fewer than {report.broken_after} runs" if report.broken_after > 1
         else "none with a threshold of 1"),
        ("fig-new", head["newly_broken"], "newly broken", "confirmed in this run"),
        ("fig-good", head["fixed"], "fixed", since_text(report)),
        ("", report.checked, "URLs checked", skipped),
        ("", run.get("documents") if run.get("documents") is not None else "—", "documents",
         f"{parse_errors} could not be parsed" if parse_errors else ""),
        ("", report.snapshots_taken if report.snapshots_taken is not None else "—",
         "archived", " · ".join(archived) or "snapshots stored in this run"),
    ]
    return [{"css": css, "value": value, "label": label, "note": note}
            for css, value, label, note in cards]


def _toc(report: Report) -> list[tuple[str, str]]:
    """(text, anchor) of the sections the page has; none when there are fewer than two."""
    links = [(heading, _anchor(heading)) for heading, attribute, _ in COMPARISON_SECTIONS
             if getattr(report, attribute)]
    if report.fixed:
        links.append(("Fixed", "fixed"))
    if has_document_rows(report):
        links.append(("By document", "documents"))
    if report.problems:
        links.append(("By domain", "domains"))
    if redirect_updates(report):
        links.append(("Redirects", "redirects"))
    if report.parse_errors:
        links.append(("Parse errors", "parse-errors"))
    if report.hosts:
        links.append(("Hosts", "hosts"))
    return links if len(links) >= 2 else []


def _anchor(heading: str) -> str:
    return heading.lower().replace(",", "").replace(" ", "-")


def _filter_outcomes(report: Report) -> list[str]:
    """The outcomes of the rows the script filters: problems, fixed URLs, all with --all."""
    return in_outcome_order(e.outcome for e in report.urls
                            if e.outcome != "ok" or e.change == "fixed" or report.include_all)


def _documents(report: Report) -> dict[str, Any] | None:
    """The "by document" section (None when it has no rows), its documents in batches."""
    groups = by_document(report)
    if not groups:
        return None
    return {
        "heading": "Links by document" if report.include_all else "Problems by document",
        "snapshot_hint": _snapshot_hint() if has_snapshot_rows(groups) else None,
        "batches": (groups[start:start + DOCUMENTS_PER_CHUNK]
                    for start in range(0, len(groups), DOCUMENTS_PER_CHUNK)),
        "url_parts": UrlParts(),
    }


class UrlParts:
    """A URL's row attributes and cells in the "by document" tables, made once: with ``--all``
    a URL is in three documents on average, and its cells are the same in each."""

    def __init__(self) -> None:
        macros: Any = template("tables.html.j2").module  # its macros are attributes
        self._filter, self._cells = macros.url_row_filter, macros.url_cells
        self._filters: dict[tuple[str, bool], Markup] = {}  # by outcome and confirmation
        self._made: dict[int, tuple[Markup, Markup]] = {}

    def __call__(self, entry: UrlEntry) -> tuple[Markup, Markup]:
        made = self._made.get(id(entry))  # the entries live as long as the report
        if made is None:
            key = entry.outcome, entry.confirmed
            attrs = self._filters.get(key)
            if attrs is None:
                attrs = self._filters[key] = self._filter(entry)
            made = self._made[id(entry)] = attrs, self._cells(entry)
        return made


def _as_code(text: str) -> Markup:
    return Markup("<code>") + escaped(text) + Markup("</code>")


def _fix_hint(report: Report) -> Markup | None:
    """What ``scrapy fix`` would change (our own sentence; its numbers are integers)."""
    hint = fix_hint(report, _as_code)
    return Markup(hint) if hint else None


def _snapshot_hint() -> Markup:
    """The shared sentence on getting a snapshot out, its commands as code (our own text)."""
    hint = snapshot_hint(_as_code)
    return Markup(hint.removeprefix("📦 "))
