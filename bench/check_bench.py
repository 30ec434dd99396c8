"""The checking-only benchmark: linkhealth, a bare-Scrapy reference and peer checkers.

    python -m bench.check_bench [--urls 20000] [--hosts 300] [--latency-ms 2] [--per-host 16]
                                [--peers lychee,linkinator,linkchecker|all|none] [--out result.json]
                                [--keep DIR] [--timeout 1800] [--peer-timeout 600]

1. starts ``bench.simweb`` on ``--hosts`` loopback addresses. Host ``i`` is 127.0.0.(i+2) for
   the first 253 hosts, then 127.0.1.2, 127.0.1.3, ... (``wide_address``): simweb is started
   through a two-line wrapper that gives it this address law, so 300+ hosts work;
2. writes a synthetic site (``crawler.jobs.synthetic_site``) with at least ``--urls`` unique URLs,
   growing the number of documents until it has them;
3. runs, each against the same simulated web (its counters reset in between):
   * linkhealth, from the repository root: ``python -m scrapy crawl links -a source=SITE
     -s LINKHEALTH_ARCHIVE=0 -s LINKHEALTH_ALLOW_PRIVATE=1 -s CONCURRENT_REQUESTS_PER_DOMAIN=N
     -s LINKHEALTH_DB=DB``;
   * the bare-Scrapy reference (``bench/reference_spider.py``) on linkhealth's unique URLs
     (``urls.request_url``), from the work directory so the project settings are not read;
   * each peer asked for and installed (``bench/peers.py``); a missing one is skipped.

Per checker it prints documents, references, unique URLs, hosts, URLs checked, wall
seconds, URLs/second, CPU seconds and peak RSS (``os.wait4`` rusage of that process),
database size (linkhealth), what the simulated web saw (requests, highest per-host
concurrency, its CPU seconds from /proc), then the throughput and CPU ratios of every pair.

A checker's figures measure the checker only when the web is not what holds it back. So the
benchmark also prints, before the runs, the web's capacity at each checker's method and
concurrency (``bench.web_capacity``) and the per-host floor (``bench.host_floor``), and
beside each checker the share of that capacity it used and its wall time over the floor.
It flags a checker within 70% of the capacity, or within 1/0.7 of the floor.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import json
import math
import os
import shlex
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

from bench.archive_bench import default_python, measure_db
from bench.host_floor import web_floor
from bench.peers import PEERS, Job
from bench.simweb import REPO, SimWeb
from bench.web_capacity import NEAR_CAPACITY, CpuMeter, measure, site_urls, targets_of
from bench.workdir import run_in_workdir
from crawler.jobs.synthetic_site import generate_site

MB = 1024 * 1024
URLS_PER_DOCUMENT = 4.9  # what the generator's defaults give; only a first guess
MAX_HOSTS = 253 * 254
SCRAPY_CONCURRENCY = 128  # CONCURRENT_REQUESTS of linkhealth and the reference
LOAD = {  # checker: (method, requests in flight at most) as the web sees it
    "linkhealth": ("HEAD", SCRAPY_CONCURRENCY), "reference": ("HEAD", SCRAPY_CONCURRENCY),
    "lychee": ("GET", 4096), "linkinator": ("GET", 128), "linkchecker": ("GET", 100)}


def wide_address(index: int) -> str:
    """127.0.0.2 ... 127.0.0.254 (as crawler.jobs.synthetic_site), then 127.0.1.2 ..., all loopback."""
    if not 0 <= index < MAX_HOSTS:
        raise ValueError(f"at most {MAX_HOSTS} hosts")
    block, offset = divmod(index, 253)
    return f"127.0.{block}.{2 + offset}"


SIMWEB_WRAPPER = ("import bench.simweb as s, bench.check_bench as c; "
                  "s.host_address = c.wide_address; s.main()")


class WideSimWeb(SimWeb):
    """bench.simweb, unchanged but for its address law (more than 253 hosts)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        assert self.command[1:3] == ["-m", "bench.simweb"]
        self.command[1:3] = ["-c", SIMWEB_WRAPPER]


# -- running and measuring one checker ---------------------------------------------------

