"""Peak memory and wall time of one crawl of a hostile site, and whether it held.

    python -m bench.hostile_site [--good 1000] [--bomb-levels 7] [--oversize-mib 17]
        [--keep DIR] [--out result.json]

Builds one site out of every hostile input of issue 16 (items 2 to 7): alias bombs
(a sequence, a title and a merge-key bomb, deep nesting), a document with too many
references, bodies that made the body-link patterns quadratic, a link to ``/dev/zero``, a FIFO,
links out of the site (a file and a directory), a directory link loop, a dangling link, an oversized file, and URLs with
credentials in every form, titles, values and file names meant to act in a report or a
terminal (Markdown links and images, HTML, spreadsheet formulas, ESC, BEL, CSI), next to
``--good`` good documents. The hostile set is written
twice, before and after the good documents, so that it is read both in the crawl's thread
and in its reader process (``LINKHEALTH_READ_PROCESS_AFTER``). A loopback web server
(``tests/webserver.py``) answers every URL; the real ``scrapy crawl`` runs against it.

It prints the crawl's wall time and peak RSS, then its checks: exit status 0, every bad
file recorded with its reason, every good document's URLs checked, nothing outside the site
requested, no secret anywhere (database file bytes, the log, every report format), no control
character on any output, no live link or image in the rendered Markdown, no CSV cell that
starts like a formula. It exits
1 when a check fails.

To add a case: write a ``Case`` (the files it adds under a directory of the site, the
errors the database must then hold, the URLs that must be checked or never requested, the
strings that must appear nowhere) and append it to ``CASES``.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.large_site import log_value
from bench.workdir import run_in_workdir
from tests.crawl import Crawl, crawl, write_site
from tests.webserver import Web

OUTSIDE_LINK = "a symbolic link to outside the site: not read"
REFUSED = "YAML front matter refused: more than"
REPORT_FORMATS = ("md", "html", "json", "csv")


@dataclass
class Site:
    """What the cases build against: the site, a directory outside it, the web server."""

    root: Path
    outside: Path
    web: Web
    options: argparse.Namespace


@dataclass
class Case:
    name: str
    build: Callable[[Site, Path], None]  # writes its files under the given directory
    # file (in that directory) -> the start of its recorded error (None: recorded, no error)
    errors: dict[str, str | None] = field(default_factory=dict)
    checked: Callable[[Site, str], list[str]] = lambda site, where: []  # targets that must be ok
    never_requested: Callable[[Site, str], list[str]] = lambda site, where: []
    secrets: tuple[str, ...] = ()  # must appear in no byte of the database, log or report
    # what is wrong in the reports (format -> text) and the crawl's log, if anything
    reports: Callable[[dict[str, str | None], str], list[str]] = lambda reports, log: []


def alias_bomb(levels: int, use: str) -> str:
    lines = ["---", "a0: &a0 [" + ", ".join(["https://bomb.example/"] * 9) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "\n".join([*lines, use.format(top=levels - 1), "---", ""])


def merge_bomb(levels: int) -> str:
    lines = ["---", "m0: &m0 {k0: https://bomb.example/}"]
    lines += [f"m{i}: &m{i} {{<<: [{', '.join([f'*m{i - 1}'] * 9)}], k{i}: v}}"
              for i in range(1, levels)]
    return "\n".join([*lines, f"webUrl: *m{levels - 1}", "---", ""])


def build_yaml(site: Site, where: Path) -> None:
    levels = site.options.bomb_levels
    write_site(where, {
        "bomb.md": alias_bomb(levels, "webUrl: [*a{top}]"),
        "title-bomb.md": alias_bomb(levels, "title: *a{top}"),
        "merge-bomb.md": merge_bomb(levels + 1),
        "deep.md": "---\nwebUrl: " + "[" * 999 + "x" + "]" * 999 + "\n---\n",
        "many-refs.md": {"links": [f"mailto:r{n}@example.org" for n in range(10_001)]},
    })


def build_files(site: Site, where: Path) -> None:
    where.mkdir(parents=True, exist_ok=True)
    (where / "zero.md").symlink_to("/dev/zero")
    os.mkfifo(where / "fifo.md")
    (where / "outside.md").symlink_to(site.outside / "secret.md")
    (where / "outside-dir").symlink_to(site.outside)
    (where / "loop").symlink_to(site.root)
    (where / "dangling.md").symlink_to(where / "missing.md")
    with open(where / "oversized.md", "wb") as out:
        out.write(b"---\nwebUrl: " + site.web.url("/ok?oversized").encode() + b"\n---\n")
        out.truncate(site.options.oversize_mib * 1024 * 1024)  # sparse: cheap to make


def build_bodies(site: Site, where: Path) -> None:
    """Bodies that made the body-link patterns quadratic, and one with too many links (the
    crawl reads body links: ``-a body_links=1``)."""
    write_site(where, {
        "brackets.md": "---\ntitle: B\n---\n" + "[a](" * 500_000,
        "open.md": "---\ntitle: O\n---\n" + "[" * 1_000_000 + "\n" + "<a " * 500_000,
        "body-links.md": "---\ntitle: L\n---\n" + "".join(f"[l](/l/{n})\n" for n in range(20_000)),
    })


def build_credentials(site: Site, where: Path) -> None:
    host = f"127.0.0.1:{site.web.port}"
    tag = where.name
    write_site(where, {"credentials.md": {
        "webUrl": f"http://editor:rawat-one@rawat-two@{host}/ok?raw-at-{tag}",
        "originalUrl": f"editor:noscheme-pass@{host}/ok?no-scheme-{tag}",
        "ampWebUrl": f"   http://editor:leading-pass@{host}/ok?leading-{tag}",
        "cdnAmpWebUrl": f"http://editor:overlong-pass@{host}/ok?{tag}" + "a" * 40_000,
        "website": f"http://ghp_benchtoken0123@{host}/ok?token-{tag}",
    }})


INJECTED_TITLE = ("[click](https://evil.example/phish) [js](javascript:alert(1)) "
                  "![t](https://tracker.example/t.png) "
                  "<img src=x onerror=alert(2)> \x1b[31mred\x07 \x9b2J")
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def build_injections(site: Site, where: Path) -> None:
    """Untrusted text meant to act in a report or a terminal (issue 16, items 5 to 7)."""
    write_site(where, {
        "inject.md": {"title": INJECTED_TITLE, "webUrl": site.web.url(f"/ok?inject-{where.name}"),
                      "originalUrl": '=HYPERLINK("https://evil.example")'},
        "esc\x1b[2Jname\x07.md": {"title": "A file name with ESC and BEL",
                                  "webUrl": site.web.url(f"/ok?escname-{where.name}")},
    })


def inert_reports(reports: dict[str, str | None], log: str) -> list[str]:
    """No control character on any output, no live link or image in the rendered Markdown,
    no CSV cell a spreadsheet would run."""
    from markdown_it import MarkdownIt  # in the test extra, as the crawl helpers are

    wrong = [f"a control character in the {name}" for name, text in (("log", log), *reports.items())
             if text and CONTROL.search(text)]
    html = MarkdownIt("commonmark").enable("table").render(reports.get("md") or "")
    wrong += [f"the Markdown report renders {what}" for what in (
        "<img", ">click</a>", 'href="javascript:', "<img src=x") if what in html]
    cells = [cell for row in csv.reader(io.StringIO(reports.get("csv") or "", newline=""))
             for cell in row]
    wrong += [f"a CSV cell starts like a formula: {cell[:40]!r}" for cell in cells
              if cell.startswith(FORMULA_STARTS)]
    return wrong


CASES: list[Case] = [
    Case("YAML bombs, too many references", build_yaml, errors={
        "bomb.md": REFUSED, "title-bomb.md": REFUSED, "merge-bomb.md": REFUSED,
        "deep.md": "YAML front matter refused: nested deeper than",
        "many-refs.md": "more than 10,000 link references (10,001)",
    }),
    Case("hostile bodies", build_bodies, errors={
        "brackets.md": None, "open.md": None,
        "body-links.md": "more than 10,000 link references (20,000)",
    }),
    Case("special files and symbolic links", build_files, errors={
        "zero.md": "not a regular file (a character device)",
        "fifo.md": "not a regular file (a FIFO)",
        "outside.md": OUTSIDE_LINK, "outside-dir": OUTSIDE_LINK,
        "loop": "a symbolic link to a directory: not followed",
        "dangling.md": "cannot read file: No such file or directory",
        "oversized.md": "file larger than",
    }, never_requested=lambda site, where: ["/ok?outside", "/ok?oversized"]),
    Case("credentials in every form", build_credentials,
         checked=lambda site, where: [f"/ok?raw-at-{where}", f"/ok?leading-{where}",
                                      f"/ok?token-{where}"],
         secrets=("rawat-one", "rawat-two", "noscheme-pass", "leading-pass", "overlong-pass",
                  "ghp_benchtoken0123")),
    Case("untrusted text in reports and logs", build_injections,
         errors={"inject.md": None, "esc\x1b[2Jname\x07.md": None},
         checked=lambda site, where: [f"/ok?inject-{where}", f"/ok?escname-{where}"],
         reports=inert_reports),
]
HOSTILE_DIRECTORIES = ("a-hostile", "z-hostile")  # read first (thread) and last (process)


def build(site: Site) -> dict[str, int]:
    write_site(site.outside, {"secret.md": {"webUrl": site.web.url("/ok?outside")}})
    good = {f"posts/{n:05}.md": {"title": f"Good {n}", "webUrl": site.web.url(f"/ok?good={n}"),
                                 "images": [{"url": site.web.url(f"/image.png?good={n}")}]}
            for n in range(site.options.good)}
    write_site(site.root, good)
    for directory in HOSTILE_DIRECTORIES:
        for case in CASES:
            case.build(site, site.root / directory)
    return {"good_documents": site.options.good,
            "bad_files": len(HOSTILE_DIRECTORIES) * sum(
                1 for c in CASES for error in c.errors.values() if error is not None),
            "hostile_files": len(HOSTILE_DIRECTORIES) * sum(len(c.errors) for c in CASES)}


def run_crawl(site: Site, db: Path) -> tuple[Crawl | None, float, str | None]:
    started = time.monotonic()
    try:
        settings = {"LOG_LEVEL": "DEBUG"}  # Scrapy's request lines: the log must hide secrets
        if site.options.process_after is not None:
            settings["LINKHEALTH_READ_PROCESS_AFTER"] = str(site.options.process_after)
        result = crawl(site.root, db, settings, args={"body_links": "1"},
                       timeout=site.options.timeout)
    except (AssertionError, subprocess.TimeoutExpired) as exc:
        return None, time.monotonic() - started, f"the crawl failed: {str(exc)[-2000:]}"
    return result, time.monotonic() - started, None


def check(site: Site, result: Crawl, db: Path) -> tuple[dict[str, str], float]:
    """Each check's name -> "ok" or what went wrong; and the seconds the reports took."""
    checks: dict[str, str] = {}
    errors = {row["path"]: row["parse_error"] for row in result.db.query(
        "SELECT path, parse_error FROM documents")}
    outcomes = {row["url"]: row["outcome"] for row in result.db.query(
        "SELECT u.url, c.outcome FROM checks c JOIN urls u ON u.id = c.url_id")}
    requested = {entry.target for entry in site.web.requests}
    started = time.monotonic()
    reports = {fmt: _report(db, fmt) for fmt in REPORT_FORMATS}
    report_seconds = time.monotonic() - started
    stored = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
    for case in CASES:
        wrong: list[str] = []
        for directory in HOSTILE_DIRECTORIES:
            for name, prefix in case.errors.items():
                path = f"{directory}/{name}"
                got = errors.get(path, "not recorded")
                if got != prefix and not (prefix and (got or "").startswith(prefix)):
                    wrong.append(f"{path}: {got!r}")
            wrong += [f"{t} not requested" for t in case.checked(site, directory)
                      if t not in requested]
            wrong += [f"{t} requested" for t in case.never_requested(site, directory)
                      if t in requested]
        wrong += case.reports(reports, result.log)
        for secret in case.secrets:
            places = [name for name, text in (("log", result.log), *reports.items())
                      if secret in (text or "")] + (["database"] if secret.encode() in stored else [])
            wrong += [f"{secret} in {', '.join(places)}"] if places else []
        checks[case.name] = "ok" if not wrong else "; ".join(wrong)
    missing = [n for n in range(site.options.good)
               if outcomes.get(site.web.url(f"/ok?good={n}")) != "ok"
               or outcomes.get(site.web.url(f"/image.png?good={n}")) != "ok"]
    checks["good documents checked"] = "ok" if not missing else f"not ok: {missing[:10]}"
    failed_reports = [fmt for fmt, text in reports.items() if text is None]
    checks["reports written"] = "ok" if not failed_reports else f"failed: {failed_reports}"
    return checks, report_seconds


