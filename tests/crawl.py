"""Running the real ``scrapy crawl links`` in a subprocess, and reading what it recorded.

Twisted's reactor cannot restart in one process, so every crawl in the tests
is a subprocess, exactly as a user runs it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils
import yaml

REPO = Path(__file__).resolve().parents[1]

# Loopback servers need the guard off; short waits keep the suite fast.
TEST_SETTINGS = {
    "LINKHEALTH_ALLOW_PRIVATE": "1",
    "LINKHEALTH_RETRY_BACKOFF_BASE": "0.05",
    "DOWNLOAD_TIMEOUT": "2",
    "LOG_LEVEL": "INFO",
}


def write_site(root: Path, documents: dict[str, Any], config: dict | None = None) -> Path:
    """A site directory: ``documents`` maps a relative path to front matter (a dict),
    raw text (str) or raw bytes."""
    root.mkdir(parents=True, exist_ok=True)
    if config is not None:
        (root / "_config.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    for relative, content in documents.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            front = yaml.safe_dump(content, sort_keys=False, allow_unicode=True)
            path.write_text(f"---\n{front}---\nBody.\n", encoding="utf-8")
    return root


@dataclass
class Crawl:
    process: subprocess.CompletedProcess
    db_path: Path

    @property
    def db(self) -> sqlite_utils.Database:
        return sqlite_utils.Database(self.db_path)

    @property
    def log(self) -> str:
        return self.process.stderr

    def run(self) -> dict[str, Any]:
        return next(self.db.query("SELECT * FROM runs ORDER BY id DESC LIMIT 1"))

    def check(self, url_key: str) -> dict[str, Any]:
        """The latest run's check of one URL (by its normalised key), with redirects decoded."""
        rows = list(self.db.query(
            "SELECT c.* FROM checks c JOIN urls u ON u.id = c.url_id"
            " WHERE u.url = ? ORDER BY c.run_id DESC LIMIT 1", [url_key]))
        assert rows, f"no check recorded for {url_key}"
        row = rows[0]
        row["redirects"] = json.loads(row["redirects"]) if row["redirects"] else []
        return row

    def refs(self, url_key: str) -> list[tuple[str, str, str, str]]:
        return [(r["path"], r["field"], r["kind"], r["raw"]) for r in self.db.query(
            "SELECT d.path, r.field, r.kind, r.raw FROM refs r JOIN urls u ON u.id = r.url_id"
            " JOIN documents d ON d.id = r.document_id WHERE u.url = ? ORDER BY d.path, r.field",
            [url_key])]


def checks_and_snapshots(result: Crawl) -> dict[str, dict]:
    """Per URL: the check and its snapshot, without what differs between two runs."""
    rows = result.db.query(
        "SELECT u.url, c.outcome, c.status, c.final_url, c.redirects, c.permanent_redirect,"
        " c.error, c.content_type, c.content_length, c.method, c.head_status, c.attempts,"
        " s.status AS s_status, s.protocol, s.headers, s.content_type AS s_type,"
        " s.content_encoding, s.size, s.digest, s.truncated, s.etag, s.last_modified"
        " FROM checks c JOIN urls u ON u.id = c.url_id LEFT JOIN snapshots s ON s.id = c.snapshot_id")
    out = {}
    for row in rows:
        pairs = json.loads(row["headers"]) if row["headers"] else []
        row["headers"] = [(name, value) for name, value in pairs if name != "Date"]
        out[row.pop("url")] = row
    return out


def peak_rss(log: str) -> int:
    """The crawl's peak resident memory, from its closing stats."""
    return int(re.search(r"'linkhealth/peak_rss_bytes': (\d+)", log).group(1))


def wayback_settings(cdx_url: str) -> dict[str, str]:
    """Wayback lookups on, against a test CDX endpoint, without their delay."""
    return {"LINKHEALTH_WAYBACK": "1", "LINKHEALTH_WAYBACK_CDX_URL": cdx_url,
            "LINKHEALTH_WAYBACK_DELAY": "0"}


def crawl(site: Path, db_path: Path, settings: dict[str, str] | None = None,
          args: dict[str, str] | None = None, timeout: float = 180,
          expect_status: int = 0, prefix: list[str] | None = None) -> Crawl:
    """``prefix``: a command the crawl runs under (``prlimit ...``, ``unshare ...``)."""
    command, env = crawl_command(site, db_path, settings, args, prefix)
    process = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout,
                             env=env)
    return _finished(process, db_path, expect_status)


def crawl_watching(site: Path, db_path: Path, when: str, then: Callable[[], None],
                   settings: dict[str, str] | None = None, timeout: float = 180) -> Crawl:
    """A crawl during which ``then()`` is called once, as soon as a log line matches the
    regular expression ``when`` (an event of the crawl, not a guess at its timing)."""
    command, env = crawl_command(site, db_path, settings)
    lines: list[str] = []
    with subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, env=env) as running:
        waiting = threading.Timer(timeout, running.kill)
        waiting.start()
        try:
            pattern = re.compile(when)
            for line in running.stderr:
                lines.append(line)
                if pattern is not None and pattern.search(line):
                    then()
                    pattern = None
            stdout = running.stdout.read()
        finally:
            waiting.cancel()
    assert pattern is None, f"no log line matched {when!r}"
    process = subprocess.CompletedProcess(command, running.returncode, stdout, "".join(lines))
    return _finished(process, db_path, 0)


def crawl_command(site: Path, db_path: Path, settings: dict[str, str] | None = None,
                  args: dict[str, str] | None = None, prefix: list[str] | None = None
                  ) -> tuple[list[str], dict[str, str]]:
    command = [*(prefix or []), sys.executable, "-m", "scrapy", "crawl", "links",
               "-a", f"source={site}", "-s", f"LINKHEALTH_DB={db_path}"]
    for name, value in {**TEST_SETTINGS, **(settings or {})}.items():
        command += ["-s", f"{name}={value}"]
    for name, value in (args or {}).items():
        command += ["-a", f"{name}={value}"]
    # A fresh tldextract cache makes every crawl a "first use": one that reached for the
    # network would log a traceback (regression: Scrapy's cookie middleware did, on a
    # response with Set-Cookie).
    cache = db_path.parent / f"tldextract-cache-{db_path.stem}"
    return command, {**os.environ, "PYTHONUNBUFFERED": "1", "TLDEXTRACT_CACHE": str(cache)}


def _finished(process: subprocess.CompletedProcess, db_path: Path, expect_status: int) -> Crawl:
    assert process.returncode == expect_status, process.stderr[-4000:]
    assert "Traceback" not in process.stderr, _around(process.stderr, "Traceback")
    return Crawl(process, db_path)


def _around(text: str, marker: str, width: int = 3000) -> str:
    at = text.index(marker)
    return text[max(0, at - 500): at + width]


def scrapy_command(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scrapy", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)
