"""The realistic-web benchmark: rate limits, hangs and a dead host cost their own host's time.

    python -m bench.real_web_bench [--urls 3000] [--hosts 30] [--timeout 5] [--repeat 1]
                                   [--peers lychee|none] [--out result.json] [--keep DIR]
                                   [--linkhealth-args '-s NAME=VALUE']

The simulated web (``bench.simweb`` with a ``--profile``) is a real site's outside world: a
synthetic site (``crawler.jobs.synthetic_site``) whose URLs spread over ``--hosts`` hosts with a
Zipf-like law (a few hosts carry most URLs), each host with its own latency (20 ms to
1.5 s), and among them (``LAYOUT``):

* the CDN of every ``cdnAmpWebUrl`` answers 429 + ``Retry-After`` above a request rate;
* one host locks a client out for a while (429, no ``Retry-After``) when it exceeds a rate;
* two hosts hang on every URL, one on a few paths only;
* one host is down (nothing listens on its address).

Each URL's truth (what a correct checker records) follows from its host and path
(``truth``). The benchmark runs linkhealth at its default settings but ``DOWNLOAD_TIMEOUT``
(``--timeout``), the same crawl with the troubled hosts excluded (the control: when the
healthy hosts finish without them), and lychee with the same timeout, retries and per-host
limit. It prints:

* the floor (``bench.host_floor``): what any checker must spend at the per-host limit;
* each checker's wall time, and as a multiple of the floor;
* when the healthy hosts' last request was answered, with and without the troubled ones;
* outcome agreement with the truth, per kind of host;
* linkhealth's own record of the troubled hosts (``host_runs``, its stats);
* a per-host timeline: URLs, latency, floor, when each host was done.
"""

from __future__ import annotations

import argparse
import calendar
import json
import math
import random
import re
import shlex
import sqlite3
import statistics
import sys
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

from bench.archive_bench import default_python
from bench.check_bench import run_measured
from bench.host_floor import moved_to, web_floor
from bench.peers import which
from bench.simweb import REPO, SimWeb, hangs_on
from bench.web_capacity import CpuMeter, site_urls
from bench.workdir import run_in_workdir
from crawler.jobs.synthetic_site import generate_site

RETRIES = 2  # linkhealth's RETRY_TIMES default; lychee gets the same
PER_HOST = 8  # linkhealth's CONCURRENT_REQUESTS_PER_DOMAIN default; lychee gets the same
CONCURRENCY = 128  # linkhealth's CONCURRENT_REQUESTS default; lychee gets the same
SLOW_MS = 2000.0
URLS_PER_DOCUMENT = 4.9
LATENCY_MS = (20.0, 1500.0)  # the spread of the healthy hosts' latencies (log-uniform)
# host index (its rank in the Zipf-like law) -> role and behaviour (bench.simweb.HostBehaviour)
LAYOUT: dict[int, tuple[str, dict]] = {
    0: ("healthy", {"latency_ms": 30}),  # the site's own host: logos and many pages
    1: ("rate-limited", {"latency_ms": 40, "rate": [20, 20]}),  # the CDN
    2: ("healthy", {"latency_ms": 80}),
    4: ("hangs on some paths", {"latency_ms": 120, "hang_share": 0.08}),
    6: ("lockout", {"latency_ms": 90, "lockout": [5, 5], "trace": True}),
    9: ("hangs", {"hang": True}),
    11: ("down", {"down": True}),
    14: ("hangs", {"hang": True}),
}
GROUPS = ("healthy", "rate-limited", "lockout", "hangs", "hangs on some paths", "down")


# -- the web and its truth -----------------------------------------------------------------

def layout(hosts: int, seed: int) -> dict[int, tuple[str, dict]]:
    """Every host's role and behaviour: ``LAYOUT``, the rest healthy with a latency drawn
    log-uniformly from ``LATENCY_MS`` (the same for a seed)."""
    if hosts <= max(LAYOUT):
        raise SystemExit(f"--hosts must be more than {max(LAYOUT)} (LAYOUT's hosts)")
    rng = random.Random(f"{seed}:latency")
    low, high = (math.log(ms) for ms in LATENCY_MS)
    roles = {}
    for index in range(hosts):
        latency = round(math.exp(rng.uniform(low, high)))
        role, spec = LAYOUT.get(index, ("healthy", {}))
        roles[index] = (role, {"latency_ms": latency, **spec})
    return roles


