"""The nightly entry point, run for real: crawl, four reports in a dated directory, exit status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from crawler.jobs.nightly import FORMATS
from tests.crawl import REPO, write_site
from tests.webserver import Web

pytestmark = pytest.mark.e2e

# Loopback needs the guard off; one failure confirms a link as broken, so one run is enough.
SETTINGS = ["LINKHEALTH_ALLOW_PRIVATE=1", "LINKHEALTH_BROKEN_AFTER=1", "DOWNLOAD_TIMEOUT=5",
            "LINKHEALTH_RETRY_BACKOFF_BASE=0.05"]


def nightly(tmp_path: Path, *args: str, settings: list[str] = SETTINGS) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "crawler.jobs.nightly", "--db", str(tmp_path / "db.sqlite"),
               "--out", str(tmp_path / "reports"), *args]
    for setting in settings:
        command += ["-s", setting]
    env = {**os.environ, "TLDEXTRACT_CACHE": str(tmp_path / "tldextract-cache")}
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=180, env=env)


def dated_directory(reports: Path, before: date) -> Path:
    """Today's directory (the day may have changed during the run)."""
    candidates = [reports / day.isoformat() for day in {before, date.today()}]
    found = [d for d in candidates if d.is_dir()]
    assert len(found) == 1, (candidates, list(reports.iterdir()) if reports.is_dir() else None)
    return found[0]


def test_nightly_writes_four_reports_and_exits_0_then_2_when_a_link_is_broken(tmp_path):
    with Web() as web:
        site = write_site(tmp_path / "site", {
            "_posts/fine.md": {"title": "Fine", "webUrl": web.url("/ok"),
                               "images": [{"url": web.url("/image.png")}]},
        })
        today = date.today()
        first = nightly(tmp_path, "--source", str(site), "--fail-on", "broken,dns_error")
        assert first.returncode == 0, first.stderr[-4000:]
        directory = dated_directory(tmp_path / "reports", today)
        assert sorted(p.name for p in directory.glob("report.*")) == sorted(
            f"report.{fmt}" for fmt in FORMATS)
        for fmt in FORMATS:
            assert (directory / f"report.{fmt}").stat().st_size > 0
        report = json.loads((directory / "report.json").read_text(encoding="utf-8"))
        assert report["run"]["id"] == 1 and report["summary"] == {"ok": 2}
        assert "<html" in (directory / "report.html").read_text(encoding="utf-8").lower()

        write_site(site, {"_posts/gone.md": {"title": "Gone", "webUrl": web.url("/status/404")}})
        second = nightly(tmp_path, "--source", str(site), "--fail-on", "broken")
    assert second.returncode == 2, second.stderr[-4000:]
    assert "--fail-on matched" in second.stderr and web.url("/status/404") in second.stderr
    directory = dated_directory(tmp_path / "reports", today)
    report = json.loads((directory / "report.json").read_text(encoding="utf-8"))
    assert report["run"]["id"] == 2 and report["summary"].get("broken") == 1
    assert web.url("/status/404") in (directory / "report.md").read_text(encoding="utf-8")
    assert "report.csv" in second.stderr.splitlines()[-1]


def test_nightly_exits_1_when_the_crawl_fails_and_writes_no_report(tmp_path):
    site = write_site(tmp_path / "site", {"_posts/a.md": {"title": "A"}})
    # A setting the spider cannot read: `scrapy crawl` itself fails.
    failed = nightly(tmp_path, "--source", str(site), "--fail-on", "broken",
                     settings=[*SETTINGS, "LINKHEALTH_READ_BATCH=many"])
    assert failed.returncode == 1, failed.stderr[-4000:]
    assert "the crawl failed (scrapy crawl exited with status 1)" in failed.stderr
    assert not (tmp_path / "reports").exists()


def test_nightly_refuses_bad_arguments_before_crawling(tmp_path):
    missing = nightly(tmp_path, "--source", str(tmp_path / "nowhere"))
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    (tmp_path / "site").mkdir()
    unknown = nightly(tmp_path, "--source", str(tmp_path / "site"), "--fail-on", "brokn")
    assert unknown.returncode == 1 and "unknown outcome(s) in --fail-on: brokn" in unknown.stderr
    assert not (tmp_path / "db.sqlite").exists()