def _report(db: Path, fmt: str) -> str | None:
    process = subprocess.run([sys.executable, "-m", "scrapy", "report", "--db", str(db),
                              "--format", fmt, "--all"], cwd=Path(__file__).resolve().parents[1],
                             capture_output=True, text=True, timeout=600)
    return process.stdout if process.returncode == 0 else None


def bench(options: argparse.Namespace, work: Path) -> dict[str, Any]:
    with Web() as web:
        site = Site(work / "site", work / "outside", web, options)
        shape = build(site)
        db = work / "db.sqlite"
        result, wall, failure = run_crawl(site, db)
        if result is None:
            return {"config": vars_of(options), "site": shape, "crawl": {"wall_seconds": wall},
                    "checks": {"crawl exited 0": failure}, "failures": [failure]}
        checks, report_seconds = check(site, result, db)
    peak = int(log_value(r"'linkhealth/peak_rss_bytes': (\d+)", result.log))
    run = result.run()
    checks = {"crawl exited 0": "ok", **checks}
    return {
        "config": vars_of(options), "site": shape,
        "crawl": {"wall_seconds": round(wall, 2), "peak_rss_mb": round(peak / 2**20, 1),
                  "documents": run["documents"], "parse_errors": run["parse_errors"],
                  "requested": run["requested"], "reports_seconds": round(report_seconds, 2)},
        "checks": checks,
        "failures": [f"{name}: {state}" for name, state in checks.items() if state != "ok"],
    }


