"""Crash and resume: a real crawl killed with SIGKILL at several points, then resumed.

The kill points are events, not sleeps: the test server signals each request it
receives, and the crawl is killed once it has seen a given number of them.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys

import pytest

from tests.crawl import REPO, TEST_SETTINGS, crawl, scrapy_command, write_site
from tests.webserver import Web

pytestmark = pytest.mark.e2e

URLS = 60
# Small batches, so that a kill finds some checks committed and some not.
SETTINGS = {"LINKHEALTH_BATCH_SIZE": "3", "LINKHEALTH_FLUSH_SECONDS": "0.2",
            "CONCURRENT_REQUESTS_PER_DOMAIN": "4"}


def paths() -> list[str]:
    """A mix of outcomes, each URL slow enough that the crawl lasts a few seconds."""
    mix = ["/slow/150?id={}", "/status/404?id={}", "/chain/1?code=301&id={}", "/page/p{}"]
    return [mix[i % len(mix)].format(i) for i in range(URLS)]


def make_site(tmp_path, web):
    return write_site(tmp_path / "site", {
        f"_news/doc-{i:02d}.md": {"title": f"Doc {i}", "webUrl": web.url(path)}
        for i, path in enumerate(paths())})


def start_crawl(site, db, **extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "scrapy", "crawl", "links", "-a", f"source={site}",
               "-s", f"LINKHEALTH_DB={db}"]
    for name, value in {**TEST_SETTINGS, **SETTINGS, **extra}.items():
        command += ["-s", f"{name}={value}"]
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "TLDEXTRACT_CACHE": f"{db.parent.parent}/tld"})


def comparable_report(db) -> dict:
    process = scrapy_command("report", "--db", str(db), "--format", "json", "--all")
    assert process.returncode == 0, process.stderr
    report = json.loads(process.stdout)
    volatile = {"checked_at", "first_failed_at", "last_snapshot", "elapsed_ms"}
    urls = sorted(({k: v for k, v in u.items() if k not in volatile} for u in report["urls"]),
                  key=lambda u: u["url"])
    return {"summary": report["summary"], "urls": urls}


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("baseline")
    with Web() as web:
        site = make_site(tmp, web)
        crawl(site, tmp / "db.sqlite", settings=SETTINGS)
        return comparable_report(tmp / "db.sqlite"), web.port


@pytest.mark.parametrize("kill_after", [1, URLS // 2, URLS])
def test_killed_crawl_resumes_to_the_same_result(tmp_path, baseline, kill_after):
    expected, _ = baseline
    with Web() as web:
        site, db = make_site(tmp_path, web), tmp_path / "db.sqlite"
        victim = start_crawl(site, db)
        assert web.wait_for_requests(kill_after, timeout=120)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)

        # The database opens cleanly and keeps what was committed before the kill.
        with sqlite3.connect(db) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            assert conn.execute("SELECT status FROM runs").fetchall() == [("running",)]
            committed = {row[0] for row in conn.execute("SELECT url_id FROM checks")}

        resumed = crawl(site, db, settings=SETTINGS, args={"resume": "1"})
        # Reports compare URLs, so the servers must be on the same port as the baseline's.
        report = comparable_report(db)

    run = resumed.run()
    assert (run["id"], run["status"], run["resumed"]) == (1, "finished", 1)
    with sqlite3.connect(db) as conn:
        checks = conn.execute("SELECT url_id, count(*) FROM checks GROUP BY url_id").fetchall()
        assert {row[0] for row in checks} >= committed  # nothing committed was lost
    assert len(checks) == URLS and all(n == 1 for _, n in checks)  # none lost, none twice
    assert json.loads(run["summary"]) == expected["summary"]
    assert [u["outcome"] for u in report["urls"]] == [u["outcome"] for u in expected["urls"]]
    assert [(u["status"], u["redirects"] != [], len(u["refs"])) for u in report["urls"]] == \
        [(u["status"], u["redirects"] != [], len(u["refs"])) for u in expected["urls"]]


def test_a_second_crawl_on_the_same_database_stops_at_once(tmp_path):
    with Web() as web:
        site, db = make_site(tmp_path, web), tmp_path / "db.sqlite"
        write_site(site, {"_news/gated.md": {"webUrl": web.url("/gate/hold")}})
        first = start_crawl(site, db)  # cannot finish: its gated page is never answered
        assert web.wait_for_requests(1, timeout=120)
        second = scrapy_command("crawl", "links", "-a", f"source={site}", "-s", f"LINKHEALTH_DB={db}")
        assert second.returncode == 1
        assert f"another crawl is running on this database: pid {first.pid}" in second.stderr
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        web.open_gate("hold")
        # The dead holder's lock is taken over: the next crawl runs (and resumes the run).
        third = crawl(site, db, settings=SETTINGS, args={"resume": "1"})
    assert third.run()["status"] == "finished"


def test_a_locked_database_is_retried_then_the_crawl_stops_cleanly(tmp_path):
    with Web() as web:
        site, db = make_site(tmp_path, web), tmp_path / "db.sqlite"
        crawl(site, db, settings=SETTINGS)  # a finished run, to be kept
        # The second run also has gated pages: they are answered only once the database is
        # locked, so their checks certainly have to be written while it is.
        site = write_site(tmp_path / "site", {f"_news/gated-{i}.md": {"webUrl": web.url(f"/gate/g?{i}")}
                                              for i in range(3)})
        before = len(web.requests)
        stuck = start_crawl(site, db, LINKHEALTH_DB_TIMEOUT="0.2", LINKHEALTH_WRITE_ATTEMPTS="2")
        assert web.wait_for_requests(before + 3, timeout=120)  # every gated page was asked for
        blocker = sqlite3.connect(db, isolation_level=None, timeout=30)
        blocker.execute("BEGIN EXCLUSIVE")  # another writer holds the database from now on
        web.open_gate("g")
        try:
            _, log = stuck.communicate(timeout=120)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert stuck.returncode == 1  # stopped, and says so to a nightly job
        assert "database is locked; keeping the batch in memory and trying again (1/2)" in log
        assert "stopping the crawl after 2 attempts" in log
        assert "Traceback" not in log
        with sqlite3.connect(db) as conn:
            runs = conn.execute("SELECT id, status FROM runs ORDER BY id").fetchall()
            assert runs[0] == (1, "finished")
            assert conn.execute("SELECT count(*) FROM checks WHERE run_id = 1").fetchone() == (URLS,)
        finished = crawl(site, db, settings=SETTINGS, args={"resume": "1"})
    assert finished.run()["id"] == 2 and finished.run()["status"] == "finished"
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM checks WHERE run_id = 2").fetchone() == (URLS + 3,)


@pytest.fixture
def tiny_disk(tmp_path):
    """A 3 MiB tmpfs: a database on it fills up during the crawl."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_full_disk_stops_the_crawl_cleanly_and_keeps_what_was_committed(tmp_path, tiny_disk):
    with Web() as web:
        # 40 distinct, incompressible 200 KiB pages to archive: far more than 3 MiB.
        for i in range(40):
            web.pages[f"big{i}"] = b"<html><title>big</title>" + os.urandom(200 * 1024).hex().encode()[:200 * 1024]
        site = write_site(tmp_path / "site", {
            f"_news/big-{i:02d}.md": {"webUrl": web.url(f"/page/big{i}")} for i in range(40)})
        db = tiny_disk / "db.sqlite"
        full = start_crawl(site, db, LINKHEALTH_WRITE_ATTEMPTS="2", LINKHEALTH_BATCH_SIZE="2",
                           LINKHEALTH_ARCHIVE_ZSTD_LEVEL="1")
        _, log = full.communicate(timeout=120)
    assert full.returncode == 1
    assert "database or disk is full" in log
    assert "stopping the crawl after 2 attempts" in log
    assert "Traceback" not in log
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        stored = conn.execute("SELECT count(*) FROM snapshots").fetchone()[0]
    assert 0 < stored < 40  # what was committed before the disk filled is there
