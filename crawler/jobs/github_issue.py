"""One issue that lists the links confirmed broken, kept in step with each run.

The issue is found by its label (``issue-label``) among the repository's open issues, and
known for ours by a marker in its body: an issue someone else labelled the same way is
never edited. Then, for the latest run's JSON report:

* links confirmed broken and no issue open: one is opened, listing them;
* links confirmed broken and our issue open: its body is rewritten to the current list, and
  when some are newly broken in this run, a comment lists those (an edited body notifies
  nobody, a comment notifies the issue's subscribers);
* nothing confirmed broken and our issue open: a comment says so, and the issue is closed
  as completed. A link confirmed broken later opens a new issue.

The list is read from the JSON report (its ``confirmed`` and ``failing_streak``) and written
with the Markdown report's helpers: URLs as autolinks, paths and fields as code spans, so
nothing from the site or the web acts as Markdown, and no text from them can mention
someone or link another issue.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from crawler.jobs.github_api import GitHub
from crawler.report.markdown import md_code, md_url
from crawler.report.text import plural

MARKER = "<!-- linkhealth-action: confirmed broken links -->"
BODY_LIMIT = 60_000  # characters; GitHub refuses an issue body or comment above 65,536
REFS_SHOWN = 3


@dataclass(frozen=True)
class Broken:
    """The links of a report that matter to the issue."""

    confirmed: list[dict[str, Any]]
    newly: list[dict[str, Any]]
    broken_after: int
    run_id: int

    @classmethod
    def of(cls, report: dict[str, Any]) -> Broken:
        broken_after = int(report.get("headline", {}).get("broken_after", 1))
        confirmed = [u for u in report.get("urls", []) if u.get("confirmed")]
        newly = [u for u in confirmed if u.get("failing_streak") == broken_after]
        return cls(confirmed, newly, broken_after, int(report["run"]["id"]))


@dataclass(frozen=True)
class IssueResult:
    action: str  # opened, updated, closed, none
    number: int | None = None
    url: str | None = None


def sync_issue(api: GitHub, report: dict[str, Any], *, label: str, title: str,
               footer: str) -> IssueResult:
    """Open, update or close the issue to match ``report``; raises ``GitHubError``."""
    broken = Broken.of(report)
    issue = find_issue(api, label)
    if issue is None and not broken.confirmed:
        return IssueResult("none")
    if issue is None:
        made = api.post(f"{api.repo_path}/issues",
                        {"title": title, "body": issue_body(broken, footer), "labels": [label]})
        return IssueResult("opened", made["number"], made["html_url"])
    path = f"{api.repo_path}/issues/{issue['number']}"
    if not broken.confirmed:
        api.post(f"{path}/comments", {"body": f"Run {broken.run_id}: no link is confirmed "
                                                f"broken any more. Closing.\n\n{footer}"})
        api.patch(path, {"state": "closed", "state_reason": "completed"})
        return IssueResult("closed", issue["number"], issue["html_url"])
    api.patch(path, {"title": title, "body": issue_body(broken, footer)})
    if broken.newly:
        api.post(f"{path}/comments", {"body": newly_comment(broken, footer)})
    return IssueResult("updated", issue["number"], issue["html_url"])


def find_issue(api: GitHub, label: str) -> dict[str, Any] | None:
    """Our open issue: the oldest open one with ``label`` and the marker (not a pull request);
    the pages are read oldest first, and only until it is found."""
    issues = api.pages(f"{api.repo_path}/issues", {"state": "open", "labels": label,
                                                   "sort": "created", "direction": "asc"})
    return next((item for item in issues
                 if "pull_request" not in item and MARKER in (item.get("body") or "")), None)


def issue_body(broken: Broken, footer: str) -> str:
    rule = (f"failing in {broken.broken_after} runs in a row or more"
            if broken.broken_after > 1 else "failing")
    lines = [MARKER,
             f"**{plural(len(broken.confirmed), 'link')} confirmed broken** ({rule}) as of "
             f"linkhealth run {broken.run_id}; {len(broken.newly)} newly broken in this run.", ""]
    newly = {entry["url"] for entry in broken.newly}
    still = [entry for entry in broken.confirmed if entry["url"] not in newly]
    sections = [("Newly broken", broken.newly), ("Still broken", still)]
    return _fitted(lines, sections, footer)


def newly_comment(broken: Broken, footer: str) -> str:
    lines = [f"Run {broken.run_id}: {plural(len(broken.newly), 'link')} newly broken.", ""]
    return _fitted(lines, [("Newly broken", broken.newly)], footer)


def _fitted(head: list[str], sections: Sequence[tuple[str, list[dict[str, Any]]]],
            footer: str, limit: int = BODY_LIMIT) -> str:
    """``head``, then each section as a table, rows left out past ``limit`` characters
    (the count of those is said), then ``footer``."""
    lines = list(head)
    size = sum(len(line) + 1 for line in lines) + len(footer) + 200
    for heading, entries in sections:
        if not entries:
            continue
        lines += [f"### {heading}", "", "| URL | outcome | where |", "|---|---|---|"]
        size += 60 + len(heading)
        for shown, entry in enumerate(entries):
            row = _row(entry)
            if size + len(row) + 1 > limit:
                lines.append(f"\n… and {len(entries) - shown} more: see the report.")
                size += 60
                break
            lines.append(row)
            size += len(row) + 1
        lines.append("")
    return "\n".join([*lines, footer])


def _row(entry: dict[str, Any], code: Callable[[Any], str] = md_code) -> str:
    outcome = str(entry.get("outcome") or "")
    if entry.get("status"):
        outcome += f" {entry['status']}"
    refs = entry.get("refs") or []
    where = ", ".join(f"{code(r.get('path'))} ({code(r.get('field'))})" for r in refs[:REFS_SHOWN])
    if len(refs) > REFS_SHOWN:
        where += f" and {len(refs) - REFS_SHOWN} more"
    return f"| {_url(entry.get('url'))} | {code(outcome)} | {where} |"


def _url(url: str | None) -> str:
    """An autolink for an http(s) URL; anything else a code span (never Markdown text)."""
    link = md_url(url)
    return link if link.startswith("<") else md_code(url)

