"""The HTML report: one self-contained page for the morning read.

Everything is inline: the CSS and a small vanilla script (``static/report.css`` and
``static/report.js``, read by ``crawler.report.templating``) and the SVG charts (built
here, no library). Nothing is fetched from anywhere, and a Content-Security-Policy lets
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

from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from typing import Any

from crawler.report.model import (
    Report,
    UrlEntry,
    by_document,
    by_domain,
    has_document_rows,
    redirect_updates,
)
from crawler.core.items import in_outcome_order
from crawler.core.text import human_bytes
from crawler.report.charts import domains_chart, h, outcome_key, outcomes_chart, plural
from crawler.report.snapshot_files import SNAPSHOT_DIRECTORY, snapshot_href
from crawler.report.templating import assets
from crawler.report.text import (
    COMPARISON_COLUMNS,
    COMPARISON_SECTIONS,
    DOCUMENT_COLUMNS,
    HOSTS_EXPLAIN,
    HOSTS_HEADING,
    confirmation_rule,
    failing_text,
    fixed_text,
    has_snapshot_rows,
    headline_line,
    nothing_to_report,
    outcomes_text,
    referenced_in,
    run_line,
    since_text,
    snapshot_hint,
    snapshot_text,
    status_text,
    wayback_label,
)

# Column widths (percent) of the comparison and the per-document tables, so that the
# columns of one table line up with the next one's (report.css has a col.wN rule for each).
COMPARISON_WIDTHS = (21, 11, 6, 11, 11, 25, 15)
DOCUMENT_WIDTHS = (9, 26, 11, 6, 15, 14, 19)

# -- small pieces ----------------------------------------------------------------


def link(url: str | None) -> str:
    """A link for http(s) URLs; anything else (``javascript:``...) stays inert text."""
    if not url:
        return ""
    text = h(url)
    if url.lower().startswith(("http://", "https://")):
        return f'<a href="{text}" rel="noopener noreferrer">{text}</a>'
    return f"<code>{text}</code>"


@lru_cache(maxsize=64)
def outcome_html(outcome: str) -> str:
    return f'<span class="outcome o-{outcome_key(outcome)}">{h(outcome)}</span>'


def html_archived_copy(entry: UrlEntry) -> str:
    """Our last snapshot (a relative link to its exported file) and the Wayback capture."""
    parts = []
    snapshot = entry.last_snapshot
    if snapshot:
        details = [snapshot.get("content_type") or "unknown type",
                   human_bytes(snapshot.get("size") or 0)]
        if snapshot.get("truncated"):
            details.append("truncated")
        parts.append(f'<a href="{h(snapshot_href(snapshot))}" title="{h(", ".join(details))}">'
                     f"{h(snapshot_text(entry))}</a>")
    url = entry.wayback
    if url and url.lower().startswith(("http://", "https://")):
        parts.append(f'<a href="{h(url)}" rel="noopener noreferrer">{h(wayback_label(entry))}</a>')
    elif url:
        parts.append(f"<code>{h(url)}</code>")
    return " · ".join(parts)


def failing_html(entry: UrlEntry) -> tuple[str, int]:
    """The "failing for" cell, sorted by the streak."""
    title = f' title="first failed {h(entry.first_failed_at)}"' if entry.first_failed_at else ""
    css = ' class="pending"' if entry.failing and not entry.confirmed else ""
    return f"<span{css}{title}>{h(failing_text(entry))}</span>", entry.failing_streak


def refs_html(entry: UrlEntry) -> str:
    refs, more = referenced_in(entry)
    lines = [f'<code>{h(path)}</code> <span class="field">{h(field)}</span>'
             for path, field in refs]
    if more:
        lines.append(f"and {more} more")
    return '<span class="refs">' + "<br>".join(lines) + "</span>"


Cell = str | tuple[str, Any] | tuple[str, Any, str]
"""Table cell HTML; or (HTML, sort key) when the text would not sort right; or
(HTML, sort key, CSS class)."""


def html_table(header: Sequence[str], rows: Iterable[Sequence[Cell]],
               attrs: Sequence[str] | None = None, sortable: bool = False,
               widths: Sequence[int] = ()) -> str:
    """A table; ``widths`` (percent per column) lines up the columns of sibling tables."""
    body = [f"<tr{attrs[i] if attrs else ''}>{html_cells(row)}</tr>\n"
            for i, row in enumerate(rows)]
    return table_of_rows(header, body, sortable, widths)


def html_cells(row: Iterable[Cell]) -> str:
    """The ``<td>`` elements of one row."""
    cells = []
    for cell in row:
        if isinstance(cell, tuple):
            html, sort, *css = cell
            css_attr = f' class="{css[0]}"' if css else ""
            cells.append(f'<td data-sort="{h(sort)}"{css_attr}>{html}</td>')
        else:
            cells.append(f"<td>{cell}</td>")
    return "".join(cells)


def table_of_rows(header: Sequence[str], body: list[str], sortable: bool = False,
                  widths: Sequence[int] = ()) -> str:
    """A table around rows already written (``<tr>...</tr>\\n`` each)."""
    start = _table_start(tuple(header), sortable, tuple(widths))
    return f"{start}{''.join(body)}</tbody>\n</table>\n"


@lru_cache(maxsize=64)
def _table_start(header: tuple[str, ...], sortable: bool, widths: tuple[int, ...]) -> str:
    """Everything before the rows: the same for each of a report's many document tables."""
    head = "".join(f"<th>{h(c)}</th>" for c in header)
    classes = " ".join(c for c in ("sortable" if sortable else "", "fixed" if widths else "") if c)
    css = f' class="{classes}"' if classes else ""
    cols = ("<colgroup>" + "".join(f'<col class="w{w}">' for w in widths) + "</colgroup>\n"
            if widths else "")
    return f"<table{css}>\n{cols}<thead><tr>{head}</tr></thead>\n<tbody>\n"


