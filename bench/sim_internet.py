"""A simulated internet behind a loopback proxy: a real corpus crawled offline, deterministically.

    python -m bench.sim_internet serve [--port 0] [WEB OPTIONS]
    python -m bench.sim_internet crawl --site DIR --db DB [WEB OPTIONS] [-s NAME=VALUE ...]
    python -m bench.sim_internet scenario (--site DIR | --db DB) --seed 1 --moved 0.05 --dead 0.05 -o web2.json
    python -m bench.sim_internet load [--concurrency 100] [--requests 6000] [WEB OPTIONS]

The simulated web includes the Wayback Machine (its CDX API and playback, for the URLs a
scenario lists as archived: ``bench.sim_wayback``), so ``-s LINKHEALTH_WAYBACK=1`` works.

WEB OPTIONS: ``--scenario FILE`` (a state file written by ``scenario``), ``--seed``,
``--not-found``, ``--redirects``, ``--dns-fail-hosts`` (the base web's shares; given, they
override the file's), ``--latency-ms``, ``--page-kb``, ``--image-kb``.

* ``serve`` runs the proxy (``bench.sim_proxy``) on 127.0.0.1 and prints one JSON line with
  its address and its CA's path, for running commands against it by hand; Ctrl-C (or
  SIGTERM) prints its counters and stops it.
* ``crawl`` starts the proxy, runs the real ``scrapy crawl links`` from the repository root
  through it, stops it, and prints a JSON summary: the crawl's outcomes next to what the
  simulated web meant for each URL, redirects, 304s, snapshots, wall and CPU time, and what
  the proxy served with its own CPU time.
* ``scenario`` chooses moved, dead and changed URLs and dead hosts (``bench.sim_scenario``),
  prints them and writes the state file.
* ``load`` measures the proxy alone: N clients in flight through CONNECT tunnels.

What each URL answers is ``bench.sim_world``: a function of (seed, URL) and the scenario.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import select
import shutil
import signal
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any, Self

from bench.sim_proxy import HostCertificates, SimProxy
from bench.sim_scenario import Shares, choose, db_urls, describe, site_urls
from bench.sim_world import Base, Scenario, World

REPO = Path(__file__).resolve().parents[1]
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
EXAMPLES = 3  # redirect chains shown in the summary


# --- the web ----------------------------------------------------------------------------


def web_scenario(args: argparse.Namespace) -> Scenario:
    """The scenario file (or the healthy base web), with the base options given applied."""
    scenario = Scenario.load(args.scenario) if args.scenario else Scenario()
    if args.seed is not None:
        scenario = replace(scenario, seed=args.seed)
    changes = {name: getattr(args, name) for name in ("not_found", "redirects", "dns_fail_hosts")
               if getattr(args, name) is not None}
    try:
        return replace(scenario, base=replace(scenario.base, **changes)) if changes else scenario
    except ValueError as exc:
        raise SystemExit(str(exc)) from None


# --- serve --------------------------------------------------------------------------------


def _emit(payload: dict) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


async def serve(args: argparse.Namespace) -> None:
    scenario = web_scenario(args)
    own_dir = args.ca_dir is None
    ca_dir = Path(tempfile.mkdtemp(prefix="sim-internet-")) if own_dir else args.ca_dir
    proxy = SimProxy(World(scenario, args.page_kb, args.image_kb), HostCertificates(ca_dir),
                     args.latency_ms)
    url = await proxy.start(port=args.port)
    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[str | None] = asyncio.Queue()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, commands.put_nowait, None)
    if args.stdin_control:
        def read_stdin() -> None:  # a daemon thread: never keeps the process alive
            for line in sys.stdin:
                loop.call_soon_threadsafe(commands.put_nowait, line.strip())
            loop.call_soon_threadsafe(commands.put_nowait, None)
        threading.Thread(target=read_stdin, daemon=True).start()
    ca = str(proxy.certificates.ca_path)
    _emit({"ready": True, "proxy": url, "ca": ca, "pid": os.getpid(), "seed": scenario.seed,
           "moved": len(scenario.moved), "dead": len(scenario.dead),
           "dead_hosts": len(scenario.dead_hosts), "changed": len(scenario.changed)})
    if not args.stdin_control:
        print(f"sim-internet: export http_proxy={url} https_proxy={url}; crawl with "
              f"-s LINKHEALTH_CA_BUNDLE={ca}; Ctrl-C stops", file=sys.stderr, flush=True)
    deadline = loop.time() + args.max_seconds
    try:
        while (command := await _next_command(commands, deadline - loop.time())) is not None:
            if command == "stats":
                _emit(proxy.stats())
            elif command == "reset":
                _emit(proxy.stats())
                proxy.reset()
        await proxy.close()
        _emit({"final": True, **proxy.stats()})
    finally:
        if own_dir:
            shutil.rmtree(ca_dir, ignore_errors=True)


async def _next_command(commands: asyncio.Queue, timeout: float) -> str | None:
    try:
        return await asyncio.wait_for(commands.get(), max(0.0, timeout))
    except TimeoutError:
        return None


class ProxyProcess:
    """``serve`` in a subprocess for the duration of a ``with`` block."""

    def __init__(self, scenario_file: Path, args: argparse.Namespace, timeout: float = 30.0):
        self.command = [sys.executable, "-m", "bench.sim_internet", "serve", "--stdin-control",
                        "--scenario", str(scenario_file), "--latency-ms", str(args.latency_ms),
                        "--page-kb", str(args.page_kb), "--image-kb", str(args.image_kb)]
        self.timeout = timeout
        self.final: dict = {}

    def __enter__(self) -> Self:
        self.process = subprocess.Popen(self.command, cwd=REPO, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        try:
            ready = self._read_line()
        except BaseException:
            self.process.kill()
            self.process.wait()
            raise
        self.url, self.ca = ready["proxy"], ready["ca"]
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None  # PIPEs
        try:
            self.process.stdin.close()  # EOF: final counters, then it exits
            self.final = self._read_line()
        except (OSError, RuntimeError, ValueError):
            self.process.terminate()
        try:
            self.process.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()

    def stats(self) -> dict:
        assert self.process.stdin is not None  # started with stdin=PIPE
        self.process.stdin.write("stats\n")
        self.process.stdin.flush()
        return self._read_line()

    def _read_line(self) -> dict:
        assert self.process.stdout is not None  # started with stdout=PIPE
        readable, _, _ = select.select([self.process.stdout], [], [], self.timeout)
        line = self.process.stdout.readline() if readable else ""
        if not line:
            raise RuntimeError(f"sim-internet proxy gave no answer within {self.timeout}s "
                               f"(exit status {self.process.poll()})")
        return json.loads(line)


# --- crawl --------------------------------------------------------------------------------


def crawl_environment(proxy_url: str) -> dict[str, str]:
    """This environment with every request sent to the proxy: both schemes, no exceptions."""
    env = {name: value for name, value in os.environ.items()
           if name.lower() not in PROXY_VARIABLES}
    env.update(http_proxy=proxy_url, https_proxy=proxy_url, PYTHONUNBUFFERED="1")
    return env


def run_crawl(args: argparse.Namespace, proxy: ProxyProcess, log: Path) -> dict:
    command = [args.python, "-m", "scrapy", "crawl", "links", "-a", f"source={args.site.resolve()}",
               "-s", f"LINKHEALTH_DB={args.db.resolve()}", "-s", f"LINKHEALTH_CA_BUNDLE={proxy.ca}",
               "-s", "LOG_LEVEL=INFO", *(part for s in args.setting for part in ("-s", s)),
               *(part for a in args.spider_arg for part in ("-a", a))]
    with log.open("ab") as out:
        out.write(f"\n=== sim-internet crawl at {time.strftime('%Y-%m-%d %H:%M:%S')}: "
                  f"{' '.join(command)}\n".encode())
        out.flush()
        start = time.monotonic()
        process = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                   env=crawl_environment(proxy.url))
        watchdog = threading.Timer(args.timeout, process.kill)
        watchdog.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            watchdog.cancel()
        wall = time.monotonic() - start
    return {"exit_status": os.waitstatus_to_exitcode(status), "wall_seconds": round(wall, 2),
            "crawl_cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def read_run(db: Path, world: World) -> dict:
    """What the latest run recorded, and each outcome next to what the web meant."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    con.row_factory = sqlite3.Row
    try:
        run = con.execute("SELECT id, status FROM runs ORDER BY id DESC LIMIT 1").fetchone()
        rows = con.execute(
            "SELECT u.url, u.request_url, c.outcome, c.status, c.redirects, c.permanent_redirect,"
            " c.final_url, c.not_modified, c.error FROM checks c JOIN urls u ON u.id = c.url_id"
            " WHERE c.run_id = ? ORDER BY u.url", (run["id"],)).fetchall()
        snapshots = con.execute("SELECT count(*) FROM snapshots WHERE run_id = ?",
                                (run["id"],)).fetchone()[0]
    finally:
        con.close()
    outcomes: Counter[str] = Counter()
    against: dict[str, Counter[str]] = {}
    examples: list[dict[str, Any]] = []
    for row in rows:
        outcomes[row["outcome"]] += 1
        meant = world.kind_of(row["request_url"] or row["url"])
        against.setdefault(meant, Counter())[row["outcome"]] += 1
        if row["redirects"] and len(examples) < EXAMPLES and "scenario" in meant:
            examples.append({"url": row["url"], "redirects": json.loads(row["redirects"]),
                             "final_url": row["final_url"], "outcome": row["outcome"]})
    return {"run_id": run["id"], "run_status": run["status"], "urls_checked": len(rows),
            "outcomes": dict(outcomes.most_common()),
            "redirected": sum(1 for row in rows if row["redirects"]),
            "permanent_redirects": sum(1 for row in rows if row["permanent_redirect"]),
            "not_modified": sum(1 for row in rows if row["not_modified"]),
            "snapshots_stored": snapshots,
            "web_vs_outcome": {meant: dict(c.most_common()) for meant, c in sorted(against.items())},
            "scenario_redirect_examples": examples}


