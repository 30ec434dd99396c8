"""The whole pipeline offline, in well under a minute: ``make demo``.

    python -m crawler.jobs.demo [--dir state/demo] [--documents 60] [--hosts 4]

1. Local servers stand in for the web: ``crawler.jobs.demo_web`` on 127.0.0.2, 127.0.0.3, ...
   (healthy pages and images, 404s, 301s), and a small "odd host" on 127.0.0.1 for what
   simweb does not do: pages that say "not found" with a 200, articles redirected to the
   home page (both soft 404s), a flaky server (503 in the first run, fine in the second),
   pages that disappear after the first run, and a server that is down.
2. A synthetic site in the front-matter shape (``crawler.jobs.synthetic_site``) is written to
   DIR/site, plus one file with broken YAML and a few articles on the odd host.
3. The real crawl runs twice into DIR/linkhealth.db (logs: DIR/crawl-1.log, crawl-2.log),
   so that run-to-run comparison shows: failures confirmed, a flaky link fixed, new
   failures, conditional requests answered 304.
4. The reports of the second run are written to DIR/reports/ (md, html, json, csv).

Every run starts afresh: DIR/site, DIR/linkhealth.db, DIR/reports and the logs are
replaced (the servers get new ports each time). The crawls need
``-s LINKHEALTH_ALLOW_PRIVATE=1``: the private-network guard refuses loopback addresses.
``linkhealth demo`` runs it from any directory; DIR is taken from the current one.
"""

from __future__ import annotations

import json
import shutil
import socket
import sqlite3
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self

from crawler.core.usage import ArgumentParser
from crawler.jobs.demo_web import DemoWeb
from crawler.jobs.nightly import FORMATS, NightlyError, crawl, export_snapshots, write_reports
from crawler.jobs.synthetic_site import generate_site

# Behaviours of the simulated web's URLs (crawler.jobs.synthetic_site): 200, 404, 301.
MIX = {"ok": 0.84, "gone": 0.08, "moved": 0.08}
CRAWL_SETTINGS = ["LINKHEALTH_ALLOW_PRIVATE=1", "LINKHEALTH_RETRY_BACKOFF_BASE=0.2",
                  "DOWNLOAD_TIMEOUT=10", "LOG_LEVEL=INFO"]
ODD_KINDS = {
    "soft404": "A story whose page now says it was not found",
    "retired": "A story redirected to its publisher's home page",
    "flaky": "A story on a flaky server",
    "dying": "A story that disappears after the first run",
    "down": "A story on a server that is down",
}


# -- the odd host --------------------------------------------------------------------


def _page(title: str, text: str) -> bytes:
    return (f"<!doctype html><html><head><title>{title}</title></head>"
            f"<body><h1>{title}</h1><p>{text}</p></body></html>\n").encode()


class _OddHandler(BaseHTTPRequestHandler):
    server: _OddServer

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        kind, _, ident = self.path.strip("/").partition("/")
        phase = self.server.phase
        if self.path == "/":
            self._reply(200, _page("Odd host", "The home page."))
        elif kind == "soft404":
            self._reply(200, _page("Page not found", "Sorry, this page does not exist."))
        elif kind == "retired":
            self._reply(301, b"", (("Location", "/"),))
        elif kind == "flaky" and phase == 1:
            self._reply(503, _page("Service unavailable", "Try again later."))
        elif kind == "flaky":
            self._reply(200, _page(f"Story {ident}", "Back again."))
        elif kind == "dying" and phase == 1:
            self._reply(200, _page(f"Story {ident}", "Still here, for now."))
        else:
            self._reply(404, _page("Not found", "Nothing here."))

    def _reply(self, status: int, body: bytes, headers: tuple[tuple[str, str], ...] = ()) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class _OddServer(ThreadingHTTPServer):
    daemon_threads = True
    phase = 1  # which crawl is running: the flaky and dying routes change between them