def filter_attrs(outcomes: Iterable[str], confirmed: bool, context: str = "") -> str:
    """What the filter script reads from a row: its outcomes, whether it is confirmed."""
    return (f' data-outcomes="{h(" ".join(sorted(set(outcomes))))}"'
            f' data-confirmed="{int(confirmed)}"{context_attr(context)}')


def context_attr(context: str) -> str:
    """The text the filter box searches besides the row's own (e.g. the document)."""
    return f' data-context="{h(context)}"' if context else ""


# -- the page --------------------------------------------------------------------


def render_html(report: Report) -> str:
    return "".join(html_chunks(report))


def html_chunks(report: Report) -> Iterator[str]:
    """The page in pieces: the "by document" section a few hundred documents at a time."""
    run = report.run
    title = f"Link health report — run {run['id']}"
    parts = ["<header>", f"<h1>{h(title)}</h1>", f'<p class="meta">{h(run_line(run))}</p>']
    if run["status"] != "finished":
        error = f" Error: {h(run['error'])}" if run.get("error") else ""
        parts.append(f'<p class="warn">This run is <strong>{h(run["status"])}</strong>:'
                     f" the results may be incomplete.{error}</p>")
    # no emoji in the page (the figures say it; not every system has an emoji font)
    parts += [f'<p class="headline">{h(headline_line(report, emoji=False))}</p>',
              f'<p class="meta">{h(confirmation_rule(report))}</p>', "</header>",
              _figures(report), _charts(report)]
    if nothing_to_report(report):
        parts.append("<p>No problems found: every checked URL is ok.</p>")
    parts += [_toc(report), _filters(report), _comparison(report), _fixed(report)]
    page = assets()
    yield ('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
           f'<meta http-equiv="Content-Security-Policy" content="{page.csp}">\n'
           '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
           '<meta name="color-scheme" content="light dark">\n'
           f"<title>{h(title)}</title>\n<style>{page.css}</style>\n</head>\n"
           "<body>\n" + "\n".join(p for p in parts if p))
    # The parts are joined by a line break, empty ones left out; the first part is never empty.
    for number, chunk in enumerate(_documents(report)):
        yield "\n" + chunk if number == 0 else chunk
    parts = [_domains(report), _redirects(report), _parse_errors(report), _hosts(report),
             f"<footer>linkhealth report of run {h(run['id'])}. "
             f"{h(confirmation_rule(report))} Sort a table by clicking its header; the"
             " filter box narrows the link tables.</footer>"]
    yield ("".join("\n" + p for p in parts if p)
           + f"\n<script>{page.js}</script>\n</body>\n</html>\n")