def crawl(args: argparse.Namespace) -> None:
    if not args.site.is_dir():
        raise SystemExit(f"no site directory at {args.site}")
    scenario = web_scenario(args)
    log = args.log or args.db.with_name(args.db.name + ".sim-internet.log")
    with tempfile.TemporaryDirectory(prefix="sim-internet-") as work:
        scenario_file = Path(work) / "scenario.json"
        scenario_file.write_text(json.dumps(scenario.to_json()), encoding="utf-8")
        with ProxyProcess(scenario_file, args) as proxy:
            result = run_crawl(args, proxy, log)
        served = {k: v for k, v in proxy.final.items() if k != "final"}
    summary = {"site": str(args.site), "db": str(args.db), "log": str(log), "seed": scenario.seed,
               "scenario": {"moved": len(scenario.moved), "dead": len(scenario.dead),
                            "dead_hosts": len(scenario.dead_hosts), "changed": len(scenario.changed)},
               "latency_ms": args.latency_ms, **result}
    if args.db.exists():
        summary.update(read_run(args.db, World(scenario, args.page_kb, args.image_kb)))
        summary["urls_per_second"] = round(summary["urls_checked"] / max(result["wall_seconds"], 1e-9), 1)
    log_text = log.read_text(errors="replace").rpartition("\n=== sim-internet crawl at ")[2]
    summary["log_errors"] = log_text.count("] ERROR: ")  # Scrapy's "Gave up retrying" among them
    summary["log_tracebacks"] = log_text.count("Traceback (most recent")
    served["cpu_share_of_wall"] = round(served.get("cpu_seconds", 0) / max(result["wall_seconds"], 1e-9), 3)
    summary["proxy"] = served
    print(json.dumps(summary, indent=2))
    if args.out:
        args.out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    if result["exit_status"] != 0:
        raise SystemExit(f"the crawl failed with exit status {result['exit_status']}: see {log}")


