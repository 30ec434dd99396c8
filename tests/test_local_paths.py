"""Reports do not show where the site lies on disk (issue 16, item 13).

``runs.source`` keeps the site directory as the crawl was given it; a report shows an
absolute one relative to the current directory, or to ``~``. The nightly run gives the
crawl a path from the repository root (where the crawl runs) whenever it can.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from crawler.jobs.nightly import REPO, crawl_source
from crawler.report.model import shown_path
from tests.crawl import TEST_SETTINGS, crawl, write_site
from tests.webserver import Web


def report(db: Path, fmt: str, home: Path) -> str:
    process = subprocess.run([sys.executable, "-m", "scrapy", "report", "--db", str(db),
                              "--format", fmt], cwd=REPO, capture_output=True, text=True,
                             timeout=60, env={**os.environ, "HOME": str(home)})
    assert process.returncode == 0, process.stderr
    return process.stdout


@pytest.mark.e2e
def test_an_absolute_site_path_is_not_shown_in_any_report(tmp_path):
    home = tmp_path / "home" / "alice"
    with Web() as web:
        site = write_site(home / "sites" / "blog", {"a.md": {"webUrl": web.url("/status/404")}})
        result = crawl(site, tmp_path / "db.sqlite")
    assert result.run()["source"] == str(site)  # stored as given
    for fmt in ("md", "html", "json"):
        text = report(result.db_path, fmt, home)
        assert str(home) not in text, fmt
        assert "~/sites/blog" in text, fmt
    assert json.loads(report(result.db_path, "json", home))["run"]["source"] == "~/sites/blog"


@pytest.mark.e2e
def test_nightly_records_the_site_as_given_from_the_repository_root(tmp_path):
    with Web() as web:
        site = write_site(tmp_path / "site", {"a.md": {"webUrl": web.url("/ok")}})
        given = os.path.relpath(site, REPO)
        settings = [arg for name, value in TEST_SETTINGS.items()
                    for arg in ("-s", f"{name}={value}")]
        process = subprocess.run(
            [sys.executable, "-m", "crawler.jobs.nightly", "--source", given,
             "--db", str(tmp_path / "db.sqlite"), "--out", str(tmp_path / "reports"), *settings],
            cwd=REPO, capture_output=True, text=True, timeout=180)
    assert process.returncode == 0, process.stderr[-3000:]
    [markdown] = (tmp_path / "reports").glob("*/report.md")
    text = markdown.read_text(encoding="utf-8")
    assert f"source {given} ·" in text and f"source {site}" not in text


@pytest.mark.parametrize("path, expected", [
    ("examples/site", "examples/site"),             # relative: as given
    ("/work/repo/examples/site", "examples/site"),  # inside the current directory
    ("/work/repo", "."),
    ("/home/alice/blog", "~/blog"),                 # inside the home directory
    ("/home/alice", "~"),
    ("/home/alicia/blog", "/home/alicia/blog"),     # neither: as given
    ("/srv/site", "/srv/site"),
    (None, None),
])
def test_shown_path(path, expected):
    assert shown_path(path, cwd="/work/repo", home="/home/alice") == expected


def test_crawl_source(tmp_path, monkeypatch):
    assert crawl_source(REPO / "state" / "demo" / "site") == "state/demo/site"
    assert crawl_source(tmp_path / "site") == str(tmp_path / "site")
    monkeypatch.chdir(REPO)
    assert crawl_source(Path("../elsewhere/site")) == "../elsewhere/site"
    monkeypatch.chdir(tmp_path)
    assert crawl_source(Path("site")) == str(tmp_path / "site")