class OddHost:
    """An HTTP server on 127.0.0.1 for the duration of a ``with`` block."""

    def __init__(self) -> None:
        self.server = _OddServer(("127.0.0.1", 0), _OddHandler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                                       name="demo-odd-host", daemon=True)

    @property
    def phase(self) -> int:
        return self.server.phase

    @phase.setter
    def phase(self, value: int) -> None:
        self.server.phase = value

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def unused_port() -> int:
    """A loopback port nothing listens on: the server that is down."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_odd_documents(site: Path, odd: str, image_host: str, per_kind: int) -> list[str]:
    """Articles whose links are on the odd host (or on a server that is down); returns their URLs."""
    down = f"http://127.0.0.1:{unused_port()}"
    urls, n = [], 0
    for kind, title in ODD_KINDS.items():
        for i in range(per_kind):
            n += 1
            url = f"{down}/story/{i}" if kind == "down" else f"{odd}/{kind}/{i}"
            urls.append(url)
            front = [
                "---", "category: news", f"title: {json.dumps(f'{title} ({i + 1})')}",
                f"publishedDateTime: 2024-05-{n:02d}T08:00:00Z",
                f"originalUrl: {json.dumps(url)}", f"webUrl: {json.dumps(url)}", "type: article",
                "provider:", "  name: Odd Host News", "  domain: odd.example",
                "images:", f"  - url: {json.dumps(f'{image_host}/i/odd-{kind}-{i}.jpg')}",
                "    width: 800", "    height: 450", "---", "", "One of the demo's odd cases.", ""]
            (site / "_news" / f"2024-05-{n:02d}-odd-{kind}-{i}.md").write_text(
                "\n".join(front), encoding="utf-8")
    return urls


# -- reading the results --------------------------------------------------------------


def _query(db: Path, sql: str, params: tuple = ()) -> list[tuple]:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return []


def run_line(db: Path, run_id: int, seconds: float) -> str:
    rows = _query(db, "SELECT summary, unique_urls, requested, documents, parse_errors FROM runs "
                      "WHERE id = ?", (run_id,))
    if not rows:
        return f"run {run_id} finished in {seconds:.1f} s"
    summary, unique, requested, documents, parse_errors = rows[0]
    outcomes = json.loads(summary or "{}")
    redirects = _query(db, "SELECT count(*) FROM checks WHERE run_id = ? AND permanent_redirect = 1",
                       (run_id,))
    not_modified = _query(db, "SELECT count(*) FROM checks WHERE run_id = ? AND not_modified = 1",
                          (run_id,))
    parts = [f"{n} {outcome}" for outcome, n in sorted(outcomes.items(), key=lambda kv: -kv[1])]
    extra = []
    if redirects and redirects[0][0]:
        extra.append(f"{redirects[0][0]} moved for good (301)")
    if not_modified and not_modified[0][0]:
        extra.append(f"{not_modified[0][0]} answered 304 Not Modified")
    return (f"run {run_id} finished in {seconds:.1f} s: {documents} documents "
            f"({parse_errors} unparsable), {unique} unique URLs, {requested} requested: "
            + ", ".join(parts) + (f"; {', '.join(extra)}" if extra else ""))


def changes_line(db: Path, run_id: int) -> str:
    rows = dict(_query(db, "SELECT change, count(*) FROM check_changes WHERE run_id = ? "
                           "GROUP BY change", (run_id,)))
    if not rows:
        return ""
    return (f"{rows.get('newly_failing', 0)} newly failing, {rows.get('still_failing', 0)} still "
            f"failing (twice in a row: confirmed broken), {rows.get('fixed', 0)} fixed, "
            f"{rows.get('unchanged', 0)} unchanged")


def shown(path: Path) -> str:
    """A path as the user should type it: relative to the current directory when inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# -- the demo -----------------------------------------------------------------------------


def reset(directory: Path) -> None:
    """Remove what an earlier demo left in ``directory`` (only the demo's own files)."""
    for name in ("site", "reports"):
        shutil.rmtree(directory / name, ignore_errors=True)
    for pattern in ("linkhealth.db", "linkhealth.db-*", "linkhealth.db.lock", "crawl-*.log"):
        for path in directory.glob(pattern):
            path.unlink()


