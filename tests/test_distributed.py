"""Scale-out, end to end: a coordinator and three workers on a real Redis, one worker
killed with SIGKILL mid-run, compared with a single-process crawl of the same site.

Every crawl is a real ``scrapy`` subprocess; the web is three loopback hosts whose
servers count requests in flight per host.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time

import pytest

from tests.crawl import REPO, crawl, write_site
from tests.distributed_run import (DISTRIBUTED, ENV, PER_HOST, kill_left_over, spider_command,
                                   start, start_worker)
from tests.redis_server import RedisServer
from tests.webserver import Web

pytestmark = pytest.mark.e2e

URLS_PER_HOST = 14
SLOW_MS = 150


def outcomes(db) -> set[tuple[str, str, int | None]]:
    return {(r["url"], r["outcome"], r["status"]) for r in db.query(
        "SELECT u.url, c.outcome, c.status FROM checks c JOIN urls u ON u.id = c.url_id")}


def refs(db) -> set[tuple]:
    return {tuple(r.values()) for r in db.query(
        "SELECT d.path, r.field, r.kind, r.raw, u.url FROM refs r JOIN urls u ON u.id = r.url_id"
        " JOIN documents d ON d.id = r.document_id")}


def snapshots(db) -> set[tuple]:
    return {tuple(r.values()) for r in db.query(
        "SELECT u.url, s.status, s.digest, s.size FROM snapshots s JOIN urls u ON u.id = s.url_id")}


def site_for(tmp_path, webs):
    urls = [web.url(f"/slow/{SLOW_MS}?id={i}") for web in webs for i in range(URLS_PER_HOST)]
    first = webs[0]
    urls += [first.url("/status/404?id=x"), first.url("/redirect/301?to=/ok"),
             first.url("/image.png"), first.url("/soft404"), first.url("/flaky/1/503?id=f")]
    documents = {f"_news/doc-{i}.md": {"title": f"Doc {i}", "webUrl": url,
                                      "images": [{"url": first.url("/image.png")}]}
                 for i, url in enumerate(urls)}
    documents["bad.md"] = {"title": "Bad", "webUrl": "mailto:someone@example.org",
                           "originalUrl": "http://[::1"}
    return write_site(tmp_path / "site", documents)


@pytest.mark.slow
def test_coordinator_and_three_workers_one_killed_match_a_single_process_crawl(tmp_path, redis_server):
    webs = [Web(host=f"127.0.0.{i}") for i in (2, 3, 4)]
    try:
        site = site_for(tmp_path, webs)
        db_path = tmp_path / "distributed.db"
        settings = {**DISTRIBUTED, "LINKHEALTH_REDIS_URL": redis_server.url,
                    "LINKHEALTH_DB": str(db_path)}
        workers = [start_worker(redis_server.url, tmp_path, n) for n in range(3)]
        coordinator_log = open(tmp_path / "coordinator.log", "w")
        coordinator = start("links", settings, {"source": str(site)}, coordinator_log)
        try:
            # An event, not a sleep: the web has seen requests, so workers own hosts.
            assert webs[0].wait_for_requests(4, timeout=30)
            client = redis_server.client()
            owners = set()
            for key in client.scan_iter(match="linkhealth:*:owner"):
                owners |= {v.decode() for v in client.hvals(key)}
            pids = {int(owner.split(":")[1]) for owner in owners}
            victim = next(w for w in workers if w[0].pid in pids)
            victim[0].send_signal(signal.SIGKILL)
            victim[0].wait(timeout=10)
            assert coordinator.wait(timeout=45) == 0, (tmp_path / "coordinator.log").read_text()[-3000:]
            for process, _ in workers:
                if process is not victim[0]:
                    assert process.wait(timeout=20) == 0
        finally:
            kill_left_over([coordinator, *(process for process, _ in workers)])
        log = (tmp_path / "coordinator.log").read_text()
        assert "Traceback" not in log, log[log.index("Traceback") - 200:][:3000]
        worker_logs = "".join((tmp_path / f"worker-{n}.log").read_text() for n in range(3))
        assert "Took over" in worker_logs  # the killed worker's hosts were taken over
        handed_back = [int(n) for n in re.findall(r"stopped \(finished\): (\d+) results", worker_logs)]
        assert len(handed_back) == 2 and all(handed_back), handed_back  # both survivors worked
        peaks = [web.max_concurrent() for web in webs]
        assert max(peaks) <= PER_HOST, peaks  # politeness held across the cluster
        assert any(peak == PER_HOST for peak in peaks)  # ...and was reached
        import sqlite_utils
        distributed = sqlite_utils.Database(db_path)
        run = next(distributed.query("SELECT * FROM runs ORDER BY id DESC LIMIT 1"))
        assert run["status"] == "finished"
        dup = list(distributed.query(
            "SELECT url_id, count(*) n FROM checks GROUP BY run_id, url_id HAVING n > 1"))
        assert dup == []
        assert list(client.scan_iter(match="linkhealth:*")) == []  # the run's keys are gone

        single = crawl(site, tmp_path / "single.db", settings={
            "CONCURRENT_REQUESTS_PER_DOMAIN": str(PER_HOST)})
        assert outcomes(distributed) == outcomes(single.db)
        assert refs(distributed) == refs(single.db)
        assert snapshots(distributed) == snapshots(single.db)
        summary = json.loads(run["summary"])
        assert summary == json.loads(single.run()["summary"])
        for name in ("documents", "refs", "unique_urls", "requested"):
            assert run[name] == single.run()[name], name
    finally:
        for web in webs:
            web.stop()


def test_worker_waits_for_unreachable_redis_then_stops_cleanly(tmp_path):
    server = RedisServer()  # never started: nothing listens on its port
    process, _ = start_worker(server.url, tmp_path, 9, LINKHEALTH_REDIS_WAIT="1")
    assert process.wait(timeout=30) == 1
    text = (tmp_path / "worker-9.log").read_text()
    assert "unreachable" in text and "waiting and retrying" in text
    assert "worker" in text and "stops" in text
    assert "Traceback" not in text


def test_a_dead_coordinators_results_are_ingested_by_scrapy_ingest(tmp_path, redis_server):
    with Web(host="127.0.0.2") as web, Web(host="127.0.0.3") as other:
        site = site_for(tmp_path, [web, other])
        db_path = tmp_path / "distributed.db"
        settings = {**DISTRIBUTED, "LINKHEALTH_REDIS_URL": redis_server.url,
                    "LINKHEALTH_DB": str(db_path)}
        workers = [start_worker(redis_server.url, tmp_path, n) for n in range(2)]
        coordinator = start("links", settings, {"source": str(site)},
                            open(tmp_path / "coordinator.log", "w"))
        client = redis_server.client()
        try:
            deadline = time.monotonic() + 30
            seeded = []
            while time.monotonic() < deadline and not seeded:  # the site is read and seeded
                seeded = [k for k in client.scan_iter(match="linkhealth:*:meta")
                          if client.hget(k, "seeding_done") == b"1"]
                time.sleep(0.05)
            assert seeded
            coordinator.send_signal(signal.SIGKILL)
            coordinator.wait(timeout=10)
            ingest = subprocess.run(
                [sys.executable, "-m", "scrapy", "ingest", "--db", str(db_path),
                 "-s", f"LINKHEALTH_REDIS_URL={redis_server.url}", "-s", "LINKHEALTH_REDIS_POLL=0.05"],
                check=False, cwd=REPO, capture_output=True, text=True, timeout=60, env=ENV)
            assert ingest.returncode == 0, ingest.stderr[-3000:]
            assert "Traceback" not in ingest.stderr
            for process, _ in workers:
                assert process.wait(timeout=20) == 0
        finally:
            kill_left_over([coordinator, *(process for process, _ in workers)])
    import sqlite_utils
    db = sqlite_utils.Database(db_path)
    run = next(db.query("SELECT * FROM runs ORDER BY id DESC LIMIT 1"))
    assert run["status"] == "finished"
    assert run["requested"] == 2 * URLS_PER_HOST + 5
    checked = list(db.query("SELECT url_id FROM checks WHERE run_id = ?", [run["id"]]))
    assert len(checked) == len({r["url_id"] for r in checked}) == 2 * URLS_PER_HOST + 5 + 2
    assert list(client.scan_iter(match="linkhealth:*")) == []


def test_coordinator_with_redis_unreachable_stops_and_says_how_far_it_got(tmp_path):
    with Web(host="127.0.0.2") as web:
        site = write_site(tmp_path / "site", {"a.md": {"webUrl": web.url("/ok")}})
        db_path = tmp_path / "db.sqlite"
        settings = {**DISTRIBUTED, "LINKHEALTH_REDIS_URL": RedisServer().url,  # nothing listens
                    "LINKHEALTH_REDIS_WAIT": "1", "LINKHEALTH_DB": str(db_path)}
        process = subprocess.run(spider_command("links", settings, {"source": str(site)}), cwd=REPO,
                                 capture_output=True, text=True, timeout=60, check=False, env=ENV)
        assert web.requests == []
    assert process.returncode == 1
    assert "unreachable" in process.stderr and "Distributed run stopped" in process.stderr
    assert "Traceback" not in process.stderr
    import sqlite_utils
    run = next(sqlite_utils.Database(db_path).query("SELECT * FROM runs"))
    assert run["status"] == "interrupted" and run["documents"] == 1


def test_redis_restarted_mid_run_the_coordinator_stops_and_resume_completes(tmp_path, redis_server):
    with Web(host="127.0.0.2") as web:
        site = site_for(tmp_path, [web])
        db_path = tmp_path / "distributed.db"
        settings = {**DISTRIBUTED, "LINKHEALTH_REDIS_URL": redis_server.url,
                    "LINKHEALTH_DB": str(db_path), "LINKHEALTH_REDIS_WAIT": "20"}
        worker, _ = start_worker(redis_server.url, tmp_path, 0, LINKHEALTH_REDIS_WAIT="20")
        log = tmp_path / "coordinator.log"
        with open(log, "w") as stream:
            coordinator = start("links", settings, {"source": str(site)}, stream)
        try:
            assert web.wait_for_requests(5, timeout=30)
            redis_server.stop()  # everything in Redis is lost
            redis_server.start()
            assert coordinator.wait(timeout=40) == 1
            text = log.read_text()
            assert "Redis lost this run's frontier" in text, text[-3000:]
            assert "Distributed run stopped" in text
            with open(tmp_path / "resume.log", "w") as stream:
                resumed = start("links", settings, {"source": str(site), "resume": "1"}, stream)
            assert resumed.wait(timeout=40) == 0, (tmp_path / "resume.log").read_text()[-3000:]
            assert worker.wait(timeout=20) == 0
        finally:
            for process in (worker, coordinator):
                if process.poll() is None:
                    process.kill()
                    process.wait()
    import sqlite_utils
    db = sqlite_utils.Database(db_path)
    run = next(db.query("SELECT * FROM runs ORDER BY id DESC LIMIT 1"))
    assert run["id"] == 1 and run["status"] == "finished"
    checked = [r["url_id"] for r in db.query("SELECT url_id FROM checks WHERE run_id = 1")]
    assert len(checked) == len(set(checked)) == URLS_PER_HOST + 5 + 2


@pytest.mark.slow
def test_a_worker_paces_a_rate_limited_host_and_settles_an_unresponsive_one(tmp_path, redis_server):
    """Workers wait as a single process does (issue 15): a rate-limited host's retries in the
    worker's own scheduler, an unresponsive host's URLs settled after a probe."""
    with Web(host="127.0.0.2") as limited, Web(host="127.0.0.3") as hanging:
        urls = [limited.url(f"/limited/5/3/2/{i}") for i in range(12)]
        urls += [hanging.url(f"/hang?i={i}") for i in range(12)]
        site = write_site(tmp_path / "site", {f"_news/d{i}.md": {"title": f"D{i}", "webUrl": url}
                                              for i, url in enumerate(urls)})
        db_path = tmp_path / "distributed.db"
        settings = {**DISTRIBUTED, "CONCURRENT_REQUESTS": "4", "DOWNLOAD_TIMEOUT": "1",
                    "LINKHEALTH_UNRESPONSIVE_AFTER": "2"}
        worker, worker_log = start_worker(redis_server.url, tmp_path, 0, **settings)
        coordinator = start("links", {**settings, "LINKHEALTH_REDIS_URL": redis_server.url,
                                      "LINKHEALTH_DB": str(db_path)},
                            {"source": str(site)}, open(tmp_path / "coordinator.log", "w"))
        try:
            assert coordinator.wait(timeout=60) == 0, (tmp_path / "coordinator.log").read_text()[-3000:]
            assert worker.wait(timeout=20) == 0
        finally:
            kill_left_over([coordinator, worker])
        assert len(limited.requests) > 12  # the limiter refused some: the pace was needed
    import sqlite_utils
    db = sqlite_utils.Database(db_path)
    rows = list(db.query("SELECT u.host, c.outcome, c.attempts, c.host_state FROM checks c"
                         " JOIN urls u ON u.id = c.url_id"))
    assert {(r["outcome"]) for r in rows if r["host"] == "127.0.0.2"} == {"ok"}
    settled = [r for r in rows if r["host"] == "127.0.0.3" and r["attempts"] == 0]
    assert {r["outcome"] for r in rows if r["host"] == "127.0.0.3"} == {"timeout"}
    assert settled and {r["host_state"] for r in settled} == {"unresponsive"}
    assert len(hanging.requests) < 12
