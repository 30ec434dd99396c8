"""Reading a very large site: documents/second and peak RSS, with broken files mixed in.

    python -m bench.large_site [--documents 100000] [--broken 300]

Generates the site (crawler/jobs/synthetic_site.py), then runs the real crawl with every
URL excluded (LINKHEALTH_EXCLUDE=.), so that only reading, extraction and
storage are measured: documents and references are recorded, nothing is
requested. Peak RSS that stays flat as --documents grows shows the site is
streamed, not loaded first.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from crawler.jobs.synthetic_site import generate_site, host_urls

REPO = Path(__file__).resolve().parents[1]


def log_value(pattern: str, log: str) -> str:
    """The first group of ``pattern`` in a crawl's log; the benchmark stops without it."""
    found = re.search(pattern, log)
    if found is None:
        raise RuntimeError(f"not in the crawl's log: {pattern}")
    return found.group(1)


def crawl_reading_only(site: Path, db: Path) -> tuple[float, str]:
    command = [sys.executable, "-m", "scrapy", "crawl", "links", "-a", f"source={site}",
               "-s", f"LINKHEALTH_DB={db}", "-s", "LINKHEALTH_EXCLUDE=.", "-s", "LOG_LEVEL=INFO"]
    started = time.monotonic()
    process = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=True)
    return time.monotonic() - started, process.stderr


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--broken", type=int, default=300)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as work:
        site, db = Path(work) / "site", Path(work) / "linkhealth.db"
        started = time.monotonic()
        stats = generate_site(site, documents=args.documents, hosts=host_urls(50, 8080),
                              broken_files=args.broken)
        generated = time.monotonic() - started
        wall, log = crawl_reading_only(site, db)
        peak = int(log_value(r"'linkhealth/peak_rss_bytes': (\d+)", log))
        run = log_value(r"Run 1 finished: (.*)", log)
        size = db.stat().st_size + (os.path.getsize(f"{db}-wal") if os.path.exists(f"{db}-wal") else 0)
    print(f"site: {stats.files:,} files ({args.broken} broken), {stats.references:,} references, "
          f"{stats.unique_urls:,} unique URLs; generated in {generated:.0f} s")
    print(f"crawl (reading and storing only): {wall:.1f} s, {stats.files / wall:,.0f} documents/s")
    print(f"peak RSS: {peak / 2**20:.0f} MiB; database: {size / 2**20:.0f} MiB")
    print(f"run summary: {run}")
    print(json.dumps({"files": stats.files, "seconds": round(wall, 1),
                      "documents_per_second": round(stats.files / wall),
                      "peak_rss_mib": round(peak / 2**20)}))


if __name__ == "__main__":
    main()