def run_measured(command: list[str], cwd: Path, stdout: Path, stderr: Path, timeout: float,
                 env: dict | None = None) -> dict:
    """Run a command to completion (killed after ``timeout`` s): wall time and its rusage."""
    with stdout.open("wb") as out, stderr.open("wb") as err:
        start = time.monotonic()
        process = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=err, env=env,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # its own session: the checker alone

        watchdog = threading.Timer(timeout, kill)
        watchdog.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            watchdog.cancel()
        wall = time.monotonic() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    return {"exit_status": process.returncode, "timed_out": timed_out.is_set(),
            "wall_seconds": round(wall, 3),
            "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def profiled(command: list[str], out: Path) -> list[str]:
    """``command`` under py-spy (sampling at 250 Hz, subprocesses too), collapsed stacks to ``out``."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return [py_spy, "record", "--format", "raw", "--rate", "250", "--nonblocking", "--gil", "--threads",
            "--output", str(out), "--", *command]


def linkhealth_figures(db: Path) -> dict:
    """What linkhealth's database says about its (only) run."""
    con = sqlite3.connect(db)
    try:
        run = con.execute("SELECT id, documents, refs, unique_urls FROM runs"
                          " ORDER BY id DESC LIMIT 1").fetchone()
        run_id = run[0]
        statuses = con.execute(
            "SELECT sum(status BETWEEN 200 AND 299), sum(status IS NOT NULL"
            " AND status NOT BETWEEN 200 AND 299), sum(status IS NULL), count(*)"
            " FROM checks WHERE run_id = ?", (run_id,)).fetchone()
        hosts = con.execute("SELECT count(DISTINCT host) FROM urls").fetchone()[0]
    finally:
        con.close()
    return {"documents": run[1] or 0, "references": run[2] or 0,
            "ok_2xx": statuses[0] or 0, "other": statuses[1] or 0, "errors": statuses[2] or 0,
            "checked": statuses[3] or 0, "hosts": hosts}


def export_urls(db: Path, urls_file: Path, html_file: Path) -> list[str]:
    con = sqlite3.connect(db)
    try:
        urls = [row[0] for row in con.execute(
            "SELECT coalesce(request_url, url) FROM urls ORDER BY id")]
    finally:
        con.close()
    urls_file.write_text("".join(url + "\n" for url in urls), encoding="utf-8")
    links = "".join(f'<li><a href="{html.escape(url)}">{i}</a></li>\n' for i, url in enumerate(urls))
    html_file.write_text("<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>links"
                         f"</title></head><body><ul>\n{links}</ul></body></html>\n",
                         encoding="utf-8")
    return urls


def hosts_of(urls: list[str]) -> int:
    return len({url.split("/", 3)[2] for url in urls})


def _web(served: dict) -> dict:
    return {"web_requests": served["requests"], "web_bytes": served["bytes_sent"],
            "web_max_concurrent_per_host": served["max_concurrent_per_host"],
            # earlier phases' requests still served when it began (not counted above)
            "web_carried_in_flight": served.get("carried_in_flight", 0),
            "web_cpu_seconds": served["cpu_seconds"], "web_statuses": served["statuses"],
            "web_accept_errors": served.get("accept_errors", 0),
            "web_methods": served["methods"]}


def _fail(name: str, log: Path, run: dict) -> None:
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    raise SystemExit(f"{name} failed (exit status {run['exit_status']}, "
                     f"timed out: {run['timed_out']}):\n{tail}")


def make_site(site: Path, target_urls: int, hosts: list[str], seed: int) -> dict:
    """A site with at least ``target_urls`` unique URLs (a few generations at most)."""
    documents = max(10, math.ceil(target_urls / URLS_PER_DOCUMENT))
    for _ in range(8):  # bounded: each try scales the documents by the shortfall
        shutil.rmtree(site, ignore_errors=True)
        stats = generate_site(site, documents=documents, hosts=hosts, seed=seed)
        if stats.unique_urls >= target_urls:
            return asdict(stats)
        documents = math.ceil(documents * target_urls / max(stats.unique_urls, 1) * 1.02) + 1
    return asdict(stats)


def run_linkhealth(args: argparse.Namespace, work: Path, web: SimWeb,
                   workers: int = 0) -> tuple[dict, list[str]]:
    """One linkhealth crawl on a fresh database: its figures and the URLs it requested.
    With ``workers``, the scale-out crawl: a coordinator and that many worker processes
    sharing a local redis-server (``crawler/distributed/local.py``)."""
    site, db = work / "site", work / "linkhealth.db"
    for stale in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        stale.unlink(missing_ok=True)
    web.reset()
    settings = ["-s", "LINKHEALTH_ARCHIVE=0", "-s", "LINKHEALTH_ALLOW_PRIVATE=1",
                "-s", f"CONCURRENT_REQUESTS_PER_DOMAIN={args.per_host}", "-s", "LOG_LEVEL=INFO",
                "-s", "LINKHEALTH_PROGRESS_INTERVAL=0", *args.linkhealth_args]
    if workers:
        command = [args.python, "-m", "crawler.distributed.local", "--workers", str(workers),
                   "--source", str(site), "--db", str(db), *settings]
    else:
        command = [args.python, "-m", "scrapy", "crawl", "links", "-a", f"source={site}",
                   "-s", f"LINKHEALTH_DB={db}", *settings]
    name = f"linkhealth-{workers}-workers" if workers else "linkhealth"
    log = work / f"{name}.log"
    if args.profile:
        command = profiled(command, work / f"{name}.profile.txt")
    meter = CpuMeter(web.pids)
    meter.start()
    run = run_measured(command, args.repo, work / f"{name}.out", log, args.timeout)
    served = {**web.snapshot(), "cpu_seconds": meter.stop()}
    if run["exit_status"] != 0 or run["timed_out"]:
        _fail(name, log, run)
    figures = linkhealth_figures(db)
    sizes = measure_db(db)
    urls = export_urls(db, work / "urls.txt", work / "links.html")
    return ({**run, **figures, "unique_urls": len(urls),
             "db_bytes": sizes["db_bytes"] + sizes["wal_bytes"],
             "outcomes": sizes["outcomes"], **_web(served)}, urls)


def run_reference(args: argparse.Namespace, work: Path, web: SimWeb, urls: list[str]) -> dict:
    """The bare-Scrapy reference, outside the project (cwd: the work directory)."""
    web.reset()
    env = {k: v for k, v in os.environ.items() if k != "SCRAPY_SETTINGS_MODULE"}
    env["PYTHONPATH"] = str(REPO)  # for `-m bench.reference_spider`; no project settings
    command = [args.python, "-m", "bench.reference_spider", str(work / "urls.txt"),
               "--per-host", str(args.per_host), "--timeout", "30"]
    out, log = work / "reference.out", work / "reference.log"
    if args.profile:
        command = profiled(command, work / "reference.profile.txt")
    meter = CpuMeter(web.pids)
    meter.start()
    run = run_measured(command, work, out, log, args.timeout, env=env)
    served = {**web.snapshot(), "cpu_seconds": meter.stop()}
    if run["exit_status"] != 0 or run["timed_out"]:
        _fail("reference", log, run)
    summary = json.loads([line for line in out.read_text().splitlines()
                          if line.startswith("{")][-1])  # (py-spy writes there too)
    return {**run, "documents": 1, "references": len(urls), "unique_urls": len(urls),
            "hosts": hosts_of(urls), "checked": summary["checked"], "ok_2xx": summary["ok_2xx"],
            "other": summary["other"], "errors": summary["errors"],
            "statuses": summary["statuses"], **_web(served)}


def median_of(runs: list[dict]) -> dict:
    """The last run's figures, with wall and CPU seconds (and peak RSS) the median of all
    runs; each run's wall seconds kept in ``wall_runs``."""
    figures = dict(runs[-1])
    for key in ("wall_seconds", "cpu_seconds", "peak_rss_mb"):
        figures[key] = statistics.median(run[key] for run in runs)
    figures["wall_runs"] = [run["wall_seconds"] for run in runs]
    return figures


def bench(args: argparse.Namespace, work: Path) -> dict:
    site = work / "site"
    urls_file, html_file = work / "urls.txt", work / "links.html"
    checkers: dict[str, dict] = {}
    skipped: dict[str, str] = {}
    with WideSimWeb(hosts=args.hosts, latency_ms=args.latency_ms, slow_ms=args.slow_ms,
                    page_kb=args.page_kb, image_kb=args.image_kb, timeout=60.0,
                    processes=args.web_processes) as web:
        stats = make_site(site, args.urls, web.hosts, args.seed)
        floors = web_floor(site_urls(site), args.per_host, args.latency_ms / 1000,
                           args.slow_ms / 1000)
        capacity = web_capacity(args, web, site)

        # 1. linkhealth and 2. the bare-Scrapy reference, alternately (--repeat): on a shared
        # machine the median of alternating runs is what can be compared.
        runs: dict[str, list[dict]] = {"linkhealth": [], "reference": []}
        scale_out = f"linkhealth, {args.workers} workers"
        for _ in range(args.repeat):
            figures, urls = run_linkhealth(args, work, web)
            runs["linkhealth"].append(figures)
            runs["reference"].append(run_reference(args, work, web, urls))
            if args.workers:
                runs.setdefault(scale_out, []).append(
                    run_linkhealth(args, work, web, workers=args.workers)[0])
        checkers = {name: median_of(figures) for name, figures in runs.items()}

        # 3. the peers
        job = Job(urls_file=urls_file, html_file=html_file, per_host=args.per_host,
                  latency_ms=args.latency_ms, timeout=30.0, work=work,
                  run_seconds=args.peer_timeout)
        for name in args.peers:
            peer = PEERS[name]
            exe = peer.find()
            if exe is None:
                skipped[name] = f"not installed ({peer.install})"
                print(f"note: {name} skipped: not installed; install with: {peer.install}",
                      file=sys.stderr)
                continue
            web.reset()
            out, log = work / f"{name}.out", work / f"{name}.log"
            meter = CpuMeter(web.pids)
            meter.start()
            try:
                run = run_measured(peer.command(exe, job), work, out, log, args.peer_timeout)
            except OSError as error:
                skipped[name] = f"could not start: {error}"
                continue
            served = {**web.snapshot(), "cpu_seconds": meter.stop()}
            try:
                counts = peer.parse(out.read_text(errors="replace"),
                                    log.read_text(errors="replace"), job)
            except (ValueError, KeyError, TypeError) as error:
                counts = {"checked": 0, "ok_2xx": 0, "other": 0, "errors": 0,
                          "parse_error": str(error)}
            checkers[name] = {**run, "documents": 1, "references": len(urls),
                              "unique_urls": len(urls), "hosts": hosts_of(urls), **counts,
                              **_web(served)}
    for name, figures in checkers.items():
        wall = max(figures["wall_seconds"], 1e-9)
        figures["urls_per_second"] = round(figures["unique_urls"] / wall, 1)
        figures["checked_per_second"] = round(figures["checked"] / wall, 1)
        against_capacity(figures, capacity.get(load_of(name)))
        figures["wall_over_floor"] = round(wall / max(floors[0].seconds, 1e-9), 2)
    config = {k: v for k, v in vars(args).items() if k not in ("out", "keep", "repo")}
    return {"config": config, "site": stats, "checkers": checkers, "skipped": skipped,
            "simweb_final": web.stats, "web_capacity": capacity,
            "floor": asdict(floors[0]), "ratios": ratios(checkers)}


def load_of(checker: str) -> str:
    """The capacity a checker is held against: "HEAD@128", "GET@4096"..."""
    method, concurrency = LOAD.get(checker.split(",")[0], LOAD["linkhealth"])
    return f"{method}@{concurrency}"


def web_capacity(args: argparse.Namespace, web: SimWeb, site: Path) -> dict[str, dict]:
    """What the web serves at each checker's method and concurrency, with nothing else
    running (``bench.web_capacity``): requests per second and the web's CPU share."""
    targets = targets_of(site_urls(site))
    loads = {load_of(name) for name in ("linkhealth", *args.peers)}
    capacity = {}
    for load in sorted(loads):
        method, concurrency = load.split("@")
        capacity[load] = asdict(measure(targets, int(concurrency), args.capacity_seconds,
                                        method, web.pids, per_host=args.per_host))
    web.reset()
    return capacity


def against_capacity(figures: dict, capacity: dict | None) -> None:
    """The web's load during a checker's run, beside what it can serve."""
    wall = max(figures["wall_seconds"], 1e-9)
    figures["web_requests_per_second"] = round(figures["web_requests"] / wall, 1)
    figures["web_cpu_share"] = round(figures["web_cpu_seconds"] / wall, 2)
    if capacity:
        figures["web_capacity"] = capacity["requests_per_second"]
        figures["web_capacity_share"] = round(
            figures["web_requests_per_second"] / max(capacity["requests_per_second"], 1e-9), 2)


def ratios(checkers: dict[str, dict]) -> dict:
    """For every pair (a, b): a's URLs/s over b's, and a's CPU seconds over b's."""
    out = {}
    for a, fa in checkers.items():
        for b, fb in checkers.items():
            if a != b:
                out[f"{a}/{b}"] = {
                    "speed": round(fa["checked_per_second"] / max(fb["checked_per_second"], 1e-9), 2),
                    "cpu": round(fa["cpu_seconds"] / max(fb["cpu_seconds"], 1e-9), 2)}
    return out


ROWS = (  # label, key, scale, format
    ("documents", "documents", 1, "{:,}"),
    ("references", "references", 1, "{:,}"),
    ("unique URLs", "unique_urls", 1, "{:,}"),
    ("hosts", "hosts", 1, "{:,}"),
    ("URLs checked", "checked", 1, "{:,}"),
    ("  2xx / other / no answer", None, 1, ""),
    ("wall seconds (median)", "wall_seconds", 1, "{:.1f}"),
    ("  each run", "wall_runs", 1, ""),
    ("URLs / second (checked / wall)", "checked_per_second", 1, "{:,.0f}"),
    ("wall / per-host floor", "wall_over_floor", 1, "{:.2f}"),
    ("CPU seconds (user+sys, median)", "cpu_seconds", 1, "{:.1f}"),
    ("peak RSS (MB)", "peak_rss_mb", 1, "{:.0f}"),
    ("database incl. WAL (MB)", "db_bytes", MB, "{:.1f}"),
    ("web: requests", "web_requests", 1, "{:,}"),
    ("web: MB sent", "web_bytes", MB, "{:.0f}"),
    ("web: max concurrent / host", "web_max_concurrent_per_host", 1, "{}"),
    ("web: CPU seconds (/proc)", "web_cpu_seconds", 1, "{:.1f}"),
    ("web: CPU share of wall (1 = a core)", "web_cpu_share", 1, "{:.2f}"),
    ("web: requests / second", "web_requests_per_second", 1, "{:,.0f}"),
    ("web: capacity at its load (req/s)", "web_capacity", 1, "{:,.0f}"),
    ("web: share of capacity used", "web_capacity_share", 1, "{:.0%}"),
    ("web: connections not accepted", "web_accept_errors", 1, "{:,}"),
    ("exit status", "exit_status", 1, "{}"),
)


def render(result: dict) -> str:
    site, config, checkers = result["site"], result["config"], result["checkers"]
    names = list(checkers)
    width = max(14, *(len(n) + 2 for n in names))
    lines = [(f"linkhealth check benchmark: {site['documents']:,} documents, "
              f"{site['references']:,} references, {site['unique_urls']:,} unique URLs on "
              f"{site['hosts_used']} hosts; latency {config['latency_ms']:g} ms, "
              f"{config['per_host']} requests / host at most"),
             f"behaviours (unique URLs): {json.dumps(site['behaviours'])}", "",
             f"{'':34}" + "".join(f"{n:>{width}}" for n in names)]
    for label, key, scale, fmt in ROWS:
        cells = []
        for name in names:
            figures = checkers[name]
            if key is None:
                cells.append(f"{figures['ok_2xx']}/{figures['other']}/{figures['errors']}")
            elif key not in figures:
                cells.append("-")
            elif key == "wall_runs":
                cells.append("/".join(f"{w:.0f}" for w in figures[key]))
            else:
                value = figures[key]
                cells.append(fmt.format(value / scale if scale != 1 else value))
        lines.append(f"{label:34}" + "".join(f"{cell:>{width}}" for cell in cells))
    timed_out = [n for n in names if checkers[n].get("timed_out")]
    if timed_out:
        lines.append(f"timed out (killed after --peer-timeout, partial counts): {', '.join(timed_out)}")
    partial = [n for n in names if checkers[n]["checked"] < checkers[n]["unique_urls"]]
    if partial:
        lines.append(f"incomplete (checked fewer than the unique URLs; --peer-timeout or its own "
                     f"limits): {', '.join(partial)}")
    lines += ["", "speed ratio (row's URLs/s over column's); CPU ratio in brackets",
              f"{'':34}" + "".join(f"{n:>{width}}" for n in names)]
    for a in names:
        cells = []
        for b in names:
            if a == b:
                cells.append("1")
            else:
                r = result["ratios"][f"{a}/{b}"]
                if not (checkers[a]["checked"] and checkers[b]["checked"]):
                    cells.append("-")
                else:
                    cells.append(f"{r['speed']:.2f} ({r['cpu']:.2f})")
        lines.append(f"{a:34}" + "".join(f"{cell:>{width}}" for cell in cells))
    for name, reason in result["skipped"].items():
        lines.append(f"skipped: {name}: {reason}")
    lines += ["", "web capacity (bench.web_capacity, before the runs): " + "; ".join(
        f"{load}: {c['requests_per_second']:,.0f} req/s, web CPU {c['web_cpu_share']:.2f} of a "
        f"core" for load, c in result["web_capacity"].items())]
    floor = result["floor"]
    lines.append(f"per-host floor (bench.host_floor): {floor['seconds']:.1f} s, set by "
                 f"{floor['host']} ({floor['urls']:,} URLs, {floor['requests']:,} requests, "
                 f"{floor['why']})")
    near_floor = [n for n in names if checkers[n]["wall_over_floor"] < 1 / NEAR_CAPACITY]
    if near_floor:
        lines.append(f"FLOOR-BOUND? {', '.join(near_floor)} ended within {1 / NEAR_CAPACITY:.2f}x "
                     "of the floor: its wall time measures the web's slowest host")
    near = [n for n in names if checkers[n].get("web_capacity_share", 0) >= NEAR_CAPACITY]
    if near:
        lines.append(f"WEB-BOUND? {', '.join(near)} came within {NEAR_CAPACITY:.0%} of the web's "
                     "capacity: its figures may measure the simulated web")
    over = [n for n in names if checkers[n]["web_max_concurrent_per_host"] > config["per_host"]]
    if over:
        lines.append(f"per-host limit NOT held by: {', '.join(over)} (see web: max concurrent / host)")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Checking-only benchmark: linkhealth, a "
                                     "bare-Scrapy reference and peer link checkers.")
    parser.add_argument("--urls", type=int, default=20_000, help="unique URLs at least")
    parser.add_argument("--hosts", type=int, default=300)
    # 2 ms and 100 ms: with 20 ms and 2 s the CDN host's queue (5,722 URLs, 131 slow ones, 16 at
    # a time) took 23.8 s, and every checker ended within 1.42x of that floor (bench/README.md)
    parser.add_argument("--latency-ms", type=float, default=2.0)
    parser.add_argument("--per-host", type=int, default=16, help="requests in flight per host")
    parser.add_argument("--slow-ms", type=float, default=100.0, help="extra delay of slow URLs")
    parser.add_argument("--page-kb", type=int, default=50)
    parser.add_argument("--image-kb", type=int, default=100)
    parser.add_argument("--web-processes", type=int, default=1,
                        help="simulated web processes (each serves every Nth host)")
    parser.add_argument("--capacity-seconds", type=float, default=5.0,
                        help="seconds of each measure of the web's capacity")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--peers", default="lychee,linkinator,linkchecker",
                        help="comma-separated peers, 'all' or 'none'")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON")
    parser.add_argument("--keep", type=Path, help="work in DIR and keep it (site, db, logs)")
    parser.add_argument("--python", default=default_python(), help="interpreter of the crawls")
    parser.add_argument("--repo", type=Path, default=REPO, help="where linkhealth runs")
    parser.add_argument("--timeout", type=float, default=1800.0,
                        help="seconds for linkhealth and for the reference")
    parser.add_argument("--profile", action="store_true",
                        help="run linkhealth and the reference under py-spy: collapsed stacks in "
                             "NAME.profile.txt of the work directory (see bench.profile)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run linkhealth and the reference alternately N times; wall and "
                             "CPU seconds are the medians")
    parser.add_argument("--linkhealth-args", default="",
                        help="more arguments for linkhealth's scrapy crawl, e.g. "
                             "'-s LINKHEALTH_READ_PROCESS_AFTER=0'")
    parser.add_argument("--workers", type=int, default=0,
                        help="also run the scale-out crawl with N worker processes (needs "
                             "redis-server), alternately with the others")
    parser.add_argument("--peer-timeout", type=float, default=600.0,
                        help="seconds per peer; a peer still running is killed (partial counts)")
    args = parser.parse_args(argv)
    args.linkhealth_args = shlex.split(args.linkhealth_args)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.peers in ("", "none"):
        args.peers = []
    elif args.peers == "all":
        args.peers = list(PEERS)
    else:
        args.peers = [p.strip() for p in args.peers.split(",") if p.strip()]
        unknown = [p for p in args.peers if p not in PEERS]
        if unknown:
            parser.error(f"unknown peers {unknown}; known: {', '.join(PEERS)}")
    if not 2 <= args.hosts <= MAX_HOSTS:
        parser.error(f"--hosts must be between 2 and {MAX_HOSTS}")
    return args


def main(argv: list[str] | None = None) -> None:
    run_in_workdir(parse_args(argv), "linkhealth-check-", bench, render)


if __name__ == "__main__":
    main()