def _figures(report: Report) -> str:
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
    items = "".join(
        f'<li class="fig {css}"><span class="num">{h(value)}</span> '
        f'<span class="label">{h(label)}</span> <span class="note">{h(note)}</span></li>\n'
        for css, value, label, note in cards)
    return f'<ul class="figures" aria-label="Summary">\n{items}</ul>'


def _charts(report: Report) -> str:
    history = outcomes_chart(report.history, report.run["id"])
    domains = domains_chart(by_domain(report))
    this_run = html_table(("outcome", "URLs"), [(outcome_html(o), (str(n), n, "num"))
                                                for o, n in report.summary.items()])
    return ('<div class="charts">\n'
            f'<figure class="chart">\n<figcaption>Problems per run, last '
            f"{plural(len(report.history), 'run')}</figcaption>\n{history}</figure>\n"
            f'<figure class="chart">\n<figcaption>Worst domains in this run</figcaption>\n'
            f"{domains}</figure>\n"
            f'<figure class="chart">\n<figcaption>This run</figcaption>\n{this_run}</figure>\n'
            "</div>")


def _toc(report: Report) -> str:
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
    if len(links) < 2:
        return ""
    return ('<nav class="toc" aria-label="Sections">Jump to: '
            + "".join(f'<a href="#{a}">{h(text)}</a>' for text, a in links) + "</nav>")


def _anchor(heading: str) -> str:
    return heading.lower().replace(",", "").replace(" ", "-")


def _filters(report: Report) -> str:
    # the outcomes of the rows the script filters: problems, fixed URLs, all with --all
    outcomes = {e.outcome for e in report.urls
                if e.outcome != "ok" or e.change == "fixed" or report.include_all}
    if not outcomes:
        return ""
    boxes = "".join(
        f'<label><input type="checkbox" name="outcome" value="{h(o)}" checked> '
        f'<span class="sw k-{outcome_key(o)}"></span>{h(o)}</label>'
        for o in in_outcome_order(outcomes))
    return ('<form id="filters" class="filters" role="search" aria-label="Filter the link tables"'
            ' hidden>\n'
            '<label>Filter <input type="search" name="q" placeholder="URL, document, domain,'
            ' error…"></label>\n'
            f"<fieldset><legend>Outcomes</legend>{boxes}</fieldset>\n"
            '<label><input type="checkbox" name="confirmed"> confirmed broken only</label>\n'
            '<output id="shown" aria-live="polite"></output>\n</form>')


def _section(anchor: str, heading: str, content: str) -> str:
    return f'<section id="{anchor}">\n<h2>{h(heading)}</h2>\n{content}</section>'


def _comparison(report: Report) -> str:
    sections = []
    for heading, attribute, explain in COMPARISON_SECTIONS:
        entries: list[UrlEntry] = getattr(report, attribute)
        if not entries:
            continue
        table = html_table(
            COMPARISON_COLUMNS,
            [(link(e.url), outcome_html(e.outcome),
              (h(status_text(e.status)), e.status or 0, "num"), h(e.error), failing_html(e),
              refs_html(e), html_archived_copy(e))
             for e in entries],
            attrs=[filter_attrs([e.outcome], e.confirmed, e.domain or "") for e in entries],
            sortable=True, widths=COMPARISON_WIDTHS)
        sections.append(_section(_anchor(heading), heading,
                                 f'<p class="meta">{h(explain(report))}</p>\n{table}'))
    return "\n".join(sections)


def _fixed(report: Report) -> str:
    entries = report.fixed
    if not entries:
        return ""
    table = html_table(
        ("URL", "was", "status", "referenced in"),
        [(link(e.url), (h(fixed_text(e)), e.previous_streak),
          (h(status_text(e.status)), e.status or 0, "num"), refs_html(e)) for e in entries],
        attrs=[filter_attrs([e.outcome], False, e.domain or "") for e in entries], sortable=True)
    return _section("fixed", "Fixed",
                    f'<p class="meta">Failing in the previous check, ok now.</p>\n{table}')


DOCUMENTS_PER_CHUNK = 500


@lru_cache(maxsize=256)
def _row_filter(outcome: str, confirmed: bool) -> str:
    return filter_attrs([outcome], confirmed)