# --- scenario -----------------------------------------------------------------------------


def scenario(args: argparse.Namespace) -> None:
    if (args.site is None) == (args.db is None):
        raise SystemExit("give the URLs to choose from: --site DIR or --db DB")
    try:
        shares = Shares(moved=args.moved, dead=args.dead, dead_as=tuple(args.dead_as.split(",")),
                        dead_hosts=args.dead_hosts, dead_hosts_as=tuple(args.dead_hosts_as.split(",")),
                        changed=args.changed, soft_moved=args.soft_moved, archived=args.archived,
                        draw=args.draw)
        urls = site_urls(args.site) if args.site else db_urls(args.db)
        choice = choose(urls, web_scenario(args), shares)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    print(describe(choice, shares))
    if args.out:
        args.out.write_text(_state_file_text(choice.scenario), encoding="utf-8")
        print(f"wrote {args.out}")


def _state_file_text(chosen: Scenario) -> str:
    """The state file: one line per URL or host, so that a diff of two draws reads well."""
    data = chosen.to_json()
    lines = ["{", f' "seed": {data["seed"]},', f' "base": {json.dumps(data["base"])},']
    for name in ("moved", "dead", "dead_hosts"):
        entries = [f"  {json.dumps(key)}: {json.dumps(value)}" for key, value in data[name].items()]
        lines.append(f' "{name}": {{' + ("\n" + ",\n".join(entries) + "\n }," if entries else "},"))
    for name in ("changed", "archived"):
        entries = [f"  {json.dumps(url)}" for url in data[name]]
        lines.append(f' "{name}": [' + ("\n" + ",\n".join(entries) + "\n ]," if entries else "],"))
    lines.append(f' "served": {json.dumps(data["served"])}')
    return "\n".join(lines) + "\n}\n"