def truth(path: str, spec: dict, timeout: float) -> str:
    """The outcome a correct checker records for ``path`` on a host behaving as ``spec``,
    with ``timeout`` seconds per request."""
    if spec.get("down"):
        return "connection_error"
    if spec.get("hang") or (spec.get("hang_share") and any(
            hangs_on(p, spec["hang_share"]) for p in (path, moved_to(path)))):
        return "timeout"  # (a redirect to a path that hangs too)
    if path.startswith("/slow/") and spec["latency_ms"] + SLOW_MS >= timeout * 1000:
        return "timeout"
    return "broken" if path.startswith("/gone/") else "ok"


class RealWeb:
    """The web, its site and what each URL should come out as."""

    def __init__(self, web: SimWeb, roles: dict[int, tuple[str, dict]], site: Path,
                 timeout: float):
        self.web = web
        self.urls = site_urls(site)
        self.role_of = {web.hosts[i].split("://")[1]: role for i, (role, _) in roles.items()}
        self.spec_of = {web.hosts[i].split("://")[1]: spec for i, (_, spec) in roles.items()}
        self.truth = {url: truth(path_of(url), self.spec_of[host_of(url)], timeout)
                      for url in self.urls}
        self.troubled = sorted(host for host, role in self.role_of.items() if role != "healthy")

    def exclude_pattern(self) -> str:
        """A regular expression matching every URL of a troubled host (the control run)."""
        return "^http://(" + "|".join(re.escape(host) for host in self.troubled) + ")/"


def host_of(url: str) -> str:
    return url.split("://", 1)[1].split("/", 1)[0]


def path_of(url: str) -> str:
    return "/" + url.split("://", 1)[1].partition("/")[2]


def make_site(site: Path, target_urls: int, hosts: list[str], seed: int) -> dict:
    documents = max(10, math.ceil(target_urls / URLS_PER_DOCUMENT))
    stats = generate_site(site, documents=documents, hosts=hosts, seed=seed)
    return asdict(stats)


# -- the runs --------------------------------------------------------------------------------

def timeline(real: RealWeb, served: dict, start: float) -> dict[str, float | None]:
    """Seconds from the run's start to each host's last answer (None: it answered nothing)."""
    done = {}
    for host in real.role_of:
        record = served.get("by_host", {}).get(host.split(":")[0])
        done[host] = (round(record["last_answered"] - start, 2)
                      if record and record["answered"] else None)
    return done


def healthy_done(real: RealWeb, done: dict[str, float | None]) -> float:
    return max((t for host, t in done.items() if real.role_of[host] == "healthy" and t), default=0.0)


def agreement(real: RealWeb, outcomes: dict[str, str], healthy_only: bool) -> dict[str, dict]:
    """Per kind of host: URLs, how many got their true outcome, and what the others got."""
    groups: dict[str, dict] = {g: {"urls": 0, "agreed": 0, "wrong": Counter()} for g in GROUPS}
    for url, expected in real.truth.items():
        role = real.role_of[host_of(url)]
        if healthy_only and role != "healthy":
            continue
        group = groups[role]
        got = outcomes.get(url, "missing")
        group["urls"] += 1
        if got == expected:
            group["agreed"] += 1
        else:
            group["wrong"][f"{expected}->{got}"] += 1
    for group in groups.values():
        group["wrong"] = dict(group["wrong"].most_common())
    return groups


def stats_of(log: str) -> dict[str, int | float]:
    """linkhealth's linkhealth/host_health/*, linkhealth/rate_limit/* and retry stats, from
    Scrapy's stats dump at the end of its log."""
    found = re.findall(r"'((?:linkhealth/(?:host_health|rate_limit|retry_after)|retry)/[^']+)': "
                       r"([0-9.]+)", log)
    return {name: float(value) if "." in value else int(value) for name, value in found}