@lru_cache(maxsize=256)
def _status_cell(status: int | None) -> Cell:
    return h(status_text(status)), status or 0, "num"


def _documents(report: Report) -> Iterator[str]:
    """The "by document" section in pieces (nothing when it has no rows)."""
    groups = by_document(report)
    if not groups:
        return
    heading = "Links by document" if report.include_all else "Problems by document"
    parts = [f'<section id="documents">\n<h2>{h(heading)}</h2>\n']
    if has_snapshot_rows(groups):
        hint = snapshot_hint(lambda text: f"<code>{h(text)}</code>").removeprefix("📦 ")
        parts.append(f'<p class="meta">{hint}'
                     f" The snapshot links open the copies saved in <code>{SNAPSHOT_DIRECTORY}/"
                     "</code> next to this page by <code>scrapy report --with-snapshots</code>;"
                     " pages are saved as text, so they show their source and run nothing.</p>\n")
    # A URL's cells and filter attributes are the same in every document that references
    # it (three times on average with --all): each is written once, as is each field's cell.
    url_parts: dict[int, tuple[str, str]] = {}
    field_cells: dict[str, str] = {}
    for number, group in enumerate(groups, 1):
        context = context_attr(f"{group.path} {group.title or ''}")
        body = []
        for row in group.rows:
            entry = row.entry
            attrs_and_cells = url_parts.get(id(entry))
            if attrs_and_cells is None:
                attrs_and_cells = url_parts[id(entry)] = (
                    _row_filter(entry.outcome, entry.confirmed),
                    html_cells((link(entry.url), outcome_html(entry.outcome),
                                _status_cell(entry.status), h(entry.error) if entry.error else "",
                                failing_html(entry), html_archived_copy(entry))))
            field = field_cells.get(row.field)
            if field is None:
                field = field_cells[row.field] = f"<td><code>{h(row.field)}</code></td>"
            attrs, cells = attrs_and_cells
            body.append(f"<tr{attrs}{context}>{field}{cells}</tr>\n")
        table = table_of_rows(DOCUMENT_COLUMNS, body, sortable=True, widths=DOCUMENT_WIDTHS)
        title = f'<p class="meta">{h(group.title)}</p>\n' if group.title else ""
        parts.append(f"<section data-group>\n<h3>{h(group.path)}</h3>\n{title}{table}</section>"
                     + ("\n" if number < len(groups) else ""))
        if number % DOCUMENTS_PER_CHUNK == 0:
            yield "".join(parts)
            parts = []
    parts.append("\n</section>")
    yield "".join(parts)


def _domains(report: Report) -> str:
    groups = by_domain(report)
    if not groups:
        return ""
    table = html_table(
        ("domain", "problem URLs", "confirmed broken", "outcomes"),
        [(h(g.domain), (str(len(g.urls)), len(g.urls), "num"),
          (str(sum(e.confirmed for e in g.urls)), sum(e.confirmed for e in g.urls), "num"),
          h(outcomes_text(g.outcomes))) for g in groups],
        attrs=[filter_attrs(g.outcomes, any(e.confirmed for e in g.urls)) for g in groups],
        sortable=True)
    return _section("domains", "Problems by domain", table)


def _redirects(report: Report) -> str:
    updates = redirect_updates(report)
    if not updates:
        return ""
    return _section("redirects", "Permanent redirects to update", html_table(
        ("document", "field", "old URL", "new URL"),
        [(f"<code>{h(u.path)}</code>", f"<code>{h(u.field)}</code>", link(u.old_url),
          link(u.new_url)) for u in updates], sortable=True))


def _parse_errors(report: Report) -> str:
    if not report.parse_errors:
        return ""
    return _section("parse-errors", "Documents that could not be parsed", html_table(
        ("path", "line", "error"),
        [(f"<code>{h(p.path)}</code>", (h(status_text(p.line)), p.line or 0, "num"), h(p.error))
         for p in report.parse_errors], sortable=True))


def _hosts(report: Report) -> str:
    if not report.hosts:
        return ""
    return _section("hosts", HOSTS_HEADING, f"<p>{h(HOSTS_EXPLAIN)}</p>\n" + html_table(
        ("host", "what it needed"),
        [(h(row.host), h(row.text())) for row in report.hosts], sortable=True))
