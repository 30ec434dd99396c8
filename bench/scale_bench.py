"""The scale benchmark: archiving crawls of growing sites, the incremental run, the report.

    python -m bench.scale_bench [--documents 10000,30000,100000] [--hosts 100] [--latency-ms 20]
                                [--keep DIR] [--out result.json] [-s NAME=VALUE ...]

For each size it writes a *lean* synthetic site (``crawler.jobs.synthetic_site``: three references
and one new URL per article, so 100,000 documents are 300,000 references to ~100,000 URLs)
and runs, against the simulated web (pages ~50 KB, images ~100 KB), on one database:

1. the **full run**: ``scrapy crawl links`` with archiving on (the default);
2. the **incremental run** (after the reports below): the same crawl with ``LINKHEALTH_RECHECK_AFTER=1d`` on the
   unchanged web, so every URL found healthy is skipped and only the others are requested;
3. between the two, ``scrapy report`` of the full run (every URL checked in it) in every
   format (md, html, json, csv), with and without ``--all`` (which lists every URL).

It prints per size: documents, references, unique URLs, wall and CPU seconds, documents and
URLs per second, peak RSS, MB fetched and stored, the database size, the incremental run's
wall time as a share of the full run's, the report times, and the CPU seconds per 1,000 URLs
(flat from size to size when the cost is linear).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import time
from dataclasses import asdict
from pathlib import Path

from bench.archive_bench import default_python, measure_db, run_crawl
from bench.simweb import REPO, SimWeb
from bench.workdir import run_in_workdir
from crawler.jobs.synthetic_site import generate_site

MB = 1024 * 1024
FORMATS = ("md", "html", "json", "csv")


def time_report(python: str, repo: Path, db: Path, out: Path, fmt: str, everything: bool) -> dict:
    command = [python, "-m", "scrapy", "report", "--db", str(db), "--format", fmt, "-o", str(out)]
    if everything:
        command.append("--all")
    start = time.monotonic()
    process = subprocess.run(command, cwd=repo, capture_output=True, text=True, timeout=600)
    seconds = time.monotonic() - start
    if process.returncode != 0:
        raise SystemExit(f"scrapy report --format {fmt} failed:\n{process.stderr[-2000:]}")
    return {"seconds": round(seconds, 2), "bytes": out.stat().st_size}


def one_size(args: argparse.Namespace, work: Path, web: SimWeb, documents: int) -> dict:
    site, db = work / f"site-{documents}", work / f"linkhealth-{documents}.db"
    shutil.rmtree(site, ignore_errors=True)
    for stale in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        stale.unlink(missing_ok=True)
    stats = generate_site(site, documents=documents, hosts=web.hosts, seed=args.seed, lean=True)
    runs, reports = {}, {}
    for name, extra in (("full", []), ("incremental", ["LINKHEALTH_RECHECK_AFTER=1d"])):
        web.reset()
        log = work / f"crawl-{documents}-{name}.log"
        crawl = run_crawl(args.python, args.repo, site, db,
                          ["LINKHEALTH_PROGRESS_INTERVAL=0", *args.setting, *extra], log,
                          args.timeout)
        served = web.snapshot()
        if crawl["exit_status"] != 0:
            raise SystemExit(f"{name} crawl of {documents} documents failed:\n"
                             f"{log.read_text(errors='replace')[-3000:]}")
        runs[name] = {**crawl, **measure_db(db), "requests": served["requests"],
                      "bytes_fetched": served["bytes_sent"],
                      "max_concurrent_per_host": served["max_concurrent_per_host"]}
        if name == "full":  # the report of the run that checked every URL: the largest
            for fmt in FORMATS:
                for everything in (False, True):
                    out = work / f"report-{documents}{'-all' if everything else ''}.{fmt}"
                    reports[f"{fmt}{' --all' if everything else ''}"] = time_report(
                        args.python, args.repo, db, out, fmt, everything)
    full, incremental = runs["full"], runs["incremental"]
    return {"site": asdict(stats), "full": full, "incremental": incremental, "reports": reports,
            "documents_per_second": round(stats.documents / full["wall_seconds"], 1),
            "urls_per_second": round(full["unique_urls"] / full["wall_seconds"], 1),
            "cpu_ms_per_url": round(1000 * full["cpu_seconds"] / max(full["unique_urls"], 1), 2),
            "incremental_share": round(incremental["wall_seconds"] / full["wall_seconds"], 3)}


def bench(args: argparse.Namespace, work: Path) -> dict:
    sizes = {}
    with SimWeb(hosts=args.hosts, latency_ms=args.latency_ms, page_kb=args.page_kb,
                image_kb=args.image_kb, timeout=60.0) as web:
        for documents in args.documents:
            sizes[documents] = one_size(args, work, web, documents)
            print(f"{documents:,} documents done: {json.dumps(sizes[documents]['full'])}",
                  flush=True)
            if not args.keep_databases:
                for db in work.glob(f"linkhealth-{documents}.db*"):
                    db.unlink()
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
              if k not in ("out", "keep")}
    return {"config": config, "sizes": sizes}


ROWS = (  # label, getter, format
    ("documents", lambda s: s["site"]["documents"], "{:,}"),
    ("references", lambda s: s["site"]["references"], "{:,}"),
    ("unique URLs", lambda s: s["full"]["unique_urls"], "{:,}"),
    ("full run: wall seconds", lambda s: s["full"]["wall_seconds"], "{:.0f}"),
    ("full run: CPU seconds", lambda s: s["full"]["cpu_seconds"], "{:.0f}"),
    ("full run: documents / second", lambda s: s["documents_per_second"], "{:,.0f}"),
    ("full run: URLs / second", lambda s: s["urls_per_second"], "{:,.0f}"),
    ("full run: CPU ms / URL", lambda s: s["cpu_ms_per_url"], "{:.2f}"),
    ("full run: peak RSS (MB)", lambda s: s["full"]["peak_rss_mb"], "{:.0f}"),
    ("full run: MB fetched", lambda s: s["full"]["bytes_fetched"] / MB, "{:,.0f}"),
    ("full run: MB/s fetched", lambda s: s["full"]["bytes_fetched"] / MB / s["full"]["wall_seconds"],
     "{:.1f}"),
    ("full run: snapshots", lambda s: s["full"]["snapshots"], "{:,}"),
    ("archive blobs, compressed (MB)", lambda s: s["full"]["stored_bytes"] / MB, "{:,.0f}"),
    ("database after full run (MB)", lambda s: s["full"]["db_bytes"] / MB, "{:,.0f}"),
    ("max concurrent / host", lambda s: s["full"]["max_concurrent_per_host"], "{}"),
    ("incremental: wall seconds", lambda s: s["incremental"]["wall_seconds"], "{:.1f}"),
    ("incremental: requests", lambda s: s["incremental"]["requests"], "{:,}"),
    ("incremental: share of full run", lambda s: 100 * s["incremental_share"], "{:.1f} %"),
    ("incremental: peak RSS (MB)", lambda s: s["incremental"]["peak_rss_mb"], "{:.0f}"),
    *((f"scrapy report {name}: seconds", (lambda s, n=name: s["reports"][n]["seconds"]), "{:.1f}")
      for name in [f"{f}{a}" for f in FORMATS for a in ("", " --all")]),
)


def render(result: dict) -> str:
    sizes = result["sizes"]
    config = result["config"]
    lines = [f"linkhealth scale benchmark: lean sites, archiving on; {config['hosts']} hosts, "
             f"latency {config['latency_ms']:g} ms, pages {config['page_kb']} KB, "
             f"images {config['image_kb']} KB", "",
             f"{'':38}" + "".join(f"{f'{n:,} docs':>16}" for n in sizes)]
    for label, getter, fmt in ROWS:
        lines.append(f"{label:38}" + "".join(f"{fmt.format(getter(s)):>16}" for s in sizes.values()))
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Scale benchmark: archiving crawls of growing "
                                     "lean sites, the incremental run and the report.")
    parser.add_argument("--documents", default="10000,30000,100000",
                        help="comma-separated site sizes (articles)")
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--page-kb", type=int, default=50)
    parser.add_argument("--image-kb", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-s", "--setting", action="append", default=[], metavar="NAME=VALUE",
                        help="extra Scrapy setting for every crawl (repeatable)")
    parser.add_argument("--keep", type=Path, help="work in DIR and keep it")
    parser.add_argument("--keep-databases", action="store_true",
                        help="with --keep: keep every size's database (several GB at 100k)")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON")
    parser.add_argument("--python", default=default_python(), help="interpreter of the crawls")
    parser.add_argument("--repo", type=Path, default=REPO, help="where the crawls run")
    parser.add_argument("--timeout", type=float, default=7200.0, help="seconds per crawl")
    args = parser.parse_args(argv)
    try:
        args.documents = [int(n) for n in args.documents.split(",") if n.strip()]
    except ValueError:
        parser.error("--documents takes comma-separated integers")
    if not args.documents or min(args.documents) < 1:
        parser.error("--documents needs at least one size of 1 or more")
    if args.hosts > 253:
        parser.error("--hosts: at most 253 (127.0.0.2 ... 127.0.0.254)")
    return args


def main(argv: list[str] | None = None) -> None:
    run_in_workdir(parse_args(argv), "linkhealth-scale-", bench, render)


if __name__ == "__main__":
    main()
