"""The archive benchmark: the real ``scrapy crawl links``, twice, against the simulated web.

    python -m bench.archive_bench [--documents 1200] [--hosts 20] [--latency-ms 20]
                                  [--keep DIR] [--out result.json] [-s NAME=VALUE ...]

1. starts ``bench.simweb`` (pages ~50 KB, images ~100 KB) on 127.0.0.2 ... ;
2. writes a synthetic site (``crawler.jobs.synthetic_site``; the defaults give 5,000+ unique URLs);
3. runs, from the repository root, twice on the same database:
   ``.venv/bin/python -m scrapy crawl links -a source=SITE -s LINKHEALTH_DB=DB
   -s LINKHEALTH_ALLOW_PRIVATE=1 -s LOG_LEVEL=INFO``.

Per run it prints: wall time, CPU time and peak RSS of the crawl process (from
``os.wait4``'s rusage of that child), requests / bytes / 304s / highest per-host
concurrency / CPU of the simulated web, the database and WAL size after
``PRAGMA wal_checkpoint(TRUNCATE)``, unique URLs (``urls`` table), URLs per second,
and what the archive holds (snapshots, stored blob bytes; 0 when the crawl does not
archive). The work directory is a temporary one, removed at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

from bench.simweb import REPO, SimWeb
from bench.workdir import run_in_workdir
from crawler.jobs.synthetic_site import generate_site

MB = 1024 * 1024


def default_python() -> str:
    venv = REPO / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def run_crawl(python: str, repo: Path, site: Path, db: Path, settings: list[str], log: Path,
              timeout: float) -> dict:
    """One crawl subprocess: its exit status, wall time and its own rusage."""
    command = [python, "-m", "scrapy", "crawl", "links", "-a", f"source={site}",
               "-s", f"LINKHEALTH_DB={db}", "-s", "LINKHEALTH_ALLOW_PRIVATE=1",
               "-s", "LOG_LEVEL=INFO"]
    for setting in settings:
        command += ["-s", setting]
    with log.open("wb") as out:
        start = time.monotonic()
        process = subprocess.Popen(command, cwd=repo, stdout=out, stderr=subprocess.STDOUT)
        watchdog = threading.Timer(timeout, process.kill)  # bounded in time
        watchdog.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            watchdog.cancel()
        wall = time.monotonic() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    return {"exit_status": process.returncode, "wall_seconds": round(wall, 3),
            "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3),
            "user_seconds": round(usage.ru_utime, 3), "system_seconds": round(usage.ru_stime, 3),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}  # ru_maxrss is in KiB on Linux


def _scalar(con: sqlite3.Connection, sql: str, params: tuple = ()) -> int:
    try:
        return con.execute(sql, params).fetchone()[0] or 0
    except sqlite3.OperationalError:  # a table or column this version does not have
        return 0


def measure_db(db: Path) -> dict:
    """Counts of the latest run, then sizes after a WAL checkpoint."""
    if not db.exists():
        return {"unique_urls": 0, "checked_urls": 0, "snapshots": 0, "stored_bytes": 0,
                "db_bytes": 0, "wal_bytes": 0, "outcomes": {}}
    con = sqlite3.connect(db)
    try:
        run_id = _scalar(con, "SELECT max(id) FROM runs")
        try:
            outcomes = dict(con.execute("SELECT outcome, count(*) FROM checks WHERE run_id = ?"
                                        " GROUP BY outcome ORDER BY 2 DESC", (run_id,)).fetchall())
        except sqlite3.OperationalError:
            outcomes = {}
        figures = {
            "unique_urls": _scalar(con, "SELECT count(*) FROM urls"),
            "checked_urls": _scalar(con, "SELECT count(*) FROM checks WHERE run_id = ?", (run_id,)),
            "not_modified_checks": _scalar(
                con, "SELECT count(*) FROM checks WHERE run_id = ? AND not_modified", (run_id,)),
            "snapshots": _scalar(con, "SELECT count(*) FROM snapshots WHERE run_id = ?", (run_id,)),
            "stored_bytes": _scalar(con, "SELECT sum(compressed_size) FROM blobs"),
            "stored_raw_bytes": _scalar(con, "SELECT sum(size) FROM blobs"),
            "outcomes": outcomes,
        }
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()
    wal = db.with_name(db.name + "-wal")
    figures["db_bytes"] = db.stat().st_size
    figures["wal_bytes"] = wal.stat().st_size if wal.exists() else 0
    return figures


def bench(args: argparse.Namespace, work: Path) -> dict:
    site, db = work / "site", work / "linkhealth.db"
    for stale in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        stale.unlink(missing_ok=True)  # --keep DIR may hold an earlier benchmark's files
    shutil.rmtree(site, ignore_errors=True)
    with SimWeb(hosts=args.hosts, latency_ms=args.latency_ms, slow_ms=args.slow_ms,
                page_kb=args.page_kb, image_kb=args.image_kb) as web:
        stats = generate_site(site, documents=args.documents, hosts=web.hosts, seed=args.seed)
        runs = []
        for number in (1, 2):
            web.reset()
            crawl = run_crawl(args.python, args.repo, site, db, args.setting,
                              work / f"crawl-{number}.log", args.timeout)
            served = web.snapshot()
            log = (work / f"crawl-{number}.log").read_text(errors="replace")
            crawl["log_errors"] = log.count("] ERROR: ") + log.count("Traceback (most recent")
            if crawl["exit_status"] != 0:
                tail = log[-3000:]
                raise SystemExit(f"crawl {number} failed with exit status "
                                 f"{crawl['exit_status']}:\n{tail}")
            run = {"run": number, **crawl, **measure_db(db),
                   "requests": served["requests"], "bytes_fetched": served["bytes_sent"],
                   "not_modified": served["not_modified"],
                   "max_concurrent_per_host": served["max_concurrent_per_host"],
                   "simweb_cpu_seconds": served["cpu_seconds"], "statuses": served["statuses"]}
            run["urls_per_second"] = round(run["unique_urls"] / max(run["wall_seconds"], 1e-9), 1)
            runs.append(run)
    config = {k: v for k, v in vars(args).items() if k not in ("out", "keep")}
    config["repo"] = str(config["repo"])
    return {"config": config, "site": asdict(stats), "runs": runs}


ROWS = (  # label, key, scale, format
    ("wall seconds", "wall_seconds", 1, "{:.1f}"),
    ("crawl CPU seconds (user+sys)", "cpu_seconds", 1, "{:.1f}"),
    ("crawl peak RSS (MB)", "peak_rss_mb", 1, "{:.0f}"),
    ("unique URLs (urls table)", "unique_urls", 1, "{:,}"),
    ("URLs checked this run", "checked_urls", 1, "{:,}"),
    ("URLs / second", "urls_per_second", 1, "{:.1f}"),
    ("requests to the web", "requests", 1, "{:,}"),
    ("bytes fetched (MB)", "bytes_fetched", MB, "{:.1f}"),
    ("304 Not Modified (web)", "not_modified", 1, "{:,}"),
    ("checks recorded as not modified", "not_modified_checks", 1, "{:,}"),
    ("max concurrent requests / host", "max_concurrent_per_host", 1, "{}"),
    ("simulated web CPU seconds", "simweb_cpu_seconds", 1, "{:.1f}"),
    ("snapshots stored this run", "snapshots", 1, "{:,}"),
    ("archive blobs, compressed (MB)", "stored_bytes", MB, "{:.1f}"),
    ("database after checkpoint (MB)", "db_bytes", MB, "{:.1f}"),
    ("WAL after checkpoint (MB)", "wal_bytes", MB, "{:.1f}"),
    ("errors in the crawl log", "log_errors", 1, "{:,}"),
)


def render(result: dict) -> str:
    site, config, runs = result["site"], result["config"], result["runs"]
    lines = [f"linkhealth archive benchmark: {site['documents']:,} documents, "
             f"{site['references']:,} references, {site['unique_urls']:,} unique URLs on "
             f"{site['hosts_used']} hosts; latency {config['latency_ms']:g} ms, pages "
             f"{config['page_kb']} KB, images {config['image_kb']} KB",
             f"behaviours (unique URLs): {json.dumps(site['behaviours'])}", "",
             f"{'':34}" + "".join(f"{'run ' + str(r['run']):>14}" for r in runs)]
    for label, key, scale, fmt in ROWS:
        cells = (fmt.format(r.get(key, 0) / scale if scale != 1 else r.get(key, 0)) for r in runs)
        lines.append(f"{label:34}" + "".join(f"{cell:>14}" for cell in cells))
    lines.extend(f"outcomes, run {r['run']}: {json.dumps(r['outcomes'])}" for r in runs)
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Archive benchmark: two real crawls of a "
                                     "synthetic site against the simulated web.")
    parser.add_argument("--documents", type=int, default=1200, help="articles (1200: 5,000+ URLs)")
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--slow-ms", type=float, default=2000.0, help="extra delay of slow pages")
    parser.add_argument("--page-kb", type=int, default=50)
    parser.add_argument("--image-kb", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-s", "--setting", action="append", default=[], metavar="NAME=VALUE",
                        help="extra Scrapy setting for both crawls (repeatable)")
    parser.add_argument("--keep", type=Path, help="work in DIR and keep it (site, database, logs)")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON")
    parser.add_argument("--python", default=default_python(), help="interpreter of the crawl")
    parser.add_argument("--repo", type=Path, default=REPO, help="where the crawl runs")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per crawl")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    run_in_workdir(parse_args(argv), "linkhealth-bench-", bench, render)


if __name__ == "__main__":
    main()
