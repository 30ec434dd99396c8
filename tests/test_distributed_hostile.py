"""Issue 16: a hostile neighbour on the distributed run's Redis.

Another client of the same Redis (a plain redis-py connection: the attacker) writes pickles
that would create a marker file, and forged frames, into the results hash and the request
queues. Neither the coordinator nor the worker runs them or records them: each is rejected
with one clear log line and the run finishes with every real URL checked. Local mode
(``make crawl WORKERS=N``) runs a Redis nobody else can reach.
"""

from __future__ import annotations

import json
import os
import pickle
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis
import sqlite_utils
import zstandard

from scrapy import Request

from crawler.distributed import local
from crawler.distributed.worker import WorkerScheduler
from crawler.distributed.wire import MAGIC, RequestData, Wire, WireError, run_secret
from crawler.core.items import Capture, CheckItem, Hop
from spiders.links_worker import LinksWorkerSpider
from tests.crawl import REPO, TEST_SETTINGS, write_site
from tests.distributed_run import DISTRIBUTED, kill_left_over, start, start_worker
from tests.webserver import Web


class Payload:
    """Unpickling this runs ``touch MARKER``: what the old pickled frontier executed."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def wait_for(condition, timeout: float = 30.0):
    """Poll a condition of the Redis state until it holds (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not reached in time")


def seeded_namespace(client: redis.Redis) -> str:
    """The run's namespace, once the coordinator has seeded the whole site."""
    def done() -> str | None:
        for key in client.scan_iter(match="linkhealth:*:meta"):
            if client.hget(key, "seeding_done") == b"1":
                return key.decode().removesuffix(":meta")
        return None
    return wait_for(done)


def forged_result(key: str) -> bytes:
    """Well-formed data claiming ``key`` is fine, with a signature made without the secret."""
    data = json.dumps({"url": key, "outcome": "ok", "status": 200, "attempts": 1}).encode()
    packed = zstandard.ZstdCompressor().compress(len(data).to_bytes(4, "big") + data)
    return MAGIC + b"\0" * 32 + packed


@pytest.mark.e2e
def test_pickles_and_forgeries_in_redis_are_rejected_and_the_run_finishes(tmp_path, redis_server):
    marker = tmp_path / "pwned"
    evil = pickle.dumps(Payload(marker))
    with Web(host="127.0.0.2") as web, Web(host="127.0.0.3") as other:
        urls = [web.url(f"/slow/50?id={i}") for i in range(6)] + [other.url(f"/ok?id={i}") for i in range(6)]
        broken = web.url("/status/404?id=b")
        documents = {f"doc-{i}.md": {"title": f"Doc {i}", "webUrl": url} for i, url in enumerate(urls)}
        documents["broken.md"] = {"title": "Broken", "webUrl": broken}
        site = write_site(tmp_path / "site", documents)
        db_path = tmp_path / "run.db"
        settings = {**DISTRIBUTED, "LINKHEALTH_REDIS_URL": redis_server.url, "LINKHEALTH_DB": str(db_path)}
        coordinator = start("links", settings, {"source": str(site)}, open(tmp_path / "coordinator.log", "w"))
        workers = []
        try:
            attacker = redis_server.client()
            ns = seeded_namespace(attacker)
            host = web.host
            # The results hash: a pickle under a key of its own, and a forged "ok" for a real URL.
            attacker.hset(f"{ns}:results", "evil", zstandard.ZstdCompressor().compress(evil))
            attacker.hsetnx(f"{ns}:done", "evil", "attacker")
            attacker.hset(f"{ns}:results", broken, forged_result(broken))
            attacker.rpush(f"{ns}:rkeys", "evil", broken)
            # The request queues: next in a real host's queue, and in a host of its own.
            forged_request = MAGIC + b"\0" * 32 + json.dumps(
                {"url": web.url("/forged"), "method": "GET", "headers": [], "callback": "parse",
                 "errback": "failed", "meta": {"linkhealth_key": "x", "linkhealth_url": "x"}}).encode()
            attacker.rpush(f"{ns}:q:{host}", evil, forged_request)
            attacker.sadd(f"{ns}:hosts", "evil.invalid")
            attacker.rpush(f"{ns}:q:evil.invalid", evil)
            attacker.sadd("linkhealth:active", "not-a-namespace\x1b[2J", b"\xff\xfe")
            attacker.sadd(f"{ns}:hosts", b"\xff")  # not UTF-8: must neither crash nor stall
            attacker.rpush(f"{ns}:q:".encode() + b"\xff", evil)
            workers = [start_worker(redis_server.url, tmp_path, n) for n in range(2)]
            assert coordinator.wait(timeout=60) == 0, (tmp_path / "coordinator.log").read_text()[-3000:]
            for process, _ in workers:
                assert process.wait(timeout=30) == 0
        finally:
            kill_left_over([coordinator, *(process for process, _ in workers)])
        assert not any(r.target == "/forged" for r in web.requests)
    assert not marker.exists(), "a pickle from Redis was executed"
    coordinator_log = (tmp_path / "coordinator.log").read_text()
    worker_logs = "".join((tmp_path / f"worker-{n}.log").read_text() for n in range(2))
    assert "Traceback" not in coordinator_log + worker_logs
    assert "Rejected a result read from Redis (result of 'evil'): not a linkhealth frame" in coordinator_log
    assert f"Rejected a result read from Redis (result of {broken!r}): bad signature" in coordinator_log
    assert worker_logs.count("Rejected a request read from Redis") >= 3, worker_logs[-3000:]
    assert "not a linkhealth frame" in worker_logs and "bad signature" in worker_logs
    assert "is no run's namespace" in worker_logs
    db = sqlite_utils.Database(db_path)
    run = next(db.query("SELECT * FROM runs ORDER BY id DESC LIMIT 1"))
    assert run["status"] == "finished"
    checks = {r["url"]: r["outcome"] for r in db.query(
        "SELECT u.url, c.outcome FROM checks c JOIN urls u ON u.id = c.url_id WHERE c.run_id = ?",
        [run["id"]])}
    assert checks == {**{url: "ok" for url in urls}, broken: "broken"}  # the forged "ok" lost


@pytest.mark.e2e
def test_conditional_headers_cross_redis_to_the_worker(tmp_path, redis_server):
    """The second run's If-None-Match (added by the coordinator, which holds the snapshots)
    reaches the page through a worker: the signed request carries the headers it needs."""
    with Web(host="127.0.0.2") as web:
        site = write_site(tmp_path / "site", {"a.md": {"webUrl": web.url("/page/a")}})
        db_path = tmp_path / "run.db"
        settings = {**DISTRIBUTED, "LINKHEALTH_REDIS_URL": redis_server.url, "LINKHEALTH_DB": str(db_path)}
        for n in range(2):
            worker, _ = start_worker(redis_server.url, tmp_path, n)
            log = tmp_path / f"coordinator-{n}.log"
            with open(log, "w") as stream:
                coordinator = start("links", settings, {"source": str(site)}, stream)
            try:
                assert coordinator.wait(timeout=60) == 0, log.read_text()[-3000:]
                assert worker.wait(timeout=30) == 0
            finally:
                kill_left_over([coordinator, worker])
            assert "in the coordinator" not in log.read_text()  # it went through Redis
        conditional = [r for r in web.requests if r.target == "/page/a"]
    assert [r.headers.get("if-none-match") is not None for r in conditional] == [False, True]
    assert "linkhealth" in conditional[1].headers["user-agent"]
    db = sqlite_utils.Database(db_path)
    assert [r["not_modified"] for r in db.query("SELECT not_modified FROM checks ORDER BY run_id")] == [0, 1]


def listening_tcp_inodes() -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # LISTEN
                inodes.add(fields[9])
    return inodes


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except FileNotFoundError:
            continue  # closed between the listing and the read (the server is still busy)
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def command_lines() -> dict[int, bytes]:
    lines = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                lines[int(entry.name)] = (entry / "cmdline").read_bytes()
            except OSError:
                pass  # gone meanwhile
    return lines


@pytest.mark.e2e
def test_local_mode_redis_is_private_and_its_secrets_stay_off_command_lines(tmp_path):
    server = local.LocalRedis()
    try:
        directory = Path(server.dir)
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        assert all(stat.S_IMODE(p.stat().st_mode) & 0o077 == 0 for p in directory.iterdir())
        assert not socket_inodes(server.process.pid) & listening_tcp_inodes()  # no TCP port at all
        with pytest.raises(redis.AuthenticationError):  # the socket without the password
            redis.Redis(unix_socket_path=server.socket).ping()
        assert server.client().ping()

        with Web(host="127.0.0.2") as web:
            site = write_site(tmp_path / "site", {"a.md": {"webUrl": web.url("/gate/open")},
                                                  "b.md": {"webUrl": web.url("/ok")}})
            settings = [f"{name}={value}" for name, value in TEST_SETTINGS.items()]
            outcome = {}
            thread = threading.Thread(target=lambda: outcome.setdefault("status", local.run(
                1, str(site), str(tmp_path / "db.sqlite"), settings, [], redis_server=server)))
            thread.start()
            try:
                assert web.wait_for_requests(1, timeout=60)  # the worker holds /gate/open
                lines = command_lines()
                worker = next(pid for pid, line in lines.items() if b"links-worker" in line)
                environ = dict(item.split(b"=", 1) for item in
                               Path(f"/proc/{worker}/environ").read_bytes().split(b"\0") if b"=" in item)
                secret = environ[b"LINKHEALTH_REDIS_SECRET"]
                assert len(secret) >= 32
                assert environ[b"LINKHEALTH_REDIS_URL"] == server.url.encode()
                for pid, line in lines.items():
                    assert server.password.encode() not in line, pid
                    assert secret not in line, pid
            finally:
                web.open_gate("open")
                thread.join(timeout=120)
            assert outcome.get("status") == 0
    finally:
        server.stop()
    assert not directory.exists()


# -- the frames themselves -------------------------------------------------------------

NS = "linkhealth:0123456789:run:7"
SECRET = b"secret-of-this-test-run"


def wire(secret: bytes = SECRET, ns: str = NS) -> Wire:
    return Wire(secret, ns, body_limit=1 << 20)


def check_with_capture() -> CheckItem:
    body = bytes(range(256)) * 40  # every byte value
    return CheckItem(
        url="https://example.org/caf\udcc3", outcome="ok", status=200,
        final_url="https://example.org/x", redirects=[Hop("https://example.org/a", 301)],
        permanent_redirect=True, elapsed_ms=12, content_type="text/html", content_length=len(body),
        method="GET", attempts=1, checked_at="2026-01-01T00:00:00Z",
        capture=Capture(url="https://example.org/caf\udcc3", final_url="https://example.org/x",
                        fetched_at="2026-01-01T00:00:00Z", status=200, protocol="HTTP/1.1",
                        headers=[("Content-Type", "text/html"), ("X-\u00ff", "\u00e9")],
                        content_type="text/html", content_encoding="gzip", body=body,
                        truncated=True, etag='"e"', last_modified=None))


def test_a_check_and_its_capture_cross_redis_unchanged():
    item = check_with_capture()
    frame = wire().dump_result(item)
    assert frame.startswith(MAGIC) and b"\x80\x04" not in frame[:40]  # not a pickle
    assert wire().load_result(frame, item.url) == item
    bare = CheckItem(url="https://example.org/", outcome="dns_error", error="DNS: no such name")
    assert wire().load_result(wire().dump_result(bare), bare.url) == bare
    unchanged = CheckItem(url="https://example.org/", outcome="ok", status=304, not_modified=True,
                          snapshot_id=5)  # points at the snapshot the coordinator's request named
    assert wire().load_result(wire().dump_result(unchanged), unchanged.url) == unchanged


def test_a_result_verifies_only_for_its_run_url_and_secret():
    item = check_with_capture()
    frame = wire().dump_result(item)
    for reader, key in ((wire(ns="linkhealth:0123456789:run:8"), item.url),
                        (wire(secret=b"another-secret-of-16+"), item.url),
                        (wire(), "https://example.org/other")):
        with pytest.raises(WireError, match="bad signature"):
            reader.load_result(frame, key)
    altered = bytearray(frame)
    altered[-1] ^= 1
    with pytest.raises(WireError, match="bad signature"):
        wire().load_result(bytes(altered), item.url)


def signed_result(data: object, body: bytes = b"", key: str = "k") -> bytes:
    """A result signed with the run's secret, whatever it holds: the schema must refuse it."""
    raw = json.dumps(data).encode()
    packed = zstandard.ZstdCompressor().compress(len(raw).to_bytes(4, "big") + raw + body)
    return wire()._frame(b"result", key, packed)


@pytest.mark.parametrize("data, body, message", [
    ({"url": "k", "outcome": "pwned", "attempts": 1}, b"", "outcome"),
    ({"url": "k", "outcome": "ok", "attempts": "1"}, b"", "attempts"),
    ({"url": "k", "outcome": "ok", "attempts": True}, b"", "attempts"),
    ({"url": "k", "outcome": "ok", "attempts": 1, "status": 10_000}, b"", "status"),
    ({"url": "k", "outcome": "ok", "attempts": 1, "snapshot_id": "3"}, b"", "snapshot_id"),
    ({"url": "k", "outcome": "ok", "attempts": 1, "snapshot": 3}, b"", "unknown field"),
    ({"url": "k", "outcome": "ok", "attempts": 1, "__class__": "os.system"}, b"", "unknown field"),
    ({"url": "k", "outcome": "ok", "attempts": 1, "error": "x" * (2 << 20)}, b"", "error"),
    ({"url": "k", "outcome": "ok", "attempts": 1, "redirects": [["u"]]}, b"", "redirects"),
    ({"url": "k", "outcome": "ok", "attempts": 1}, b"stray", "without a capture"),
    ({"url": "k", "outcome": "ok", "attempts": 1, "capture": {
        "url": "k", "final_url": "k", "fetched_at": "t", "status": 200, "body_size": 10}},
     b"short", "announced"),
    (["url", "k"], b"", "not an object"),
])
def test_a_signed_result_that_does_not_fit_the_schema_is_refused(data, body, message):
    with pytest.raises(WireError, match=message):
        wire().load_result(signed_result(data, body), "k")


def test_a_result_filed_under_another_url_is_refused():
    frame = signed_result({"url": "other", "outcome": "ok", "attempts": 1})
    with pytest.raises(WireError, match="filed under another URL"):
        wire().load_result(frame, "k")


def test_a_compressed_bomb_is_refused_before_it_is_inflated():
    bomb = zstandard.ZstdCompressor().compress(b"\0" * (80 << 20))
    with pytest.raises(WireError, match="excessive size"):
        wire().load_result(wire()._frame(b"result", "k", bomb), "k")


def link_request(url: str = "https://example.org/a?b=1", **extra) -> Request:
    return Request(url, method="GET", headers={"If-None-Match": '"e"', "Authorization": "Basic eA=="},
                   callback=LinksWorkerSpider.parse, errback=LinksWorkerSpider.failed, dont_filter=True,
                   meta={"linkhealth_key": url, "linkhealth_url": url, "linkhealth_validated": 7,
                         "is_start_request": True, **extra})


def test_a_request_crosses_redis_with_only_what_the_links_spider_sets():
    frame = wire().dump_request(link_request(), "example.org")
    data = wire().load_request(frame, "example.org")
    assert data == RequestData(
        url="https://example.org/a?b=1", method="GET",
        headers=[("If-None-Match", '"e"'), ("Authorization", "Basic eA==")],
        meta={"linkhealth_key": "https://example.org/a?b=1", "linkhealth_url": "https://example.org/a?b=1",
              "linkhealth_validated": 7},
        callback="parse", errback="failed")
    with pytest.raises(WireError, match="bad signature"):  # moved to another host's queue
        wire().load_request(frame, "other.example")


def test_a_worker_rebuilds_the_request_with_its_headers_and_the_spiders_callbacks():
    scheduler = WorkerScheduler.__new__(WorkerScheduler)  # only its request building
    scheduler.spider = LinksWorkerSpider()
    data = wire().load_request(wire().dump_request(link_request(), "example.org"), "example.org")
    request = scheduler._request(data)
    assert (request.url, request.method, request.dont_filter) == ("https://example.org/a?b=1", "GET", True)
    assert request.headers.get("If-None-Match") == b'"e"'
    assert request.headers.get("Authorization") == b"Basic eA=="
    assert request.callback == scheduler.spider.parse and request.errback == scheduler.spider.failed
    assert request.meta == data.meta


def signed_request(data: dict, host: str = "example.org") -> bytes:
    return wire()._frame(b"request", host, json.dumps(data).encode())


GOOD_REQUEST = {"url": "https://example.org/", "method": "GET", "headers": [],
                "meta": {"linkhealth_key": "k", "linkhealth_url": "u"},
                "callback": "parse", "errback": "failed"}


@pytest.mark.parametrize("change, message", [
    ({"callback": "__init__"}, "callback"),
    ({"errback": "close"}, "callback"),
    ({"method": "DELETE"}, "method"),
    ({"url": "file:///etc/passwd"}, "not an http"),
    ({"url": "https://elsewhere.example/"}, "not an http"),
    ({"url": "http://[::1"}, "not an http"),
    ({"headers": [["Cookie", "a=b"]]}, "request headers"),
    ({"meta": {"linkhealth_key": "k", "linkhealth_url": "u", "proxy": "http://evil:8080"}}, "unknown field"),
    ({"meta": {"linkhealth_key": 1, "linkhealth_url": "u"}}, "linkhealth_key"),
    ({"meta": {"linkhealth_key": "k", "linkhealth_url": "u", "linkhealth_validated": "1"}},
     "linkhealth_validated"),
    ({"priority": 10}, "unknown field"),
])
def test_a_signed_request_that_does_not_fit_the_schema_is_refused(change, message):
    with pytest.raises(WireError, match=message):
        wire().load_request(signed_request({**GOOD_REQUEST, **change}), "example.org")


def test_the_run_secret_must_be_set_and_long_enough():
    for value in (None, "", "short"):
        with pytest.raises(WireError, match="LINKHEALTH_REDIS_SECRET"):
            run_secret(value)
    assert run_secret("x" * 16) == b"x" * 16


@pytest.mark.e2e
def test_a_distributed_crawl_without_the_secret_stops_with_one_line(tmp_path, redis_server):
    env = {k: v for k, v in os.environ.items() if k != "LINKHEALTH_REDIS_SECRET"}
    for spider in ("links", "links-worker"):
        process = subprocess.run(
            [sys.executable, "-m", "scrapy", "crawl", spider, "-a", f"source={tmp_path}",
             "-s", f"LINKHEALTH_REDIS_URL={redis_server.url}", "-s", f"LINKHEALTH_DB={tmp_path / 'db'}"],
            cwd=REPO, capture_output=True, text=True, timeout=60, env=env)
        assert process.returncode == 1
        assert process.stderr.strip().splitlines()[-1].startswith(
            "scrapy crawl: error: set LINKHEALTH_REDIS_SECRET in the environment")
    assert redis_server.client().keys("*") == []