# --- load ---------------------------------------------------------------------------------


async def _client(proxy: tuple[str, int], context: ssl.SSLContext, batches: asyncio.Queue,
                  done: Counter) -> None:
    """Take batches (host, paths): one CONNECT tunnel per batch, its requests kept alive."""
    while not batches.empty():
        host, paths = batches.get_nowait()
        reader, writer = await asyncio.open_connection(*proxy)
        writer.write(f"CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n".encode())
        await reader.readuntil(b"\r\n\r\n")
        await writer.start_tls(context, server_hostname=host)
        for path in paths:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            done[await _read_answer(reader)] += 1
        writer.close()


async def _read_answer(reader: asyncio.StreamReader) -> int:
    """The status of one answer, its body read away."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next((int(line.split(":", 1)[1]) for line in lines
                   if line.lower().startswith("content-length:")), 0)
    await reader.readexactly(length)
    return int(lines[0].split(" ")[1])


async def load_run(args: argparse.Namespace, proxy: ProxyProcess) -> dict:
    context = ssl.create_default_context(cafile=proxy.ca)
    batches: asyncio.Queue = asyncio.Queue()
    for first in range(0, args.requests, args.per_tunnel):
        paths = [f"/load/{i}" for i in range(first, min(first + args.per_tunnel, args.requests))]
        batches.put_nowait((f"host{first // args.per_tunnel % args.hosts}.example.org", paths))
    host, port = proxy.url.removeprefix("http://").split(":")
    done: Counter = Counter()
    start = time.monotonic()
    await asyncio.gather(*(_client((host, int(port)), context, batches, done)
                           for _ in range(args.concurrency)))
    return {"wall_seconds": round(time.monotonic() - start, 2), "statuses": dict(done)}


def load(args: argparse.Namespace) -> None:
    for name in ("not_found", "redirects", "dns_fail_hosts"):  # every tunnel opens, every URL is 200
        setattr(args, name, 0.0 if getattr(args, name) is None else getattr(args, name))
    with tempfile.TemporaryDirectory(prefix="sim-internet-") as work:
        scenario_file = Path(work) / "scenario.json"
        scenario_file.write_text(json.dumps(web_scenario(args).to_json()), encoding="utf-8")
        client_cpu = time.process_time()
        with ProxyProcess(scenario_file, args) as proxy:
            result = asyncio.run(load_run(args, proxy))
        served = proxy.final
    requests = sum(result["statuses"].values())
    print(json.dumps({
        "concurrency": args.concurrency, "requests": requests, "per_tunnel": args.per_tunnel,
        "latency_ms": args.latency_ms, **result,
        "requests_per_second": round(requests / max(result["wall_seconds"], 1e-9), 1),
        "proxy_cpu_seconds": served.get("cpu_seconds"),
        "proxy_cpu_ms_per_request": round(1000 * served.get("cpu_seconds", 0) / max(requests, 1), 3),
        "proxy_cpu_share_of_wall": round(served.get("cpu_seconds", 0) / max(result["wall_seconds"], 1e-9), 3),
        "proxy_max_in_flight": served.get("max_in_flight"),
        "proxy_tls_handshakes": served.get("tls_handshakes"),
        "client_cpu_seconds": round(time.process_time() - client_cpu, 2)}, indent=2))


# --- command line -------------------------------------------------------------------------


def _web_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scenario", type=Path, help="state file of the web (written by `scenario`)")
    parser.add_argument("--seed", type=int, help="the web's seed (default: the file's, else 0)")
    defaults = Base()
    for name, help_text in (("not_found", "share of URLs that answer 404"),
                            ("redirects", "share of URLs that 301 to /_moved<path>"),
                            ("dns_fail_hosts", "share of hosts that do not resolve")):
        parser.add_argument("--" + name.replace("_", "-"), type=float, dest=name,
                            help=f"{help_text} (default: the file's, else {getattr(defaults, name)})")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="each request and CONNECT")
    parser.add_argument("--page-kb", type=int, default=20)
    parser.add_argument("--image-kb", type=int, default=8)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    serve_parser = commands.add_parser("serve", help="run the proxy; print its address and CA")
    _web_options(serve_parser)
    serve_parser.add_argument("--port", type=int, default=0)
    serve_parser.add_argument("--ca-dir", type=Path, help="keep the CA here, and use the one found "
                              "there (default: a temporary directory, removed when the proxy stops)")
    serve_parser.add_argument("--stdin-control", action="store_true",
                              help="read stats/reset from stdin; stop at its end")
    serve_parser.add_argument("--max-seconds", type=float, default=24 * 3600)

    crawl_parser = commands.add_parser("crawl", help="the real crawl through the proxy")
    _web_options(crawl_parser)
    crawl_parser.add_argument("--site", type=Path, required=True)
    crawl_parser.add_argument("--db", type=Path, required=True)
    crawl_parser.add_argument("-s", "--setting", action="append", default=[], metavar="NAME=VALUE")
    crawl_parser.add_argument("-a", "--spider-arg", action="append", default=[], metavar="NAME=VALUE",
                              help="a spider argument (body_links=1)")
    crawl_parser.add_argument("--log", type=Path, help="crawl log (default: DB.sim-internet.log, appended)")
    crawl_parser.add_argument("--out", type=Path, help="also write the summary here")
    crawl_parser.add_argument("--python", default=_default_python(), help="interpreter of the crawl")
    crawl_parser.add_argument("--timeout", type=float, default=3600.0, help="seconds for the crawl")

    scenario_parser = commands.add_parser("scenario", help="choose moved/dead/changed URLs")
    _web_options(scenario_parser)
    scenario_parser.add_argument("--site", type=Path, help="choose from this site's URLs")
    scenario_parser.add_argument("--db", type=Path, help="or from this database's URLs")
    scenario_parser.add_argument("--moved", type=float, default=0.0, help="share of URLs now moved")
    scenario_parser.add_argument("--dead", type=float, default=0.0, help="share of URLs now dead")
    scenario_parser.add_argument("--dead-as", default="404,410",
                                 help="what dead URLs do, in turn: statuses, hang, reset")
    scenario_parser.add_argument("--dead-hosts", type=float, default=0.0, help="share of hosts now dead")
    scenario_parser.add_argument("--dead-hosts-as", default="nxdomain,refused",
                                 help="what dead hosts do, in turn: nxdomain, refused, hang, reset, a status")
    scenario_parser.add_argument("--changed", type=float, default=0.0,
                                 help="share of URLs whose content changed")
    scenario_parser.add_argument("--soft-moved", type=float, default=0.0,
                                 help="share of URLs now redirected to their home or a login page")
    scenario_parser.add_argument("--archived", type=float, default=0.0,
                                 help="share of the gone URLs with Wayback Machine captures")
    scenario_parser.add_argument("--draw", type=int, default=0, help="another choice on the same web")
    scenario_parser.add_argument("-o", "--out", type=Path, help="write the state file here")

    load_parser = commands.add_parser("load", help="measure the proxy alone")
    _web_options(load_parser)
    load_parser.add_argument("--concurrency", type=int, default=100)
    load_parser.add_argument("--requests", type=int, default=6000)
    load_parser.add_argument("--hosts", type=int, default=170)
    load_parser.add_argument("--per-tunnel", type=int, default=20, help="requests per CONNECT")
    return parser.parse_args(argv)


def _default_python() -> str:
    venv = REPO / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.command == "serve":
        asyncio.run(serve(args))
    else:
        {"crawl": crawl, "scenario": scenario, "load": load}[args.command](args)


if __name__ == "__main__":
    main()
