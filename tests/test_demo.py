"""`make demo` in small: two real crawls of a synthetic site against local servers, then the reports."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import pytest

from crawler.jobs.nightly import FORMATS
from tests.crawl import REPO

pytestmark = pytest.mark.e2e


def test_demo_crawls_twice_and_writes_the_reports(tmp_path):
    directory = tmp_path / "demo"
    env = {**os.environ, "TLDEXTRACT_CACHE": str(tmp_path / "tldextract-cache")}
    process = subprocess.run(
        [sys.executable, "-m", "crawler.jobs.demo", "--dir", str(directory), "--documents", "12",
         "--hosts", "3"], cwd=REPO, capture_output=True, text=True, timeout=120, env=env)
    assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-3000:]

    with sqlite3.connect(directory / "linkhealth.db") as conn:
        runs = conn.execute("SELECT id, status, summary FROM runs ORDER BY id").fetchall()
        changes = dict(conn.execute(
            "SELECT change, count(*) FROM check_changes WHERE run_id = 2 GROUP BY change"))
    assert [(run_id, status) for run_id, status, _ in runs] == [(1, "finished"), (2, "finished")]
    for _, _, summary in runs:  # a realistic mix: healthy, broken, soft 404s, a server down
        outcomes = json.loads(summary)
        assert {"ok", "broken", "soft_404", "connection_error"} <= set(outcomes), outcomes
    # run-to-run: the flaky server recovered, a page died, the 404s are failing again
    assert changes.get("fixed", 0) >= 1 and changes.get("newly_failing", 0) >= 1, changes
    assert changes.get("still_failing", 0) >= 1, changes

    reports = directory / "reports"
    for fmt in FORMATS:
        assert (reports / f"report.{fmt}").stat().st_size > 0, fmt
    report = json.loads((reports / "report.json").read_text(encoding="utf-8"))
    assert report["run"]["id"] == 2
    assert (directory / "crawl-1.log").is_file() and (directory / "crawl-2.log").is_file()

    out = process.stdout
    assert (reports / "report.html").as_uri() in out
    assert "--metadata crawler/browse/metadata.yml --plugins-dir crawler/browse/plugins" in out
    assert "LINKHEALTH_ALLOW_PRIVATE=1" in out