def run_linkhealth(args: argparse.Namespace, work: Path, real: RealWeb, control: bool) -> dict:
    name = "control" if control else "linkhealth"
    db = work / f"{name}.db"
    for stale in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        stale.unlink(missing_ok=True)
    settings = ["-s", f"LINKHEALTH_DB={db}", "-s", "LINKHEALTH_ALLOW_PRIVATE=1",
                "-s", f"DOWNLOAD_TIMEOUT={args.timeout:g}", "-s", "LOG_LEVEL=INFO",
                "-s", "LINKHEALTH_PROGRESS_INTERVAL=0", *args.linkhealth_args]
    if control:
        settings += ["-s", f"LINKHEALTH_EXCLUDE={real.exclude_pattern()}"]
    command = [args.python, "-m", "scrapy", "crawl", "links", "-a", f"source={work / 'site'}",
               *settings]
    real.web.reset()
    meter = CpuMeter(real.web.pids)
    meter.start()
    start = time.time()
    log = work / f"{name}.log"
    run = run_measured(command, args.repo, work / f"{name}.out", log, args.run_timeout)
    served = real.web.snapshot()
    run["web_cpu_seconds"] = meter.stop()
    if run["exit_status"] != 0 or run["timed_out"]:
        tail = log.read_text(errors="replace")[-3000:]
        raise SystemExit(f"{name} failed ({run}):\n{tail}")
    con = sqlite3.connect(db)
    try:
        rows = con.execute("SELECT coalesce(u.request_url, u.url), c.outcome, c.attempts,"
                           " c.host_state, c.checked_at FROM checks c JOIN urls u ON u.id = c.url_id"
                           " WHERE c.run_id = (SELECT max(id) FROM runs)").fetchall()
        hosts = [dict(zip([d[0] for d in cursor.description], row, strict=True)) for cursor in
                 [con.execute("SELECT * FROM host_runs WHERE run_id = (SELECT max(id) FROM runs)")]
                 for row in cursor.fetchall()]
    finally:
        con.close()
    outcomes = {url: outcome for url, outcome, *_ in rows}
    done = timeline(real, served, start)
    for url, _, _, _, checked_at in rows:  # a troubled host is done at its last check
        host = host_of(url)
        if checked_at and real.role_of.get(host) != "healthy" and not control:
            at = calendar.timegm(time.strptime(checked_at, "%Y-%m-%dT%H:%M:%SZ"))  # to the second
            done[host] = max(done.get(host) or 0.0, round(at - start, 1))
    return {**run, "outcomes": outcomes, "done": done, "healthy_done": healthy_done(real, done),
            "web": {k: served[k] for k in ("requests", "statuses", "max_concurrent_per_host")},
            "by_host": served.get("by_host", {}), "host_runs": hosts,
            "stats": stats_of(log.read_text(errors="replace")),
            "not_requested": sum(1 for _, _, attempts, _, _ in rows if attempts == 0)}


LYCHEE_STATUS = ((re.compile(r"refused", re.I), "connection_error"),
                 (re.compile(r"time(d)? ?out", re.I), "timeout"))


def lychee_outcome(entry: dict, kind: str) -> str:
    """One lychee result as linkhealth's outcome names."""
    if kind == "success":
        return "ok"
    if kind == "timeout":
        return "timeout"
    status = entry.get("status", {})
    code = status.get("code")
    if code == 429:
        return "blocked"
    if isinstance(code, int) and code >= 400:
        return "broken"
    text = f"{status.get('text', '')} {status.get('details', '')}"
    for pattern, outcome in LYCHEE_STATUS:
        if pattern.search(text):
            return outcome
    return "error: " + text.strip()[:60]


def run_lychee(args: argparse.Namespace, work: Path, real: RealWeb) -> dict | None:
    exe = which("lychee")
    if exe is None:
        print("note: lychee skipped: not installed (make bench-peers)", file=sys.stderr)
        return None
    urls_file = work / "urls.txt"
    urls_file.write_text("".join(url + "\n" for url in real.urls), encoding="utf-8")
    command = [exe, "--max-concurrency", str(CONCURRENCY), "--host-concurrency", str(PER_HOST),
               "--host-request-interval", "0ms", "--timeout", f"{math.ceil(args.timeout)}",
               "--max-retries", str(RETRIES), "--retry-wait-time", "1", "--no-progress",
               "--format", "json", "--verbose", str(urls_file)]
    real.web.reset()
    meter = CpuMeter(real.web.pids)
    meter.start()
    start = time.time()
    out = work / "lychee.out"
    run = run_measured(command, work, out, work / "lychee.log", args.peer_timeout)
    served = real.web.snapshot()
    run["web_cpu_seconds"] = meter.stop()
    text = out.read_text(errors="replace")
    data = json.loads(text[text.find("{"):]) if "{" in text else {}
    outcomes = {}
    for kind in ("success", "error", "timeout"):
        for entries in data.get(f"{kind}_map", {}).values():
            for entry in entries:
                outcomes[entry["url"]] = lychee_outcome(entry, kind)
    done = timeline(real, served, start)
    return {**run, "outcomes": outcomes, "done": done, "healthy_done": healthy_done(real, done),
            "web": {k: served[k] for k in ("requests", "statuses", "max_concurrent_per_host")},
            "by_host": served.get("by_host", {})}