def run_demo(directory: Path, documents: int, hosts: int, seed: int = 0) -> int:
    started = time.monotonic()
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    reset(directory)
    site, db, reports = directory / "site", directory / "linkhealth.db", directory / "reports"
    print("linkhealth demo: local servers stand in for the web; nothing leaves this machine.")
    print("The crawls run with -s LINKHEALTH_ALLOW_PRIVATE=1: the private-network guard (on by\n"
          "default) refuses loopback addresses such as these. Leave it off for a real site.")
    with DemoWeb(hosts) as web, OddHost() as odd:
        stats = generate_site(site, documents=documents, hosts=web.hosts, seed=seed,
                              broken_files=1, mix=MIX)
        odd_urls = write_odd_documents(site, odd.base, web.hosts[0], max(1, documents // 30))
        print(f"\nSite: {shown(site)}: {stats.documents} articles, {stats.broken_files} file "
              f"with broken YAML, {len(odd_urls)} articles with odd links")
        print(f"Web:  {web.hosts[0]} ... {web.hosts[-1]} (simulated: 200, 404, 301), "
              f"{odd.base} (soft 404s, flaky, disappearing) and a server that is down")
        run_id = 0
        for phase in (1, 2):
            odd.phase = phase
            log = directory / f"crawl-{phase}.log"
            began = time.monotonic()
            print(f"\nCrawl {phase} of 2 (log: {shown(log)}) ...", flush=True)
            try:
                run_id = crawl(site, db, [*CRAWL_SETTINGS, f"LOG_FILE={log}"])
            except NightlyError as exc:
                print(f"demo: {exc}; see {shown(log)}", file=sys.stderr)
                return 1
            print("  " + run_line(db, run_id, time.monotonic() - began))
        changes = changes_line(db, run_id)
        if changes:
            print(f"  changes since run {run_id - 1}: {changes}")

    status = write_reports(db, reports, run_id)
    if status != 0:
        print(f"demo: a report could not be written into {shown(reports)}", file=sys.stderr)
        return 1
    try:
        exported = export_snapshots(db, reports, run_id)
    except Exception as exc:  # noqa: BLE001 - the reports are there; say what went wrong
        print(f"demo: exporting the archived snapshots failed: {type(exc).__name__}: {exc}",
              file=sys.stderr)
        exported = None
    html = reports / "report.html"
    others = ", ".join(f"report.{fmt}" for fmt in FORMATS if fmt != "html")
    installed = Path(sys.executable).parent / "linkhealth"
    linkhealth = shown(installed) if installed.exists() else "linkhealth"
    print(f"\nReports of run {run_id}: {shown(reports)}/")
    print(f"  open {html.as_uri()} in a browser")
    print(f"  ({others} next to it)")
    if exported:
        print(f"  the {len(exported)} archived copies it links to are in "
              f"{shown(exported[0].parent)}/")
    print("Browse the database (Datasette, read-only):")
    print(f"  {linkhealth} browse --db {shown(db)}")
    print(f"  or, in a clone of linkhealth: make browse DB={shown(db)}")
    print(f"\nDemo done in {time.monotonic() - started:.1f} s.")
    return 0


def main(argv: list[str] | None = None, prog: str = "python -m crawler.jobs.demo") -> int:
    parser = ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0],
                            epilog="Example: linkhealth demo --dir /tmp/linkhealth-demo")
    parser.add_argument("--dir", type=Path, default=Path("state", "demo"),
                        help="where the site, database, logs and reports go (default: state/demo)")
    parser.add_argument("--documents", type=int, default=60, help="articles in the site (default: 60)")
    parser.add_argument("--hosts", type=int, default=4, help="simulated hosts (default: 4)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    # In order with the crawls' and reports' stderr. (A TextIOWrapper when run as a module.)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    if args.documents < 1 or not 2 <= args.hosts <= 50:
        parser.error("--documents must be at least 1 and --hosts between 2 and 50")
    return run_demo(args.dir, args.documents, args.hosts, args.seed)


if __name__ == "__main__":
    sys.exit(main())
