"""The HTML report's charts: inline SVG, no library. The geometry is worked out here; the
markup is ``templates/charts.html.j2``.

- ``outcomes_chart``: problem URLs per run over the last runs, stacked by outcome
  (ok URLs are left out of the bars so a few failures among thousands stay visible);
- ``domains_chart``: the worst registered domains of this run.

Colours come from the page's CSS classes (``k-<outcome>``), so dark mode applies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from markupsafe import Markup

from crawler.core.items import in_outcome_order
from crawler.report.model import DomainGroup, RunOutcomes
from crawler.report.templating import outcome_key, template
from crawler.report.text import outcomes_text, plural


def nice_ticks(top: int, most: int = 5) -> list[int]:
    """Round tick values from 0 to at least ``top`` (at most ``most`` steps)."""
    if top <= 0:
        return [0, 1]
    step = next(k * 10 ** e for e in range(16) for k in (1, 2, 5) if top / (k * 10 ** e) <= most)
    return list(range(0, math.ceil(top / step) * step + 1, step))


@dataclass(slots=True)
class Tick:
    value: int
    at: float  # y of a horizontal grid line, x of a vertical one


@dataclass(slots=True)
class Segment:
    """One outcome's part of a bar; ``title`` says whose and how many."""
    key: str  # the outcome's CSS name
    title: str
    x: float
    y: float
    width: float
    height: float


@dataclass(slots=True)
class RunBar:
    """One run of the history: its slot (the hover area), its bar and its id below."""
    title: str
    run_id: int
    slot_x: float
    segments: list[Segment]
    label_x: float  # the middle of the bar
    current: bool  # the run of this report, its id always shown
    labelled: bool  # many runs: only every few ids are shown


@dataclass(slots=True)
class HistoryChart:
    runs: int
    desc: str  # every run's title, for screen readers
    width: int
    height: int
    left: int
    right: int  # x of the plot's right edge
    top: int
    plot_h: int
    slot: float
    label_y: int  # of the run ids under the bars
    ticks: list[Tick]
    bars: list[RunBar]
    legend: list[str]  # outcomes shown
    empty: bool  # no problem in any run

    @property
    def base(self) -> int:
        return self.top + self.plot_h


@dataclass(slots=True)
class DomainBar:
    """One domain: its row (the hover area), name, bar and count."""
    title: str
    y: int
    name: str  # the domain, shortened to fit
    segments: list[Segment]
    count: int
    count_x: float  # just after the bar


@dataclass(slots=True)
class DomainsChart:
    shown: int
    domains: int
    width: int
    height: int
    label_w: int  # the names' column
    top: int
    bottom: int  # y of the plot's bottom edge
    row: int
    ticks: list[Tick]
    bars: list[DomainBar]
    legend: list[str]


def render_chart(name: str, chart: HistoryChart | DomainsChart | None) -> Markup:
    """The chart's markup: macro ``name`` of ``templates/charts.html.j2``."""
    return getattr(template("charts.html.j2").module, name)(chart)


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


def history_geometry(history: list[RunOutcomes], current_run: int, width: int = 600,
                     height: int = 220) -> HistoryChart:
    """Problem URLs per run, stacked by outcome; the newest run sits at the right edge."""
    left, right, top, bottom = 40, 8, 10, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(n for o, n in run.outcomes.items() if o != "ok") for run in history]
    ticks = nice_ticks(max(totals, default=0))
    y_max = ticks[-1]
    slots = max(len(history), 10)
    slot = plot_w / slots
    bar_w = slot * 0.72
    offset = slots - len(history)

    def y(value: float) -> float:
        return top + plot_h - value / y_max * plot_h

    label_every = max(1, math.ceil(len(history) / 15))
    bars = []
    for i, run in enumerate(history):
        x = left + (offset + i) * slot + (slot - bar_w) / 2
        segments, base = [], 0
        for outcome in in_outcome_order(run.outcomes):
            count = run.outcomes[outcome]
            if outcome == "ok" or not count:
                continue
            y0, y1 = y(base), y(base + count)
            segments.append(Segment(outcome_key(outcome), f"Run {run.run_id}: {count} {outcome}",
                                    x, y1, bar_w, max(y0 - y1, 0.5)))
            base += count
        current = run.run_id == current_run
        bars.append(RunBar(_run_title(run), run.run_id, left + (offset + i) * slot, segments,
                           x + bar_w / 2, current,
                           current or (len(history) - 1 - i) % label_every == 0))
    return HistoryChart(
        runs=len(history), desc="; ".join(_run_title(run) for run in history), width=width,
        height=height, left=left, right=width - right, top=top, plot_h=plot_h, slot=slot,
        label_y=height - bottom + 15, ticks=[Tick(t, y(t)) for t in ticks], bars=bars,
        legend=in_outcome_order(o for run in history for o, n in run.outcomes.items()
                                if o != "ok" and n),
        empty=not any(totals))


def outcomes_chart(history: list[RunOutcomes], current: int, width: int = 600,
                   height: int = 220) -> Markup:
    """Problem URLs per run, stacked by outcome, as an SVG bar chart with a legend.

    ok URLs are left out of the bars (each bar's title has them) so that a handful of
    failures among thousands of healthy links stays visible.
    """
    return render_chart("outcomes_chart", history_geometry(history, current, width, height))


def domains_geometry(groups: list[DomainGroup], limit: int = 10,
                     width: int = 440) -> DomainsChart | None:
    """The domains with the most problem URLs, as horizontal bars stacked by outcome."""
    if not groups:
        return None
    shown = groups[:limit]
    label_w, right, top, row, bottom = 160, 30, 6, 24, 22
    height = top + row * len(shown) + bottom
    plot_w = width - label_w - right
    ticks = nice_ticks(max(len(g.urls) for g in shown))
    x_max = ticks[-1]

    def x(value: float) -> float:
        return label_w + value / x_max * plot_w

    bars = []
    for i, group in enumerate(shown):
        y = top + i * row
        confirmed = sum(e.confirmed for e in group.urls)
        segments, base = [], 0
        for outcome, count in group.outcomes.items():
            segments.append(Segment(outcome_key(outcome), f"{group.domain}: {count} {outcome}",
                                    x(base), y + 4, x(base + count) - x(base), row - 8))
            base += count
        bars.append(DomainBar(
            f"{group.domain}: {plural(len(group.urls), 'problem URL')}"
            f" ({outcomes_text(group.outcomes)}), {confirmed} confirmed broken", y,
            group.domain if len(group.domain) <= 24 else group.domain[:23] + "…",
            segments, len(group.urls), x(base) + 5))
    return DomainsChart(
        shown=len(shown), domains=len(groups), width=width, height=height, label_w=label_w,
        top=top, bottom=height - bottom, row=row, ticks=[Tick(t, x(t)) for t in ticks],
        bars=bars, legend=in_outcome_order(o for g in shown for o in g.outcomes))


def domains_chart(groups: list[DomainGroup], limit: int = 10, width: int = 440) -> Markup:
    """The worst domains' chart with its legend, or a note that there is none."""
    return render_chart("domains_chart", domains_geometry(groups, limit, width))
