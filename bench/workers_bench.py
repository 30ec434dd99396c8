"""Scale-out on one machine: the same crawl on 1, 2 and 4 worker processes.

    python -m bench.workers_bench [--documents 600] [--hosts 8] [--workers 1,2,4]

A synthetic site (crawler/jobs/synthetic_site.py) over a simulated web (bench/simweb.py, one
process), crawled into a fresh database each time: first by the single-process crawl
(the reference), then by a coordinator plus N workers sharing a local Redis
(crawler/distributed/local.py). For each: wall time, URLs requested per second, CPU
seconds of every process involved (coordinator, workers, redis-server; the simulated
web excluded), and the ratio to one worker. Redis commands per URL come from
``INFO commandstats`` (reset before the run): every command executed (Redis 7 counts
those run inside Lua scripts too), and the EVALSHA calls among them.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

from bench.simweb import SimWeb
from crawler.distributed import local
from crawler.jobs.synthetic_site import generate_site

REPO = Path(__file__).resolve().parents[1]
SETTINGS = ["LINKHEALTH_ALLOW_PRIVATE=1", "LOG_LEVEL=WARNING", "DOWNLOAD_TIMEOUT=10",
            "LINKHEALTH_RETRY_BACKOFF_BASE=0.05", "CONCURRENT_REQUESTS_PER_DOMAIN=8",
            "CONCURRENT_REQUESTS=16", "LINKHEALTH_REDIS_POLL=0.05"]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def requested(db: Path) -> int:
    import sqlite3
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT requested FROM runs ORDER BY id DESC LIMIT 1").fetchone()[0] or 0


def single(site: Path, db: Path) -> tuple[float, float]:
    command = [sys.executable, "-m", "scrapy", "crawl", "links", "-a", f"source={site}",
               "-s", f"LINKHEALTH_DB={db}"]
    for value in SETTINGS:
        command += ["-s", value]
    cpu, started = children_cpu(), time.monotonic()
    subprocess.run(command, cwd=REPO, check=True, capture_output=True)
    return time.monotonic() - started, children_cpu() - cpu


def commandstats(client: redis.Redis) -> tuple[int, int]:
    """(EVALSHA calls, all commands): Redis 7 counts the commands run inside scripts too."""
    stats = client.info("commandstats")
    total = sum(v["calls"] for v in stats.values())
    scripts = sum(v["calls"] for name, v in stats.items() if name in ("cmdstat_evalsha", "cmdstat_eval"))
    return scripts, total


def distributed(site: Path, db: Path, workers: int) -> tuple[float, float, tuple[int, int]]:
    server = local.LocalRedis()
    try:
        client = server.client()
        client.config_resetstat()
        cpu, started = children_cpu(), time.monotonic()
        status = local.run(workers, str(site), str(db), SETTINGS, [], redis_server=server)
        wall = time.monotonic() - started
        counts = commandstats(client)
    finally:
        server.stop()
    if status != 0:
        raise RuntimeError(f"the distributed crawl failed (exit status {status})")
    return wall, children_cpu() - cpu, counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=600)
    parser.add_argument("--hosts", type=int, default=8)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--latency-ms", type=float, default=20)
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.workers.split(",")]
    rows: list[tuple[str, float, float, int, tuple[int, int] | None]] = []
    with tempfile.TemporaryDirectory() as work, SimWeb(hosts=args.hosts, latency_ms=args.latency_ms,
                                                       slow_ms=300, page_kb=20, image_kb=20) as web:
        site = Path(work) / "site"
        stats = generate_site(site, documents=args.documents, hosts=web.hosts)
        print(f"site: {stats.files} documents, {stats.unique_urls} unique URLs on "
              f"{stats.hosts_used} hosts; web latency {args.latency_ms:.0f} ms; "
              f"{SETTINGS[4]}, {SETTINGS[5]} per process")
        wall, cpu = single(site, Path(work) / "single.db")
        urls = requested(Path(work) / "single.db")
        rows.append(("single process", wall, cpu, urls, None))
        ops: tuple[int, int] | None
        for n in counts:
            db = Path(work) / f"workers-{n}.db"
            wall, cpu, ops = distributed(site, db, n)
            rows.append((f"{n} worker{'s' * (n > 1)}", wall, cpu, requested(db), ops))
    base = next((r for r in rows if r[0] == "1 worker"), rows[0])
    base_rate = base[3] / base[1]
    print(f"{'':16} {'wall s':>7} {'URLs/s':>7} {'CPU s':>6} {'CPU ms/URL':>10} {'× 1 worker':>10}"
          f" {'Redis cmds/URL':>15}")
    results = []
    for name, wall, cpu, n, ops in rows:
        rate = n / wall
        redis_text = f"{ops[1] / n:.1f} ({ops[0] / n:.1f} scripts)" if ops else "-"
        print(f"{name:16} {wall:7.1f} {rate:7.1f} {cpu:6.1f} {1000 * cpu / n:10.1f} "
              f"{rate / base_rate:10.2f} {redis_text:>15}")
        results.append({"name": name, "wall_s": round(wall, 2), "urls": n,
                        "urls_per_s": round(rate, 1), "cpu_s": round(cpu, 2),
                        "ratio_to_1_worker": round(rate / base_rate, 2),
                        "redis_cmds_per_url": round(ops[1] / n, 2) if ops else None,
                        "redis_script_calls_per_url": round(ops[0] / n, 2) if ops else None})
    print("Redis cmds/URL: every command Redis executed (INFO commandstats, those run inside "
          "the Lua scripts included), per URL requested; in brackets the EVALSHA calls per URL.")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
