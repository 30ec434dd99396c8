"""The HTML report's charts: inline SVG, built here with no library.

- ``outcomes_chart``: problem URLs per run over the last runs, stacked by outcome
  (ok URLs are left out of the bars so a few failures among thousands stay visible);
- ``domains_chart``: the worst registered domains of this run.

Colours come from the page's CSS classes (``k-<outcome>``), so dark mode applies.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from crawler.core.control_chars import printable
from crawler.core.items import OUTCOMES, in_outcome_order
from crawler.report.model import DomainGroup, RunOutcomes
from crawler.report.text import outcomes_text


# -- small HTML helpers, shared with crawler/report/html.py ------------------------


def h(value: object) -> str:
    """``html.escape`` (quotes too) of ``str(value)``, control characters replaced (the page
    may be written to a terminal); None is empty. Written out: a report of every URL escapes
    about a million values."""
    if value is None:
        return ""
    text = value if type(value) is str else str(value)
    if not text.isprintable():
        text = printable(text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") \
        .replace('"', "&quot;").replace("'", "&#x27;")


def outcome_key(outcome: str) -> str:
    return outcome if outcome in OUTCOMES else "other"


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"



def nice_ticks(top: int, most: int = 5) -> list[int]:
    """Round tick values from 0 to at least ``top`` (at most ``most`` steps)."""
    if top <= 0:
        return [0, 1]
    step = next(k * 10 ** e for e in range(0, 16) for k in (1, 2, 5) if top / (k * 10 ** e) <= most)
    return list(range(0, math.ceil(top / step) * step + 1, step))


def _legend(outcomes: Iterable[str]) -> str:
    items = "".join(f'<li><span class="sw k-{outcome_key(o)}"></span>{h(o)}</li>'
                    for o in outcomes)
    return f'<ul class="legend">{items}</ul>\n' if items else ""


def _run_title(run: RunOutcomes) -> str:
    day = (run.started_at or "")[:10]
    problems = {o: n for o, n in run.outcomes.items() if o != "ok"}
    parts = [f"Run {run.run_id}" + (f" ({day})" if day else "")]
    parts.append(outcomes_text(problems).replace(" ×", ": ") if problems else "no problems")
    parts.append(f"{run.outcomes.get('ok', 0)} ok of {plural(run.checked, 'URL')}")
    if run.skipped:
        parts.append(f"{run.skipped} skipped as recently ok")
    if run.status and run.status != "finished":
        parts.append(run.status)
    return " · ".join(parts)


def outcomes_chart(history: list[RunOutcomes], current: int, width: int = 600,
                   height: int = 220) -> str:
    """Problem URLs per run, stacked by outcome, as an SVG bar chart with a legend.

    ok URLs are left out of the bars (each bar's title has them) so that a handful of
    failures among thousands of healthy links stays visible.
    """
    left, right, top, bottom = 40, 8, 10, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(n for o, n in run.outcomes.items() if o != "ok") for run in history]
    ticks = nice_ticks(max(totals, default=0))
    y_max = ticks[-1]
    slots = max(len(history), 10)
    slot = plot_w / slots
    bar = slot * 0.72
    offset = slots - len(history)  # the newest run sits at the right edge

    def y(value: float) -> float:
        return top + plot_h - value / y_max * plot_h

    shown = in_outcome_order(o for run in history for o, n in run.outcomes.items() if o != "ok" and n)
    desc = "; ".join(_run_title(run) for run in history)
    out = [f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img"'
           ' aria-labelledby="history-title history-desc" xmlns="http://www.w3.org/2000/svg">',
           f'<title id="history-title">Problem URLs per run, by outcome, for the last '
           f"{plural(len(history), 'run')}</title>",
           f'<desc id="history-desc">{h(desc)}</desc>']
    for tick in ticks:
        out.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y(tick):.1f}"'
                   f' y2="{y(tick):.1f}"/>')
        out.append(f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick}</text>')
    label_every = max(1, math.ceil(len(history) / 15))
    for i, run in enumerate(history):
        x = left + (offset + i) * slot + (slot - bar) / 2
        out.append(f'<g class="bar"><title>{h(_run_title(run))}</title>'
                   f'<rect class="hit" x="{left + (offset + i) * slot:.1f}" y="{top}"'
                   f' width="{slot:.1f}" height="{plot_h}"/>')
        base = 0
        for outcome in in_outcome_order(run.outcomes):
            count = run.outcomes[outcome]
            if outcome == "ok" or not count:
                continue
            y0, y1 = y(base), y(base + count)
            out.append(f'<rect class="k-{outcome_key(outcome)}" x="{x:.1f}" y="{y1:.1f}"'
                       f' width="{bar:.1f}" height="{max(y0 - y1, 0.5):.1f}">'
                       f"<title>Run {run.run_id}: {count} {h(outcome)}</title></rect>")
            base += count
        out.append("</g>")
        is_current = run.run_id == current
        if is_current or (len(history) - 1 - i) % label_every == 0:
            css = ' class="current"' if is_current else ""
            out.append(f'<text{css} x="{x + bar / 2:.1f}" y="{height - bottom + 15}"'
                       f' text-anchor="middle">{run.run_id}</text>')
    out.append(f'<line class="axis" x1="{left}" x2="{width - right}" y1="{top + plot_h}"'
               f' y2="{top + plot_h}"/>')
    out.append(f'<text x="{width - right}" y="{height - 2}" text-anchor="end">run</text>')
    if not any(totals):
        out.append(f'<text class="label" x="{left + plot_w / 2:.0f}" y="{top + plot_h / 2:.0f}"'
                   ' text-anchor="middle">No problems in these runs</text>')
    out.append("</svg>")
    note = ('<p class="note">ok URLs are left out of the bars so that a few failures stay'
            " visible; hover a bar for all its counts.</p>\n")
    return "\n".join(out) + "\n" + _legend(shown) + note


def domains_chart(groups: list[DomainGroup], limit: int = 10, width: int = 440) -> str:
    """The domains with the most problem URLs, as horizontal bars stacked by outcome."""
    if not groups:
        return '<p class="note">No problem URLs in this run.</p>\n'
    shown_groups = groups[:limit]
    label_w, right, top, row, bottom = 160, 30, 6, 24, 22
    height = top + row * len(shown_groups) + bottom
    plot_w = width - label_w - right
    ticks = nice_ticks(max(len(g.urls) for g in shown_groups))
    x_max = ticks[-1]

    def x(value: float) -> float:
        return label_w + value / x_max * plot_w

    out = [f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img"'
           ' aria-labelledby="domains-title" xmlns="http://www.w3.org/2000/svg">',
           f'<title id="domains-title">Problem URLs per domain, the {len(shown_groups)} worst'
           f" of {plural(len(groups), 'domain')}</title>"]
    for tick in ticks:
        out.append(f'<line class="grid" x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{top}"'
                   f' y2="{height - bottom}"/>')
        out.append(f'<text x="{x(tick):.1f}" y="{height - 6}" text-anchor="middle">{tick}</text>')
    for i, group in enumerate(shown_groups):
        y = top + i * row
        name = group.domain if len(group.domain) <= 24 else group.domain[:23] + "…"
        confirmed = sum(e.confirmed for e in group.urls)
        title = (f"{group.domain}: {plural(len(group.urls), 'problem URL')}"
                 f" ({outcomes_text(group.outcomes)}), {confirmed} confirmed broken")
        out.append(f'<g class="bar"><title>{h(title)}</title>'
                   f'<rect class="hit" x="0" y="{y}" width="{width}" height="{row}"/>'
                   f'<text class="label" x="{label_w - 8}" y="{y + row / 2 + 4:.1f}"'
                   f' text-anchor="end">{h(name)}</text>')
        base = 0
        for outcome, count in group.outcomes.items():
            out.append(f'<rect class="k-{outcome_key(outcome)}" x="{x(base):.1f}" y="{y + 4}"'
                       f' width="{x(base + count) - x(base):.1f}" height="{row - 8}">'
                       f"<title>{h(group.domain)}: {count} {h(outcome)}</title></rect>")
            base += count
        out.append(f'<text x="{x(base) + 5:.1f}" y="{y + row / 2 + 4:.1f}">{len(group.urls)}'
                   "</text></g>")
    out.append(f'<line class="axis" x1="{label_w}" x2="{label_w}" y1="{top}"'
               f' y2="{height - bottom}"/>')
    out.append("</svg>")
    more = (f'<p class="note">{plural(len(groups) - len(shown_groups), "more domain")} in the'
            " table below.</p>\n" if len(groups) > len(shown_groups) else "")
    return ("\n".join(out) + "\n"
            + _legend(in_outcome_order(o for g in shown_groups for o in g.outcomes)) + more)