def vars_of(options: argparse.Namespace) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(options).items()}


def render(result: dict[str, Any]) -> str:
    crawl_figures = result["crawl"]
    lines = [f"hostile site: {result['site']['good_documents']} good documents, "
             f"{result['site']['bad_files']} bad files (every case twice: thread and process)"]
    if "peak_rss_mb" in crawl_figures:
        lines += [f"wall seconds:  {crawl_figures['wall_seconds']:.1f} (crawl), "
                  f"{crawl_figures['reports_seconds']:.1f} (four reports)",
                  f"peak RSS:      {crawl_figures['peak_rss_mb']:.0f} MiB",
                  f"run:           {crawl_figures['documents']} documents, "
                  f"{crawl_figures['parse_errors']} with errors, "
                  f"{crawl_figures['requested']} requested"]
    lines += [f"check {name}: {state}" for name, state in result["checks"].items()]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.hostile_site", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--good", type=int, default=1000,
                        help="good documents (default 1000: past LINKHEALTH_READ_PROCESS_AFTER)")
    parser.add_argument("--bomb-levels", type=int, default=7,
                        help="levels of nine aliases per bomb (default 7: 4.8 million values)")
    parser.add_argument("--oversize-mib", type=int, default=17,
                        help="size of the oversized file, sparse (default 17, over 16 MiB)")
    parser.add_argument("--process-after", type=int, metavar="N",
                        help="LINKHEALTH_READ_PROCESS_AFTER for the crawl (default: the "
                             "setting's, 500); a small site needs a small N to use the process")
    parser.add_argument("--timeout", type=float, default=600, help="seconds the crawl may take")
    parser.add_argument("--keep", type=Path, help="work in DIR and keep it")
    parser.add_argument("--out", type=Path, help="also write the result as JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    results: list[dict[str, Any]] = []

    def keep(options: argparse.Namespace, work: Path) -> dict[str, Any]:
        results.append(bench(options, work))
        return results[-1]

    run_in_workdir(options, "linkhealth-hostile-site-", keep, render)
    return 1 if results and results[-1]["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