def median_run(runs: list[dict]) -> dict:
    """The run of median wall time, with every run's wall and healthy-done times."""
    ordered = sorted(runs, key=lambda r: r["wall_seconds"])
    figures = dict(ordered[(len(ordered) - 1) // 2])
    figures["wall_runs"] = [r["wall_seconds"] for r in runs]
    figures["healthy_done_runs"] = [r["healthy_done"] for r in runs]
    figures["wall_seconds"] = statistics.median(figures["wall_runs"])
    figures["healthy_done"] = statistics.median(figures["healthy_done_runs"])
    return figures


def bench(args: argparse.Namespace, work: Path) -> dict:
    roles = layout(args.hosts, args.seed)
    profile = {str(i): spec for i, (_, spec) in roles.items()}
    with SimWeb(hosts=args.hosts, latency_ms=0, slow_ms=SLOW_MS, page_kb=args.page_kb,
                image_kb=args.image_kb, timeout=60.0,
                extra=["--profile", json.dumps(profile)]) as web:
        site = make_site(work / "site", args.urls, web.hosts, args.seed)
        real = RealWeb(web, roles, work / "site", args.timeout)
        floors = web_floor(real.urls, PER_HOST, 0.0, SLOW_MS / 1000, real.spec_of,
                           args.timeout, RETRIES + 1)
        runs: dict[str, list[dict]] = {"linkhealth": [], "control": [], "lychee": []}
        for _ in range(args.repeat):  # alternately: the machine is shared
            runs["linkhealth"].append(run_linkhealth(args, work, real, control=False))
            runs["control"].append(run_linkhealth(args, work, real, control=True))
            if "lychee" in args.peers:
                lychee = run_lychee(args, work, real)
                if lychee is not None:
                    runs["lychee"].append(lychee)
    checkers = {name: median_run(r) for name, r in runs.items() if r}
    floor = floors[0].seconds
    for name, figures in checkers.items():
        figures["wall_over_floor"] = round(figures["wall_seconds"] / floor, 2)
        figures["agreement"] = agreement(real, figures.pop("outcomes"), name == "control")
    hosts = []
    for f in floors:
        host_runs = {row["host"]: row for row in checkers["linkhealth"]["host_runs"]}
        hosts.append({**asdict(f), "role": real.role_of[f.host],
                      "latency_ms": real.spec_of[f.host].get("latency_ms"),
                      **{f"{name}_done": checkers[name]["done"].get(f.host) for name in checkers},
                      "linkhealth_web": checkers["linkhealth"]["by_host"].get(f.host.split(":")[0]),
                      "host_run": host_runs.get(f.host.split(":")[0])})
    config = {k: v for k, v in vars(args).items() if k not in ("out", "keep", "repo")}
    return {"config": config, "site": site, "floor": asdict(floors[0]), "checkers": checkers,
            "hosts": hosts, "truth": dict(Counter(real.truth.values()))}


# -- the table -------------------------------------------------------------------------------

def _cell(value, fmt: str = "{}") -> str:
    return "-" if value is None else fmt.format(value)


def render(result: dict) -> str:
    site, floor, checkers, config = result["site"], result["floor"], result["checkers"], result["config"]
    names = list(checkers)
    width = 22
    lines = [f"realistic web: {site['documents']:,} documents, {site['unique_urls']:,} unique URLs "
             f"on {site['hosts_used']} hosts; timeout {config['timeout']:g} s, {RETRIES} retries, "
             f"{PER_HOST} requests / host, {CONCURRENCY} in all",
             f"truth: {json.dumps(result['truth'])}",
             f"floor: {floor['seconds']:.1f} s, set by {floor['host']} ({floor['why']}, "
             f"{floor['urls']} URLs)", "",
             f"{'':36}" + "".join(f"{n:>{width}}" for n in names)]

    def row(label: str, cell) -> None:
        lines.append(f"{label:36}" + "".join(f"{cell(checkers[n]):>{width}}" for n in names))

    row("wall seconds (median)", lambda c: f"{c['wall_seconds']:.1f}")
    row("  each run", lambda c: "/".join(f"{w:.0f}" for w in c["wall_runs"]))
    row("wall / floor", lambda c: f"{c['wall_over_floor']:.2f}")
    row("healthy hosts done at s (median)", lambda c: f"{c['healthy_done']:.1f}")
    row("  each run", lambda c: "/".join(f"{w:.0f}" for w in c["healthy_done_runs"]))
    row("CPU seconds (user+sys)", lambda c: f"{c['cpu_seconds']:.1f}")
    row("peak RSS (MB)", lambda c: f"{c['peak_rss_mb']:.0f}")
    row("web: requests", lambda c: f"{c['web']['requests']:,}")
    row("web: 429s", lambda c: f"{c['web']['statuses'].get('429', 0):,}")
    row("web: max concurrent / host", lambda c: f"{c['web']['max_concurrent_per_host']}")
    row("web: CPU seconds (/proc)", lambda c: f"{c['web_cpu_seconds']:.1f}")
    lines.append("outcome agreement with the truth (agreed/URLs)")
    for group in GROUPS:
        row(f"  {group}", lambda c, group=group: "{agreed}/{urls}".format(**c["agreement"][group])
            if c["agreement"][group]["urls"] else "-")
    row("  all", lambda c: "{:.1%}".format(
        sum(g["agreed"] for g in c["agreement"].values())
        / max(1, sum(g["urls"] for g in c["agreement"].values()))))
    for name in names:
        wrong = {g: a["wrong"] for g, a in checkers[name]["agreement"].items() if a["wrong"]}
        if wrong:
            lines.append(f"  {name} disagreed: {json.dumps(wrong)}")
    lh = checkers["linkhealth"]
    lines += ["", f"linkhealth stats: {json.dumps(lh['stats'])}",
              f"linkhealth checks not requested (attempts 0): {lh['not_requested']}", "",
              "per host (slowest floor first; done = seconds to its last answer, or to its "
              "last check for a host that never answered)",
              f"{'host':22}{'role':21}{'URLs':>6}{'lat ms':>7}{'floor s':>8}"
              + "".join(f"{n[:10] + ' done':>16}" for n in names)
              + f"{'requests':>10}{'429s':>6}  host_runs"]
    for host in result["hosts"][:args_top(result)]:
        web = host["linkhealth_web"] or {}
        record = host["host_run"]
        note = ("" if not record else
                f"{record['rate_limited'] or 0} rate-limited, slowest "
                f"{_cell(record['slowest_rate'], '{:.1f}')}/s, wait {record['longest_wait']:.0f}s"
                if record["rate_limited"] else f"{record['state']}; settled {record['settled']}")
        lines.append(f"{host['host']:22}{host['role']:21}{host['urls']:>6}"
                     f"{_cell(host['latency_ms']):>7}{host['seconds']:>8.1f}"
                     + "".join(f"{_cell(host.get(f'{n}_done'), '{:.1f}'):>16}" for n in names)
                     + f"{web.get('requests', 0):>10}{web.get('refused', 0):>6}  {note}")
    return "\n".join(lines)


def args_top(result: dict) -> int:
    return result["config"].get("top", 16)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="linkhealth on a realistic web: rate limits, "
                                     "hanging and dead hosts, against the floor and lychee")
    parser.add_argument("--urls", type=int, default=3000, help="unique URLs, about")
    parser.add_argument("--hosts", type=int, default=30)
    parser.add_argument("--timeout", type=float, default=5.0, help="DOWNLOAD_TIMEOUT, seconds")
    parser.add_argument("--page-kb", type=int, default=20)
    parser.add_argument("--image-kb", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=1,
                        help="run each checker N times, alternately; medians are reported")
    parser.add_argument("--peers", default="lychee", help="lychee or none")
    parser.add_argument("--top", type=int, default=16, help="hosts in the per-host table")
    parser.add_argument("--linkhealth-args", default="",
                        help="more arguments for linkhealth's crawls, e.g. '-s NAME=VALUE'")
    parser.add_argument("--python", default=default_python(), help="interpreter of the crawls")
    parser.add_argument("--repo", type=Path, default=REPO, help="where linkhealth runs")
    parser.add_argument("--run-timeout", type=float, default=900.0, help="seconds per crawl")
    parser.add_argument("--peer-timeout", type=float, default=900.0, help="seconds for lychee")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON")
    parser.add_argument("--keep", type=Path, help="work in DIR and keep it")
    args = parser.parse_args(argv)
    args.linkhealth_args = shlex.split(args.linkhealth_args)
    args.peers = [] if args.peers in ("", "none") else args.peers.split(",")
    return args


def main(argv: list[str] | None = None) -> None:
    run_in_workdir(parse_args(argv), "linkhealth-realweb-", bench, render)


if __name__ == "__main__":
    main()
