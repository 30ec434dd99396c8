"""Output files are never written through a symbolic link (issue 16, item 11).

A link planted at a predictable name beside the output (``.report.md.partial``,
``.archive.warc.gz.part``), at the output's own name, or at an archived copy's name must
not make a command overwrite what it points to. Every writer is run for real: ``scrapy
report`` (with ``--with-snapshots``), ``export-warc``, ``snapshot``, the nightly run, and
the crawl's lock file.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from tests.crawl import REPO, TEST_SETTINGS, crawl, scrapy_command, write_site
from tests.webserver import Web

pytestmark = pytest.mark.e2e

VICTIM_BYTES = b"precious: must never change\n"


@pytest.fixture(scope="module")
def archived(tmp_path_factory):
    """A database with the archived copy of a page that died since (reports link to it), and
    its snapshot id, from two real crawls."""
    tmp = tmp_path_factory.mktemp("output-files")
    with Web() as web:
        web.pages["kept"] = b"<html><head><title>Kept</title></head><body>kept</body></html>"
        site = write_site(tmp / "site", {"a.md": {"webUrl": web.url("/page/kept")}})
        crawl(site, tmp / "db.sqlite")
        web.pages["kept"] = None  # gone: 404
        result = crawl(site, tmp / "db.sqlite")
        url = web.url("/page/kept")
    snapshot = next(result.db.query("SELECT id FROM snapshots"))["id"]
    return result.db_path, url, snapshot


@pytest.fixture
def victim(tmp_path) -> Path:
    path = tmp_path / "elsewhere" / "victim.txt"
    path.parent.mkdir()
    path.write_bytes(VICTIM_BYTES)
    return path


def umask_mode() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def assert_written_safely(output: Path, victim: Path) -> None:
    assert victim.read_bytes() == VICTIM_BYTES
    info = output.lstat()
    assert stat.S_ISREG(info.st_mode), f"{output} is not a regular file"
    assert stat.S_IMODE(info.st_mode) == umask_mode()
    leftovers = [p.name for p in output.parent.iterdir() if p.name.endswith((".partial", ".part"))
                 and not p.is_symlink()]
    assert leftovers == []


def test_report_is_not_written_through_a_planted_partial_file_or_its_own_name(archived, tmp_path,
                                                                              victim):
    db, _, _ = archived
    out = tmp_path / "public"
    out.mkdir()
    (out / ".report.md.partial").symlink_to(victim)  # the name the old code wrote to
    (out / "report.md").symlink_to(victim)
    report = scrapy_command("report", "--db", str(db), "-o", str(out / "report.md"))
    assert report.returncode == 0, report.stderr
    assert_written_safely(out / "report.md", victim)
    assert (out / "report.md").read_text(encoding="utf-8").startswith("# ")


def test_archived_copies_are_not_written_through_links(archived, tmp_path, victim):
    db, _, snapshot = archived
    out = tmp_path / "public"
    (out / "snapshots").mkdir(parents=True)
    (out / "snapshots" / f"{snapshot}.html.txt").symlink_to(victim)
    report = scrapy_command("report", "--db", str(db), "--format", "html",
                            "-o", str(out / "links.html"), "--with-snapshots")
    assert report.returncode == 0, report.stderr
    assert_written_safely(out / "snapshots" / f"{snapshot}.html.txt", victim)
    assert b"kept" in (out / "snapshots" / f"{snapshot}.html.txt").read_bytes()


def test_a_snapshots_directory_that_is_a_link_is_refused(archived, tmp_path, victim):
    db, _, snapshot = archived
    out = tmp_path / "public"
    out.mkdir()
    (out / "snapshots").symlink_to(victim.parent)
    report = scrapy_command("report", "--db", str(db), "--format", "html",
                            "-o", str(out / "links.html"), "--with-snapshots")
    assert report.returncode == 1
    assert "is a symbolic link: not writing through it" in report.stderr
    assert sorted(p.name for p in victim.parent.iterdir()) == ["victim.txt"]


def test_export_warc_is_not_written_through_links(archived, tmp_path, victim):
    db, _, _ = archived
    out = tmp_path / "archive"
    out.mkdir()
    (out / ".links.warc.gz.part").symlink_to(victim)  # the name the old code wrote to
    (out / "links.warc.gz").symlink_to(victim)
    export = scrapy_command("export-warc", "--db", str(db), "-o", str(out / "links.warc.gz"))
    assert export.returncode == 0, export.stderr
    assert_written_safely(out / "links.warc.gz", victim)
    assert (out / "links.warc.gz").read_bytes()[:2] == b"\x1f\x8b"


def test_snapshot_is_not_written_through_a_link(archived, tmp_path, victim):
    db, url, _ = archived
    (tmp_path / "page.html").symlink_to(victim)
    command = scrapy_command("snapshot", url, "--db", str(db), "-o", str(tmp_path / "page.html"))
    assert command.returncode == 0, command.stderr
    assert_written_safely(tmp_path / "page.html", victim)
    assert b"kept" in (tmp_path / "page.html").read_bytes()


def test_nightly_reports_are_not_written_through_links(tmp_path, victim):
    with Web() as web:
        site = write_site(tmp_path / "site", {"a.md": {"webUrl": web.url("/page/n")}})
        day = tmp_path / "reports" / datetime.now().date().isoformat()
        day.mkdir(parents=True)
        for name in ("report.md", "report.html", "report.json", "report.csv",
                     ".report.md.partial"):
            (day / name).symlink_to(victim)
        settings = [arg for name, value in TEST_SETTINGS.items()
                    for arg in ("-s", f"{name}={value}")]
        process = subprocess.run(
            [sys.executable, "-m", "crawler.jobs.nightly", "--source", str(site),
             "--db", str(tmp_path / "db.sqlite"), "--out", str(tmp_path / "reports"), *settings],
            cwd=REPO, capture_output=True, text=True, timeout=180)
    assert process.returncode == 0, process.stderr[-3000:]
    for name in ("report.md", "report.html", "report.json", "report.csv"):
        assert_written_safely(day / name, victim)


def test_a_crawl_does_not_write_its_lock_through_a_link(tmp_path, victim):
    site = write_site(tmp_path / "site", {"a.md": {"title": "A"}})
    db = tmp_path / "db.sqlite"
    Path(f"{db}.lock").symlink_to(victim)
    result = crawl(site, db, expect_status=1)
    assert "lock file" in result.log and "is a symbolic link" in result.log
    assert victim.read_bytes() == VICTIM_BYTES
